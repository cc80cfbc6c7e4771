"""The experiment: every selected row fitted by every estimator on every seed."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math
import time
import warnings
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import skann
from skann.compare._article import ARTICLE_ROWS, COLORS, parse_rows
from skann.compare._dask import dask_backend
from skann.compare._grid import grid_search
from skann.compare._progress import FitProgressBar, NullFitProgressBar
from skann.compare._protocol import (
    BEYOND,
    DEFAULT_SEEDS,
    ESTIMATORS,
    MAX_ITER,
    N_FOLDS,
    QUICK_MAX_ITER,
    QUICK_ROWS,
    describe_error,
    divergence,
    make_beyond,
    make_estimator,
    reference_loss,
    split_indices,
)
from skann.compare._results import ColorResult, ComparisonResult, FitResult, RowResult
from skann.datasets import fetch_wine_quality, fetch_wine_quality_files


def _fit_one(name, row, X, y, seed, max_iter=MAX_ITER):
    """Fit estimator ``name`` on ``row`` with seed ``seed``'s split; score it.

    Returns
    -------
    result : FitResult
    """
    fit_rows, train_pos, val_pos, test_rows = split_indices(
        *X.shape, row.hidden_layer_sizes, seed
    )
    scaler = StandardScaler().fit(X[fit_rows[train_pos]])
    X_fit, y_fit = scaler.transform(X[fit_rows]), y[fit_rows]
    X_test, y_test = scaler.transform(X[test_rows]), y[test_rows]
    estimator = make_estimator(name, row, max_iter=max_iter, random_state=seed)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        try:
            estimator.fit(X_fit, y_fit)
        except ValueError as exc:
            seconds = time.perf_counter() - start
            epoch = getattr(exc, "epoch", None)
            return FitResult(
                name, seed, seconds, diverged=describe_error(exc), epoch=epoch
            )
        seconds = time.perf_counter() - start
        y_pred = estimator.predict(X_test)

    result = FitResult(
        name,
        seed,
        seconds,
        n_iter=estimator.n_iter_,
        loss_curve=list(estimator.loss_curve_),
        validation_scores=list(estimator.validation_scores_),
        convergence_warning=any(
            issubclass(w.category, ConvergenceWarning) for w in caught
        ),
    )
    result.diverged, result.epoch = divergence(
        result.loss_curve, reference_loss(y_fit), y_test, y_pred
    )
    if np.all(np.isfinite(y_pred)):
        result.rmse = root_mean_squared_error(y_test, y_pred)
        result.mae = mean_absolute_error(y_test, y_pred)
        result.r2 = r2_score(y_test, y_pred)
    if result.diverged is None:
        for w in caught:
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        best = estimator.best_validation_score_
        if np.isfinite(best):
            val_r2 = r2_score(y_fit[val_pos], estimator.predict(X_fit[val_pos]))
            result.split_verified = math.isclose(
                val_r2, best, rel_tol=1e-9, abs_tol=1e-12
            )
    return result


def _fit_beyond(name, X, y, seed, quick):
    """Fit model ``name`` beyond the table on seed ``seed``'s 85%; score it.

    It gets all the rows ``fit`` gets in the table, unscaled (each model
    scales as it says, inside its pipeline), and is scored on the same test
    rows.

    Returns
    -------
    result : FitResult
    """
    fit_rows, _, _, test_rows = split_indices(len(y), X.shape[1], (1,), seed)
    model = make_beyond(name, seed=seed, quick=quick)
    with warnings.catch_warnings():
        # The recipe's quick budget ends before early stopping does.
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        try:
            model.fit(X[fit_rows], y[fit_rows])
        except ValueError as exc:
            seconds = time.perf_counter() - start
            epoch = getattr(exc, "epoch", None)
            return FitResult(
                name, seed, seconds, diverged=describe_error(exc), epoch=epoch
            )
        seconds = time.perf_counter() - start
    y_pred, y_test = model.predict(X[test_rows]), y[test_rows]
    # The network's epochs, the boosting's iterations; None for the others.
    model = getattr(model, "best_estimator_", model)
    n_iter = getattr(model[-1] if hasattr(model, "steps") else model, "n_iter_", None)
    result = FitResult(name, seed, seconds, n_iter=n_iter)
    if not np.all(np.isfinite(y_pred)):
        result.diverged = "non-finite predictions"
        return result
    result.rmse = root_mean_squared_error(y_test, y_pred)
    result.mae = mean_absolute_error(y_test, y_pred)
    result.r2 = r2_score(y_test, y_pred)
    return result


def _run_beyond(X, y, seeds, quick, progress):
    """Fit every model beyond the table on every seed's split."""
    fits = {name: [] for name in BEYOND}
    for seed in seeds:
        for name in BEYOND:
            fit = _fit_beyond(name, X, y, seed, quick)
            fits[name].append(fit)
            outcome = (
                f"diverged ({fit.diverged})"
                if fit.diverged
                else f"test RMSE {fit.rmse:.3f}"
            )
            progress.advance(
                f"beyond the table, seed {seed}, {name}: {fit.seconds:.2f} s, {outcome}"
            )
    return fits


def _mean_rmse(y, seeds):
    """Test RMSE of predicting the mean of the fit rows, averaged over seeds."""
    values = []
    for seed in seeds:
        # The test rows depend on the seed alone, not on the network.
        fit_rows, _, _, test_rows = split_indices(len(y), 1, (1,), seed)
        predicted = np.full(len(test_rows), np.mean(y[fit_rows]))
        values.append(root_mean_squared_error(y[test_rows], predicted))
    return float(np.mean(values))


def _outcome(fit):
    if fit.diverged:
        return f"diverged ({fit.diverged})"
    return f"{fit.n_iter} epochs, test RMSE {fit.rmse:.3f}"


def _run_rows(X, y, numbers, seeds, max_iter, progress):
    """Fit every selected row with every estimator on every seed's split."""
    results = []
    for number in numbers:
        row = ARTICLE_ROWS[number - 1]
        fits = {name: [] for name in ESTIMATORS}
        for seed in seeds:
            for name in ESTIMATORS:
                fit = _fit_one(name, row, X, y, seed, max_iter)
                fits[name].append(fit)
                progress.advance(
                    f"row {number} of {len(ARTICLE_ROWS)}, seed {seed}, {name}: "
                    f"{fit.seconds:.2f} s, {_outcome(fit)}"
                )
        results.append(RowResult(number, row, fits))
    return results


def _run_grids(color, X, y, numbers, max_iter, n_jobs, progress):
    """One grid search per estimator over the selected rows."""
    rows = [ARTICLE_ROWS[number - 1] for number in numbers]
    grids = {}
    for name in ESTIMATORS:
        with progress.counting_joblib(f"grid search, {name}"):
            grids[name] = grid_search(
                name, rows, numbers, X, y, max_iter=max_iter, n_jobs=n_jobs
            )
        grid = grids[name]
        progress.advance(f"grid search, {name}: refit of row {grid.best_number}")
        progress.message(
            f"[{color}] grid search, {name}: {grid.search_seconds:.1f} s, "
            f"best row {grid.best_number}"
        )
    return grids


def _n_fits(numbers, seeds, grid):
    """Fits of one colour: rows x seeds x estimators, the models beyond the
    table on every seed, then each grid's and refit."""
    n_fits = len(numbers) * len(seeds) * len(ESTIMATORS) + len(seeds) * len(BEYOND)
    if grid:
        n_fits += len(ESTIMATORS) * (len(numbers) * N_FOLDS + 1)
    return n_fits


def _count(n, word, plural=None):
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _plan(numbers, seeds, grid):
    """What a colour's fits are, for the first line of its progress."""
    plan = (
        f"{_count(len(numbers), 'row')} x {_count(len(seeds), 'seed')} "
        f"x {_count(len(ESTIMATORS), 'estimator')}, "
        f"{_count(len(BEYOND), 'model')} beyond the table x "
        f"{_count(len(seeds), 'seed')}"
    )
    if grid:
        plan += (
            f", then {_count(len(ESTIMATORS), 'grid search', 'grid searches')} "
            f"({_count(len(numbers), 'candidate')} x {N_FOLDS} folds, and a refit "
            "of the best)"
        )
    return plan


@dataclass(frozen=True)
class _Settings:
    """What each colour's run fits: the settings :func:`run_comparison` chose."""

    numbers: tuple
    seeds: tuple
    max_iter: int
    quick: bool
    grid: bool
    grid_jobs: int | None


def _check_arguments(color, grid, dask):
    """Raise ValueError for a colour or a ``dask`` that cannot be run."""
    if color not in (*COLORS, "both"):
        raise ValueError(f"color must be 'red', 'white' or 'both', got {color!r}.")
    if dask and not grid:
        raise ValueError("dask runs the grid searches: set grid=True too.")
    if not (dask is None or isinstance(dask, bool | str)):
        raise ValueError(
            f"dask must be True, False, None or a scheduler address, got {dask!r}."
        )


def _start_dask(stack, dask, n_jobs, progress):
    """Enter the Dask backend on ``stack``; say where the grid searches run.

    Returns the backend's :class:`DaskInfo` and the ``n_jobs`` of the grid
    searches.
    """
    # Before the first fit, so that a cluster that cannot be had fails
    # before minutes of training.
    dask_info = stack.enter_context(
        dask_backend(
            scheduler=None if dask is True else dask,
            n_workers=n_jobs if dask is True else None,
        )
    )
    grid_jobs = -1 if dask is True else (n_jobs or -1)
    message = f"Grid searches on Dask: {dask_info.describe()}."
    if dask_info.blas_limited:
        message += (
            f" BLAS held to one thread on {dask_info.blas_limited} of them for the run."
        )
    progress.message(message)
    return dask_info, grid_jobs


def _run_color(color, X, y, settings, progress):
    """The rows, the models beyond the table and the grid searches of a colour.

    Returns
    -------
    result : ColorResult
    """
    numbers, seeds, grid = settings.numbers, settings.seeds, settings.grid
    progress.start(color, _n_fits(numbers, seeds, grid), _plan(numbers, seeds, grid))
    rows_start = time.perf_counter()
    result = ColorResult(
        color=color,
        n_samples=len(y),
        target_std=float(np.std(y)),
        rows=_run_rows(X, y, numbers, seeds, settings.max_iter, progress),
        rows_seconds=time.perf_counter() - rows_start,
        mean_rmse=_mean_rmse(y, seeds),
    )
    beyond_start = time.perf_counter()
    result.beyond = _run_beyond(X, y, seeds, settings.quick, progress)
    result.beyond_seconds = time.perf_counter() - beyond_start
    if grid:
        grid_start = time.perf_counter()
        result.grid = _run_grids(
            color, X, y, numbers, settings.max_iter, settings.grid_jobs, progress
        )
        result.grid_seconds = time.perf_counter() - grid_start
    progress.finish()
    return result


def run_comparison(
    color="red",
    *,
    rows=None,
    seeds=None,
    grid=False,
    n_jobs=None,
    quick=False,
    max_iter=None,
    data_home=None,
    dask=None,
    verbose=False,
):
    """Fit the articles' table with ANNRegressor and MLPRegressor side by side.

    On the same splits it also fits the tabular recipe
    (:func:`skann.make_tabular_regressor`), a random forest, gradient-boosted
    trees and a nearest-neighbours regressor, to show how far a network gets
    on this data and where the usual tabular models are.

    Parameters
    ----------
    color : {'red', 'white', 'both'}, default='red'
        Which wine data to use.

    rows : str or iterable of int, default=None
        Rows of the table, 1-based, such as ``"1,4,7-9"``. None means all 15,
        or rows 2, 4, 7 and 8 with ``quick=True``.

    seeds : int, default=None
        Number of seeded splits to average over (seeds 0, 1, ...). None means
        3, or 1 with ``quick=True``.

    grid : bool, default=False
        Also run a 5-fold ``GridSearchCV`` over the selected rows for both
        estimators.

    n_jobs : int, default=None
        Parallel jobs of the grid searches; with ``dask=True`` the workers of
        the LocalCluster (None: one per core). The timed per-row fits always
        run one at a time.

    quick : bool, default=False
        A short run: fewer rows, one seed and an epoch budget of 30; the
        models beyond the table get smaller budgets too (50 trees, 30
        boosting iterations, 30 epochs of the recipe).

    max_iter : int, default=None
        Epoch budget of every fit. None means 200, or 30 with ``quick=True``.

    data_home : str or path-like, default=None
        Where the wine-quality files are cached; see
        :func:`skann.datasets.fetch_wine_quality`.

    dask : bool or str, default=None
        Run the grid searches on Dask, through joblib's Dask backend: True
        starts a process-based ``LocalCluster`` of ``n_jobs`` workers of one
        thread each for the run, a string is the address of a running
        scheduler. Needs ``grid=True`` and the ``dask`` extra. The results are
        those of a local run: every fit is seeded.

    verbose : bool, default=False
        Show progress on standard error: a bar per colour counting its fits,
        redrawn in place on a terminal, plain lines every 10% otherwise.

    Returns
    -------
    result : ComparisonResult
        Per colour, row, estimator and seed: test RMSE, MAE and R², epochs,
        fit seconds, loss curves and any divergence; the models beyond the
        table per seed; plus the grid searches.
    """
    _check_arguments(color, grid, dask)
    colors = list(COLORS) if color == "both" else [color]
    numbers = parse_rows(
        rows
        if rows is not None
        else (QUICK_ROWS if quick else range(1, len(ARTICLE_ROWS) + 1))
    )
    seeds = tuple(range(seeds or (1 if quick else DEFAULT_SEEDS)))
    max_iter = max_iter or (QUICK_MAX_ITER if quick else MAX_ITER)
    progress = FitProgressBar() if verbose else NullFitProgressBar()
    start = time.perf_counter()
    # Load first, so that missing data fails before minutes of training, and
    # make every file available first, so that the error names all that are not.
    fetch_wine_quality_files(colors, data_home=data_home)
    data = {
        c: fetch_wine_quality(c, data_home=data_home, return_X_y=True) for c in colors
    }

    color_results = []
    with ExitStack() as stack:
        # For these small matrices BLAS threads cost more than they bring and
        # make timings depend on whatever else runs on the machine; one thread.
        stack.enter_context(threadpool_limits(limits=1))
        # An interrupted run still ends the bar's line.
        stack.callback(progress.finish)
        dask_info, grid_jobs = None, n_jobs
        if dask:
            dask_info, grid_jobs = _start_dask(stack, dask, n_jobs, progress)
        settings = _Settings(numbers, seeds, max_iter, quick, grid, grid_jobs)
        for c in colors:
            X, y = (np.asarray(a, dtype=np.float64) for a in data[c])
            color_results.append(_run_color(c, X, y, settings, progress))

    return ComparisonResult(
        colors=color_results,
        numbers=numbers,
        seeds=seeds,
        max_iter=max_iter,
        quick=quick,
        n_jobs=n_jobs,
        total_seconds=time.perf_counter() - start,
        versions={
            "skann": skann.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
        dask=dask_info,
    )
