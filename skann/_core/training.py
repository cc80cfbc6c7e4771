"""Training loops: minibatch first-order solvers and L-BFGS, with epoch hooks."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import numpy as np
import scipy.optimize
import scipy.sparse as sp

from skann.exceptions import TrainingDiverged

# An epoch whose loss exceeds this multiple of the loss at the initial weights
# (or of 1, if that is smaller) counts as diverged: weights have exploded even
# if the loss is still finite.
DIVERGENCE_FACTOR = 1e6

# Each restart after a divergence divides the learning rate by this.
RESTART_DIVISOR = 10.0


@dataclass
class Progress:
    """The record of training so far: what a fit returns and a later one continues.

    ``history`` holds one record per epoch (see ``train_minibatch``), earlier
    fits' included; ``n_seen`` counts the training samples seen by the
    steps, ``reference_loss`` is the first batch's loss (the scale that
    divergence is judged on), ``live_theta`` the optimizer's own weights
    when a weight average is the fit. Both loops return it, L-BFGS with
    neither optimizer nor schedule.
    """

    optimizer: object = None
    schedule: object = None
    averager: object = None
    history: list = field(default_factory=list)
    n_seen: int = 0
    reference_loss: float | None = None
    n_restarts: int = 0
    live_theta: np.ndarray | None = None

    @property
    def loss_curve(self):
        """The training loss of each epoch, the diverged ones left out."""
        return [record["loss"] for record in self.history if not record["restart"]]


@dataclass
class TrainResult:
    """What one call of a training loop did."""

    theta: np.ndarray
    n_iter: int
    loss: float
    hit_max_iter: bool
    message: str = ""


def record(epoch, loss, learning_rate, gradient_norm, start_time):
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


def run_hooks(hooks, record, theta, state):
    """Call every epoch-end hook in order; True when any asks to stop."""
    stop = False
    for hook in hooks:
        if hook(record, theta, state):
            stop = True
    return stop


def _gradient_norm(grad):
    return math.sqrt(float(np.dot(grad, grad)))


def gen_batches(n_samples, batch_size, min_batch_size=1):
    """Consecutive slices of ``batch_size`` rows; the last may be shorter.

    A last batch shorter than ``min_batch_size`` joins the one before it.
    The slices are made as they are asked for: with one row a batch, a list
    of them would be the largest thing a small fit holds.
    """
    if n_samples <= 0:
        return
    n_batches = -(-n_samples // batch_size)
    if n_batches > 1 and n_samples - (n_batches - 1) * batch_size < min_batch_size:
        n_batches -= 1
    last = (n_batches - 1) * batch_size
    starts = range(0, last, batch_size)
    yield from map(slice, starts, range(batch_size, last + 1, batch_size))
    yield slice(last, n_samples)


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
        # The array's own method skips np.take's dispatch (1.4 us a batch).
        if self.dense:
            X = self.X.take(index, axis=0, out=self.X_buf[:m], mode="clip")
        else:
            X = self.X[index]
        Y = self.Y.take(index, axis=0, out=self.Y_buf[:m], mode="clip")
        sw = None if self.sample_weight is None else self.sample_weight[index]
        return X, Y, sw


class _Restarts:
    """Where an epoch that diverges goes back to: the start of the best epoch.

    The epoch before a divergence may already have blown the weights up while
    its loss, taken before each step, still looked sane, so the snapshot kept
    is that of the epoch with the lowest loss so far.
    """

    def __init__(self, progress, theta, state, order, max_restarts, warn=None):
        self.progress, self.theta, self.state = progress, theta, state
        self.order, self.max_restarts, self.warn = order, max_restarts, warn
        self.current = self.best = None
        self.best_loss = np.inf

    @property
    def left(self):
        return self.progress.n_restarts < self.max_restarts

    def begin_epoch(self):
        if not self.left:
            return
        progress = self.progress
        self.current = (
            self.theta.copy(),
            None if self.state is None else self.state.copy(),
            copy.deepcopy(progress.optimizer.state_dict()),
            None
            if progress.averager is None
            else copy.deepcopy(progress.averager.state_dict()),
            self.order.copy(),
            progress.reference_loss,
        )
        if self.best is None:
            self.best = self.current

    def end_epoch(self, loss):
        if self.current is not None and loss < self.best_loss:
            self.best, self.best_loss = self.current, loss

    def after_divergence(self, epoch, loss, learning_rate, start_time):
        """Restart after epoch ``epoch`` diverged at ``loss``; raise if none is left."""
        if not self.left:
            raise TrainingDiverged(epoch, loss)
        self.restart()
        progress = self.progress
        progress.history.append(
            record(epoch, loss, learning_rate, None, start_time) | {"restart": True}
        )
        if self.warn is not None:
            self.warn(
                f"Training diverged at epoch {epoch} (loss {loss:.6g}); going back "
                "to the weights of its best epoch so far with the learning rate "
                f"divided by 10 (restart {progress.n_restarts} of "
                f"{self.max_restarts})."
            )

    def restart(self):
        """Go back to the best snapshot with a smaller learning rate."""
        theta, state, optimizer, averager, order, reference = self.best
        progress = self.progress
        self.theta[...] = theta
        if self.state is not None:
            self.state[...] = state
        progress.optimizer.load_state_dict(optimizer)
        if averager is not None:
            progress.averager.load_state_dict(averager)
        self.order[...] = order
        progress.reference_loss = reference
        progress.n_restarts += 1
        progress.schedule.shrink(RESTART_DIVISOR)


class _EpochData(NamedTuple):
    """The rows an epoch steps over: arrays, row order, batch slices."""

    X: object
    Y: np.ndarray
    sample_weight: np.ndarray | None
    order: np.ndarray
    gather: object  # a _Gather for shuffled minibatches, else None
    batches: Callable  # a new iterator over the batches' slices


def _epoch(objective, theta, grad, data, progress, learning_rate, max_grad_norm):
    """One pass of optimizer steps over the batches of ``data``.

    Returns the epoch's loss (batch losses weighted by their rows, over all
    rows), the norm of the last gradient if clipping computed it (else None),
    and the first non-finite batch loss (else None), at which the pass stops.
    """
    optimizer, averager = progress.optimizer, progress.averager
    X, Y, sample_weight, order, gather, batches = data
    accumulated, norm = 0.0, None
    for batch in batches():
        if gather is not None:
            X_batch, Y_batch, sw_batch = gather(order[batch])
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
            return np.nan, norm, value
        if progress.reference_loss is None:
            progress.reference_loss = value
        accumulated += value * (batch.stop - batch.start)
        if max_grad_norm is not None:
            norm = _gradient_norm(grad)
            if norm > max_grad_norm:
                grad *= max_grad_norm / norm
        optimizer.step(theta, grad, learning_rate)
        if averager is not None:
            averager.after_step(theta)
    return accumulated / X.shape[0], norm, None


def train_minibatch(
    objective, theta, X, Y, sample_weight, *, progress, batch_size, max_iter,
    shuffle, rng, hooks=(), incremental=False, max_grad_norm=None, max_restarts=0,
    warn=None,
):  # fmt: skip
    """Run epochs of a first-order optimizer over minibatches.

    ``theta`` (and the objective's state) is updated in place. Each epoch's
    learning rate comes from the progress's schedule. With ``max_grad_norm``
    every minibatch gradient whose L2 norm exceeds it is scaled down to it
    before the step; with ``progress.averager`` the hooks see, and the result
    holds, the averaged weights.

    After each epoch the ``hooks`` are called in order as
    ``hook(record, theta, state)`` with the epoch's record (``epoch``,
    ``loss``, ``validation_loss``, ``validation_score``, ``learning_rate``,
    ``gradient_norm``, ``seconds``, ``restart``), which a hook may fill in for
    the ones after it; the record is then added to ``progress.history``.
    Training stops when any hook returns True, or after one epoch when
    ``incremental``.

    The order in which ``rng`` is used is scikit-learn's, so the same seed
    visits the same batches. A non-finite batch loss or an exploding epoch
    loss raises ``TrainingDiverged``, unless restarts remain
    (``max_restarts``): then the weights, state and optimizer go back to the
    start of the epoch whose loss was the lowest so far, the learning rate is
    divided by 10, ``warn`` is called with a message and training goes on.
    """
    n_samples = X.shape[0]
    schedule, averager, state = progress.schedule, progress.averager, objective.state
    grad = np.empty_like(theta)
    # Row numbers as int32 halve the memory of the batch order.
    order = np.arange(n_samples, dtype=np.int32 if n_samples < 2**31 else np.intp)
    gather = shuffle and batch_size < n_samples
    if gather:
        gather_batch = _Gather(X, Y, sample_weight, batch_size)
    # Batch statistics of a single row are meaningless (zero variance).
    min_batch_size = 2 if objective.network.batch_norms else 1
    data = _EpochData(
        X, Y, sample_weight, order, gather_batch if gather else None,
        partial(gen_batches, n_samples, batch_size, min_batch_size),
    )  # fmt: skip
    n_iter, hit_max_iter = 0, False
    n_epochs = len(progress.loss_curve)
    restarts = _Restarts(progress, theta, state, order, max_restarts, warn)

    epoch = 1
    while epoch <= max_iter:
        start_time = time.perf_counter()
        learning_rate = float(schedule.rate(progress.n_seen))
        restarts.begin_epoch()
        if shuffle:
            # scikit-learn composes order[permutation]; shuffling order in place
            # makes the same swaps from the same draws, without two new arrays.
            rng.shuffle(order)

        loss, norm, diverged = _epoch(
            objective, theta, grad, data, progress, learning_rate, max_grad_norm
        )
        if diverged is None:
            exploded = loss > DIVERGENCE_FACTOR * max(progress.reference_loss, 1.0)
            # The epoch's last step may overflow weights after its loss was taken.
            if exploded or not np.isfinite(theta).all():
                diverged = loss
        if diverged is not None:
            restarts.after_divergence(n_epochs + 1, diverged, learning_rate, start_time)
            continue

        restarts.end_epoch(loss)
        n_iter += 1
        n_epochs += 1
        progress.n_seen += n_samples
        schedule.end_epoch()
        if averager is not None:
            averager.after_epoch(theta)
        if norm is None:
            # Without clipping, the norm of the epoch's last gradient.
            norm = _gradient_norm(grad)
        entry = record(n_epochs, loss, learning_rate, norm, start_time)
        weights = theta if averager is None else averager.weights(theta)
        stop = run_hooks(hooks, entry, weights, state)
        entry["seconds"] = time.perf_counter() - start_time
        progress.history.append(entry)
        if stop or incremental:
            break
        if epoch == max_iter:
            hit_max_iter = True
        epoch += 1

    progress.live_theta = None
    if averager is not None:
        progress.live_theta = theta.copy()
        theta = averager.weights(theta).copy()
    message = next((h.message for h in hooks if getattr(h, "message", "")), "")
    loss_curve = progress.loss_curve
    return TrainResult(
        theta, n_iter, loss_curve[-1] if loss_curve else np.nan, hit_max_iter, message
    )


def train_lbfgs(
    objective, theta, X, Y, sample_weight, *, progress, max_iter, max_fun, tol,
    hooks=(),
):  # fmt: skip
    """Minimise the full-batch objective with scipy's L-BFGS-B.

    The loss and gradient handed to scipy are exactly consistent (for several
    outputs too). After each iteration the ``hooks`` are called as in
    ``train_minibatch``, with the iteration as ``epoch``, and the record is
    added to ``progress.history``; a hook returning True ends the
    minimisation. Returns a
    ``TrainResult`` whose ``loss`` is the final objective.
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
        entry = record(len(curve), curve[-1], None, _gradient_norm(grad), clock[0])
        x = intermediate_result.x
        stop = run_hooks(hooks, entry, x.astype(dtype, copy=False), None)
        now = time.perf_counter()
        entry["seconds"], clock[0] = now - clock[0], now
        progress.history.append(entry)
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
    return TrainResult(theta, int(result.nit), float(result.fun), False, message)


# A stored history: one array per record entry. Entries a record may lack
# (None: no validation, no learning rate for L-BFGS) are NaN in the arrays.
HISTORY_COLUMNS = {
    "epoch": np.int64,
    "loss": np.float64,
    "validation_loss": np.float64,
    "validation_score": np.float64,
    "learning_rate": np.float64,
    "gradient_norm": np.float64,
    "seconds": np.float64,
    "restart": np.bool_,
}


_OPTIONAL_ENTRIES = (
    "validation_loss",
    "validation_score",
    "learning_rate",
    "gradient_norm",
)


def history_columns(records):
    """The records of a history as one array per entry."""
    return {
        key: np.array(
            [np.nan if r[key] is None else r[key] for r in records], dtype=dtype
        )
        for key, dtype in HISTORY_COLUMNS.items()
    }


def history_records(columns):
    """The records stored by ``history_columns``, NaN entries as None."""
    lists = {key: columns[key].tolist() for key in HISTORY_COLUMNS}
    rows = zip(*lists.values(), strict=True)
    records = [dict(zip(lists, values, strict=True)) for values in rows]
    for r in records:
        for key in _OPTIONAL_ENTRIES:
            if r[key] != r[key]:
                r[key] = None
    return records
