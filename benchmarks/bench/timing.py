"""Timing: fits and predict calls alternated between libraries, and memory."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import gc
import statistics
import time
import tracemalloc
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from bench.libraries import SKANN, SKLEARN
from bench.machine import load_average
from bench.workloads import PREDICT_FITS, WORKLOADS, PredictWorkload, Workload

# Peak memory is reached in the first epoch (every later epoch reuses or frees
# what the first allocated), so memory fits stop after this many epochs.
MEMORY_EPOCHS = 3


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
    result = Result(workload, np.dtype(dtype).name, load_start=load_average()[0])
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
        for lib in (SKANN, SKLEARN):
            est = lib.make(workload, result.memory_epochs)
            _, _, peak = fit_once(est, X, y, result.memory_epochs, trace_memory=True)
            result.peak_mib[lib.name] = peak
            log(
                f"  {workload.name} {result.dtype} memory {lib.name:7s} {peak:9.2f} MiB"
            )
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
# Predict workloads
# --------------------------------------------------------------------------- #


@dataclass
class PredictResult:
    """The predict times of one predict workload, model kind and dtype.

    ``seconds[method][lib]`` holds the seconds per call of each timing run of
    ``method`` (``predict``, and ``predict_proba`` for the classifier) by the
    library ``lib``. ``max_abs_diff`` holds, for the regressor's ``predict`` or
    the classifier's ``predict_proba``, the largest difference between skann's
    and scikit-learn's outputs on these rows: both fitted alike, it should be
    rounding.
    """

    workload: PredictWorkload
    kind: str
    dtype: str
    methods: tuple = ("predict",)
    seconds: dict = field(default_factory=dict)
    unsupported: dict = field(default_factory=dict)
    max_abs_diff: dict = field(default_factory=dict)
    wall_seconds: float = 0.0
    load_start: float = 0.0

    def per_call(self, lib, method="predict"):
        return statistics.median(self.seconds[method][lib])

    def ratio(self, method="predict"):
        return self.per_call("skann", method) / self.per_call("sklearn", method)


class FittedModels:
    """The models predict workloads time, fitted once per library, kind, dtype.

    A library that cannot fit (an optional one) is remembered with the reason.
    """

    def __init__(self, quick, log):
        self.quick, self.log = quick, log
        self._fitted = {}

    def get(self, lib, kind, dtype):
        """The fitted estimator, or the exception that stopped its fit."""
        key = (lib.name, kind, np.dtype(dtype).name)
        if key not in self._fitted:
            workload = PREDICT_FITS[kind].scaled(self.quick)
            X, y = workload.make_data(dtype)
            try:
                estimator = lib.make(workload, workload.epochs)
                fit_once(estimator, X, y, workload.epochs)
                self._fitted[key] = estimator
            except (TypeError, ValueError) as exc:
                if not lib.optional:
                    raise
                self._fitted[key] = exc
            self.log(f"  fitted the {kind} for predict, {key[2]}, {lib.name}")
        return self._fitted[key]


def predict_methods(kind):
    """The methods a predict workload times on a model of this kind."""
    return ("predict", "predict_proba") if kind == "classifier" else ("predict",)


def run_predict_workload(workload, kind, dtype, repeats, models, log, libraries):
    """Interleaved timing runs of ``workload.calls`` calls per library and method.

    In each repeat every library in turn runs ``workload.calls`` calls of each
    method (``predict``, then ``predict_proba`` for the classifier), so all
    libraries and methods share the same stretch of machine load.
    """
    start = time.perf_counter()
    X = workload.make_data(dtype)
    methods = predict_methods(kind)
    result = PredictResult(
        workload, kind, np.dtype(dtype).name, methods, load_start=load_average()[0]
    )
    result.seconds = {method: {} for method in methods}
    estimators = {}
    for lib in libraries:
        fitted = models.get(lib, kind, dtype)
        if not isinstance(fitted, Exception):
            try:
                # An untimed call of each method first: buffers and lazy set-up
                # are not timed.
                for method in methods:
                    getattr(fitted, method)(X)
            except (TypeError, ValueError) as exc:
                if not lib.optional:
                    raise
                fitted = exc
        if isinstance(fitted, Exception):
            result.unsupported[lib.name] = _reason(fitted)
            log(
                f"  {workload.name} {kind} {result.dtype} {lib.name}: not supported "
                f"({result.unsupported[lib.name]})"
            )
            continue
        estimators[lib.name] = fitted
        for method in methods:
            result.seconds[method][lib.name] = []
    # The classifier's outputs are compared through its probabilities.
    compared = "predict_proba" if kind == "classifier" else "predict"
    ours = getattr(estimators["skann"], compared)(X)
    theirs = getattr(estimators["sklearn"], compared)(X)
    result.max_abs_diff = {compared: float(np.max(np.abs(ours - theirs)))}
    width = max(7, *(len(name) for name in estimators))
    for r in range(repeats):
        for name, estimator in estimators.items():
            for method in methods:
                call = getattr(estimator, method)
                gc.collect()
                begin = time.perf_counter()
                for _ in range(workload.calls):
                    call(X)
                per_call = (time.perf_counter() - begin) / workload.calls
                result.seconds[method][name].append(per_call)
                log(
                    f"  {workload.name} {kind} {result.dtype} run {r + 1}/{repeats} "
                    f"{name:{width}s} {method:13s} {per_call * 1e3:10.4f} ms/call "
                    f"({workload.calls} calls of {workload.n_rows} rows)"
                )
    result.wall_seconds = time.perf_counter() - start
    return result
