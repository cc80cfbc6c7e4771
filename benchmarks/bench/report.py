"""The markdown report: tables of times, memory, losses and every run."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import shlex
import sys

from bench.libraries import LIBS
from bench.workloads import PREDICT_FITS, PREDICT_MODEL, PREDICT_N_CLASSES

FLOAT32_GAIN_TARGETS = {"W3": 1.9, "W4": 1.9}
LOSS_TOLERANCE_PERCENT = 1.0
NA = "-"
# skann / baseline above this (or below its inverse) is reported as a change.
CHANGE_THRESHOLD = 1.05


def _fmt_time(seconds):
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _yes_no(ok):
    return "yes" if ok else "**no**"


def _verdict(failures):
    return "**no**: " + ", ".join(failures) if failures else "yes, on every row"


HOW_TO_READ = """\
- *s/epoch* is the median over the repeats of fit seconds divided by `n_iter_`
  (validating the input is part of the fit). *ratio* is skann's median over
  scikit-learn's: lower is better, below 1 means skann is faster.
- *peak MiB* is the peak of `tracemalloc` during one separate, untimed fit per
  library: the Python and NumPy memory the fit allocates on top of the data it is
  given (BLAS's internal buffers are not counted; both use the same BLAS). {}
- *final loss* is `loss_` after the timed fit (the mean training loss over the
  last epoch's batches, as MLPRegressor defines it); *loss diff %* is
  100 (skann - sklearn) / sklearn. Both libraries start from the same weights
  and visit the same batches."""


def _param_text(params):
    text = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "(none)"
    return text.replace("|", "\\|")


def render_baseline(results, baseline):
    """The "Against the baseline" section: the current tree over the baseline."""
    lines = [
        "",
        "## Against the baseline",
        "",
        (
            f"Baseline: {baseline.source}, timed in the same alternation. "
            "*skann / baseline* is the current tree's median time per epoch over "
            f"the baseline's: above {CHANGE_THRESHOLD:.2f} the current tree is more "
            f"than {CHANGE_THRESHOLD * 100 - 100:.0f}% slower (*change* says "
            f"**slower**), below {1 / CHANGE_THRESHOLD:.2f} more than "
            f"{100 - 100 / CHANGE_THRESHOLD:.0f}% faster. Judge a change against "
            "the run-by-run ratios under *Every timing run of the baseline and "
            "variants*: on a busy machine they scatter by more than 5%. *baseline "
            "loss diff %* is 100 (baseline - sklearn) / sklearn."
        ),
        "",
        (
            "| workload | dtype | epochs | skann s/epoch | baseline s/epoch "
            "| sklearn s/epoch | baseline / sklearn | skann / baseline | change "
            "| baseline loss diff % |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        w = r.workload
        head = f"| {w.name} | {r.dtype} | {w.epochs} | "
        head += f"{_fmt_time(r.per_epoch('skann'))} | "
        if baseline.name in r.unsupported:
            why = f"not supported ({r.unsupported[baseline.name]})"
            tail = [why, _fmt_time(r.per_epoch("sklearn")), NA, NA, NA, NA]
            lines.append(head + " | ".join(tail) + " |")
            continue
        ours, theirs = r.per_epoch("skann"), r.per_epoch(baseline.name)
        change = ours / theirs
        if change > CHANGE_THRESHOLD:
            verdict = "**slower**"
        elif change < 1 / CHANGE_THRESHOLD:
            verdict = "faster"
        else:
            verdict = f"within {CHANGE_THRESHOLD * 100 - 100:.0f}%"
        loss = r.loss[baseline.name]
        lines.append(
            head + f"{_fmt_time(theirs)} | {_fmt_time(r.per_epoch('sklearn'))} | "
            f"{theirs / r.per_epoch('sklearn'):.3f} | {change:.3f} | {verdict} | "
            f"{100.0 * (loss - r.loss['sklearn']) / abs(r.loss['sklearn']):+.4f} |"
        )
    return lines


def render_variants(results, variants):
    """The "Opt-in features" section: each variant's cost over plain skann."""
    lines = [
        "",
        "## Opt-in features: cost per epoch",
        "",
        (
            "Each variant is the current skann with the parameters shown added, "
            "fitted on the same data with the same epochs and random_state, in "
            "the same alternation. *variant / skann* is its median time per epoch "
            "over plain skann's: 1.30 means the feature adds 30% per epoch. Its "
            "loss differs from scikit-learn's by design and is not checked; its "
            "n_iter_ is. *not supported*: this skann rejects the parameters."
        ),
        "",
        (
            "| workload | dtype | epochs | variant | parameters | skann s/epoch "
            "| variant s/epoch | variant / skann | variant final loss |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        w = r.workload
        for v in variants:
            if v.name not in r.seconds:
                continue
            head = (
                f"| {w.name} | {r.dtype} | {w.epochs} | {v.name} | "
                f"{_param_text(v.params)} | {_fmt_time(r.per_epoch('skann'))} | "
            )
            if v.name in r.unsupported:
                why = f"not supported ({r.unsupported[v.name]})"
                lines.append(head + f"{why} | {NA} | {NA} |")
                continue
            ours = r.per_epoch(v.name)
            lines.append(
                head + f"{_fmt_time(ours)} | {ours / r.per_epoch('skann'):.3f} | "
                f"{r.loss[v.name]:.6g} |"
            )
    return lines


def render_extra_runs(results, baseline):
    """Every timing run of the baseline and the variants, beside skann's."""
    lines = [
        "",
        "## Every timing run of the baseline and variants (fit seconds, in run order)",
        "",
        (
            "The ratio is the one of the library's own table, run by run: skann / "
            "baseline for the baseline, variant / skann for a variant."
        ),
        "",
        "| workload | dtype | library | fit seconds | ratio, run by run |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        ours = r.seconds["skann"]
        for name, runs in r.seconds.items():
            if name in LIBS or not runs:
                continue
            pairs = zip(runs, ours, strict=True)
            if baseline is not None and name == baseline.name:
                ratios = [b / a for a, b in pairs]
            else:
                ratios = [a / b for a, b in pairs]
            row = [
                r.workload.name,
                r.dtype,
                name,
                ", ".join(f"{s:.3f}" for s in runs),
                ", ".join(f"{x:.3f}" for x in ratios),
            ]
            lines.append("| " + " | ".join(row) + " |")
    return lines


def render_predict(results, baseline, variants, quick):
    """The "Time per predict call" sections: times, variants and every run."""
    extra = baseline is not None
    fitted = PREDICT_FITS["regressor"].scaled(quick)
    lines = [
        "",
        "## Time per predict call",
        "",
        (
            f"A ({', '.join(map(str, PREDICT_MODEL['hidden']))}) "
            f"{PREDICT_MODEL['activation']} network on "
            f"{PREDICT_MODEL['n_features']} features, fitted once per library and "
            f"dtype ({fitted.n_samples} rows, adam, {fitted.epochs} epochs; "
            "the classifier on "
            f"{PREDICT_N_CLASSES} classes) with the same settings and "
            "random_state, then timed on standard normal rows: `predict` of both "
            "models and `predict_proba` of the classifier, each *method* timed in "
            "its own runs within the same alternation. *per call* is the median "
            "over the repeats of a run's seconds over its calls; *ratio* is "
            "skann's over scikit-learn's, below 1 skann is faster. *max abs diff* "
            "is the largest difference between the two libraries' outputs on "
            "those rows: the regressor's predictions and the classifier's "
            "probabilities (its labels follow from them)."
        ),
        "",
    ]
    header = [
        "workload", "model", "method", "dtype", "rows", "calls per run",
        "skann per call", "sklearn per call", "ratio",
    ]  # fmt: skip
    if extra:
        header += ["baseline per call", "skann / baseline"]
    header.append("max abs diff")
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r, method in _predict_rows(results):
        w = r.workload
        row = [
            w.name, r.kind, method, r.dtype, f"{w.n_rows:,}", str(w.calls),
            _fmt_time(r.per_call("skann", method)),
            _fmt_time(r.per_call("sklearn", method)), f"{r.ratio(method):.3f}",
        ]  # fmt: skip
        if extra:
            if baseline.name in r.unsupported:
                row += [f"not supported ({r.unsupported[baseline.name]})", NA]
            else:
                ours = r.per_call("skann", method)
                theirs = r.per_call(baseline.name, method)
                row += [_fmt_time(theirs), f"{ours / theirs:.3f}"]
        diff = r.max_abs_diff.get(method)
        row.append(NA if diff is None else f"{diff:.2g}")
        lines.append("| " + " | ".join(row) + " |")
    ran = _variants_run(variants, results, lambda r: r.seconds["predict"])
    if ran:
        lines += render_predict_variants(results, ran)
    lines += [
        "",
        "## Every predict timing run (seconds per call, in run order)",
        "",
        (
            "| workload | model | method | dtype | library | seconds per call "
            "| ratio to sklearn | variant / skann |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    variant_names = {v.name for v in variants}
    for r, method in _predict_rows(results):
        seconds = r.seconds[method]
        for name, runs in seconds.items():
            to_sklearn = ", ".join(
                f"{a / b:.3f}" for a, b in zip(runs, seconds["sklearn"], strict=True)
            )
            to_skann = NA
            if name in variant_names:
                to_skann = ", ".join(
                    f"{a / b:.3f}" for a, b in zip(runs, seconds["skann"], strict=True)
                )
            lines.append(
                f"| {r.workload.name} | {r.kind} | {method} | {r.dtype} | {name} | "
                + ", ".join(f"{s:.3g}" for s in runs)
                + f" | {to_sklearn} | {to_skann} |"
            )
    return lines


def _variants_run(variants, results, timed):
    """The variants that ran, or were refused, on some of these results.

    ``timed(result)`` is the result's dict of seconds by library.
    """
    return [
        v
        for v in variants
        if any(v.name in r.unsupported or v.name in timed(r) for r in results)
    ]


def _predict_rows(results):
    """(result, method) for every method timed, in run order."""
    return [(r, method) for r in results for method in r.methods]


def render_predict_variants(results, variants):
    """The "Opt-in features" section of predict: each variant's time per call."""
    lines = [
        "",
        "## Opt-in features: time per predict call",
        "",
        (
            "Each variant is the current skann with the parameters shown added, "
            "fitted once per model and dtype like plain skann (same data, epochs "
            "and random_state) and timed in the same alternation. *variant / "
            "sklearn* is its median time per call over scikit-learn's, *variant / "
            "skann* over plain skann's: 1.30 means the feature makes a call 30% "
            "slower. Its predictions differ from plain skann's by design and are "
            "not compared. *not supported*: this skann rejects the parameters."
        ),
        "",
        (
            "| workload | model | method | dtype | variant | parameters "
            "| skann per call | variant per call | variant / sklearn "
            "| variant / skann |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r, method in _predict_rows(results):
        for v in variants:
            if v.name in r.unsupported:
                why = f"not supported ({r.unsupported[v.name]})"
                cells = [why, NA, NA]
            elif v.name in r.seconds[method]:
                theirs = r.per_call(v.name, method)
                cells = [
                    _fmt_time(theirs),
                    f"{theirs / r.per_call('sklearn', method):.3f}",
                    f"{theirs / r.per_call('skann', method):.3f}",
                ]
            else:
                continue
            head = [
                r.workload.name, r.kind, method, r.dtype, v.name,
                _param_text(v.params), _fmt_time(r.per_call("skann", method)),
            ]  # fmt: skip
            lines.append("| " + " | ".join(head + cells) + " |")
    return lines


def render(
    results,
    info,
    args,
    total_seconds,
    load_end,
    baseline=None,
    variants=(),
    predict_results=(),
):
    quick = args.quick
    # What was timed, and the time each report table gives.
    timed = [
        (kind, unit)
        for kind, unit, ran in (
            ("fit", "fit seconds / n_iter_", results),
            ("predict", "a run's seconds / its calls", predict_results),
        )
        if ran
    ]
    lines = [
        f"# skann {' and '.join(kind for kind, _ in timed)} benchmark",
        "",
        "<!-- Written by benchmarks/bench_fit.py; see benchmarks/README.md. -->",
        "",
        f"- Date: {info['date']}",
        f"- Command: `python benchmarks/bench_fit.py {shlex.join(sys.argv[1:])}`",
        (
            f"- Mode: {'quick (reduced sizes and epochs)' if quick else 'full'}; "
            f"{args.repeats} interleaved repeat(s) per library; "
            f"BLAS threads: {args.threads or 'library default'}; "
            f"times are medians of {' and of '.join(unit for _, unit in timed)}"
        ),
        f"- Machine: {info['machine']}",
        f"- CPU: {info['cpu']}, {info['cores']}",
        f"- Python {info['python']}; {info['versions']}",
    ]
    lines += [f"- BLAS (threadpoolctl): {line}" for line in info["blas"]]
    lines.append(
        "- Environment: "
        + ", ".join(f"{name} {state}" for name, state in info["env"].items())
    )
    lines.append(
        "- Load average (1, 5, 15 min) at start: "
        + ", ".join(f"{x:.2f}" for x in info["load"])
        + "; at end: "
        + ", ".join(f"{x:.2f}" for x in load_end)
    )
    lines.append(f"- Total run time: {total_seconds / 60:.1f} min")
    if baseline is not None:
        lines.append(
            f"- Baseline (--baseline): {baseline.source}; small fits checked that "
            "each skann ran only its own tree's code"
        )
    if variants:
        lines.append(
            "- Variants (--variants): "
            + "; ".join(f"{v.name}: {_param_text(v.params)}" for v in variants)
        )
    if quick:
        lines += [
            "",
            (
                "Quick mode: sizes and epochs are reduced, so figures are not "
                "comparable with the targets, which are not judged."
            ),
        ]

    if results:
        lines += render_fit(results, quick, baseline, variants)
    if predict_results:
        lines += render_predict(predict_results, baseline, variants, quick)
    if results:
        memory_epochs = sorted({r.memory_epochs for r in results if r.peak_mib})
        memory_note = (
            f"Memory fits ran {', '.join(map(str, memory_epochs))} epoch(s): the "
            "peak is reached in the first epoch."
            if memory_epochs
            else "Memory fits were skipped."
        )
        lines += ["", "## How to read this", "", HOW_TO_READ.format(memory_note)]
    return "\n".join(lines) + "\n"


def render_fit(results, quick, baseline, variants):
    """The sections of the fit workloads: times, gains, checks and every run."""
    lines = []
    header = [
        "workload", "dtype", "epochs", "skann s/epoch", "sklearn s/epoch", "ratio",
        "target", "met?", "skann peak MiB", "sklearn peak MiB", "skann final loss",
        "sklearn final loss", "loss diff %",
    ]  # fmt: skip
    lines += ["", "## Time per epoch, peak memory and final loss", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for res in results:
        w = res.workload
        judged = not quick and res.dtype == "float64" and w.target is not None
        target = f"≤ {w.target:.2f}" if judged else NA
        met = _yes_no(res.ratio <= w.target) if judged else NA
        peaks = [
            f"{res.peak_mib[lib]:.2f}" if lib in res.peak_mib else NA
            for lib in ("skann", "sklearn")
        ]
        row = [
            w.name, res.dtype, str(w.epochs), _fmt_time(res.per_epoch("skann")),
            _fmt_time(res.per_epoch("sklearn")), f"{res.ratio:.3f}", target, met,
            *peaks, f"{res.loss['skann']:.6g}", f"{res.loss['sklearn']:.6g}",
            f"{res.loss_diff_percent:+.4f}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(row) + " |")

    by_key = {(r.workload.name, r.dtype): r for r in results}
    gains = [
        (name, by_key[(name, "float64")], by_key[(name, "float32")])
        for name in dict.fromkeys(r.workload.name for r in results)
        if (name, "float64") in by_key and (name, "float32") in by_key
    ]
    if gains:
        lines += [
            "",
            "## float32 gain (skann float64 s/epoch / skann float32 s/epoch)",
            "",
            (
                "| workload | skann float64 s/epoch | skann float32 s/epoch | gain "
                "| target | met? | sklearn gain |"
            ),
            "|---|---|---|---|---|---|---|",
        ]
        for name, r64, r32 in gains:
            gain = r64.per_epoch("skann") / r32.per_epoch("skann")
            theirs = r64.per_epoch("sklearn") / r32.per_epoch("sklearn")
            goal = FLOAT32_GAIN_TARGETS.get(name)
            judged = goal is not None and not quick
            lines.append(
                f"| {name} | {_fmt_time(r64.per_epoch('skann'))} | "
                f"{_fmt_time(r32.per_epoch('skann'))} | {gain:.2f} | "
                f"{f'≥ {goal:.1f}' if judged else NA} | "
                f"{_yes_no(gain >= goal) if judged else NA} | {theirs:.2f} |"
            )

    if baseline is not None:
        lines += render_baseline(results, baseline)
    variants = _variants_run(variants, results, lambda r: r.seconds)
    if variants:
        lines += render_variants(results, variants)

    lines += ["", "## Checks", ""]
    if quick:
        lines.append("- Targets are not judged in quick mode.")
    mem_fail = [
        f"{r.workload.name} {r.dtype}"
        for r in results
        if r.peak_mib and r.peak_mib["skann"] > r.peak_mib["sklearn"]
    ]
    loss_fail = [
        f"{r.workload.name} {r.dtype}"
        for r in results
        if abs(r.loss_diff_percent) > LOSS_TOLERANCE_PERCENT
    ]
    if results and results[0].peak_mib:
        lines.append(
            "- Peak memory no higher than scikit-learn's: " + _verdict(mem_fail)
        )
    lines.append(
        f"- Final training loss within {LOSS_TOLERANCE_PERCENT:g}% of "
        "scikit-learn's: " + _verdict(loss_fail)
    )
    if baseline is None and not variants:
        lines.append(
            "- n_iter_ equals the intended epoch count for both libraries in every "
            "fit (checked; the run stops otherwise)."
        )
    else:
        lines.append(
            "- n_iter_ equals the intended epoch count for both libraries, the "
            "baseline and every variant in every fit (checked; the run stops "
            "otherwise). The loss check covers skann and scikit-learn only."
        )

    lines += [
        "",
        "## Workloads",
        "",
        (
            "| workload | data | hidden | activation | solver | learning rate | "
            "momentum | alpha | batch | epochs | wall time | load at start |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    walls, first = {}, {}
    for r in results:
        walls[r.workload.name] = walls.get(r.workload.name, 0.0) + r.wall_seconds
        first.setdefault(r.workload.name, r)
    for r in first.values():
        w = r.workload
        momentum = (
            NA
            if w.solver != "sgd"
            else f"{w.momentum:g}{' Nesterov' if w.nesterov and w.momentum else ''}"
        )
        lines.append(
            f"| {w.name} | {w.shape()} | {w.hidden} | {w.activation} | {w.solver} | "
            f"{w.learning_rate:g} | {momentum} | {w.alpha:g} | {w.batch_size} | "
            f"{w.epochs} | {walls[w.name]:.0f} s | {r.load_start:.2f} |"
        )

    lines += [
        "",
        "## Every timing run (fit seconds, in run order)",
        "",
        "| workload | dtype | skann | sklearn | skann / sklearn, run by run |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        ours, theirs = r.seconds["skann"], r.seconds["sklearn"]
        cells = [
            ", ".join(f"{s:.3f}" for s in ours),
            ", ".join(f"{s:.3f}" for s in theirs),
            ", ".join(f"{a / b:.3f}" for a, b in zip(ours, theirs, strict=True)),
        ]
        lines.append(f"| {r.workload.name} | {r.dtype} | " + " | ".join(cells) + " |")

    if baseline is not None or variants:
        lines += render_extra_runs(results, baseline)
    return lines
