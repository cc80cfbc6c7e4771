"""What a comparison returns: fits, rows, grid searches and colours."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from dataclasses import dataclass, field

import numpy as np


@dataclass
class FitResult:
    """One estimator fitted on one split: test metrics, timing and history."""

    estimator: str
    seed: int
    seconds: float
    n_iter: int | None = None
    rmse: float | None = None
    mae: float | None = None
    r2: float | None = None
    diverged: str | None = None
    epoch: int | None = None
    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    convergence_warning: bool = False
    split_verified: bool | None = None


@dataclass
class RowResult:
    """All fits of one row of the table, per estimator and seed."""

    number: int
    row: tuple
    fits: dict

    def finished(self, name):
        """The fits of estimator ``name`` that did not diverge."""
        return [fit for fit in self.fits[name] if fit.diverged is None]

    def rmse_mean_std(self, name):
        """Mean and standard deviation of the test RMSE of those fits, or NaNs."""
        values = [fit.rmse for fit in self.finished(name)]
        return (np.mean(values), np.std(values)) if values else (np.nan, np.nan)


@dataclass
class GridResult:
    """One ``GridSearchCV`` over the table's rows for one estimator.

    Per candidate, in the order of ``numbers``: ``cv_rmse`` is the mean over
    all folds (NaN if any diverged), ``n_diverged`` the folds that diverged
    and ``finished_cv_rmse`` the mean over the others (NaN if none).
    """

    estimator: str
    numbers: list
    cv_rmse: list
    n_diverged: list
    finished_cv_rmse: list
    best_number: int
    best_cv_rmse: float
    test_rmse: float | None
    test_diverged: str | None
    search_seconds: float
    refit_seconds: float


@dataclass
class ColorResult:
    """The comparison on one wine colour."""

    color: str
    n_samples: int
    target_std: float
    rows: list
    rows_seconds: float
    grid: dict | None = None
    grid_seconds: float = 0.0
    # The test RMSE of predicting the mean target of the rows given to fit,
    # averaged over the seeds: the level of a network that learnt nothing.
    mean_rmse: float | None = None
    # The models beyond the table on the same splits: name -> a FitResult per
    # seed. None when the run fitted none.
    beyond: dict | None = None
    beyond_seconds: float = 0.0


@dataclass
class ComparisonResult:
    """What :func:`run_comparison` returns; read by :func:`format_report`."""

    colors: list
    numbers: tuple
    seeds: tuple
    max_iter: int
    quick: bool
    n_jobs: int | None
    total_seconds: float
    versions: dict
    # Where the grid searches ran, a DaskInfo; None: joblib on this machine.
    dask: object = None
