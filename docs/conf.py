"""Sphinx configuration for skann's documentation and example gallery."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import os
import re
import sys
from importlib.metadata import PackageNotFoundError, distribution
from importlib.metadata import version as _installed_version
from pathlib import Path

DOCS_DIR = Path(__file__).resolve().parent
REPO_ROOT = DOCS_DIR.parent

# The gallery's wine examples read the UCI files with fetch_wine_quality, from
# SKANN_DATA_HOME, else from the cache ~/skann_data, downloading what is
# missing. CI and the developers give SKANN_DATA_HOME relative to the repository
# root, but Sphinx runs this file from docs/ and sphinx-gallery runs each example
# from examples/, so a relative path is made absolute here once. Without the
# files and without a network the examples fall back to the sample that the
# tests use (tests/data) and say so on their pages; nothing is created outside
# the repository and the cache.
_data_home = os.environ.get("SKANN_DATA_HOME")
if _data_home and not Path(_data_home).expanduser().is_absolute():
    os.environ["SKANN_DATA_HOME"] = str((REPO_ROOT / _data_home).resolve())

sys.path.insert(0, str(DOCS_DIR / "sphinxext"))

# -- Project -----------------------------------------------------------------

project = "skann"
author = "The skann developers"
copyright = "The skann developers"
# From the installed package's metadata, so conf.py need not import skann.
release = _installed_version("skann")
version = release

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.extlinks",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
default_role = "literal"
root_doc = "index"

# No intersphinx: the build must not reach the network. Links to scikit-learn
# are written as plain hyperlinks through these shortcuts.
extlinks = {
    "sklearn": ("https://scikit-learn.org/stable/modules/generated/%s.html", "%s"),
    "arxiv": ("https://arxiv.org/abs/%s", "arXiv:%s"),
    "skissue": ("https://github.com/scikit-learn/scikit-learn/issues/%s", "#%s"),
}

# -- Maths -------------------------------------------------------------------

# MathJax comes from the sphinx-mathjax-offline package (the docs extra) and is
# copied into _static by html_static_path below, so that the maths renders
# without a network; Sphinx's default would load it from a CDN. .ci/run checks
# that no page refers to a remote MathJax.
try:
    _mathjax_static = distribution("sphinx-mathjax-offline").locate_file(
        "sphinx-mathjax-offline/static"
    )
except PackageNotFoundError as exc:
    raise RuntimeError(
        "The documentation needs sphinx-mathjax-offline for its maths: "
        "pip install '.[docs]'."
    ) from exc
mathjax_path = "mathjax/tex-chtml.js"

# -- autodoc, autosummary, numpydoc ------------------------------------------

autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()

# Methods inherited from scikit-learn (score, get_params, set_params) carry
# :ref: and :term: roles that point into scikit-learn's own site, which this
# offline build cannot resolve; they are rendered as their plain text.
_SKLEARN_ROLE = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<[^`>]*>)?`")


def _plain_sklearn_roles(app, what, name, obj, options, lines):
    if getattr(obj, "__module__", "").startswith("sklearn."):
        lines[:] = [_SKLEARN_ROLE.sub(r"\1", line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _plain_sklearn_roles)


# -- sphinx-gallery ----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    # compare_wine.py is a script run from the command line, not a gallery page.
    "ignore_pattern": r"(__init__|compare_wine)\.py",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "doc_module": ("skann",),
    "backreferences_dir": "generated/backreferences",
    "min_reported_time": 0,
    "remove_config_comments": True,
    "show_memory": False,
    "download_all_examples": False,
    # An example's output depends on the data it finds (the wine examples fall
    # back to the tests' sample without the UCI files), not only on its code:
    # run every example at every build rather than reuse an earlier run whose
    # source is unchanged.
    "run_stale_examples": True,
    # The execution-times page loads jQuery and DataTables from CDNs, which an
    # offline build must not; each example's page gives its own running time.
    "write_computation_times": False,
}

# -- HTML --------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skann {release}"
html_static_path = [str(_mathjax_static)]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "quick_start": [], "changelog": []}
html_show_sourcelink = False
