"""The report's grid-search section: each search's best row and every candidate."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from skann.compare._article import format_hidden
from skann.compare._protocol import ESTIMATOR_SPECS, ESTIMATORS, N_FOLDS, PARITY_PAIR
from skann.compare._report_cells import divergence_rule, every_estimator, markdown_table


def _cv_cell(grid, i):
    n_diverged = grid.n_diverged[i]
    if not n_diverged:
        return f"{grid.cv_rmse[i]:.3f}"
    cell = f"**diverged** in {n_diverged}/{N_FOLDS} folds"
    if n_diverged < N_FOLDS:
        cell += f"; {grid.finished_cv_rmse[i]:.3f} on the others"
    return cell


def grid_section(color_result):
    """A colour's grid searches in markdown: the best rows, then every candidate."""
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
            markdown_table(header, lines),
            "",
            (
                f"- Search wall time: {wall_times} (ratio "
                f"{first.search_seconds / second.search_seconds:.2f})."
            ),
            "",
            (
                f"Mean {N_FOLDS}-fold CV RMSE of every candidate. A fold's fit counts "
                f"as diverged, for {every_estimator()} alike, when "
                f"{divergence_rule()}"
                " on the held-out fold; a candidate with a diverged fold ranks last."
            ),
            "",
            markdown_table(
                ["#", "hidden layers", "activation", "lr"]
                + [f"{spec.short} CV RMSE" for spec in ESTIMATOR_SPECS.values()],
                cv_lines,
            ),
        ]
    )
