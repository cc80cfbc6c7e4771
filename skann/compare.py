"""``skann compare``: the articles' wine-quality table refitted beside MLPRegressor."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import argparse
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import numpy as np
import sklearn
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import skann
from skann import ANNRegressor
from skann.datasets import fetch_wine_quality


class Row(NamedTuple):
    """One row of the articles' table: a network and the test errors it got."""

    hidden_layer_sizes: tuple
    activation: str
    learning_rate: float
    alpha: float
    red: float
    white: float


# SEEDS.md, "The wine-quality experiment"; the articles' sigmoid is "logistic".
ARTICLE_ROWS = (
    Row((50, 30, 20, 10, 5), "logistic", 0.1, 0.1, 0.789623, 0.724354),
    Row((50, 30, 20, 10, 5), "relu", 0.1, 0.1, 0.663542, 1.028760),
    Row((50, 30, 20, 10, 5), "tanh", 0.1, 0.1, 0.663542, math.nan),
    Row((50, 30, 20, 10, 5), "tanh", 0.01, 0.1, 0.603452, 0.830197),
    Row((50, 30, 10, 5), "tanh", 0.01, 0.1, 0.667059, 0.812876),
    Row((50, 10, 5), "relu", 0.01, 0.1, 0.691021, 0.823464),
    Row((10,), "relu", 0.01, 0.1, 0.681109, 0.808402),
    Row((10,), "tanh", 0.01, 0.1, 0.592218, 0.754554),
    Row((10,), "logistic", 0.01, 0.1, 0.613808, 0.757545),
    Row((50, 100, 60, 30, 20, 10), "tanh", 0.01, 0.1, 0.723089, 0.753538),
    Row((50, 100, 60, 30, 20, 10), "relu", 0.01, 0.1, 0.682197, 0.748096),
    Row((50, 100, 60, 30, 20, 10), "logistic", 0.01, 0.1, 0.633969, 0.771930),
    Row((10, 30, 5), "relu", 0.001, 0.1, 0.656096, 0.839657),
    Row((10, 30, 5), "logistic", 0.001, 0.1, 0.792913, 0.840292),
    Row((10, 30, 5), "tanh", 0.001, 0.1, 0.630493, 0.805885),
)

ESTIMATORS = ("skann", "MLPRegressor")
COLORS = ("red", "white")
TEST_FRACTION = 0.15
# 15% of all rows, taken from the 85% that is not test.
VALIDATION_FRACTION = 0.15 / 0.85
MAX_ITER = 200
QUICK_MAX_ITER = 30
QUICK_ROWS = (2, 4, 7, 8)
DEFAULT_SEEDS = 3
N_FOLDS = 5
# A fit whose loss grows past this multiple of the loss of predicting zero, or
# whose test RMSE passes this multiple of the target's spread, has diverged.
BLOWUP_LOSS_FACTOR = 1e6
BLOWUP_RMSE_FACTOR = 100

_LEARNING_RATE_PARAM = {"skann": "learning_rate", "MLPRegressor": "learning_rate_init"}
_SHORT_NAME = {"skann": "skann", "MLPRegressor": "MLP"}


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
    row: Row
    fits: dict

    def finished(self, name):
        """The fits of estimator ``name`` that did not diverge."""
        return [fit for fit in self.fits[name] if fit.diverged is None]


@dataclass
class GridResult:
    """One ``GridSearchCV`` over the table's rows for one estimator."""

    estimator: str
    numbers: list
    cv_rmse: list
    n_failed: list
    n_blown_up: list
    worst_fold_rmse: list
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


def parse_rows(spec):
    """Parse row numbers such as ``"1,4,7-9"`` (1-based, as in the table).

    Parameters
    ----------
    spec : str or iterable of int
        Comma-separated numbers and inclusive ranges, or the numbers themselves.

    Returns
    -------
    numbers : tuple of int
        The row numbers, sorted, without repeats.
    """
    n_rows = len(ARTICLE_ROWS)
    if isinstance(spec, str):
        numbers = []
        for part in spec.split(","):
            low, sep, high = part.strip().partition("-")
            try:
                low = int(low)
                high = int(high) if sep else low
            except ValueError:
                raise ValueError(
                    f"Invalid row selection {spec!r}: use numbers and ranges "
                    "such as '1,4,7-9'."
                ) from None
            if low > high:
                raise ValueError(f"Invalid row range {part.strip()!r} in {spec!r}.")
            numbers.extend(range(low, high + 1))
    else:
        numbers = [int(number) for number in spec]
    bad = [number for number in numbers if not 1 <= number <= n_rows]
    if bad or not numbers:
        raise ValueError(f"Row numbers must be between 1 and {n_rows}, got {spec!r}.")
    return tuple(sorted(set(numbers)))


def split_indices(n_samples, n_features, hidden_layer_sizes, seed):
    """The 70/15/15 train, validation and test rows both estimators use.

    The test rows depend on ``seed`` only. The validation rows are those that
    ``ANNRegressor`` and ``MLPRegressor`` hold out themselves for early
    stopping when given the other 85% with ``random_state=seed``: both draw
    the initial weights and biases from that stream first, then the split.

    Returns
    -------
    fit_rows, train_pos, val_pos, test_rows : ndarray of int
        Rows given to ``fit``; positions within them of the training and of
        the validation share; test rows.
    """
    fit_rows, test_rows = train_test_split(
        np.arange(n_samples), test_size=TEST_FRACTION, random_state=seed
    )
    rng = np.random.RandomState(seed)
    layer_sizes = [n_features, *hidden_layer_sizes, 1]
    # Uniform draws consume one double each, whatever their bounds or shapes.
    rng.random_sample(
        sum((fan_in + 1) * fan_out for fan_in, fan_out in pairwise(layer_sizes))
    )
    train_pos, val_pos = train_test_split(
        np.arange(len(fit_rows)), test_size=VALIDATION_FRACTION, random_state=rng
    )
    return fit_rows, train_pos, val_pos, test_rows


def make_estimator(name, row, *, max_iter=MAX_ITER, random_state=None):
    """``ANNRegressor`` or ``MLPRegressor`` set up as in the comparison."""
    params = {
        "hidden_layer_sizes": row.hidden_layer_sizes,
        "activation": row.activation,
        "solver": "sgd",
        "alpha": row.alpha,
        "max_iter": max_iter,
        "tol": 1e-4,
        "n_iter_no_change": 10,
        "early_stopping": True,
        "validation_fraction": VALIDATION_FRACTION,
        "random_state": random_state,
    }
    params[_LEARNING_RATE_PARAM[name]] = row.learning_rate
    return ANNRegressor(**params) if name == "skann" else MLPRegressor(**params)


def _blow_up(loss_curve, y_fit, y_test, y_pred):
    """Why a fit that returned still counts as diverged, and at which epoch."""
    if not np.all(np.isfinite(y_pred)):
        return "non-finite predictions", None
    # Half the mean squared target: the loss of predicting zero, about where a
    # freshly initialised network starts.
    reference = max(0.5 * float(np.mean(y_fit**2)), 1.0)
    for epoch, loss in enumerate(loss_curve, start=1):
        if not np.isfinite(loss) or loss > BLOWUP_LOSS_FACTOR * reference:
            return f"training loss {loss:.3g} at epoch {epoch}", epoch
    rmse = root_mean_squared_error(y_test, y_pred)
    if rmse > BLOWUP_RMSE_FACTOR * np.std(y_test):
        return f"test RMSE {rmse:.3g}", None
    return None, None


def _reason(error):
    """Short description of the error a fit raised: skann names the epoch."""
    epoch, loss = getattr(error, "epoch", None), getattr(error, "loss", None)
    if epoch is None:
        return str(error)
    return f"epoch {epoch}" + ("" if loss is None else f", loss {loss:.3g}")


def _fit_one(name, row, X, y, seed, max_iter):
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
            return FitResult(name, seed, seconds, diverged=_reason(exc), epoch=epoch)
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
    result.diverged, result.epoch = _blow_up(result.loss_curve, y_fit, y_test, y_pred)
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


def _grid_search(name, rows, numbers, X, y, *, max_iter, n_jobs):
    """5-fold ``GridSearchCV`` over ``rows`` on seed 0's train + validation."""
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
    learning_rate = "model__" + _LEARNING_RATE_PARAM[name]
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
    search = GridSearchCV(
        pipeline,
        param_grid,
        scoring="neg_root_mean_squared_error",
        cv=KFold(N_FOLDS, shuffle=True, random_state=0),
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
            [search.cv_results_[f"split{k}_test_score"] for k in range(N_FOLDS)]
        )
        blown = fold_rmse > BLOWUP_RMSE_FACTOR * np.std(y_fit)
        best = int(search.best_index_)
        model = clone(pipeline).set_params(**search.best_params_)
        start = time.perf_counter()
        test_rmse, test_diverged = None, None
        try:
            model.fit(X_fit, y_fit)
        except ValueError as exc:
            test_diverged = _reason(exc)
        refit_seconds = time.perf_counter() - start
    if test_diverged is None:
        y_pred = model.predict(X[test_rows])
        test_diverged, _ = _blow_up(model[-1].loss_curve_, y_fit, y[test_rows], y_pred)
        if np.all(np.isfinite(y_pred)):
            test_rmse = root_mean_squared_error(y[test_rows], y_pred)
    return GridResult(
        estimator=name,
        numbers=list(numbers),
        cv_rmse=list(-search.cv_results_["mean_test_score"]),
        n_failed=list(np.isnan(fold_rmse).sum(axis=1)),
        n_blown_up=list(blown.sum(axis=1)),
        worst_fold_rmse=list(np.nanmax(fold_rmse, axis=1, initial=-np.inf)),
        best_number=numbers[best],
        best_cv_rmse=float(-search.cv_results_["mean_test_score"][best]),
        test_rmse=test_rmse,
        test_diverged=test_diverged,
        search_seconds=search_seconds,
        refit_seconds=refit_seconds,
    )


def _say(verbose, message):
    if verbose:
        print(message, file=sys.stderr, flush=True)


def _run_rows(color, X, y, numbers, seeds, max_iter, verbose):
    """Fit every selected row with both estimators on every seed's split."""
    n_fits, done = len(numbers) * len(seeds) * len(ESTIMATORS), 0
    results = []
    for number in numbers:
        row = ARTICLE_ROWS[number - 1]
        fits = {name: [] for name in ESTIMATORS}
        for seed in seeds:
            for name in ESTIMATORS:
                fit = _fit_one(name, row, X, y, seed, max_iter)
                fits[name].append(fit)
                done += 1
                if fit.diverged:
                    outcome = f"diverged ({fit.diverged})"
                else:
                    outcome = f"{fit.n_iter} epochs, test RMSE {fit.rmse:.3f}"
                _say(
                    verbose,
                    f"[{color} {done}/{n_fits}] row {number} of {len(ARTICLE_ROWS)}, "
                    f"seed {seed}, {name}: {fit.seconds:.2f} s, {outcome}",
                )
        results.append(RowResult(number, row, fits))
    return results


def _run_grids(color, X, y, numbers, max_iter, n_jobs, verbose):
    """One grid search per estimator over the selected rows."""
    rows = [ARTICLE_ROWS[number - 1] for number in numbers]
    grids = {}
    for name in ESTIMATORS:
        n_fits = len(rows) * N_FOLDS
        _say(verbose, f"[{color}] grid search, {name}: {n_fits} fits ...")
        grids[name] = _grid_search(
            name, rows, numbers, X, y, max_iter=max_iter, n_jobs=n_jobs
        )
        _say(
            verbose,
            f"[{color}] grid search, {name}: {grids[name].search_seconds:.1f} s, "
            f"best row {grids[name].best_number}",
        )
    return grids


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
    verbose=False,
):
    """Fit the articles' table with ANNRegressor and MLPRegressor side by side.

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
        Parallel jobs of the grid searches. The timed per-row fits always run
        one at a time.

    quick : bool, default=False
        A short run: fewer rows, one seed and an epoch budget of 30.

    max_iter : int, default=None
        Epoch budget of every fit. None means 200, or 30 with ``quick=True``.

    data_home : str or path-like, default=None
        Where the wine-quality files are cached; see
        :func:`skann.datasets.fetch_wine_quality`.

    verbose : bool, default=False
        Print a progress line per fit on standard error.

    Returns
    -------
    result : ComparisonResult
        Per colour, row, estimator and seed: test RMSE, MAE and R², epochs,
        fit seconds, loss curves and any divergence; plus the grid searches.
    """
    if color not in (*COLORS, "both"):
        raise ValueError(f"color must be 'red', 'white' or 'both', got {color!r}.")
    colors = list(COLORS) if color == "both" else [color]
    numbers = parse_rows(
        rows
        if rows is not None
        else (QUICK_ROWS if quick else range(1, len(ARTICLE_ROWS) + 1))
    )
    seeds = tuple(range(seeds or (1 if quick else DEFAULT_SEEDS)))
    max_iter = max_iter or (QUICK_MAX_ITER if quick else MAX_ITER)
    start = time.perf_counter()
    # Load first, so that missing data fails before minutes of training.
    data = {
        c: fetch_wine_quality(c, data_home=data_home, return_X_y=True) for c in colors
    }

    color_results = []
    # For these small matrices BLAS threads cost more than they bring and make
    # timings depend on whatever else runs on the machine; one thread for both.
    with threadpool_limits(limits=1):
        for c in colors:
            X, y = (np.asarray(a, dtype=np.float64) for a in data[c])
            rows_start = time.perf_counter()
            result = ColorResult(
                color=c,
                n_samples=len(y),
                target_std=float(np.std(y)),
                rows=_run_rows(c, X, y, numbers, seeds, max_iter, verbose),
                rows_seconds=time.perf_counter() - rows_start,
            )
            if grid:
                grid_start = time.perf_counter()
                result.grid = _run_grids(c, X, y, numbers, max_iter, n_jobs, verbose)
                result.grid_seconds = time.perf_counter() - grid_start
            color_results.append(result)

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
    )


def _duration(seconds):
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s"


def _table(header, lines):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(cell) for cell in line) + " |" for line in lines]
    return "\n".join(out)


def _hidden(row, wrap=None):
    sizes = [str(n) for n in row.hidden_layer_sizes]
    if wrap is None:
        return ",".join(sizes)
    chunks = [",".join(sizes[i : i + wrap]) for i in range(0, len(sizes), wrap)]
    return ",\n".join(chunks)


def _mean_std(values, digits=3):
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def _estimator_cells(row_result, name):
    fits = row_result.fits[name]
    finished = row_result.finished(name)
    diverged = [fit for fit in fits if fit.diverged is not None]
    if not finished:
        epochs = sorted({f.epoch for f in diverged if f.epoch is not None})
        where = "epoch " + ", ".join(map(str, epochs)) if epochs else "see below"
        seconds = np.mean([f.seconds for f in fits])
        return [f"**diverged** ({where})", "-", "-", "-", f"{seconds:.2f}"]
    rmse = _mean_std([f.rmse for f in finished])
    if diverged:
        rmse += f" ({len(diverged)} of {len(fits)} diverged)"
    return [
        rmse,
        f"{np.mean([f.mae for f in finished]):.3f}",
        f"{np.mean([f.r2 for f in finished]):.3f}",
        f"{np.mean([f.n_iter for f in finished]):.0f}",
        f"{np.mean([f.seconds for f in finished]):.2f}",
    ]


def _both_finished(row_result):
    """Pairs of (skann, MLPRegressor) fits on the same seed where neither diverged."""
    return [
        (a, b)
        for a, b in zip(*(row_result.fits[name] for name in ESTIMATORS), strict=True)
        if a.diverged is None and b.diverged is None
    ]


def _speed_ratio(pairs):
    if not pairs:
        return None
    return sum(a.seconds for a, _ in pairs) / sum(b.seconds for _, b in pairs)


def _article(row, color):
    value = getattr(row, color)
    return "NaN" if math.isnan(value) else f"{value:.3f}"


def _rows_table(color_result):
    header = ["#", "hidden layers", "activation", "lr", "article"]
    for name in ESTIMATORS:
        short = _SHORT_NAME[name]
        header += [f"{short} {what}" for what in ("RMSE", "MAE", "R²", "epochs", "s")]
    header.append("speed ratio")
    lines = []
    for rr in color_result.rows:
        ratio = _speed_ratio(_both_finished(rr))
        lines.append(
            [
                rr.number,
                _hidden(rr.row),
                rr.row.activation,
                rr.row.learning_rate,
                _article(rr.row, color_result.color),
                *_estimator_cells(rr, "skann"),
                *_estimator_cells(rr, "MLPRegressor"),
                "-" if ratio is None else f"{ratio:.2f}",
            ]
        )
    return _table(header, lines)


def _timing_notes(pairs):
    skann_s = sum(a.seconds for a, _ in pairs)
    mlp_s = sum(b.seconds for _, b in pairs)
    per_epoch = (skann_s / sum(a.n_iter for a, _ in pairs)) / (
        mlp_s / sum(b.n_iter for _, b in pairs)
    )
    same = sum(
        math.isclose(a.rmse, b.rmse, rel_tol=1e-6) and a.n_iter == b.n_iter
        for a, b in pairs
    )
    return [
        (
            f"- Time over the {len(pairs)} fits both finished: skann {skann_s:.1f} s, "
            f"MLPRegressor {mlp_s:.1f} s; speed ratio {skann_s / mlp_s:.2f} "
            f"({per_epoch:.2f} per epoch). The ratio is skann's seconds over "
            "MLPRegressor's: below 1, skann is faster."
        ),
        (
            f"- Same mathematics: in {same} of these {len(pairs)} fits both "
            "estimators stopped at the same epoch with test RMSEs equal to a "
            "relative 1e-6."
        ),
    ]


def _best_rows_note(color_result):
    c = color_result.color
    summary = []
    for name in ESTIMATORS:
        scored = [
            (np.mean([f.rmse for f in rr.finished(name)]), rr.number)
            for rr in color_result.rows
            if rr.finished(name)
        ]
        if scored:
            rmse, number = min(scored)
            summary.append(f"{name} row {number} ({rmse:.3f})")
    article = [
        (getattr(rr.row, c), rr.number)
        for rr in color_result.rows
        if not math.isnan(getattr(rr.row, c))
    ]
    if article:
        value, number = min(article)
        summary.append(f"the article row {number} ({value:.3f})")
    return ["- Lowest test error: " + ", ".join(summary) + "."] if summary else []


def _flat_rows_note(color_result):
    flat = [
        rr.number
        for rr in color_result.rows
        if all(
            rr.finished(name) and np.mean([f.r2 for f in rr.finished(name)]) < 0.05
            for name in ESTIMATORS
        )
    ]
    if not flat:
        return []
    return [
        (
            f"- R² near 0 in row{'s' if len(flat) > 1 else ''} "
            f"{', '.join(map(str, flat))}, for both estimators: those networks "
            "predict about the mean quality. The usual causes here: stacked logistic "
            "layers pass on ever less of their input's variation (vanishing signal "
            "and gradient), and ReLU units die after an overly long step."
        )
    ]


def _checks_notes(all_fits):
    notes = []
    checked = [f.split_verified for f in all_fits if f.split_verified is not None]
    if checked:
        verdict = (
            "equal in all of them"
            if all(checked)
            else f"**different in {checked.count(False)}**: the split is not shared"
        )
        notes.append(
            f"- Split check: in {len(checked)} fits, the validation R² recomputed "
            "on the comparison's own validation rows against the estimator's "
            f"`best_validation_score_`: {verdict}."
        )
    warned = [
        f"{name} {sum(f.convergence_warning for f in all_fits if f.estimator == name)}"
        " fits"
        for name in ESTIMATORS
    ]
    notes.append(
        "- Epoch budget reached before early stopping (ConvergenceWarning): "
        + ", ".join(warned)
        + "."
    )
    return notes


def _divergence_notes(color_result):
    notes = []
    for rr in color_result.rows:
        for name in ESTIMATORS:
            for fit in rr.fits[name]:
                if fit.diverged is None:
                    continue
                own = ""
                if fit.rmse is not None:
                    own = f"; its test RMSE would be {fit.rmse:.4g}, R² {fit.r2:.3g}"
                notes.append(
                    f"- row {rr.number}, seed {fit.seed}, {name}: diverged "
                    f"({fit.diverged}){own}."
                )
    return ["", "Diverged fits (not averaged in):", "", *notes] if notes else []


def _rows_section(color_result):
    pairs = [pair for rr in color_result.rows for pair in _both_finished(rr)]
    all_fits = [f for rr in color_result.rows for n in ESTIMATORS for f in rr.fits[n]]
    return "\n".join(
        [
            (
                f"### {color_result.color.capitalize()} wine "
                f"({color_result.n_samples} samples, target standard deviation "
                f"{color_result.target_std:.3f})"
            ),
            "",
            _rows_table(color_result),
            "",
            *(_timing_notes(pairs) if pairs else []),
            *_best_rows_note(color_result),
            *_flat_rows_note(color_result),
            *_checks_notes(all_fits),
            *_divergence_notes(color_result),
        ]
    )


def _cv_cell(grid, i):
    failed, blown = grid.n_failed[i], grid.n_blown_up[i]
    if failed:
        return f"**diverged** in {failed}/{N_FOLDS} folds"
    if blown:
        return (
            f"**blown up** in {blown}/{N_FOLDS} folds (worst fold RMSE "
            f"{grid.worst_fold_rmse[i]:.3g})"
        )
    return f"{grid.cv_rmse[i]:.3f}"


def _grid_section(color_result):
    grids = color_result.grid
    rows = {rr.number: rr.row for rr in color_result.rows}
    header = [
        "estimator",
        "best row",
        "hidden layers",
        "activation",
        "lr",
        "best CV RMSE",
        "test RMSE",
        "search s",
        "refit s",
    ]
    lines = []
    for name in ESTIMATORS:
        g = grids[name]
        row = rows[g.best_number]
        test = (
            f"**diverged** ({g.test_diverged})"
            if g.test_diverged
            else f"{g.test_rmse:.3f}"
        )
        lines.append(
            [
                name,
                g.best_number,
                _hidden(row),
                row.activation,
                row.learning_rate,
                f"{g.best_cv_rmse:.3f}",
                test,
                f"{g.search_seconds:.1f}",
                f"{g.refit_seconds:.2f}",
            ]
        )
    cv_lines = [
        [
            number,
            _hidden(rows[number]),
            rows[number].activation,
            rows[number].learning_rate,
        ]
        + [_cv_cell(grids[name], i) for name in ESTIMATORS]
        for i, number in enumerate(grids["skann"].numbers)
    ]
    ratio = grids["skann"].search_seconds / grids["MLPRegressor"].search_seconds
    return "\n".join(
        [
            f"### Grid search, {color_result.color} wine",
            "",
            _table(header, lines),
            "",
            (
                f"- Search wall time: skann {grids['skann'].search_seconds:.1f} "
                f"s, MLPRegressor {grids['MLPRegressor'].search_seconds:.1f} s "
                f"(ratio {ratio:.2f})."
            ),
            "",
            "Mean 5-fold CV RMSE of every candidate:",
            "",
            _table(
                [
                    "#",
                    "hidden layers",
                    "activation",
                    "lr",
                    "skann CV RMSE",
                    "MLP CV RMSE",
                ],
                cv_lines,
            ),
        ]
    )


def _method_section(result):
    seeds = ", ".join(map(str, result.seeds))
    loss_factor = f"10^{round(math.log10(BLOWUP_LOSS_FACTOR))}"
    return f"""\
## How the numbers were made

- **Data**: UCI Wine Quality (Cortez et al., 2009; CC BY 4.0), all 11 inputs,
  `quality` as a number (regression); duplicate rows kept, as in the files.
- **Split, 70/15/15 per seed** (seeds {seeds}): 15% test rows drawn with
  `train_test_split(random_state=seed)`, the same for every row of the table
  and both estimators. The other 85% goes to `fit` with `early_stopping=True`,
  `validation_fraction=0.15/0.85` (15% of all rows) and `random_state=seed`.
  Both estimators draw from that stream in the same order (initial weights,
  then the validation split), so they hold out the same validation rows; as
  the number of weights varies, the train/validation division varies between
  rows of the table, never between the estimators. The comparison computes
  that split beforehand, fits the `StandardScaler` on the 70% training rows
  only, and checks after each fit that the R² it recomputes on its validation
  rows equals the estimator's `best_validation_score_` ("split check" below
  each table).
- **Hyperparameters**, identical for both: `solver="sgd"` (momentum 0.9,
  Nesterov, constant step), the row's `hidden_layer_sizes` and activation (the
  articles' sigmoid is `"logistic"`), the row's learning rate (`learning_rate`
  in skann, `learning_rate_init` in MLPRegressor), `alpha=0.1`,
  `batch_size="auto"` (200), at most {result.max_iter} epochs, early stopping
  on validation R² with `n_iter_no_change=10`, `tol=1e-4`, best weights
  restored. The target is not standardised.
- **Columns**: test RMSE (mean ± standard deviation over the seeds), MAE and
  R² on the test rows; epochs = `n_iter_`; s = seconds of `fit` alone, with
  BLAS limited to one thread for both; speed ratio = skann's fit seconds over
  MLPRegressor's on the seeds where both finished (below 1: skann is faster).
- **Divergence**: skann stops with an error naming the epoch when its loss is
  non-finite or explodes; its cell shows that epoch. MLPRegressor does not
  stop: one of its fits counts as diverged when its training loss became
  non-finite or exceeded {loss_factor} times the loss of predicting zero (about
  its starting loss), when its predictions are non-finite, or when its test
  RMSE exceeds {BLOWUP_RMSE_FACTOR} times the target's standard deviation.
  Diverged fits are listed under the table, never averaged in. In the grid
  search, a fold whose fit or scoring failed counts as "diverged" and one
  whose RMSE passes the last test as "blown up".
- **The article's figure** is its "test error" for the row; the article does
  not say which measure it is (its level matches a test RMSE). Its set-up
  differs in ways that matter: its loss has no ½ (so its steps are twice as
  long at the same learning rate), its λ penalises the mean loss (alpha = λ
  times the batch size in scikit-learn's terms), and its split and seeds are
  unknown. Expect agreement in level, not digit for digit.
- **Grid search**: `GridSearchCV` with `KFold({N_FOLDS}, shuffle=True,
  random_state=0)` on seed 0's 85% train + validation, a
  `Pipeline(StandardScaler(), estimator)` with the same settings, one
  candidate per row of the table, scoring `neg_root_mean_squared_error`,
  `error_score=nan` (a diverged skann fit fails its fold and the candidate
  ranks last), `n_jobs={result.n_jobs}`. The best candidate is refitted on the
  whole 85% and scored on seed 0's test rows; "search s" is the wall time of
  the cross-validation, "refit s" that of the refit.
"""


def _ranges(numbers):
    """``(1, 4, 7, 8, 9)`` as ``"1,4,7-9"``."""
    parts, start = [], None
    for i, number in enumerate(numbers):
        if start is None:
            start = number
        if i + 1 == len(numbers) or numbers[i + 1] != number + 1:
            parts.append(str(start) if start == number else f"{start}-{number}")
            start = None
    return ",".join(parts)


def _command(result):
    """The ``skann compare`` command line that repeats this comparison."""
    colors = [c.color for c in result.colors]
    words = ["skann compare", "--color", "both" if len(colors) > 1 else colors[0]]
    if len(result.numbers) < len(ARTICLE_ROWS):
        words += ["--rows", _ranges(result.numbers)]
    words += ["--seeds", str(len(result.seeds))]
    if any(c.grid for c in result.colors):
        words.append("--grid")
    if result.max_iter != MAX_ITER:
        words += ["--max-iter", str(result.max_iter)]
    return " ".join(words)


def format_report(result, *, details=True, plots=None):
    """The comparison as markdown.

    Parameters
    ----------
    result : ComparisonResult
        What :func:`run_comparison` returned.

    details : bool, default=True
        Include how the numbers were made and the plots section.

    plots : list of str or str, default=None
        File names of plots to link, or a sentence saying why there are none.

    Returns
    -------
    report : str
        The markdown text.
    """
    versions = ", ".join(f"{k} {v}" for k, v in result.versions.items())
    seeds = len(result.seeds)
    parts = [
        "# skann compare: the articles' wine-quality table beside MLPRegressor",
        "",
        (
            f"{versions}; {seeds} seed{'s' if seeds > 1 else ''}; epoch budget "
            f"{result.max_iter}{'; quick run' if result.quick else ''}; "
            f"total time {_duration(result.total_seconds)}."
        ),
        "",
        f"Run again with `{_command(result)}`.",
        "",
        "## Test error per row",
    ]
    for color_result in result.colors:
        parts += ["", _rows_section(color_result)]
    if any(c.grid for c in result.colors):
        parts += ["", "## Grid search over the table"]
        parts += ["\n" + _grid_section(c) for c in result.colors if c.grid]
    timings = []
    for c in result.colors:
        grid = f", grid searches {_duration(c.grid_seconds)}" if c.grid else ""
        timings.append(f"{c.color}: rows {_duration(c.rows_seconds)}{grid}")
    parts += [
        "",
        f"Total time: {_duration(result.total_seconds)} ({'; '.join(timings)}).",
    ]
    if details:
        parts += ["", _method_section(result).rstrip()]
        if plots is not None:
            parts += ["", "## Plots", ""]
            if isinstance(plots, str):
                parts.append(plots)
            else:
                parts += [f"![{Path(p).stem}]({p})\n" for p in plots]
    return "\n".join(parts).rstrip() + "\n"


def _finished_rmse(row_result, name):
    values = [f.rmse for f in row_result.finished(name)]
    return (np.mean(values), np.std(values)) if values else (np.nan, np.nan)


def _plot_test_rmse(result, Figure, path):
    n_colors = len(result.colors)
    width = max(7.0, 0.75 * len(result.numbers) + 3.0)
    fig = Figure(figsize=(width, 4.3 * n_colors), layout="constrained")
    axes = fig.subplots(n_colors, 1, squeeze=False)[:, 0]
    styles = {"skann": ("o", "C0", -0.17), "MLPRegressor": ("s", "C1", 0.17)}
    for ax, cr in zip(axes, result.colors, strict=True):
        x = np.arange(len(cr.rows))
        article = np.array([getattr(rr.row, cr.color) for rr in cr.rows])
        stats = {
            name: np.array([_finished_rmse(rr, name) for rr in cr.rows])
            for name in ESTIMATORS
        }
        shown = np.concatenate([article, *(s[:, 0] for s in stats.values())])
        shown = shown[np.isfinite(shown)]
        low, high = (shown.min(), shown.max()) if shown.size else (0.0, 1.0)
        # Headroom above the data for the diverged markers.
        bottom, top = low - 0.08 * (high - low + 0.1), high + 0.25 * (high - low + 0.1)
        for name in ESTIMATORS:
            marker, colour, offset = styles[name]
            mean, std = stats[name][:, 0], stats[name][:, 1]
            ax.errorbar(
                x + offset,
                mean,
                yerr=std,
                fmt=marker,
                color=colour,
                capsize=3,
                label=name,
            )
            bad = [
                i
                for i, rr in enumerate(cr.rows)
                if any(f.diverged for f in rr.fits[name])
            ]
            if bad:
                ax.plot(
                    x[bad] + offset,
                    np.full(len(bad), top - 0.06 * (top - bottom)),
                    "x",
                    color=colour,
                    markersize=9,
                    mew=2,
                    label=f"{_SHORT_NAME[name]} diverged",
                )
        ax.plot(x, article, "*", color="black", markersize=11, label="article's figure")
        for i in np.flatnonzero(np.isnan(article)):
            ax.annotate(
                "article:\nNaN",
                (x[i], top - 0.06 * (top - bottom)),
                ha="center",
                va="center",
                fontsize=7,
            )
        ax.set_ylim(bottom, top)
        ax.set_xticks(
            x,
            [
                f"{rr.number}\n{_hidden(rr.row, wrap=3)}\n{rr.row.activation}\n"
                f"{rr.row.learning_rate:g}"
                for rr in cr.rows
            ],
            fontsize=7,
        )
        ax.set_xlabel("row of the table: hidden layers, activation, learning rate")
        ax.set_ylabel("test RMSE")
        seeds = len(result.seeds)
        ax.set_title(
            f"{cr.color.capitalize()} wine: test RMSE per row "
            f"(mean ± std over {seeds} seed{'s' if seeds > 1 else ''})"
        )
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, dpi=120)


def _plot_loss_curves(result, Figure, path, n_best=3):
    n_colors = len(result.colors)
    fig = Figure(figsize=(5.5 * n_colors, 7.5), layout="constrained")
    axes = fig.subplots(2, n_colors, squeeze=False)
    seed = result.seeds[0]
    for j, cr in enumerate(result.colors):
        both = [
            rr
            for rr in cr.rows
            if all(rr.fits[name][0].diverged is None for name in ESTIMATORS)
        ]
        ranked = sorted(both, key=lambda rr: _finished_rmse(rr, "skann")[0])
        loss_ax, val_ax = axes[0, j], axes[1, j]
        lowest, highest = 0.0, 0.0
        for k, rr in enumerate(ranked[:n_best]):
            for name in ESTIMATORS:
                fit = rr.fits[name][0]
                epochs = np.arange(1, len(fit.loss_curve) + 1)
                if name == "skann":
                    style = {"linestyle": "-", "linewidth": 2}
                else:
                    # Markers, not a line: the two curves usually coincide.
                    style = {
                        "linestyle": "none",
                        "marker": "o",
                        "fillstyle": "none",
                        "markevery": max(1, len(epochs) // 12),
                    }
                label = f"row {rr.number}, {name}"
                loss_ax.plot(
                    epochs, fit.loss_curve, color=f"C{k}", label=label, **style
                )
                val_ax.plot(
                    epochs, fit.validation_scores, color=f"C{k}", label=label, **style
                )
                if name == "skann":
                    best = int(np.argmax(fit.validation_scores))
                    val_ax.plot(
                        best + 1,
                        fit.validation_scores[best],
                        "*",
                        color=f"C{k}",
                        markersize=12,
                        markeredgecolor="black",
                    )
                lowest = min(lowest, *fit.validation_scores[len(epochs) // 10 :])
                highest = max(highest, *fit.validation_scores)
        loss_ax.set_yscale("log")
        loss_ax.set_title(
            f"{cr.color.capitalize()} wine, {min(n_best, len(ranked))} best rows: "
            "training loss"
        )
        loss_ax.set_ylabel("½ MSE + L2 penalty (log scale)")
        val_ax.set_title("validation R² (early stopping; star: weights kept)")
        val_ax.set_ylim(max(lowest, -1.0) - 0.05, highest + 0.05)
        val_ax.set_xlabel(f"epoch (seed {seed})")
        val_ax.set_ylabel("R²")
        for ax in (loss_ax, val_ax):
            ax.grid(alpha=0.3)
            if ranked:
                ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)


def write_report(result, out_dir):
    """Write ``report.md`` and, if matplotlib is installed, PNG plots.

    Parameters
    ----------
    result : ComparisonResult
        What :func:`run_comparison` returned.

    out_dir : str or path-like
        Directory to write into; created if needed.

    Returns
    -------
    paths : list of pathlib.Path
        The files written, ``report.md`` first.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        from matplotlib.figure import Figure
    except ImportError:
        Figure = None
    written = []
    if Figure is None:
        plots = (
            "No plots: matplotlib is not installed. Install it with "
            "`pip install 'skann[plot]'` and run the comparison again to get "
            "`test_rmse.png` and `loss_curves.png`."
        )
    else:
        plots = ["test_rmse.png", "loss_curves.png"]
        _plot_test_rmse(result, Figure, out_dir / plots[0])
        _plot_loss_curves(result, Figure, out_dir / plots[1])
        written = [out_dir / p for p in plots]
    report = out_dir / "report.md"
    report.write_text(format_report(result, plots=plots), encoding="utf-8")
    return [report, *written]


def _row_spec(text):
    try:
        return parse_rows(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="skann", description="skann: neural-network estimators for scikit-learn."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser(
        "compare",
        help="reproduce the articles' wine-quality table beside MLPRegressor",
        description=(
            "Fit each row of the articles' wine-quality table with skann's "
            "ANNRegressor and scikit-learn's MLPRegressor on the same 70/15/15 "
            "split and print the test errors as a markdown table."
        ),
    )
    compare.add_argument(
        "--color",
        choices=["red", "white", "both"],
        default="red",
        help="which wine data (default: red)",
    )
    compare.add_argument(
        "--rows",
        type=_row_spec,
        help="rows of the table, e.g. 1,4,7-9 (default: all 15; with --quick "
        f"{','.join(map(str, QUICK_ROWS))})",
    )
    compare.add_argument(
        "--seeds",
        type=_positive_int,
        help=f"number of seeded splits to average (default: {DEFAULT_SEEDS}; "
        "with --quick 1)",
    )
    compare.add_argument(
        "--grid",
        action="store_true",
        help="also run a 5-fold GridSearchCV over the rows",
    )
    compare.add_argument(
        "--jobs",
        type=_positive_int,
        default=1,
        help="parallel jobs of the grid search (default: 1)",
    )
    compare.add_argument("--out", help="directory for report.md and the plots")
    compare.add_argument(
        "--quick",
        action="store_true",
        help=f"a short run: rows {','.join(map(str, QUICK_ROWS))}, one seed, "
        f"{QUICK_MAX_ITER} epochs",
    )
    compare.add_argument(
        "--max-iter",
        type=_positive_int,
        help=f"epoch budget (default: {MAX_ITER}; with --quick {QUICK_MAX_ITER})",
    )
    compare.add_argument(
        "--data-home",
        help="directory of the wine-quality files (default: $SKANN_DATA_HOME, "
        "else ~/skann_data); downloaded there if missing",
    )
    return parser


def main(argv=None):
    """Run the ``skann`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments, without the program name; None means ``sys.argv[1:]``.

    Returns
    -------
    status : int
        The exit status: 0 on success.
    """
    args = _parser().parse_args(argv)
    try:
        result = run_comparison(
            args.color,
            rows=args.rows,
            seeds=args.seeds,
            grid=args.grid,
            n_jobs=args.jobs,
            quick=args.quick,
            max_iter=args.max_iter,
            data_home=args.data_home,
            verbose=True,
        )
    except OSError as exc:
        print(f"skann compare: error: {exc}", file=sys.stderr)
        return 1
    print(format_report(result, details=False), end="")
    if args.out is None:
        print("Add --out DIR to also write report.md and plots.", file=sys.stderr)
        return 0
    paths = write_report(result, args.out)
    print("Wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    if len(paths) == 1:
        print(
            "No plots: matplotlib is not installed; `pip install 'skann[plot]'` "
            "adds them.",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
