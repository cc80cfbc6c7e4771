"""The report's section beyond the article's table: the best networks, other models."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from skann.compare._article import format_hidden
from skann.compare._protocol import BEYOND_SPECS, ESTIMATORS
from skann.compare._report_cells import fits_cells, markdown_table

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


def beyond_section(color_result, quick, wide=True):
    """How far a network gets on this colour, and where the usual models are."""
    columns = _BEYOND_COLUMNS if wide else _NARROW_BEYOND_COLUMNS
    keep = [_BEYOND_COLUMNS.index(what) for what in columns]
    header = ["model", *(["settings"] if wide else []), *columns]
    networks, others = _beyond_lines(color_result, quick)
    table = []
    for label, settings, fits in networks + others:
        cells = fits_cells(fits)
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
            markdown_table(header, table),
            "",
            *_beyond_answer(networks, others),
            (
                "- The table's networks are its rows with the lowest mean test "
                "RMSE, a choice made on the test rows that flatters them; the "
                "models below them were not tuned on any test row."
            ),
        ]
    )
