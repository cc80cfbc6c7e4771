"""Files of a comparison: the output directory, ``report.md`` and the plots."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from pathlib import Path
from tempfile import NamedTemporaryFile

from skann.compare._plots import plot_loss_curves, plot_test_rmse
from skann.compare._report import format_report

PLOT_FILES = ("test_rmse.png", "loss_curves.png")


def prepare_out_dir(out_dir):
    """Create ``out_dir`` if needed and check that files can be written in it.

    A run takes minutes and writes only at its end: this is called first, so
    that a bad directory fails before the first fit.

    Parameters
    ----------
    out_dir : str or path-like
        The directory.

    Returns
    -------
    out_dir : pathlib.Path
        The directory, now existing.

    Raises
    ------
    ValueError
        If ``out_dir`` cannot be created or written in, with the reason.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} exists and is not a directory.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(
            f"{out_dir} cannot be created: {exc.strerror or exc}."
        ) from None
    try:
        # Permission bits do not tell everything (read-only file systems,
        # access lists): write a file and let it go.
        with NamedTemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise ValueError(
            f"{out_dir} cannot be written in: {exc.strerror or exc}."
        ) from None
    return out_dir


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
            f"`{PLOT_FILES[0]}` and `{PLOT_FILES[1]}`."
        )
    else:
        plots = list(PLOT_FILES)
        plot_test_rmse(result, Figure, out_dir / plots[0])
        plot_loss_curves(result, Figure, out_dir / plots[1])
        written = [out_dir / p for p in plots]
    report = out_dir / "report.md"
    report.write_text(
        format_report(result, plots=plots, out_dir=out_dir), encoding="utf-8"
    )
    return [report, *written]
