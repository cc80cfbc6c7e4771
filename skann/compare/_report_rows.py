"""The report's table of the article's rows per colour, and its notes."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math

import numpy as np

from skann.compare._article import format_hidden
from skann.compare._protocol import ESTIMATOR_SPECS, ESTIMATORS, PARITY_PAIR
from skann.compare._report_cells import every_estimator, fits_cells, markdown_table


def _estimator_cells(row_result, name):
    return fits_cells(row_result.fits[name])


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
    return markdown_table(header, lines)


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
            f"{', '.join(map(str, flat))}, for {every_estimator()}: those networks "
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


def rows_section(color_result, wide=True):
    """A colour's table of the article's rows, then its notes, in markdown."""
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
