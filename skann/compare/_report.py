"""The comparison as markdown: the heading, then each section's module in turn."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

# The sections live in modules of their own: _report_rows (the table of the
# article's rows), _report_grid (the grid searches), _report_beyond (beyond
# the article's table), _report_notes (how the numbers were made, sources);
# _report_cells holds the pieces they share.

import shlex
from pathlib import Path

from skann.compare._article import ARTICLE_ROWS, format_ranges
from skann.compare._protocol import MAX_ITER
from skann.compare._report_beyond import beyond_section
from skann.compare._report_cells import duration
from skann.compare._report_grid import grid_section
from skann.compare._report_notes import method_section, sources_section
from skann.compare._report_rows import rows_section


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


def _heading(result, out_dir):
    """The title, the versions and settings, and the command that repeats it."""
    versions = ", ".join(f"{k} {v}" for k, v in result.versions.items())
    seeds = len(result.seeds)
    return [
        "# skann compare: the articles' wine-quality table beside MLPRegressor",
        "",
        (
            f"{versions}; {seeds} seed{'s' if seeds > 1 else ''}; epoch budget "
            f"{result.max_iter}{'; quick run' if result.quick else ''}; "
            f"total time {duration(result.total_seconds)}."
        ),
        "",
        f"Run again with `{_command(result, out_dir)}`.",
        "",
    ]


def _rows_part(result, wide):
    """The tables of the article's rows, one per colour."""
    parts = ["## Test error per row"]
    if not wide:
        parts += [
            "",
            (
                "Test RMSE per estimator; report.md (written with --out DIR) "
                "adds the MAE, R², epochs and fit seconds of each."
            ),
        ]
    for color_result in result.colors:
        parts += ["", rows_section(color_result, wide=wide)]
    return parts


def _grid_part(result):
    """The grid searches of the colours that ran them, if any did."""
    if not any(c.grid for c in result.colors):
        return []
    parts = ["", "## Grid search over the table"]
    return parts + ["\n" + grid_section(c) for c in result.colors if c.grid]


def _beyond_part(result, wide):
    """The sections beyond the article's table, if any colour has one."""
    if not any(c.beyond for c in result.colors):
        return []
    parts = ["", "## Beyond the article's table"]
    if not wide:
        parts += [
            "",
            (
                "How good a network gets here, against a forest: test RMSE "
                "and seconds per fit; report.md adds the MAE, R², epochs and "
                "each model's settings."
            ),
        ]
    return parts + [
        "\n" + beyond_section(c, result.quick, wide) for c in result.colors if c.beyond
    ]


def _total_time(result):
    """The line of the run's total time, split per colour and per part."""
    timings = []
    for c in result.colors:
        beyond = f", beyond the table {duration(c.beyond_seconds)}" if c.beyond else ""
        grid = f", grid searches {duration(c.grid_seconds)}" if c.grid else ""
        timings.append(f"{c.color}: rows {duration(c.rows_seconds)}{beyond}{grid}")
    return [
        "",
        f"Total time: {duration(result.total_seconds)} ({'; '.join(timings)}).",
    ]


def _details_part(result, plots):
    """How the numbers were made, the plots section and the sources."""
    parts = ["", method_section(result).rstrip()]
    if plots is not None:
        parts += ["", "## Plots", ""]
        if isinstance(plots, str):
            parts.append(plots)
        else:
            parts += [f"![{Path(p).stem}]({p})\n" for p in plots]
    return [*parts, "", sources_section()]


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
    wide = details if wide is None else wide
    parts = [
        *_heading(result, out_dir),
        *_rows_part(result, wide),
        *_grid_part(result),
        *_beyond_part(result, wide),
        *_total_time(result),
    ]
    if details:
        parts += _details_part(result, plots)
    return "\n".join(parts).rstrip() + "\n"
