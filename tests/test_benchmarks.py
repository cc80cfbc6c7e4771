"""The benchmark script runs and its options select fit and predict workloads."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
PREDICT = ["P1", "P100", "P1k", "P10k", "P100k", "P1M"]


@pytest.fixture
def cli(monkeypatch):
    """benchmarks/bench/cli.py, imported as ``python benchmarks/bench_fit.py`` does."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from bench import cli

    return cli


def test_workloads_option_selects_fit_and_predict_workloads(cli):
    args = cli.parse_args([])
    assert args.workloads == ["W1", "W1s", "W2", "W3", "W4", "W5", *PREDICT]
    # Variants time opt-in fit features: by default on the fit workloads only.
    assert args.variant_workloads == ["W1", "W1s", "W2", "W3", "W4", "W5"]
    assert cli.parse_args(["--workloads", "P1,W2"]).workloads == ["P1", "W2"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--workloads", "P2"], "unknown workload(s): P2"),
        (
            ["--workloads", "W2,P1", "--variants", "bn=batch_norm=True",
             "--variant-workloads", "P1"],
            "variants time fit workloads only, not P1",
        ),
        (["--epochs", "P1=3"], "bad --epochs entry"),
    ],
)  # fmt: skip
def test_bad_options_are_named(cli, capsys, argv, message):
    with pytest.raises(SystemExit) as excinfo:
        cli.parse_args(argv)
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err


def test_predict_workloads_sizes(cli):
    from bench.workloads import PREDICT_WORKLOADS

    sizes = {name: w.n_rows for name, w in PREDICT_WORKLOADS.items()}
    assert sizes == {
        "P1": 1,
        "P100": 100,
        "P1k": 1_000,
        "P10k": 10_000,
        "P100k": 100_000,
        "P1M": 1_000_000,
    }
    # Quick mode keeps P1M short.
    assert PREDICT_WORKLOADS["P1M"].scaled(True).n_rows == 100_000


def test_bench_fit_script_quick_predict_run(tmp_path):
    """``python benchmarks/bench_fit.py`` runs a predict workload end to end."""
    out = tmp_path / "report.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = ["--quick", "--workloads", "P1", "--dtype", "float64", "--no-memory"]
    subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_fit.py"), *argv, "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report = out.read_text(encoding="utf-8")
    assert report.startswith("# skann fit benchmark")
    assert "## Time per predict call" in report
    for kind in ("regressor", "classifier"):
        assert f"| P1 | {kind} | float64 | 1 | 100 |" in report
    # No fit workload was run: no fit tables.
    assert "## Time per epoch" not in report
