"""The HTML repr of the estimators links to their pages of the API reference."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import re
from pathlib import Path

import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skann import ANNClassifier, ANNRegressor

API_PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.rst"


@pytest.mark.parametrize("Estimator", [ANNRegressor, ANNClassifier])
def test_html_repr_links_to_the_api_page(Estimator):
    url = f"../generated/skann.{Estimator.__name__}.html"
    assert Estimator()._get_doc_link() == url
    assert f'href="{url}"' in Estimator()._repr_html_()
    # Inside a pipeline too, beside scikit-learn's own link for the scaler.
    html = make_pipeline(StandardScaler(), Estimator())._repr_html_()
    assert f'href="{url}"' in html
    assert "sklearn.preprocessing.StandardScaler.html" in html


def test_linked_pages_are_generated():
    # autosummary writes one page per entry of docs/api.rst into generated/,
    # named by the full name: the link's target.
    if not API_PAGE.is_file():
        pytest.skip("the documentation sources are not beside the tests")
    text = API_PAGE.read_text(encoding="utf-8")
    # The section of the top-level module, up to the next currentmodule.
    section = text.split(".. currentmodule:: skann\n", 1)[1]
    section = section.split(".. currentmodule::", 1)[0]
    assert ":toctree: generated/" in section
    for name in ("ANNRegressor", "ANNClassifier"):
        assert re.search(rf"^\s+{name}$", section, re.MULTILINE)
