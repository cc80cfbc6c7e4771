"""The comparison as markdown: tables per row and per grid search, and notes."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math
import shlex
import textwrap
from pathlib import Path

import numpy as np

from skann.compare._article import (
    ARTICLE_ROWS,
    ARTICLES,
    format_hidden,
    format_ranges,
)
from skann.compare._protocol import (
    BEYOND_SPECS,
    BLOWUP_LOSS_FACTOR,
    BLOWUP_RMSE_FACTOR,
    ESTIMATOR_SPECS,
    ESTIMATORS,
    MAX_ITER,
    N_FOLDS,
    PARITY_PAIR,
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


def _mean_std(values, digits=3):
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def _fits_cells(fits):
    """Test RMSE, MAE, R², epochs and seconds of one model's fits (its seeds)."""
    finished = [fit for fit in fits if fit.diverged is None]
    diverged = [fit for fit in fits if fit.diverged is not None]
    if not finished:
        epochs = sorted({f.epoch for f in diverged if f.epoch is not None})
        where = "epoch " + ", ".join(map(str, epochs)) if epochs else "see below"
        seconds = np.mean([f.seconds for f in fits])
        return [f"**diverged** ({where})", "-", "-", "-", f"{seconds:.2f}"]
    rmse = _mean_std([f.rmse for f in finished])
    if diverged:
        rmse += f" ({len(diverged)} of {len(fits)} diverged)"
    # Forests and neighbours have no epochs.
    n_iter = [f.n_iter for f in finished if f.n_iter is not None]
    return [
        rmse,
        f"{np.mean([f.mae for f in finished]):.3f}",
        f"{np.mean([f.r2 for f in finished]):.3f}",
        f"{np.mean(n_iter):.0f}" if n_iter else "-",
        f"{np.mean([f.seconds for f in finished]):.2f}",
    ]


def _estimator_cells(row_result, name):
    return _fits_cells(row_result.fits[name])


def _parity_finished(row_result):
    """Pairs of fits of ``PARITY_PAIR`` on the same seed where neither diverged."""
    return [
        (a, b)
        for a, b in zip(*(row_result.fits[name] for name in PARITY_PAIR), strict=True)
        if a.diverged is None and b.diverged is None
    ]


def _speed_ratio(pairs):
    if not pairs:
        return None
    return sum(a.seconds for a, _ in pairs) / sum(b.seconds for _, b in pairs)


def _article(row, color):
    value = getattr(row, color)
    # The article's fit of that row diverged; NaN is the figure it printed.
    return "diverged (NaN)" if math.isnan(value) else f"{value:.3f}"


def _every_estimator():
    return "both estimators" if len(ESTIMATORS) == 2 else "every estimator"


def _power_of_ten(value):
    return f"10^{round(math.log10(value))}"


def _divergence_rule():
    """When a fit or a grid-search fold counts as diverged, whatever the estimator."""
    return (
        "its training loss became non-finite or passed "
        f"{_power_of_ten(BLOWUP_LOSS_FACTOR)} times the loss of predicting zero, "
        "its predictions are non-finite, or their RMSE passes "
        f"{BLOWUP_RMSE_FACTOR} times the target's standard deviation"
    )


# The columns of each estimator in the wide table, and the one kept in the
# narrow table printed on the terminal.
_ESTIMATOR_COLUMNS = ("RMSE", "MAE", "R²", "epochs", "s")
_NARROW_COLUMNS = ("RMSE",)


def _rows_table(color_result, wide=True):
    """The table of the rows: every column (``wide``) or the test RMSEs only.

    The wide table has five columns per estimator (21 with three estimators),
    too many for a terminal; the narrow one keeps the row, the article's
    figure, each estimator's test RMSE and the speed ratio.
    """
    columns = _ESTIMATOR_COLUMNS if wide else _NARROW_COLUMNS
    keep = [_ESTIMATOR_COLUMNS.index(what) for what in columns]
    header = ["#", "hidden layers", "activation", "lr", "article"]
    for spec in ESTIMATOR_SPECS.values():
        header += [f"{spec.short} {what}" for what in columns]
    header.append("speed ratio")
    lines = []
    for rr in color_result.rows:
        ratio = _speed_ratio(_parity_finished(rr))
        cells = []
        for name in ESTIMATORS:
            every = _estimator_cells(rr, name)
            cells += [every[i] for i in keep]
        lines.append(
            [
                rr.number,
                format_hidden(rr.row),
                rr.row.activation,
                rr.row.learning_rate,
                _article(rr.row, color_result.color),
                *cells,
                "-" if ratio is None else f"{ratio:.2f}",
            ]
        )
    return _table(header, lines)


def _timing_notes(pairs):
    first, second = PARITY_PAIR
    first_s = sum(a.seconds for a, _ in pairs)
    second_s = sum(b.seconds for _, b in pairs)
    per_epoch = (first_s / sum(a.n_iter for a, _ in pairs)) / (
        second_s / sum(b.n_iter for _, b in pairs)
    )
    same = sum(
        math.isclose(a.rmse, b.rmse, rel_tol=1e-6) and a.n_iter == b.n_iter
        for a, b in pairs
    )
    return [
        (
            f"- Time over the {len(pairs)} fits both finished: {first} "
            f"{first_s:.1f} s, {second} {second_s:.1f} s; speed ratio "
            f"{first_s / second_s:.2f} ({per_epoch:.2f} per epoch). The ratio is "
            f"{first}'s seconds over {second}'s: below 1, {first} is faster."
        ),
        (
            f"- Same mathematics: in {same} of these {len(pairs)} fits {first} "
            f"and {second} stopped at the same epoch with test RMSEs equal to a "
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
            f"{', '.join(map(str, flat))}, for {_every_estimator()}: those networks "
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


def _mean_note(color_result):
    """The test RMSE of predicting the mean: what a collapsed network scores."""
    if color_result.mean_rmse is None:
        return []
    return [
        (
            f"- Predicting the mean quality of the rows given to `fit` scores a "
            f"test RMSE of {color_result.mean_rmse:.3f}: a network near that "
            "has learnt about nothing."
        )
    ]


def _rows_section(color_result, wide=True):
    pairs = [pair for rr in color_result.rows for pair in _parity_finished(rr)]
    all_fits = [f for rr in color_result.rows for n in ESTIMATORS for f in rr.fits[n]]
    return "\n".join(
        [
            (
                f"### {color_result.color.capitalize()} wine "
                f"({color_result.n_samples} samples, target standard deviation "
                f"{color_result.target_std:.3f})"
            ),
            "",
            _rows_table(color_result, wide=wide),
            "",
            *(_timing_notes(pairs) if pairs else []),
            *_mean_note(color_result),
            *_best_rows_note(color_result),
            *_flat_rows_note(color_result),
            *_checks_notes(all_fits),
            *_divergence_notes(color_result),
        ]
    )


# The columns of the table beyond the article's: all of them in report.md,
# the test RMSE and the seconds on the terminal.
_BEYOND_COLUMNS = ("test RMSE", "MAE", "R²", "epochs", "s per fit")
_NARROW_BEYOND_COLUMNS = ("test RMSE", "s per fit")


def _best_row(color_result, name):
    """The row result where estimator ``name`` has its lowest mean test RMSE.

    Only rows where none of its fits diverged compete; None if there are none.
    """
    scored = [
        (np.mean([f.rmse for f in rr.fits[name]]), rr.number, rr)
        for rr in color_result.rows
        if len(rr.finished(name)) == len(rr.fits[name])
    ]
    return min(scored)[2] if scored else None


def _mean_rmse_of(fits):
    values = [f.rmse for f in fits if f.diverged is None]
    return np.mean(values) if values else np.nan


def _beyond_lines(color_result, quick):
    """``(label, settings, fits)`` of the lines of the table beyond the article's.

    Returns the lines of the table's best networks and those of the models
    beyond it, as two lists.
    """
    networks = []
    for name in ESTIMATORS:
        rr = _best_row(color_result, name)
        if rr is not None:
            settings = (
                f"{format_hidden(rr.row)} {rr.row.activation}, "
                f"lr {rr.row.learning_rate}"
            )
            networks.append((f"{name}, row {rr.number}", settings, rr.fits[name]))
    others = [
        (name, spec.describe(quick), color_result.beyond[name])
        for name, spec in BEYOND_SPECS.items()
        if name in color_result.beyond
    ]
    return networks, others


def _lowest(scored):
    """``"label (0.123)"`` of the lowest finite score of ``(score, label)`` pairs.

    Of equal scores, the first pair's label.
    """
    finite = [(v, label) for v, label in scored if np.isfinite(v)]
    if not finite:
        return None
    return "{1} ({0:.3f})".format(*min(finite, key=lambda pair: pair[0]))


def _beyond_answer(networks, others):
    """One line: the lowest error, the recipe, the table's best, the trees."""
    table = [(_mean_rmse_of(fits), label) for label, _, fits in networks]
    beyond = {label: _mean_rmse_of(fits) for label, _, fits in others}
    trees = [
        (beyond[name], name)
        for name in ("RandomForestRegressor", "HistGradientBoostingRegressor")
        if name in beyond
    ]
    everything = table + [(v, name) for name, v in beyond.items()]
    lowest = _lowest(everything)
    recipe = beyond.get("recipe", np.nan)
    if not np.isfinite(recipe) or (lowest or "").startswith("recipe "):
        recipe = None
    parts = [
        ("Lowest mean test RMSE: ", lowest),
        ("the recipe: ", None if recipe is None else f"{recipe:.3f}"),
        ("the table's best network: ", _lowest(table)),
        ("the better tree ensemble: ", _lowest(trees)),
    ]
    parts = [words + found for words, found in parts if found is not None]
    return ["- " + "; ".join(parts) + "."] if parts else []


def _beyond_section(color_result, quick, wide=True):
    """How far a network gets on this colour, and where the usual models are."""
    columns = _BEYOND_COLUMNS if wide else _NARROW_BEYOND_COLUMNS
    keep = [_BEYOND_COLUMNS.index(what) for what in columns]
    header = ["model", *(["settings"] if wide else []), *columns]
    networks, others = _beyond_lines(color_result, quick)
    table = []
    for label, settings, fits in networks + others:
        cells = _fits_cells(fits)
        table.append([label, *([settings] if wide else []), *(cells[i] for i in keep)])
    if color_result.mean_rmse is not None:
        mean = ["predicting the mean"]
        mean += ["the mean quality of the rows given to `fit`"] if wide else []
        mean += [f"{color_result.mean_rmse:.3f}" if i == 0 else "-" for i in keep]
        table.append(mean)
    return "\n".join(
        [
            f"### {color_result.color.capitalize()} wine, beyond the table",
            "",
            _table(header, table),
            "",
            *_beyond_answer(networks, others),
            (
                "- The table's networks are its rows with the lowest mean test "
                "RMSE, a choice made on the test rows that flatters them; the "
                "models below them were not tuned on any test row."
            ),
        ]
    )


def _cv_cell(grid, i):
    n_diverged = grid.n_diverged[i]
    if not n_diverged:
        return f"{grid.cv_rmse[i]:.3f}"
    cell = f"**diverged** in {n_diverged}/{N_FOLDS} folds"
    if n_diverged < N_FOLDS:
        cell += f"; {grid.finished_cv_rmse[i]:.3f} on the others"
    return cell


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
                format_hidden(row),
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
            format_hidden(rows[number]),
            rows[number].activation,
            rows[number].learning_rate,
        ]
        + [_cv_cell(grids[name], i) for name in ESTIMATORS]
        for i, number in enumerate(grids[ESTIMATORS[0]].numbers)
    ]
    first, second = (grids[name] for name in PARITY_PAIR)
    wall_times = ", ".join(f"{n} {g.search_seconds:.1f} s" for n, g in grids.items())
    return "\n".join(
        [
            f"### Grid search, {color_result.color} wine",
            "",
            _table(header, lines),
            "",
            (
                f"- Search wall time: {wall_times} (ratio "
                f"{first.search_seconds / second.search_seconds:.2f})."
            ),
            "",
            (
                f"Mean {N_FOLDS}-fold CV RMSE of every candidate. A fold's fit counts "
                f"as diverged, for {_every_estimator()} alike, when "
                f"{_divergence_rule()}"
                " on the held-out fold; a candidate with a diverged fold ranks last."
            ),
            "",
            _table(
                ["#", "hidden layers", "activation", "lr"]
                + [f"{spec.short} CV RMSE" for spec in ESTIMATOR_SPECS.values()],
                cv_lines,
            ),
        ]
    )


def _own_options():
    """One line per estimator that has settings of its own, naming them all."""
    lines = []
    for spec in ESTIMATOR_SPECS.values():
        if spec.params:
            options = ", ".join(f"`{k}={v!r}`" for k, v in spec.params.items())
            lines.append(
                f"- **{spec.name}** ({spec.short} columns): {spec.estimator.__name__} "
                f"with the same settings plus {options}.\n"
            )
    return "".join(lines)


def _beyond_method(quick):
    """The method bullet of the models beyond the table, one line per model."""
    models = "".join(
        f"  - **{name}**: {spec.describe(quick)}.\n"
        for name, spec in BEYOND_SPECS.items()
    )
    return (
        "- **Beyond the table**, on every seed's split: each model below is given\n"
        "  the same 85% of the rows as `fit` above, unscaled (the recipe and the\n"
        "  neighbours scale inside their own pipelines), and scored on the same\n"
        "  test rows; s per fit is the wall time of `fit`, BLAS at one thread and\n"
        "  the forest on one core. The recipe holds out 15% of its rows for its\n"
        "  own early stopping; the other settings are scikit-learn's defaults.\n"
        "  Beside them, each estimator's row with the lowest mean test RMSE among\n"
        "  the rows where none of its fits diverged.\n" + models
    )


def _method_section(result):
    seeds = ", ".join(map(str, result.seeds))
    beyond = _beyond_method(result.quick)
    divergence = textwrap.fill(
        "- **Divergence**, one rule for every estimator, in the tables and in "
        f"the grid search: a fit diverged when {_divergence_rule()} on the test "
        "rows (on the held-out fold in the grid search). skann applies the loss "
        "test itself, against its initial loss, and stops with an error naming "
        "the epoch; its cell shows that epoch. MLPRegressor trains on, so the "
        "comparison reads its `loss_curve_`; predicting zero is about where it "
        "starts. Diverged fits are listed under the table, never averaged in; "
        "in the grid search a diverged fold leaves its candidate without a mean "
        "CV RMSE, so it ranks last.",
        width=78,
        subsequent_indent="  ",
    )
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
- **Hyperparameters**, identical for all: `solver="sgd"` (momentum 0.9,
  Nesterov, constant step), the row's `hidden_layer_sizes` and activation (the
  articles' sigmoid is `"logistic"`), the row's learning rate (`learning_rate`
  in skann, `learning_rate_init` in MLPRegressor), `alpha=0.1`,
  `batch_size="auto"` (200), at most {result.max_iter} epochs, early stopping
  on validation R² with `n_iter_no_change=10`, `tol=1e-4`, best weights
  restored. The target is not standardised, except by the estimators below
  that are given options of their own.
{_own_options()}- **Columns**: test RMSE (mean ± standard deviation over the seeds), MAE
  and R² on the test rows; epochs = `n_iter_`; s = seconds of `fit` alone, with
  BLAS limited to one thread for both; speed ratio = skann's fit seconds over
  MLPRegressor's on the seeds where both finished (below 1: skann is faster).
{divergence}
{beyond}- **The article's figure** is its "test error" for the row; the article does
  not say which measure it is (its level matches a test RMSE); "diverged
  (NaN)" is where it printed NaN, its own fit having diverged. Its set-up
  differs in ways that matter: its loss has no ½ (so its steps are twice as
  long at the same learning rate), its λ penalises the mean loss (alpha = λ
  times the batch size in scikit-learn's terms), and its split and seeds are
  unknown. Expect agreement in level, not digit for digit.
- **Grid search**: `GridSearchCV` with `KFold({N_FOLDS}, shuffle=True,
  random_state=0)` on seed 0's 85% train + validation, a
  `Pipeline(StandardScaler(), estimator)` with the same settings, one
  candidate per row of the table, scored by minus the RMSE on the held-out
  fold, or NaN for a fold that diverged (`error_score=nan` for a fit that
  stopped with an error), {_grid_jobs(result)}. The best candidate is
  refitted on the whole 85% and scored on seed 0's test rows; "search s" is
  the wall time of the cross-validation, "refit s" that of the refit.
"""


def _sources_section():
    """The articles the table comes from, and the data."""

    def fill(text, indent=""):
        return textwrap.fill(
            text, width=78, subsequent_indent=indent, break_on_hyphens=False
        )

    return "\n".join(
        [
            "## Sources",
            "",
            fill(
                "The table and the article's figures come from the third of "
                "the four articles, in Chinese, that skann grew from; together "
                "they derive a feed-forward network trained by backpropagation "
                "and implement it in NumPy:"
            ),
            "",
            *(fill(f"{i}. {text}", "   ") for i, text in enumerate(ARTICLES, 1)),
            "",
            fill(
                "The data: P. Cortez, A. Cerdeira, F. Almeida, T. Matos and "
                "J. Reis (2009). Wine Quality. UCI Machine Learning Repository, "
                "CC BY 4.0."
            ),
        ]
    )


def _grid_jobs(result):
    """Where the grid searches' fits ran, for the method section."""
    if result.dask is None:
        return f"`n_jobs={result.n_jobs}`"
    return (
        f"run on Dask, {result.dask.describe()}, through joblib's Dask backend "
        "with one BLAS thread per fit"
    )


def _command(result, out_dir=None):
    """The ``skann compare`` command line that repeats this comparison."""
    colors = [c.color for c in result.colors]
    words = ["skann compare", "--color", "both" if len(colors) > 1 else colors[0]]
    if len(result.numbers) < len(ARTICLE_ROWS):
        words += ["--rows", format_ranges(result.numbers)]
    words += ["--seeds", str(len(result.seeds))]
    if any(c.grid for c in result.colors):
        words.append("--grid")
        if result.dask is not None:
            scheduler = result.dask.scheduler
            words += ["--dask"] if scheduler is None else ["--scheduler", scheduler]
        if result.n_jobs not in (None, 1) or (
            result.dask is not None and result.n_jobs
        ):
            words += ["--jobs", str(result.n_jobs)]
    if result.max_iter != MAX_ITER:
        words += ["--max-iter", str(result.max_iter)]
    if out_dir is not None:
        words += ["--out", shlex.quote(str(out_dir))]
    return " ".join(words)


def format_report(result, *, details=True, wide=None, plots=None, out_dir=None):
    """The comparison as markdown.

    Parameters
    ----------
    result : ComparisonResult
        What :func:`run_comparison` returned.

    details : bool, default=True
        Include how the numbers were made and the plots section.

    wide : bool, default=None
        Give every estimator five columns in the tables of the rows (test
        RMSE, MAE, R², epochs, seconds) rather than the test RMSE alone, the
        narrow form that fits a terminal. None means the same as ``details``.

    plots : list of str or str, default=None
        File names of plots to link, or a sentence saying why there are none.

    out_dir : str or path-like, default=None
        The directory the report goes to, named in its "Run again" command.

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
        f"Run again with `{_command(result, out_dir)}`.",
        "",
        "## Test error per row",
    ]
    wide = details if wide is None else wide
    if not wide:
        parts += [
            "",
            (
                "Test RMSE per estimator; report.md (written with --out DIR) "
                "adds the MAE, R², epochs and fit seconds of each."
            ),
        ]
    for color_result in result.colors:
        parts += ["", _rows_section(color_result, wide=wide)]
    if any(c.grid for c in result.colors):
        parts += ["", "## Grid search over the table"]
        parts += ["\n" + _grid_section(c) for c in result.colors if c.grid]
    if any(c.beyond for c in result.colors):
        parts += ["", "## Beyond the article's table"]
        if not wide:
            parts += [
                "",
                (
                    "How good a network gets here, against a forest: test RMSE "
                    "and seconds per fit; report.md adds the MAE, R², epochs and "
                    "each model's settings."
                ),
            ]
        parts += [
            "\n" + _beyond_section(c, result.quick, wide)
            for c in result.colors
            if c.beyond
        ]
    timings = []
    for c in result.colors:
        beyond = f", beyond the table {_duration(c.beyond_seconds)}" if c.beyond else ""
        grid = f", grid searches {_duration(c.grid_seconds)}" if c.grid else ""
        timings.append(f"{c.color}: rows {_duration(c.rows_seconds)}{beyond}{grid}")
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
        parts += ["", _sources_section()]
    return "\n".join(parts).rstrip() + "\n"
