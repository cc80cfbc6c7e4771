"""``skann compare``: the articles' wine-quality table refitted beside MLPRegressor."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

# One job per module: _article (the table), _results (what a run returns),
# _protocol (estimators, settings, split, divergence rule), _run and _grid (the
# fits), _dask (the grid searches on a Dask cluster), _progress (the bar on
# standard error), _report and its _report_* sections (markdown), _plots
# (matplotlib), _output (files) and _cli (the skann command). This module only
# gathers the public names.

from skann.compare._article import ARTICLE_ROWS, COLORS, Row, parse_rows
from skann.compare._cli import main
from skann.compare._output import prepare_out_dir, write_report
from skann.compare._protocol import (
    BEYOND,
    BEYOND_SPECS,
    BLOWUP_LOSS_FACTOR,
    BLOWUP_RMSE_FACTOR,
    DEFAULT_SEEDS,
    ESTIMATOR_SPECS,
    ESTIMATORS,
    MAX_ITER,
    N_FOLDS,
    PARITY_PAIR,
    QUICK_MAX_ITER,
    QUICK_ROWS,
    TEST_FRACTION,
    VALIDATION_FRACTION,
    BeyondSpec,
    EstimatorSpec,
    make_beyond,
    make_estimator,
    split_indices,
)
from skann.compare._report import format_report
from skann.compare._results import (
    ColorResult,
    ComparisonResult,
    FitResult,
    GridResult,
    RowResult,
)
from skann.compare._run import run_comparison

__all__ = [
    "ARTICLE_ROWS",
    "BEYOND",
    "BEYOND_SPECS",
    "BLOWUP_LOSS_FACTOR",
    "BLOWUP_RMSE_FACTOR",
    "COLORS",
    "DEFAULT_SEEDS",
    "ESTIMATORS",
    "ESTIMATOR_SPECS",
    "MAX_ITER",
    "N_FOLDS",
    "PARITY_PAIR",
    "QUICK_MAX_ITER",
    "QUICK_ROWS",
    "TEST_FRACTION",
    "VALIDATION_FRACTION",
    "BeyondSpec",
    "ColorResult",
    "ComparisonResult",
    "EstimatorSpec",
    "FitResult",
    "GridResult",
    "Row",
    "RowResult",
    "format_report",
    "main",
    "make_beyond",
    "make_estimator",
    "parse_rows",
    "prepare_out_dir",
    "run_comparison",
    "split_indices",
    "write_report",
]
