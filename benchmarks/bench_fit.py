"""Time and measure ``fit`` of skann against scikit-learn's MLP estimators."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

# Run from the repository root:
#
#     python benchmarks/bench_fit.py [--quick] [--workloads W1,W3] [--repeats N]
#         [--dtype float64,float32] [--epochs W3=500] [--out benchmarks/RESULTS.md]
#         [--baseline ../skann-before] [--variants "dropout=dropout=0.1"]
#
# Each workload fits ANNRegressor/ANNClassifier and MLPRegressor/MLPClassifier
# on the same fixed-seed data with the same hyperparameters, batch size, epoch
# count and random_state. Runs alternate between the two libraries (skann,
# scikit-learn, skann, scikit-learn, ...); the table reports medians of the
# seconds per epoch (fit seconds / n_iter_). Peak memory is measured in separate,
# untimed fits under tracemalloc, which NumPy reports its allocations to.
#
# --baseline adds the skann of another source tree (an earlier revision) to the
# alternation, imported into this process beside the current one; --variants
# adds skann with extra parameters (opt-in features). Both are timed only.

import argparse
import ast
import datetime
import gc
import importlib.util
import inspect
import os
import platform
import shlex
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
# skann / baseline above this (or below its inverse) is reported as a change.
CHANGE_THRESHOLD = 1.05
# Variants may not set these: every fit must run exactly the workload's epochs.
STOP_RULE_PARAMS = ("max_iter", "tol", "n_iter_no_change", "early_stopping")


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

    def settings(self, epochs, sklearn=False):
        """The constructor parameters every library gets for this workload."""
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
        # skann's learning_rate is the step size, scikit-learn's learning_rate_init.
        rate = "learning_rate_init" if sklearn else "learning_rate"
        return {rate: self.learning_rate, **common}

    def estimators(self, epochs):
        """(skann estimator, scikit-learn estimator) with identical settings."""
        return SKANN.make(self, epochs), SKLEARN.make(self, epochs)

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


@dataclass
class Library:
    """One entry of the alternation: estimator classes and extra parameters.

    ``kind`` is "skann" (the current tree), "sklearn", "baseline" (the skann of
    another tree) or "variant" (the current skann with ``params`` added).
    """

    name: str
    kind: str
    classifier: type
    regressor: type
    params: dict = field(default_factory=dict)
    package_dir: str = ""
    source: str = ""

    @property
    def optional(self):
        """Whether a workload it cannot run is reported rather than fatal."""
        return self.kind in ("baseline", "variant")

    def make(self, workload, epochs):
        cls = self.classifier if workload.is_classifier else self.regressor
        settings = workload.settings(epochs, sklearn=self.kind == "sklearn")
        return cls(**{**settings, **self.params})


SKANN = Library(
    "skann",
    "skann",
    ANNClassifier,
    ANNRegressor,
    package_dir=os.path.realpath(os.path.dirname(skann.__file__)),
)
SKLEARN = Library("sklearn", "sklearn", MLPClassifier, MLPRegressor)


# --------------------------------------------------------------------------- #
# The baseline: another tree's skann in this process
# --------------------------------------------------------------------------- #


def _skann_modules():
    return {
        name: module
        for name, module in sys.modules.items()
        if name == "skann" or name.startswith("skann.")
    }


def _is_under(path, directory):
    path = os.path.realpath(path)
    try:
        return os.path.commonpath([path, directory]) == directory
    except ValueError:
        return False


def load_baseline(tree):
    """The baseline Library: the skann package of the source tree ``tree``.

    The current skann modules are taken out of ``sys.modules``, the tree's
    ``skann`` is imported from its files, and the current modules are put back.
    The baseline's classes keep their own module globals, and skann imports
    its own modules absolutely at import time, so the two copies never mix
    (``verify_sources`` checks this on real fits).
    """
    package_dir = os.path.realpath(os.path.join(tree, "skann"))
    init = os.path.join(package_dir, "__init__.py")
    if not os.path.isfile(init):
        raise SystemExit(f"--baseline: {tree} has no skann/__init__.py")
    if package_dir == SKANN.package_dir:
        raise SystemExit(f"--baseline: {tree} is the tree being benchmarked")
    current = _skann_modules()
    for name in current:
        del sys.modules[name]
    try:
        spec = importlib.util.spec_from_file_location(
            "skann", init, submodule_search_locations=[package_dir]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["skann"] = module
        spec.loader.exec_module(module)
        classifier, regressor = module.ANNClassifier, module.ANNRegressor
        version = getattr(module, "__version__", "unknown")
        # The files the classes and their (unwrapped) fit were defined in.
        sources = [
            sys.modules[cls.__module__].__file__ for cls in (classifier, regressor)
        ]
        sources += [
            inspect.unwrap(cls.fit).__code__.co_filename
            for cls in (classifier, regressor)
        ]
    finally:
        for name in _skann_modules():
            del sys.modules[name]
        sys.modules.update(current)
    if not all(_is_under(source, package_dir) for source in sources):
        raise SystemExit(f"--baseline: the estimators were not loaded from {tree}")
    if sys.modules["skann"] is not skann or regressor is ANNRegressor:
        raise SystemExit("--baseline: the current skann modules were not restored")
    return Library(
        "baseline",
        "baseline",
        classifier,
        regressor,
        package_dir=package_dir,
        source=f"skann {version} (git {git_revision(package_dir)})",
    )


def _files_run(estimator, X, y):
    """The source files of every Python function that fitting ``estimator`` calls."""
    files = set()

    def profile(frame, event, arg):
        if event == "call":
            files.add(frame.f_code.co_filename)

    sys.setprofile(profile)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y)
    finally:
        sys.setprofile(None)
    return files


def verify_sources(baseline):
    """Check on small fits that each skann runs only its own tree's code."""
    for w in (WORKLOADS["W2"], WORKLOADS["W5"]):
        small = w.scaled(True)
        small.n_samples, small.epochs = 200, 1
        X, y = small.make_data(np.float64)
        for lib, other in ((SKANN, baseline), (baseline, SKANN)):
            files = _files_run(lib.make(small, small.epochs), X, y)
            if not any(_is_under(f, lib.package_dir) for f in files) or any(
                _is_under(f, other.package_dir) for f in files
            ):
                raise SystemExit(
                    f"--baseline: a {lib.name} fit ran code from the other tree"
                )


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
    # Baseline or variant name -> why this workload could not run it.
    unsupported: dict = field(default_factory=dict)
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


def _reason(exc):
    """A one-line account of why a baseline or variant cannot run."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(message) > 150:
        message = message[:147] + "..."
    return f"{type(exc).__name__}: {message}".replace("|", "/")


def run_workload(workload, dtype, repeats, memory, log, libraries=(SKANN, SKLEARN)):
    """Interleaved timing runs, then one memory run of skann and scikit-learn."""
    start = time.perf_counter()
    X, y = workload.make_data(dtype)
    result = Result(workload, np.dtype(dtype).name, load_start=_load()[0])
    result.seconds = {lib.name: [] for lib in libraries}
    epochs = workload.epochs
    width = max(7, *(len(lib.name) for lib in libraries))
    for r in range(repeats):
        for lib in libraries:
            if lib.name in result.unsupported:
                continue
            try:
                seconds, loss, _ = fit_once(lib.make(workload, epochs), X, y, epochs)
            except (TypeError, ValueError) as exc:
                # sklearn's InvalidParameterError is both; a parameter this
                # skann does not have is a TypeError of the constructor.
                if not lib.optional:
                    raise
                result.unsupported[lib.name] = _reason(exc)
                result.seconds[lib.name] = []
                log(
                    f"  {workload.name} {result.dtype} {lib.name}: not supported "
                    f"({result.unsupported[lib.name]})"
                )
                continue
            result.seconds[lib.name].append(seconds)
            result.loss.setdefault(lib.name, loss)
            log(
                f"  {workload.name} {result.dtype} run {r + 1}/{repeats} "
                f"{lib.name:{width}s} {seconds:8.3f} s  "
                f"{seconds / epochs * 1e3:9.3f} ms/epoch  loss {loss:.6g}"
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


def warm_up(libraries=(SKANN, SKLEARN)):
    """One tiny fit of each estimator so imports and BLAS threads are ready."""
    for w in (WORKLOADS["W2"], WORKLOADS["W5"]):
        small = w.scaled(True)
        small.n_samples, small.epochs = 400, 2
        for dtype in (np.float64, np.float32):
            X, y = small.make_data(dtype)
            for lib in libraries:
                try:
                    fit_once(lib.make(small, small.epochs), X, y, small.epochs)
                except (TypeError, ValueError):
                    if not lib.optional:
                        raise


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
    return git_revision(os.path.dirname(os.path.abspath(skann.__file__)))


def git_revision(where):
    """The git commit of the skann package directory ``where``, marked when dirty."""

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


def render(results, info, args, total_seconds, load_end, baseline=None, variants=()):
    quick = args.quick
    lines = [
        "# skann fit benchmark",
        "",
        "<!-- Written by benchmarks/bench_fit.py; see benchmarks/README.md. -->",
        "",
        f"- Date: {info['date']}",
        f"- Command: `python benchmarks/bench_fit.py {shlex.join(sys.argv[1:])}`",
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

    if baseline is not None:
        lines += render_baseline(results, baseline)
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


def parse_variants(text):
    """{label: params} from "label=key=value[,key=value...][;label=...]".

    The part after the label is read as Python keyword arguments whose values
    are literals (``ast.literal_eval``), e.g. ``dropout=(0.1, 0.2),batch_norm=True``.
    """
    variants = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        label, sep, rest = item.partition("=")
        label = label.strip()
        if not sep or not label or "|" in label or len(label.split()) != 1:
            raise ValueError(f"{item!r}: use label=key=value[,key=value...]")
        if label in (*LIBS, "baseline") or label in variants:
            raise ValueError(f"{item!r}: the label {label!r} is taken")
        try:
            call = ast.parse(f"variant({rest})", mode="eval").body
            if not isinstance(call, ast.Call) or call.args:
                raise ValueError
            params = {}
            for keyword in call.keywords:
                if keyword.arg is None or keyword.arg in params:
                    raise ValueError
                params[keyword.arg] = ast.literal_eval(keyword.value)
        except (SyntaxError, ValueError, TypeError):
            raise ValueError(
                f"{item!r}: after the label, give key=value pairs separated by "
                "commas, each value a Python literal"
            ) from None
        fixed = sorted(set(params) & set(STOP_RULE_PARAMS))
        if fixed:
            raise ValueError(
                f"{item!r}: {', '.join(fixed)} cannot be changed (every fit runs "
                "exactly the workload's epochs)"
            )
        variants[label] = params
    return variants


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
        help="run the variants on these workloads only (default: all run)",
    )  # fmt: skip
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
    variants = [
        Library(label, "variant", ANNClassifier, ANNRegressor, params)
        for label, params in args.variants.items()
    ]

    start = time.perf_counter()
    extra = [baseline] if baseline is not None else []
    warm_up((SKANN, *extra, *variants, SKLEARN))
    results = []
    for name in args.workloads:
        workload = WORKLOADS[name].scaled(args.quick, args.epochs.get(name))
        log(f"{name}: {workload.description}, {workload.shape()}")
        libraries = [SKANN, *extra]
        if name in args.variant_workloads:
            libraries += variants
        libraries.append(SKLEARN)
        for dtype in args.dtype:
            results.append(
                run_workload(
                    workload, dtype, args.repeats, not args.no_memory, log, libraries
                )
            )
    total = time.perf_counter() - start
    load_end = _load()

    report = render(results, info, args, total, load_end, baseline, variants)
    print(report)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(report)
        log(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
