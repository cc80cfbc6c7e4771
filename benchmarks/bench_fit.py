"""Time and measure ``fit`` of skann against scikit-learn's MLP estimators."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

# Run from the repository root:
#
#     python benchmarks/bench_fit.py [--quick] [--workloads W1,W3] [--repeats N]
#         [--dtype float64,float32] [--epochs W3=500] [--out benchmarks/RESULTS.md]
#
# Each workload fits ANNRegressor/ANNClassifier and MLPRegressor/MLPClassifier
# on the same fixed-seed data with the same hyperparameters, batch size, epoch
# count and random_state. Runs alternate between the two libraries (skann,
# scikit-learn, skann, scikit-learn, ...); the table reports medians of the
# seconds per epoch (fit seconds / n_iter_). Peak memory is measured in separate,
# untimed fits under tracemalloc, which NumPy reports its allocations to.

import argparse
import datetime
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy
import sklearn
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from threadpoolctl import threadpool_info, threadpool_limits

import skann
from skann import ANNClassifier, ANNRegressor

SEED = 0
BLAS_ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# Peak memory is reached in the first epoch (every later epoch reuses or frees
# what the first allocated), so memory fits stop after this many epochs.
MEMORY_EPOCHS = 3
FLOAT32_GAIN_TARGETS = {"W3": 1.9, "W4": 1.9}
LOSS_TOLERANCE_PERCENT = 1.0
LIBS = ("skann", "sklearn")
NA = "-"


# --------------------------------------------------------------------------- #
# Data
# --------------------------------------------------------------------------- #


def _standardize(A):
    return (A - A.mean(axis=0)) / A.std(axis=0)


def regression_data(n_samples, n_features, seed=SEED):
    """Gaussian inputs and a smooth nonlinear, standardised target with noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    w1, w2 = rng.standard_normal((2, n_features)) / np.sqrt(n_features)
    y = np.sin(X @ w1) + 0.5 * (X @ w2) ** 2 + 0.1 * X[:, 0]
    y += 0.1 * rng.standard_normal(n_samples)
    return X, _standardize(y)


def toy_function_data(n_samples, n_features=2, seed=SEED):
    """Article 4's f(x, y) = sin x + x cos y + y + 3^(x/3), x, y in [-10, 10].

    Inputs and target are standardised, as the article does.
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(-10, 10, (n_samples, n_features))
    x, y = X[:, 0], X[:, 1]
    target = np.sin(x) + x * np.cos(y) + y + 3 ** (x / 3)
    return _standardize(X), _standardize(target)


def classification_data(n_samples, n_features, n_classes, seed=SEED):
    """scikit-learn's make_classification, inputs standardised."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_features // 2,
        n_redundant=n_features // 4,
        n_classes=n_classes,
        n_clusters_per_class=2,
        class_sep=1.0,
        random_state=seed,
    )
    return _standardize(X), y


# --------------------------------------------------------------------------- #
# Workloads
# --------------------------------------------------------------------------- #


@dataclass
class Workload:
    """One benchmark: data shape, network and solver, and the time target."""

    name: str
    description: str
    n_samples: int
    n_features: int
    hidden: tuple
    activation: str
    solver: str
    learning_rate: float
    batch_size: int
    epochs: int
    target: float
    data: str = "regression"
    n_classes: int = 0
    alpha: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = True
    quick: dict = field(default_factory=dict)

    @property
    def is_classifier(self):
        return self.data == "classification"

    def scaled(self, quick, epochs_override=None):
        """A copy with the quick-mode sizes and any epoch override applied."""
        changes = dict(self.quick) if quick else {}
        if epochs_override is not None:
            changes["epochs"] = epochs_override
        params = {**self.__dict__, **changes}
        params["batch_size"] = min(params["batch_size"], params["n_samples"])
        return Workload(**params)

    def make_data(self, dtype):
        if self.data == "classification":
            X, y = classification_data(self.n_samples, self.n_features, self.n_classes)
        elif self.data == "toy":
            X, y = toy_function_data(self.n_samples, self.n_features)
        else:
            X, y = regression_data(self.n_samples, self.n_features)
        X = np.ascontiguousarray(X, dtype=dtype)
        if not self.is_classifier:
            y = y.astype(dtype)
        return X, y

    def estimators(self, epochs):
        """(skann estimator, scikit-learn estimator) with identical settings."""
        common = {
            "hidden_layer_sizes": self.hidden,
            "activation": self.activation,
            "solver": self.solver,
            "alpha": self.alpha,
            "batch_size": self.batch_size,
            "max_iter": epochs,
            "shuffle": True,
            "random_state": SEED,
            "tol": 0.0,
            "n_iter_no_change": epochs,
            "early_stopping": False,
            "momentum": self.momentum,
            "nesterovs_momentum": self.nesterov,
        }
        ours = ANNClassifier if self.is_classifier else ANNRegressor
        theirs = MLPClassifier if self.is_classifier else MLPRegressor
        return (
            ours(learning_rate=self.learning_rate, **common),
            theirs(learning_rate_init=self.learning_rate, **common),
        )

    def shape(self):
        out = f"{self.n_classes} classes" if self.is_classifier else "1"
        return f"{self.n_samples}x{self.n_features} -> {out}"


WORKLOADS = {
    w.name: w
    for w in [
        Workload(
            "W1", "the articles' deep net (red-wine size)", 1119, 11,
            (50, 30, 20, 10, 5), "tanh", "sgd", 0.01, 200, 200, 0.40,
            alpha=0.1, quick={"epochs": 20},
        ),
        Workload(
            "W1s", "W1 with per-sample SGD (batch_size=1)", 1119, 11,
            (50, 30, 20, 10, 5), "tanh", "sgd", 0.01, 1, 5, 0.25,
            alpha=0.1, quick={"epochs": 1, "n_samples": 500},
        ),
        Workload(
            "W2", "a shallow net (white-wine size)", 3429, 11, (10,), "relu",
            "adam", 1e-3, 200, 200, 0.22, quick={"epochs": 20},
        ),
        Workload(
            "W3", "article 4's net, full-batch gradient descent", 10000, 2,
            (64, 64, 64), "relu", "sgd", 1e-3, 10000, 2000, 0.55, data="toy",
            alpha=0.0, momentum=0.0, nesterov=False,
            quick={"epochs": 50, "n_samples": 5000, "batch_size": 5000},
        ),
        Workload(
            "W4", "a wide net", 50000, 100, (256, 256), "relu", "adam", 1e-3,
            256, 5, 0.65, quick={"epochs": 1, "n_samples": 10000},
        ),
        Workload(
            "W5", "a classifier", 20000, 64, (128,), "relu", "adam", 1e-3, 200,
            10, 0.45, data="classification", n_classes=10,
            quick={"epochs": 2, "n_samples": 5000},
        ),
    ]
}  # fmt: skip


# --------------------------------------------------------------------------- #
# Measurement
# --------------------------------------------------------------------------- #


def fit_once(estimator, X, y, epochs, trace_memory=False):
    """Fit and return (seconds, final loss, peak MiB or None)."""
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if trace_memory:
            tracemalloc.start()
        start = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - start
        peak = None
        if trace_memory:
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    if estimator.n_iter_ != epochs:
        raise RuntimeError(
            f"{type(estimator).__name__} ran {estimator.n_iter_} epochs, "
            f"expected {epochs}."
        )
    return seconds, float(estimator.loss_), peak


@dataclass
class Result:
    """Every figure measured for one workload in one dtype."""

    workload: Workload
    dtype: str
    seconds: dict = field(default_factory=lambda: {"skann": [], "sklearn": []})
    loss: dict = field(default_factory=dict)
    peak_mib: dict = field(default_factory=dict)
    memory_epochs: int = 0
    wall_seconds: float = 0.0
    load_start: float = 0.0

    def per_epoch(self, lib):
        return statistics.median(self.seconds[lib]) / self.workload.epochs

    @property
    def ratio(self):
        return self.per_epoch("skann") / self.per_epoch("sklearn")

    @property
    def loss_diff_percent(self):
        ours, theirs = self.loss["skann"], self.loss["sklearn"]
        return 100.0 * (ours - theirs) / abs(theirs)


def run_workload(workload, dtype, repeats, memory, log):
    """Interleaved timing runs, then one memory run per library."""
    start = time.perf_counter()
    X, y = workload.make_data(dtype)
    result = Result(workload, np.dtype(dtype).name, load_start=_load()[0])
    epochs = workload.epochs
    for r in range(repeats):
        for lib, est in zip(LIBS, workload.estimators(epochs), strict=True):
            seconds, loss, _ = fit_once(est, X, y, epochs)
            result.seconds[lib].append(seconds)
            result.loss.setdefault(lib, loss)
            log(
                f"  {workload.name} {result.dtype} run {r + 1}/{repeats} {lib:7s} "
                f"{seconds:8.3f} s  {seconds / epochs * 1e3:9.3f} ms/epoch  "
                f"loss {loss:.6g}"
            )
    if memory:
        result.memory_epochs = min(epochs, MEMORY_EPOCHS)
        estimators = workload.estimators(result.memory_epochs)
        for lib, est in zip(LIBS, estimators, strict=True):
            _, _, peak = fit_once(est, X, y, result.memory_epochs, trace_memory=True)
            result.peak_mib[lib] = peak
            log(f"  {workload.name} {result.dtype} memory {lib:7s} {peak:9.2f} MiB")
    result.wall_seconds = time.perf_counter() - start
    return result


def warm_up():
    """One tiny fit of each estimator so imports and BLAS threads are ready."""
    for w in (WORKLOADS["W2"], WORKLOADS["W5"]):
        small = w.scaled(True)
        small.n_samples, small.epochs = 400, 2
        for dtype in (np.float64, np.float32):
            X, y = small.make_data(dtype)
            for est in small.estimators(small.epochs):
                fit_once(est, X, y, small.epochs)


# --------------------------------------------------------------------------- #
# Machine description
# --------------------------------------------------------------------------- #


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def blas_lines():
    """threadpoolctl's view of the loaded BLAS and OpenMP libraries.

    Only the name of the package directory the library ships in is kept (for
    example ``numpy.libs``), never a full path.
    """
    lines = []
    for info in threadpool_info():
        where = os.path.basename(os.path.dirname(info.get("filepath", "")))
        parts = [
            f"{info.get('user_api')}: {info.get('internal_api')}",
            f"version {info.get('version')}",
        ]
        if info.get("architecture"):
            parts.append(f"kernel {info['architecture']}")
        if info.get("threading_layer"):
            parts.append(f"threading {info['threading_layer']}")
        parts.append(f"num_threads {info.get('num_threads')}")
        parts.append(f"from {where}")
        lines.append(", ".join(parts))
    return lines


def _load():
    """The 1, 5 and 15 minute load averages, or NaNs where unavailable."""
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return (float("nan"),) * 3


def skann_revision():
    """The git commit skann was imported from, marked when its files differ."""
    where = os.path.dirname(os.path.abspath(skann.__file__))

    def git(*cmd):
        return subprocess.run(
            ["git", *cmd],
            check=False,
            cwd=where,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown (not a git checkout)"
    return commit + (" with uncommitted changes to skann" if dirty else "")


def machine_info():
    env = {
        name: (f"set ({os.environ[name]})" if name in os.environ else "unset")
        for name in BLAS_ENV_VARS
    }
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "machine": f"{platform.platform()}, {platform.machine()}",
        "cpu": cpu_model(),
        "cores": f"{usable_cores()} usable of {os.cpu_count()} logical",
        "python": platform.python_version(),
        "versions": (
            f"numpy {np.__version__}, scipy {scipy.__version__}, "
            f"scikit-learn {sklearn.__version__}, skann {skann.__version__} "
            f"(git {skann_revision()})"
        ),
        "blas": blas_lines(),
        "env": env,
        "load": _load(),
    }


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #


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


def render(results, info, args, total_seconds, load_end):
    quick = args.quick
    lines = [
        "# skann fit benchmark",
        "",
        "<!-- Written by benchmarks/bench_fit.py; see benchmarks/README.md. -->",
        "",
        f"- Date: {info['date']}",
        f"- Command: `python benchmarks/bench_fit.py {' '.join(sys.argv[1:])}`",
        (
            f"- Mode: {'quick (reduced sizes and epochs)' if quick else 'full'}; "
            f"{args.repeats} interleaved repeat(s) per library; "
            f"BLAS threads: {args.threads or 'library default'}; "
            "times are medians of fit seconds / n_iter_"
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
    if quick:
        lines += [
            "",
            (
                "Quick mode: sizes and epochs are reduced, so figures are not "
                "comparable with the targets, which are not judged."
            ),
        ]

    header = [
        "workload", "dtype", "epochs", "skann s/epoch", "sklearn s/epoch", "ratio",
        "target", "met?", "skann peak MiB", "sklearn peak MiB", "skann final loss",
        "sklearn final loss", "loss diff %",
    ]  # fmt: skip
    lines += ["", "## Time per epoch, peak memory and final loss", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for res in results:
        w = res.workload
        judged = not quick and res.dtype == "float64"
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
    lines.append(
        "- n_iter_ equals the intended epoch count for both libraries in every "
        "fit (checked; the run stops otherwise)."
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

    memory_epochs = sorted({r.memory_epochs for r in results if r.peak_mib})
    memory_note = (
        f"Memory fits ran {', '.join(map(str, memory_epochs))} epoch(s): the "
        "peak is reached in the first epoch."
        if memory_epochs
        else "Memory fits were skipped."
    )
    lines += ["", "## How to read this", "", HOW_TO_READ.format(memory_note)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark fit of skann against scikit-learn's MLP estimators."
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="reduced sizes and epochs, one repeat: checks the suite runs",
    )  # fmt: skip
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS),
        help=f"comma-separated subset of {','.join(WORKLOADS)} (default: all)",
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
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = set(args.workloads) - set(WORKLOADS)
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

    start = time.perf_counter()
    warm_up()
    results = []
    for name in args.workloads:
        workload = WORKLOADS[name].scaled(args.quick, args.epochs.get(name))
        log(f"{name}: {workload.description}, {workload.shape()}")
        for dtype in args.dtype:
            results.append(
                run_workload(workload, dtype, args.repeats, not args.no_memory, log)
            )
    total = time.perf_counter() - start
    load_end = _load()

    report = render(results, info, args, total, load_end)
    print(report)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(report)
        log(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
