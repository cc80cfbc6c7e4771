"""Training loops: minibatch first-order solvers and L-BFGS, with epoch hooks."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import copy
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
# every machine: threads only execute the groups. Two groups keep two cores
# busy; four, run two by two on two cores, made full batches of 10000 rows
# 6-9% slower than the two halves skann used before (more, smaller blocks
# and more gradients to add), so machines with more cores do not split
# further.
_MIN_WORK_PER_GROUP = 2_000_000
_MAX_GROUPS = 2
# Nor fewer rows than this per group: below it the GEMMs lose efficiency and
# adding up the groups' gradients costs more than the split saves (minibatches
# of 256 rows through a (256, 256) network ran 15% slower in four groups of
# 64 rows than in two of 128).
_MIN_ROWS_PER_GROUP = 128

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
    """Everything a later ``partial_fit`` or warm start continues from.

    ``to_dict`` turns it into builtins and arrays only (the optimizer, the
    schedule and the weight average as their state), the form the estimator
    keeps, so a fitted model holds no objects a safe loader would refuse.
    """

    optimizer: object
    schedule: object
    averager: object = None
    loss_curve: list = field(default_factory=list)
    history: list = field(default_factory=list)
    validation_scores: list | None = None
    validation_losses: list | None = None
    best_loss: float | None = np.inf
    best_validation_score: float | None = None
    best_validation_loss: float | None = None
    best_theta: np.ndarray | None = None
    best_state: np.ndarray | None = None
    live_theta: np.ndarray | None = None
    no_improvement_count: int = 0
    n_seen: int = 0
    reference_loss: float | None = None
    n_restarts: int = 0

    _OBJECTS = ("optimizer", "schedule", "averager")

    def to_dict(self):
        state = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name not in self._OBJECTS
        }
        for name in self._OBJECTS:
            obj = getattr(self, name)
            state[name] = None if obj is None else obj.state_dict()
        return state

    @classmethod
    def from_dict(cls, state, optimizer, schedule, averager=None):
        """Rebuild from ``to_dict``'s output onto fresh objects of the same kinds."""
        fields = {k: v for k, v in state.items() if k not in cls._OBJECTS}
        progress = cls(optimizer, schedule, averager, **fields)
        for name in cls._OBJECTS:
            obj, saved = getattr(progress, name), state.get(name)
            if obj is not None and saved is not None:
                obj.load_state_dict(saved)
        return progress


class WeightAverage:
    """The average of the weights over the last steps, which becomes the fit.

    ``'ema'``: an exponential moving average of the weights after each step,
    starting at the first step's, with decay ``min(decay, (1 + t) /
    (10 + t))`` at step ``t`` (counted from 0): the early, poor weights of a
    short fit fade quickly, and a long fit averages over about
    ``1 / (1 - decay)`` steps. ``'swa'``: the plain mean of the weights at
    the end of each of the last ``window`` epochs.
    """

    def __init__(self, kind, size, dtype, decay=0.999, window=10):
        self.kind, self.decay, self.window = kind, decay, window
        self.t = 0
        if kind == "ema":
            self.total = np.zeros(size, dtype)
        else:
            self.snapshots = np.zeros((window, size), dtype)
        self._out = np.empty(size, dtype)

    def after_step(self, theta):
        if self.kind == "ema":
            if self.t == 0:
                self.total[...] = theta
            else:
                decay = min(self.decay, (1 + self.t) / (10 + self.t))
                self.total *= decay
                self.total += (1.0 - decay) * theta
            self.t += 1

    def after_epoch(self, theta):
        if self.kind == "swa":
            self.snapshots[self.t % self.window] = theta
            self.t += 1

    def weights(self, theta):
        """The averaged weights (``theta`` itself before any step)."""
        if self.t == 0:
            return theta
        if self.kind == "ema":
            return self.total
        n = min(self.t, self.window)
        return np.mean(self.snapshots[:n], axis=0, out=self._out)

    def state_dict(self):
        data = self.total if self.kind == "ema" else self.snapshots
        return {"t": self.t, "data": data}

    def load_state_dict(self, state):
        self.t = int(state["t"])
        (self.total if self.kind == "ema" else self.snapshots)[...] = state["data"]


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
        self._last = None
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
        BLAS's thread start-up cost altogether (a batch-normalised network on
        minibatches of 200 rows ran 9 times faster with one BLAS thread than
        with two on a busy 2-core machine). The thread count is the one
        BLAS had when the first fit started, so a caller that limited BLAS
        (joblib workers do) gets no extra threads.
        """
        with single_threaded_blas() as n_threads:
            # Batch statistics and dropout masks span the whole batch, so only
            # a row-separable network is split into row groups on threads.
            if n_threads > 1 and self.network.row_separable:
                self._pool = ThreadPoolExecutor(min(n_threads, _MAX_GROUPS))
            try:
                yield self
            finally:
                if self._pool is not None:
                    self._pool.shutdown()
                self._pool = None

    def _plan(self, theta, X, grad):
        # Work arrays belong to the thread that runs the rows, not to a row
        # group: a thread that runs several groups in turn reuses its arrays,
        # which stay warm in its core's cache. Plans are per gradient buffer.
        thread = threading.get_ident()
        n = X.shape[0]
        sparse = sp.issparse(X)
        key = (thread, n, sparse, id(grad))
        cached = self._plans.get(key)
        if cached is not None and cached[0] is theta and cached[1] is grad:
            return cached[2]
        workspace = self._workspaces.get(thread)
        if (
            workspace is None
            or workspace.capacity < n
            or workspace.dtype != theta.dtype
        ):
            workspace = Workspace(n, theta.dtype, self.network.max_width)
            self._workspaces[thread] = workspace
            # Plans cut from a replaced workspace would keep its memory alive.
            for old in [k for k in self._plans if k[0] == thread]:
                del self._plans[old]
        state = self.state
        if state is None or state.dtype != theta.dtype:
            state = np.empty(self.network.state_size, theta.dtype)
        plan = self.network.compile(
            n, True, theta, grad, state, workspace, self.rng, sparse
        )
        self._plans[key] = (theta, grad, plan)
        return plan

    def _step(self, itemsize):
        """Rows of a cache-sized block (all rows, for a network not row-separable)."""
        return max(256, _CACHE_BYTES // (self.network.max_width * itemsize))

    def _rows(self, theta, X, Y, sample_weight, total, grad):
        """Loss of rows X (normalised by ``total``) and its gradient into grad."""
        n = X.shape[0]
        step = self._step(theta.dtype.itemsize) if self.network.row_separable else n
        if n > step:
            # Sub-blocks small enough that a layer's activations, deltas and
            # scratch stay in the core's cache between the passes over them.
            # Every part is normalised by ``total``, so gradients add up.
            thread = threading.get_ident()
            part = self._part_grads.get(thread)
            if part is None or part.shape != grad.shape or part.dtype != grad.dtype:
                part = self._part_grads[thread] = np.empty_like(grad)
            value = 0.0
            for start in range(0, n, step):
                rows = slice(start, min(start + step, n))
                sw = None if sample_weight is None else sample_weight[rows]
                out = grad if start == 0 else part
                value += self._rows(theta, X[rows], Y[rows], sw, total, out)
                if start:
                    grad += part
            return value
        plan = self._plan(theta, X, grad)
        raw = plan.forward(X, sample_weight)
        value, delta = self.loss.value_and_delta(Y, raw, sample_weight, total)
        plan.backward(delta)
        return value

    def _groups(self, n):
        if not self.network.row_separable:
            return None
        work = n * self.network.work_per_row
        n_groups = min(
            _MAX_GROUPS, work // _MIN_WORK_PER_GROUP, n // _MIN_ROWS_PER_GROUP
        )
        if n_groups < 2:
            return None
        # Equal groups: threads that run several in turn finish together.
        edges = np.linspace(0, n, n_groups + 1).astype(int)
        return [slice(a, b) for a, b in pairwise(edges)]

    def __call__(self, theta, X, Y, sample_weight, grad):
        """Return the objective at ``theta`` and write its gradient into ``grad``."""
        n = X.shape[0]
        total = n if sample_weight is None else float(np.sum(sample_weight))
        # The common case, one dense batch of the size last seen in one plan,
        # skips the lookups below: per-sample SGD calls this a thousand times
        # per epoch.
        last = self._last
        if (
            last is not None
            and last[0] == n
            and last[1] is theta
            and last[2] is grad
            and type(X) is np.ndarray
            and last[3] == threading.get_ident()
        ):
            plan = last[4]
            raw = plan.forward(X, sample_weight)
            value, delta = self.loss.value_and_delta(Y, raw, sample_weight, total)
            plan.backward(delta)
            return self._penalised(value, theta, grad, total)
        groups = self._groups(n)
        if groups is None:
            value = self._rows(theta, X, Y, sample_weight, total, grad)
            single = not self.network.row_separable or n <= self._step(
                theta.dtype.itemsize
            )
            if single and type(X) is np.ndarray:
                plan = self._plan(theta, X, grad)
                self._last = (n, theta, grad, threading.get_ident(), plan)
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
                )
                for group, out in zip(groups, outs, strict=True)
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
        return self._penalised(value, theta, grad, total)

    def _penalised(self, value, theta, grad, total):
        """Add the L2 penalty to the value and to the gradient in ``grad``."""
        if self.alpha:
            # d/dW of (alpha / 2) ||W||^2 / total, on all weight matrices at once.
            l2 = self.alpha / total
            W = self.network.weights(theta)
            grad_W = self.network.weights(grad)
            grad_W += l2 * W
            value += 0.5 * l2 * float(np.dot(W, W))
        return value


def gen_batches(n_samples, batch_size, min_batch_size=1):
    """Consecutive slices of ``batch_size`` rows; the last may be shorter.

    A last batch shorter than ``min_batch_size`` joins the one before it.
    """
    starts = list(range(0, n_samples, batch_size))
    if len(starts) > 1 and n_samples - starts[-1] < min_batch_size:
        starts.pop()
    for start, stop in zip(starts, [*starts[1:], n_samples], strict=True):
        yield slice(start, stop)


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


# Monitored value -> (attribute of Progress holding the best, higher is better).
_MONITORS = {
    "loss": ("best_loss", False),
    "validation_score": ("best_validation_score", True),
    "validation_loss": ("best_validation_loss", False),
}


class PlateauRule:
    """scikit-learn's stopping rule, as the last epoch-end hook.

    Counts epochs whose monitored value (the training loss or the validation
    loss, lower is better, or the validation score, higher is better) fails
    to improve on the best by ``tol``; after more than ``n_iter_no_change``
    of them the schedule reacts (the adaptive schedule shrinks its step) or
    training stops. Monitoring a validation value, it keeps the best weights.
    """

    def __init__(self, progress, tol, n_iter_no_change, monitor="loss", log=None):
        self.progress, self.tol, self.n_iter_no_change = progress, tol, n_iter_no_change
        self.monitor, self.log = monitor, log
        self.message = ""

    def __call__(self, record, theta, state):
        progress, tol = self.progress, self.tol
        best_name, higher_is_better = _MONITORS[self.monitor]
        value, best = record[self.monitor], getattr(progress, best_name)
        sign = 1.0 if higher_is_better else -1.0
        if sign * value < sign * best + tol:
            progress.no_improvement_count += 1
        else:
            progress.no_improvement_count = 0
        if sign * value > sign * best:
            setattr(progress, best_name, value)
            if self.monitor != "loss":
                progress.best_theta = theta.copy()
                progress.best_state = None if state is None else state.copy()
                # The score of the kept weights, whichever value chose them.
                progress.best_validation_score = record["validation_score"]

        if progress.no_improvement_count <= self.n_iter_no_change:
            return False
        what = {
            "loss": "Training loss",
            "validation_score": "Validation score",
            "validation_loss": "Validation loss",
        }[self.monitor]
        self.message = (
            f"{what} did not improve more than tol={tol:f} for "
            f"{self.n_iter_no_change} consecutive epochs."
        )
        schedule = progress.schedule
        if schedule.on_plateau(progress.n_seen):
            if self.log is not None:
                self.log(self.message + " Stopping.")
            return True
        if self.log is not None:
            rate = schedule.rate(progress.n_seen)
            self.log(self.message + f" Setting learning rate to {rate:f}")
        progress.no_improvement_count = 0
        return False


def _gradient_norm(grad):
    return math.sqrt(float(np.dot(grad, grad)))


def train_minibatch(
    objective, theta, X, Y, sample_weight, *, progress, batch_size, max_iter,
    shuffle, rng, hooks=(), incremental=False, max_grad_norm=None, max_restarts=0,
    warn=None,
):  # fmt: skip
    """Run epochs of a first-order optimizer over minibatches.

    ``theta`` (and the objective's state) is updated in place. Before each
    epoch the progress's schedule sets the optimizer's learning rate. With
    ``max_grad_norm`` every minibatch gradient whose L2 norm exceeds it is
    scaled down to it before the step; with ``progress.averager`` the hooks
    see, and the result holds, the averaged weights.

    After each epoch the ``hooks`` are called in order as
    ``hook(record, theta, state)`` with the epoch's record (``epoch``,
    ``loss``, ``validation_loss``, ``validation_score``, ``learning_rate``,
    ``gradient_norm``, ``seconds``), which a hook may fill in for the ones
    after it; the record is then added to ``progress.history``. Training
    stops when any hook returns True.

    The order in which ``rng`` is used is scikit-learn's, so the same seed
    visits the same batches. A non-finite batch loss or an exploding epoch
    loss raises ``TrainingDiverged``, unless restarts remain
    (``max_restarts``): then the weights, state and optimizer go back to the
    start of the epoch whose loss was the lowest so far, the learning rate is
    divided by 10, ``warn`` is called with a message and training goes on.
    """
    n_samples = X.shape[0]
    optimizer, schedule, averager = (
        progress.optimizer,
        progress.schedule,
        progress.averager,
    )
    state = objective.state
    grad = np.empty_like(theta)
    # Row numbers as int32 halve the memory of the batch order.
    order = np.arange(n_samples, dtype=np.int32 if n_samples < 2**31 else np.intp)
    gather = shuffle and batch_size < n_samples
    if gather:
        gather_batch = _Gather(X, Y, sample_weight, batch_size)
    n_iter, hit_max_iter = 0, False
    # What a restart goes back to: the start of the epoch with the lowest loss
    # so far. The epoch before a divergence may already have blown the weights
    # up while its loss, taken before each step, still looked sane.
    snapshot, best_snapshot, best_epoch_loss = None, None, np.inf
    # Batch statistics of a single row are meaningless (zero variance).
    min_batch_size = 2 if objective.network.batch_norms else 1

    epoch = 1
    while epoch <= max_iter:
        start_time = time.perf_counter()
        learning_rate = float(schedule.rate(progress.n_seen))
        optimizer.learning_rate = learning_rate
        if max_restarts > progress.n_restarts:
            snapshot = _snapshot(theta, state, progress, order)
            if best_snapshot is None:
                best_snapshot = snapshot
        if shuffle:
            # scikit-learn composes order[permutation]; shuffling order in place
            # makes the same swaps from the same draws, without two new arrays.
            rng.shuffle(order)

        accumulated, norm, diverged = 0.0, None, None
        for batch in gen_batches(n_samples, batch_size, min_batch_size):
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
                diverged = value
                break
            if progress.reference_loss is None:
                progress.reference_loss = value
            accumulated += value * (batch.stop - batch.start)
            if max_grad_norm is not None:
                norm = _gradient_norm(grad)
                if norm > max_grad_norm:
                    grad *= max_grad_norm / norm
            optimizer.step(theta, grad)
            if averager is not None:
                averager.after_step(theta)

        loss = accumulated / n_samples
        if diverged is None:
            exploded = loss > DIVERGENCE_FACTOR * max(progress.reference_loss, 1.0)
            # The epoch's last step may overflow weights after its loss was taken.
            if exploded or not np.isfinite(theta).all():
                diverged = loss
        if diverged is not None:
            epoch_number = len(progress.loss_curve) + 1
            if progress.n_restarts >= max_restarts:
                raise TrainingDiverged(epoch_number, diverged)
            _restore(best_snapshot, theta, state, progress, order)
            progress.n_restarts += 1
            schedule.factor /= 10.0
            progress.history.append(
                _record(epoch_number, diverged, learning_rate, None, start_time)
                | {"restart": True}
            )
            if warn is not None:
                warn(
                    f"Training diverged at epoch {epoch_number} (loss {diverged:.6g}); "
                    f"going back to the weights of its best epoch so far with "
                    f"the learning rate divided by 10 (restart "
                    f"{progress.n_restarts} of {max_restarts})."
                )
            continue

        if snapshot is not None and loss < best_epoch_loss:
            best_snapshot, best_epoch_loss = snapshot, loss
        n_iter += 1
        progress.n_seen += n_samples
        progress.loss_curve.append(loss)
        schedule.end_epoch()
        if averager is not None:
            averager.after_epoch(theta)
        if norm is None:
            # Without clipping, the norm of the epoch's last gradient.
            norm = _gradient_norm(grad)
        record = _record(
            len(progress.loss_curve), loss, learning_rate, norm, start_time
        )
        weights = theta if averager is None else averager.weights(theta)
        stop = run_hooks(hooks, record, weights, state)
        record["seconds"] = time.perf_counter() - start_time
        progress.history.append(record)
        if stop or incremental:
            break
        if epoch == max_iter:
            hit_max_iter = True
        epoch += 1

    if averager is not None:
        progress.live_theta = theta.copy()
        theta = averager.weights(theta).copy()
    message = next((h.message for h in hooks if isinstance(h, PlateauRule)), "")
    return TrainResult(
        theta,
        n_iter,
        progress.loss_curve[-1] if progress.loss_curve else np.nan,
        hit_max_iter,
        progress.loss_curve,
        message,
    )


def _record(epoch, loss, learning_rate, gradient_norm, start_time):
    """One epoch's entry of the training history; hooks fill in the rest."""
    return {
        "epoch": epoch,
        "loss": loss,
        "validation_loss": None,
        "validation_score": None,
        "learning_rate": learning_rate,
        "gradient_norm": gradient_norm,
        "seconds": time.perf_counter() - start_time,
        "restart": False,
    }


def _snapshot(theta, state, progress, order):
    """What an epoch that diverges goes back to."""
    return (
        theta.copy(),
        None if state is None else state.copy(),
        copy.deepcopy(progress.optimizer.state_dict()),
        None
        if progress.averager is None
        else copy.deepcopy(progress.averager.state_dict()),
        order.copy(),
        progress.reference_loss,
    )


def _restore(snapshot, theta, state, progress, order):
    saved_theta, saved_state, optimizer, averager, saved_order, reference = snapshot
    theta[...] = saved_theta
    if state is not None:
        state[...] = saved_state
    progress.optimizer.load_state_dict(optimizer)
    if averager is not None:
        progress.averager.load_state_dict(averager)
    order[...] = saved_order
    progress.reference_loss = reference


def train_lbfgs(
    objective, theta, X, Y, sample_weight, *, max_iter, max_fun, tol, hooks=(),
    history=None,
):  # fmt: skip
    """Minimise the full-batch objective with scipy's L-BFGS-B.

    The loss and gradient handed to scipy are exactly consistent (for several
    outputs too). After each iteration the ``hooks`` are called as in
    ``train_minibatch``, with the iteration as ``epoch``, and the record is
    added to ``history`` (a list) if given; a hook returning True ends the
    minimisation. Returns a ``TrainResult`` whose ``loss`` is the final
    objective and whose ``loss_curve`` holds the objective after each
    iteration.
    """
    dtype = theta.dtype
    work = np.empty_like(theta)
    grad = np.empty_like(theta)
    curve = []
    clock = [time.perf_counter()]
    stopped = [False]

    def fun(flat):
        work[...] = flat
        value = objective(work, X, Y, sample_weight, grad)
        if not np.isfinite(value):
            # scipy's line search backs off from an infinite value.
            return np.inf, np.zeros(flat.shape)
        return value, grad.astype(np.float64)

    def callback(intermediate_result):
        curve.append(float(intermediate_result.fun))
        # The line search ends on the accepted point, so the last gradient
        # evaluated is that point's.
        record = _record(len(curve), curve[-1], None, _gradient_norm(grad), clock[0])
        x = intermediate_result.x
        stop = run_hooks(hooks, record, x.astype(dtype, copy=False), None)
        now = time.perf_counter()
        record["seconds"], clock[0] = now - clock[0], now
        if history is not None:
            history.append(record)
        if stop:
            stopped[0] = True
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
    message = "" if result.success or stopped[0] else str(result.message)
    theta = result.x.astype(dtype)
    return TrainResult(theta, int(result.nit), float(result.fun), False, curve, message)
