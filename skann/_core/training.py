"""Training loops: minibatch first-order solvers and L-BFGS, with epoch hooks."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from skann._core.layers import Workspace
from skann.exceptions import TrainingDiverged

__all__ = [
    "DIVERGENCE_FACTOR",
    "Objective",
    "PlateauRule",
    "Progress",
    "TrainResult",
    "TrainingDiverged",
    "train_lbfgs",
    "train_minibatch",
]

# An epoch whose loss exceeds this multiple of the loss at the initial weights
# (or of 1, if that is smaller) counts as diverged: weights have exploded even
# if the loss is still finite.
DIVERGENCE_FACTOR = 1e6

# A batch is split into row groups of at least this many multiply-adds per
# forward pass, at most _MAX_GROUPS of them; below it, a thread hand-off
# costs more than it saves. The partition depends on the work only, never
# on the number of threads, so the sums, and the weights, are the same on
# every machine: threads only execute the groups.
_MIN_WORK_PER_GROUP = 2_000_000
_MAX_GROUPS = 4

# Bytes of one layer's activations in a row sub-block: with its deltas and
# scratch this stays within a core's L2 cache between passes.
_CACHE_BYTES = 1 << 19

# Inspecting the loaded BLAS libraries is slow, so it is done once.
_BLAS = ThreadpoolController()


def _release_blas_control():
    """Let the calling thread set OpenBLAS's process-wide thread count.

    threadpoolctl lets only one Python thread, the first to set a limit,
    change a process-wide OpenBLAS pool and silently ignores the others;
    without this a fit in a worker thread, after any limit set in the main
    thread, would neither limit BLAS nor restore it.
    """
    try:
        from threadpoolctl import OpenBLASController
    except ImportError:  # threadpoolctl < 3.6 has no controlling thread
        return
    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


class _SingleThreadedBLAS:
    """One process-wide owner of the BLAS limit, shared by concurrent fits.

    The first fit to enter records BLAS's thread count and limits it to one;
    the last to leave restores the original limits. Fits in several Python
    threads (a threading backend) thus never leave BLAS limited behind them.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._users, self._limiter, self._threads = 0, None, 1

    @contextmanager
    def __call__(self):
        with self._lock:
            if self._users == 0:
                blas = [
                    lib["num_threads"]
                    for lib in _BLAS.info()
                    if lib["user_api"] == "blas"
                ]
                self._threads = max(blas, default=1)
                _release_blas_control()
                self._limiter = _BLAS.limit(limits=1, user_api="blas")
            self._users += 1
            threads = self._threads
        try:
            yield threads
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    _release_blas_control()
                    self._limiter.restore_original_limits()
                    _release_blas_control()
                    self._limiter = None


single_threaded_blas = _SingleThreadedBLAS()


@dataclass
class Progress:
    """Everything a later ``partial_fit`` or warm start continues from."""

    optimizer: object
    loss_curve: list = field(default_factory=list)
    validation_scores: list | None = None
    best_loss: float | None = np.inf
    best_validation_score: float | None = None
    best_theta: np.ndarray | None = None
    best_state: np.ndarray | None = None
    no_improvement_count: int = 0
    n_seen: int = 0
    reference_loss: float | None = None


@dataclass
class TrainResult:
    """What one call of a training loop did."""

    theta: np.ndarray
    n_iter: int
    loss: float
    hit_max_iter: bool
    loss_curve: list
    message: str = ""


class Objective:
    """Mean loss plus L2 penalty of a network, and its gradient, on one batch.

    Holds the network, the loss and compiled plans, so the hot loop is
    ``value = objective(theta, X, Y, sw, grad)``. ``state`` is the flat
    vector of running statistics that training updates (batch
    normalisation) and ``rng`` the stream dropout masks come from. A network
    whose loss is a sum over rows has its batches cut into row groups, run on
    parallel threads inside ``threads()``, and cache-sized row blocks.
    """

    def __init__(self, network, loss, alpha, state=None, rng=None):
        self.network, self.loss, self.alpha = network, loss, alpha
        self.state, self.rng = state, rng
        self._plans = {}
        self._workspaces = {}
        self._group_grads = []
        self._part_grads = {}
        self._pool = None

    @contextmanager
    def threads(self):
        """Train with one BLAS thread per Python thread.

        A GEMM is already multi-threaded by BLAS, but the elementwise passes
        between GEMMs run on one core. Giving each core its own row group,
        with a single-threaded BLAS, keeps both busy (measured 1.2-1.5x per
        epoch on 10000-row full batches on 2 cores), and small batches avoid
        BLAS's thread start-up cost altogether. A network that is not
        row-separable keeps BLAS's own threads. The thread count is the one
        BLAS had when the first fit started, so a caller that limited BLAS
        (joblib workers do) gets no extra threads.
        """
        if not self.network.row_separable:
            yield self
            return
        with single_threaded_blas() as n_threads:
            if n_threads > 1:
                self._pool = ThreadPoolExecutor(min(n_threads, _MAX_GROUPS))
            try:
                yield self
            finally:
                if self._pool is not None:
                    self._pool.shutdown()
                self._pool = None

    def _plan(self, slot, theta, X, grad):
        n = X.shape[0]
        sparse = sp.issparse(X)
        key = (slot, n, sparse)
        cached = self._plans.get(key)
        if cached is not None and cached[0] is theta and cached[1] is grad:
            return cached[2]
        workspace = self._workspaces.get(slot)
        if (
            workspace is None
            or workspace.capacity < n
            or workspace.dtype != theta.dtype
        ):
            workspace = Workspace(n, theta.dtype, self.network.max_width)
            self._workspaces[slot] = workspace
            # Plans cut from a replaced workspace would keep its memory alive.
            for old in [k for k in self._plans if k[0] == slot]:
                del self._plans[old]
        state = self.state
        if state is None or state.dtype != theta.dtype:
            state = np.empty(self.network.state_size, theta.dtype)
        plan = self.network.compile(
            n, True, theta, grad, state, workspace, self.rng, sparse
        )
        self._plans[key] = (theta, grad, plan)
        return plan

    def _rows(self, theta, X, Y, sample_weight, total, grad, slot):
        """Loss of rows X (normalised by ``total``) and its gradient into grad."""
        n = X.shape[0]
        step = n
        if self.network.row_separable:
            step = max(
                256, _CACHE_BYTES // (self.network.max_width * theta.dtype.itemsize)
            )
        if n > step:
            # Sub-blocks small enough that a layer's activations, deltas and
            # scratch stay in the core's cache between the passes over them.
            # Every part is normalised by ``total``, so gradients add up.
            part = self._part_grads.get(slot)
            if part is None or part.shape != grad.shape or part.dtype != grad.dtype:
                part = self._part_grads[slot] = np.empty_like(grad)
            value = 0.0
            for start in range(0, n, step):
                rows = slice(start, min(start + step, n))
                sw = None if sample_weight is None else sample_weight[rows]
                out = grad if start == 0 else part
                value += self._rows(theta, X[rows], Y[rows], sw, total, out, slot)
                if start:
                    grad += part
            return value
        plan = self._plan(slot, theta, X, grad)
        raw = plan.forward(X, sample_weight)
        value, delta = self.loss.value_and_delta(Y, raw, sample_weight, total)
        plan.backward(delta)
        return value

    def _groups(self, n):
        if not self.network.row_separable:
            return None
        work = n * self.network.work_per_row
        n_groups = min(_MAX_GROUPS, work // _MIN_WORK_PER_GROUP)
        if n_groups < 2:
            return None
        bounds = np.linspace(0, n, n_groups + 1).astype(int)
        return [slice(a, b) for a, b in pairwise(bounds)]

    def __call__(self, theta, X, Y, sample_weight, grad):
        """Return the objective at ``theta`` and write its gradient into ``grad``."""
        n = X.shape[0]
        total = n if sample_weight is None else float(np.sum(sample_weight))
        groups = self._groups(n)
        if groups is None:
            value = self._rows(theta, X, Y, sample_weight, total, grad, 0)
        else:
            while len(self._group_grads) < len(groups) - 1:
                self._group_grads.append(np.empty_like(grad))
            outs = [grad, *self._group_grads[: len(groups) - 1]]
            for k, out in enumerate(outs):
                if out.shape != grad.shape or out.dtype != grad.dtype:
                    outs[k] = self._group_grads[k - 1] = np.empty_like(grad)
            args = [
                (
                    theta,
                    X[group],
                    Y[group],
                    None if sample_weight is None else sample_weight[group],
                    total,
                    out,
                    slot,
                )
                for slot, (group, out) in enumerate(zip(groups, outs, strict=True))
            ]
            if self._pool is None:
                values = [self._rows(*a) for a in args]
            else:
                futures = [self._pool.submit(self._rows, *a) for a in args]
                values = [future.result() for future in futures]
            # Summed in group order, whichever thread computed what.
            value = 0.0
            for part in values:
                value += part
            for out in outs[1:]:
                grad += out
        if self.alpha:
            # d/dW of (alpha / 2) ||W||^2 / total, on all weight matrices at once.
            l2 = self.alpha / total
            W = self.network.weights(theta)
            grad_W = self.network.weights(grad)
            grad_W += l2 * W
            value += 0.5 * l2 * float(np.dot(W, W))
        return value


def gen_batches(n_samples, batch_size):
    """Consecutive slices of ``batch_size`` rows; the last may be shorter."""
    for start in range(0, n_samples, batch_size):
        yield slice(start, min(start + batch_size, n_samples))


class _Gather:
    """Copy the rows of a shuffled batch into memory reused for every batch.

    Copying batch by batch moves the same bytes as one shuffled copy of the
    data per epoch, without holding a second copy of X in memory.
    """

    def __init__(self, X, Y, sample_weight, batch_size):
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        self.dense = not sp.issparse(X)
        if self.dense:
            self.X_buf = np.empty((batch_size, X.shape[1]), X.dtype)
        self.Y_buf = np.empty((batch_size, Y.shape[1]), Y.dtype)

    def __call__(self, index):
        m = index.shape[0]
        # mode="clip" lets take write straight into out; the index is valid.
        if self.dense:
            X = np.take(self.X, index, axis=0, out=self.X_buf[:m], mode="clip")
        else:
            X = self.X[index]
        Y = np.take(self.Y, index, axis=0, out=self.Y_buf[:m], mode="clip")
        sw = None if self.sample_weight is None else self.sample_weight[index]
        return X, Y, sw


def run_hooks(hooks, record, theta, state):
    """Call every epoch-end hook in order; True when any asks to stop."""
    stop = False
    for hook in hooks:
        if hook(record, theta, state):
            stop = True
    return stop


class PlateauRule:
    """scikit-learn's stopping rule, as the last epoch-end hook.

    Counts epochs whose monitored value (the training loss, lower is better,
    or the validation score, higher is better) fails to improve on the best
    by ``tol``; after more than ``n_iter_no_change`` of them the optimizer's
    schedule reacts (the adaptive schedule shrinks its step) or training
    stops. Monitoring a validation value, it keeps the best weights.
    """

    def __init__(self, progress, tol, n_iter_no_change, monitor="loss", log=None):
        self.progress, self.tol, self.n_iter_no_change = progress, tol, n_iter_no_change
        self.monitor, self.log = monitor, log
        self.message = ""

    def __call__(self, record, theta, state):
        progress, tol = self.progress, self.tol
        if self.monitor == "loss":
            loss = record["loss"]
            if loss > progress.best_loss - tol:
                progress.no_improvement_count += 1
            else:
                progress.no_improvement_count = 0
            progress.best_loss = min(progress.best_loss, loss)
        else:
            score = record[self.monitor]
            if score < progress.best_validation_score + tol:
                progress.no_improvement_count += 1
            else:
                progress.no_improvement_count = 0
            if score > progress.best_validation_score:
                progress.best_validation_score = score
                progress.best_theta = theta.copy()
                progress.best_state = None if state is None else state.copy()

        if progress.no_improvement_count <= self.n_iter_no_change:
            return False
        what = "Training loss" if self.monitor == "loss" else "Validation score"
        self.message = (
            f"{what} did not improve more than tol={tol:f} for "
            f"{self.n_iter_no_change} consecutive epochs."
        )
        optimizer = progress.optimizer
        if optimizer.on_plateau():
            if self.log is not None:
                self.log(self.message + " Stopping.")
            return True
        if self.log is not None:
            self.log(
                self.message + f" Setting learning rate to {optimizer.learning_rate:f}"
            )
        progress.no_improvement_count = 0
        return False


def train_minibatch(
    objective, theta, X, Y, sample_weight, *, progress, batch_size, max_iter,
    shuffle, rng, hooks=(), incremental=False,
):  # fmt: skip
    """Run epochs of a first-order optimizer over minibatches.

    ``theta`` (and the objective's state) is updated in place. After each
    epoch the ``hooks`` are called in order as ``hook(record, theta, state)``
    with the epoch's record (``epoch``, ``loss``, ``learning_rate``,
    ``seconds``), which a hook may extend for the ones after it; training
    stops when any returns True. The order in which ``rng`` is used is
    scikit-learn's, so the same seed visits the same batches. Raises
    ``TrainingDiverged`` as soon as a batch loss is non-finite or an epoch
    loss explodes.
    """
    n_samples = X.shape[0]
    optimizer = progress.optimizer
    state = objective.state
    grad = np.empty_like(theta)
    # Row numbers as int32 halve the memory of the batch order.
    order = np.arange(n_samples, dtype=np.int32 if n_samples < 2**31 else np.intp)
    gather = shuffle and batch_size < n_samples
    if gather:
        gather_batch = _Gather(X, Y, sample_weight, batch_size)
    n_iter, hit_max_iter = 0, False

    for epoch in range(1, max_iter + 1):
        start_time = time.perf_counter()
        learning_rate = optimizer.learning_rate
        if shuffle:
            # scikit-learn composes order[permutation]; shuffling order in place
            # makes the same swaps from the same draws, without two new arrays.
            rng.shuffle(order)

        accumulated = 0.0
        for batch in gen_batches(n_samples, batch_size):
            if gather:
                X_batch, Y_batch, sw_batch = gather_batch(order[batch])
            else:
                # Unshuffled, or one full batch whose row order does not matter.
                X_batch, Y_batch = X[batch], Y[batch]
                sw_batch = None if sample_weight is None else sample_weight[batch]
            if sw_batch is not None and not sw_batch.any():
                # A batch of zero weight (bootstrap counts do this) contributes
                # nothing: no loss, no step.
                continue
            value = objective(theta, X_batch, Y_batch, sw_batch, grad)
            if not math.isfinite(value):
                raise TrainingDiverged(len(progress.loss_curve) + 1, value)
            if progress.reference_loss is None:
                progress.reference_loss = value
            accumulated += value * (batch.stop - batch.start)
            optimizer.step(theta, grad)

        n_iter += 1
        loss = accumulated / n_samples
        progress.n_seen += n_samples
        progress.loss_curve.append(loss)
        exploded = loss > DIVERGENCE_FACTOR * max(progress.reference_loss, 1.0)
        # The epoch's last step may overflow weights after its loss was taken.
        if exploded or not np.isfinite(theta).all():
            raise TrainingDiverged(len(progress.loss_curve), loss)
        optimizer.end_epoch(progress.n_seen)
        record = {
            "epoch": len(progress.loss_curve),
            "loss": loss,
            "learning_rate": learning_rate,
            "seconds": time.perf_counter() - start_time,
        }
        if run_hooks(hooks, record, theta, state):
            break
        if incremental:
            break
        if epoch == max_iter:
            hit_max_iter = True

    message = next((h.message for h in hooks if isinstance(h, PlateauRule)), "")
    return TrainResult(
        theta,
        n_iter,
        progress.loss_curve[-1],
        hit_max_iter,
        progress.loss_curve,
        message,
    )


def train_lbfgs(
    objective, theta, X, Y, sample_weight, *, max_iter, max_fun, tol, hooks=()
):
    """Minimise the full-batch objective with scipy's L-BFGS-B.

    The loss and gradient handed to scipy are exactly consistent (for several
    outputs too). After each iteration the ``hooks`` are called as in
    ``train_minibatch``, with the iteration as ``epoch``; one returning True
    ends the minimisation. Returns a ``TrainResult`` whose ``loss`` is the
    final objective and whose ``loss_curve`` holds the objective after each
    iteration.
    """
    dtype = theta.dtype
    work = np.empty_like(theta)
    grad = np.empty_like(theta)
    curve = []
    clock = [time.perf_counter()]

    def fun(flat):
        work[...] = flat
        value = objective(work, X, Y, sample_weight, grad)
        if not np.isfinite(value):
            # scipy's line search backs off from an infinite value.
            return np.inf, np.zeros(flat.shape)
        return value, grad.astype(np.float64)

    def callback(intermediate_result):
        curve.append(float(intermediate_result.fun))
        now = time.perf_counter()
        record = {
            "epoch": len(curve),
            "loss": curve[-1],
            "learning_rate": None,
            "seconds": now - clock[0],
        }
        clock[0] = now
        x = intermediate_result.x
        if run_hooks(hooks, record, x.astype(dtype, copy=False), None):
            # scipy's documented way for a callback to end the minimisation.
            raise StopIteration

    result = scipy.optimize.minimize(
        fun,
        theta.astype(np.float64),
        method="L-BFGS-B",
        jac=True,
        callback=callback,
        options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
    )
    if not np.isfinite(result.fun):
        raise TrainingDiverged(result.nit, result.fun, step="iteration")
    message = "" if result.success else str(result.message)
    theta = result.x.astype(dtype)
    return TrainResult(theta, int(result.nit), float(result.fun), False, curve, message)
