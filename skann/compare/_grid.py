"""``GridSearchCV`` over the table's rows, one search per estimator."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import time
import warnings
from functools import partial

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skann.compare._protocol import (
    ESTIMATOR_SPECS,
    N_FOLDS,
    TEST_FRACTION,
    describe_error,
    divergence,
    make_estimator,
    reference_loss,
)
from skann.compare._results import GridResult


def _neg_rmse_unless_diverged(pipeline, X, y, *, reference):
    """Minus the fold's RMSE, or NaN if the fit diverged by the comparison's rule.

    A fit that raised (skann stops on divergence) gets NaN from
    ``error_score``; this applies the same rule to fits that returned, so a
    diverged fold is NaN for every estimator and its candidate ranks last.
    """
    y_pred = pipeline.predict(X)
    reason, _ = divergence(pipeline[-1].loss_curve_, reference, y, y_pred)
    return np.nan if reason else -root_mean_squared_error(y, y_pred)


def grid_search(name, rows, numbers, X, y, *, max_iter, n_jobs, n_folds=N_FOLDS):
    """5-fold ``GridSearchCV`` over ``rows`` on seed 0's train + validation.

    Parameters
    ----------
    name : str
        The estimator, a key of ``ESTIMATOR_SPECS``.

    rows : list of Row
        The candidates, one per row of the table.

    numbers : list of int
        The rows' numbers in the table.

    X : ndarray of shape (n_samples, n_features)
        All inputs of one wine colour, unscaled.

    y : ndarray of shape (n_samples,)
        Their targets.

    max_iter : int
        Epoch budget of every fit.

    n_jobs : int or None
        Parallel jobs of the search, on joblib's active backend.

    n_folds : int, default=N_FOLDS
        Folds of the cross-validation.

    Returns
    -------
    result : GridResult
    """
    fit_rows, test_rows = train_test_split(
        np.arange(len(y)), test_size=TEST_FRACTION, random_state=0
    )
    X_fit, y_fit = X[fit_rows], y[fit_rows]
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("model", make_estimator(name, rows[0], max_iter=max_iter, random_state=0)),
        ]
    )
    learning_rate = "model__" + ESTIMATOR_SPECS[name].learning_rate_param
    # One single-valued dict per row: the candidates are the table's rows, in order.
    param_grid = [
        {
            "model__hidden_layer_sizes": [row.hidden_layer_sizes],
            "model__activation": [row.activation],
            learning_rate: [row.learning_rate],
            "model__alpha": [row.alpha],
        }
        for row in rows
    ]
    reference = reference_loss(y_fit)
    search = GridSearchCV(
        pipeline,
        param_grid,
        scoring=partial(_neg_rmse_unless_diverged, reference=reference),
        cv=KFold(n_folds, shuffle=True, random_state=0),
        n_jobs=n_jobs,
        refit=False,
        error_score=np.nan,
    )
    with warnings.catch_warnings():
        for category in (
            ConvergenceWarning,
            FitFailedWarning,
            RuntimeWarning,
            UserWarning,
        ):
            warnings.simplefilter("ignore", category)
        start = time.perf_counter()
        search.fit(X_fit, y_fit)
        search_seconds = time.perf_counter() - start

        fold_rmse = -np.column_stack(
            [search.cv_results_[f"split{k}_test_score"] for k in range(n_folds)]
        )
        diverged = np.isnan(fold_rmse)
        finished_rmse = [
            float(np.mean(folds[~bad])) if not bad.all() else np.nan
            for folds, bad in zip(fold_rmse, diverged, strict=True)
        ]
        best = int(search.best_index_)
        model = clone(pipeline).set_params(**search.best_params_)
        start = time.perf_counter()
        test_rmse, test_diverged = None, None
        try:
            model.fit(X_fit, y_fit)
        except ValueError as exc:
            test_diverged = describe_error(exc)
        refit_seconds = time.perf_counter() - start
    if test_diverged is None:
        y_pred = model.predict(X[test_rows])
        test_diverged, _ = divergence(
            model[-1].loss_curve_, reference, y[test_rows], y_pred
        )
        if np.all(np.isfinite(y_pred)):
            test_rmse = root_mean_squared_error(y[test_rows], y_pred)
    return GridResult(
        estimator=name,
        numbers=list(numbers),
        cv_rmse=list(-search.cv_results_["mean_test_score"]),
        n_diverged=[int(n) for n in diverged.sum(axis=1)],
        finished_cv_rmse=finished_rmse,
        best_number=numbers[best],
        best_cv_rmse=float(-search.cv_results_["mean_test_score"][best]),
        test_rmse=test_rmse,
        test_diverged=test_diverged,
        search_seconds=search_seconds,
        refit_seconds=refit_seconds,
    )
