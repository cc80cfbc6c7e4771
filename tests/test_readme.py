"""The README's example runs as written and finds a sensible model."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import re
import runpy
from pathlib import Path

import pytest
from sklearn.exceptions import ConvergenceWarning

README = Path(__file__).resolve().parents[1] / "README.md"


def run_readme_example(tmp_path):
    """Run the README's one Python block; return its globals."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text("utf-8"), re.DOTALL)
    assert len(blocks) == 1
    script = tmp_path / "readme_example.py"
    script.write_text(blocks[0], encoding="utf-8")
    return runpy.run_path(str(script))


@pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
def test_readme_example_runs(wine_data_home, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SKANN_DATA_HOME", wine_data_home)
    search = run_readme_example(tmp_path)["search"]
    # Five-fold CV RMSE on the quality score (standard deviation 0.81).
    assert 0.5 < -search.best_score_ < 0.75
    assert "annregressor__hidden_layer_sizes" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
def test_readme_example_runs_on_the_sample(
    wine_sample_data_home, monkeypatch, capsys, tmp_path
):
    """The same code, served the committed sample: it needs only the clone."""
    monkeypatch.setenv("SKANN_DATA_HOME", str(wine_sample_data_home))
    search = run_readme_example(tmp_path)["search"]
    assert search.n_features_in_ == 11
    # Early stopping on 267 wines stops early: this checks that the code runs
    # and gives an error of the order of the score's spread, not its value.
    assert 0 < -search.best_score_ < 1.5
    assert "annregressor__hidden_layer_sizes" in capsys.readouterr().out
