"""The ``skann`` command line: argument parsing and the ``compare`` command."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import argparse
import difflib
import re
import sys

import skann
from skann.compare._article import parse_rows
from skann.compare._dask import DaskUnavailable, check_dask
from skann.compare._output import prepare_out_dir, write_report
from skann.compare._protocol import DEFAULT_SEEDS, MAX_ITER, QUICK_MAX_ITER, QUICK_ROWS
from skann.compare._report import format_report
from skann.compare._run import run_comparison
from skann.datasets import DataFilesUnavailable


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


def _address(text):
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a scheduler address, got ''")
    return text


def _add_what_to_fit(compare):
    """The options choosing the data, the rows, the seeds and the grid search."""
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
        help="parallel jobs of the grid search (default: 1); with --dask, the "
        "workers of its LocalCluster (default: one per core); with --scheduler, "
        "at most this many fits at once (default: the cluster's threads)",
    )


def _add_where_to_fit(compare):
    """The options that send the grid searches to a Dask cluster."""
    dask = compare.add_mutually_exclusive_group()
    dask.add_argument(
        "--dask",
        action="store_true",
        help="run the grid searches on a Dask LocalCluster started for the run "
        "(needs --grid and pip install 'skann[dask]')",
    )
    dask.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        type=_address,
        help="run the grid searches on the Dask cluster of this scheduler, "
        "e.g. tcp://10.0.0.5:8786 (needs --grid and pip install 'skann[dask]')",
    )


def _add_how_to_run(compare):
    """The options of the output, the budget, the progress bar and the data files."""
    compare.add_argument(
        "--out",
        help="directory for report.md and the plots, checked before the first fit",
    )
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
        "--quiet",
        action="store_true",
        help="no progress bar on standard error",
    )
    compare.add_argument(
        "--data-home",
        help="directory of the wine-quality files (default: $SKANN_DATA_HOME, "
        "else ~/skann_data); downloaded there if missing",
    )


def _parser():
    """The ``skann`` parser and its ``compare`` subparser."""
    parser = argparse.ArgumentParser(
        prog="skann", description="skann: neural-network estimators for scikit-learn."
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {skann.__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser(
        "compare",
        help="reproduce the articles' wine-quality table beside MLPRegressor",
        description=(
            "Fit each row of the articles' wine-quality table with skann's "
            "ANNRegressor and scikit-learn's MLPRegressor on the same 70/15/15 "
            "split and print their test RMSEs as a markdown table; --out also "
            "writes report.md, with every column, and the plots."
        ),
    )
    _add_what_to_fit(compare)
    _add_where_to_fit(compare)
    _add_how_to_run(compare)
    return parser, compare


def _unrecognized(parser, extras):
    """Name the arguments ``parser`` does not know, with the nearest option."""
    options = re.findall(r"--[a-z][a-z-]*", parser.format_usage())
    message = "unrecognized arguments: " + " ".join(extras)
    for extra in extras:
        close = difflib.get_close_matches(
            extra.partition("=")[0], options, n=1, cutoff=0.75
        )
        if close and extra.startswith("-"):
            message += f" (did you mean {close[0]}?)"
            break
    parser.error(message)


def main(argv=None):
    """Run the ``skann`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments, without the program name; None means ``sys.argv[1:]``.

    Returns
    -------
    status : int
        The exit status: 0 on success, 1 if the data or the Dask scheduler
        cannot be had, 2 for a bad ``--out`` or ``--dask`` without dask
        installed. Other bad arguments raise ``SystemExit(2)``.
    """
    parser, compare = _parser()
    # argparse leaves a subcommand's unknown options to the top-level parser,
    # whose message would show the wrong usage and suggest nothing.
    args, extras = parser.parse_known_args(argv)
    if extras:
        _unrecognized(compare, extras)
    option = "--dask" if args.dask else "--scheduler" if args.scheduler else None
    if option and not args.grid:
        compare.error(f"argument {option}: runs the grid searches; add --grid")
    if option:
        # Checked before the first fit, as --out is.
        try:
            check_dask()
        except DaskUnavailable as exc:
            print(f"skann compare: error: argument {option}: {exc}", file=sys.stderr)
            return 2
    if args.out is not None:
        try:
            prepare_out_dir(args.out)
        except ValueError as exc:
            print(f"skann compare: error: argument --out: {exc}", file=sys.stderr)
            return 2
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
            dask=args.scheduler or args.dask,
            verbose=not args.quiet,
        )
    except DataFilesUnavailable as exc:
        message = exc.message(data_home_option="--data-home")
        print(f"skann compare: error: {message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"skann compare: error: {exc}", file=sys.stderr)
        return 1
    print(format_report(result, details=False, out_dir=args.out), end="")
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
