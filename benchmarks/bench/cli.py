"""The command line: options, the run over the workloads, the report's file."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import argparse
import os
import sys
import time

from threadpoolctl import threadpool_limits

from bench.baseline import load_baseline, verify_sources
from bench.libraries import SKANN, SKLEARN
from bench.machine import load_average, machine_info
from bench.report import render
from bench.timing import FittedModels, run_predict_workload, run_workload, warm_up
from bench.variants import make_variants, parse_variants
from bench.workloads import PREDICT_FITS, PREDICT_WORKLOADS, WORKLOADS

# Fit workloads first, then predict workloads, each in its table's order.
ALL_WORKLOADS = (*WORKLOADS, *PREDICT_WORKLOADS)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark fit of skann against scikit-learn's MLP estimators."
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="reduced sizes and epochs, one repeat: checks the suite runs",
    )  # fmt: skip
    parser.add_argument(
        "--workloads", default=",".join(ALL_WORKLOADS),
        help=f"comma-separated subset of {','.join(ALL_WORKLOADS)} (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--repeats", type=int, default=None,
        help="timed fits per library (default: 3, quick mode: 1)",
    )  # fmt: skip
    parser.add_argument(
        "--dtype", default="float64,float32",
        help="comma-separated dtypes (default: float64,float32)",
    )  # fmt: skip
    parser.add_argument(
        "--epochs", default="",
        help="override epoch counts, e.g. W3=500,W1=100",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=None,
        help="limit BLAS to this many threads (default: the library's own)",
    )  # fmt: skip
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the tracemalloc fits"
    )
    parser.add_argument(
        "--out", default=None, help="write the markdown report to this file"
    )
    parser.add_argument(
        "--baseline", default=None, metavar="DIR",
        help="also time the skann of the source tree DIR (another revision)",
    )  # fmt: skip
    parser.add_argument(
        "--variants", default="", metavar="LABEL=KEY=VALUE[,KEY=VALUE...];...",
        help=(
            "also time skann with these extra parameters, e.g. "
            "\"dropout=dropout=0.1;bn=batch_norm=True\" (values are Python literals)"
        ),
    )  # fmt: skip
    parser.add_argument(
        "--variant-workloads", default=None,
        help=(
            "run the variants on these fit and predict workloads only "
            "(default: every workload run)"
        ),
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = set(args.workloads) - set(ALL_WORKLOADS)
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
    args.dtype = [d.strip() for d in args.dtype.split(",") if d.strip()]
    if not set(args.dtype) <= {"float64", "float32"}:
        parser.error("--dtype takes float64 and/or float32")
    overrides = {}
    for item in filter(None, args.epochs.split(",")):
        name, _, value = item.partition("=")
        if name not in WORKLOADS or not value.isdigit() or int(value) < 1:
            parser.error(f"bad --epochs entry {item!r}; use e.g. W3=500")
        overrides[name] = int(value)
    args.epochs = overrides
    try:
        args.variants = parse_variants(args.variants)
    except ValueError as exc:
        parser.error(f"bad --variants entry {exc}")
    if args.variant_workloads is None:
        args.variant_workloads = list(args.workloads)
    else:
        args.variant_workloads = [
            w.strip() for w in args.variant_workloads.split(",") if w.strip()
        ]
        if not set(args.variant_workloads) <= set(args.workloads):
            parser.error("--variant-workloads must be among the --workloads run")
    if args.baseline is not None and not os.path.isfile(
        os.path.join(args.baseline, "skann", "__init__.py")
    ):
        parser.error(f"--baseline {args.baseline} is not a skann source tree")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads is None:
        run(args)
    else:
        with threadpool_limits(limits=args.threads, user_api="blas"):
            run(args)


def run(args):
    """Run the selected workloads and write the report."""
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    info = machine_info()
    log(f"{info['date']}  {info['machine']}  {info['cpu']}  {info['cores']}")
    for line in info["blas"]:
        log(f"BLAS: {line}")
    log("Environment: " + ", ".join(f"{k} {v}" for k, v in info["env"].items()))
    baseline = None
    if args.baseline is not None:
        baseline = load_baseline(args.baseline)
        verify_sources(baseline)
        log(f"Baseline: {baseline.source}, loaded and checked")
    variants = make_variants(args.variants)

    start = time.perf_counter()
    extra = [baseline] if baseline is not None else []
    warm_up((SKANN, *extra, *variants, SKLEARN))
    results, predict_results = [], []
    models = FittedModels(args.quick, log)
    for name in args.workloads:
        libraries = [SKANN, *extra]
        if name in args.variant_workloads:
            libraries += variants
        libraries.append(SKLEARN)
        if name in PREDICT_WORKLOADS:
            workload = PREDICT_WORKLOADS[name].scaled(args.quick)
            log(f"{name}: predict on {workload.n_rows} rows, {workload.calls} calls")
            for kind in PREDICT_FITS:
                for dtype in args.dtype:
                    predict_results.append(
                        run_predict_workload(
                            workload, kind, dtype, args.repeats, models, log, libraries
                        )
                    )
            continue
        workload = WORKLOADS[name].scaled(args.quick, args.epochs.get(name))
        log(f"{name}: {workload.description}, {workload.shape()}")
        for dtype in args.dtype:
            results.append(
                run_workload(
                    workload, dtype, args.repeats, not args.no_memory, log, libraries
                )
            )
    total = time.perf_counter() - start
    load_end = load_average()

    report = render(
        results, info, args, total, load_end, baseline, variants, predict_results
    )
    print(report)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(report)
        log(f"Wrote {args.out}")
