"""Training loops: minibatch first-order solvers and L-BFGS."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from skann._core.network import Buffers, backward, forward

# An epoch whose loss exceeds this multiple of the loss at the initial weights
# (or of 1, if that is smaller) counts as diverged: weights have exploded even
# if the loss is still finite.
DIVERGENCE_FACTOR = 1e6


# A row block gets its own thread only with at least this many multiply-adds
# per forward pass; below it, thread hand-off costs more than it saves.
_MIN_WORK_PER_THREAD = 2_000_000

# Bytes of one layer's activations in a row sub-block: with its deltas and
# scratch this stays within a core's L2 cache between passes.
_CACHE_BYTES = 1 << 19

# Inspecting the loaded BLAS libraries is slow, so it is done once.
_BLAS = ThreadpoolController()


class TrainingDiverged(ValueError):
    """Training stopped because its loss became non-finite or exploded.

    Raised by ``fit`` and ``partial_fit`` when a batch loss is not finite,
    an epoch's loss exceeds a million times the loss at the initial weights
    (or a million, if that is larger), or a weight overflows. A fresh fit that
    diverges leaves the estimator unfitted; a continued one (``warm_start``,
    ``partial_fit``) keeps the state it continued from.

    Parameters
    ----------
    epoch : int
        The epoch (the iteration, for ``'lbfgs'``) at which training stopped.
    loss : float
        The loss that stopped it.
    step : {'epoch', 'iteration'}, default='epoch'
        What ``epoch`` counts; chooses the advice in the message.
    """

    def __init__(self, epoch, loss, step="epoch"):
        self.epoch, self.loss = epoch, loss
        advice = (
            "Lower `learning_rate`, scale the inputs (for example with "
            "StandardScaler) or use a smaller network."
            if step == "epoch"
            else "Scale the inputs and the targets (for example with StandardScaler)."
        )
        self.step = step
        super().__init__(
            f"Training diverged at {step} {epoch}: the loss became {loss:.6g}. {advice}"
        )

    def __reduce__(self):
        # Rebuilt from its fields, so the error survives joblib's worker processes.
        return type(self), (self.epoch, self.loss, self.step)


@dataclass
class Progress:
    """Everything a later ``partial_fit`` or warm start continues from."""

    optimizer: object
    loss_curve: list = field(default_factory=list)
    validation_scores: list | None = None
    best_loss: float | None = np.inf
    best_validation_score: float | None = None
    best_theta: np.ndarray | None = None
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

    Holds the layout, activation, loss and reusable buffers, so the hot loop
    is ``value = objective(theta, X, Y, sw, grad)``. Inside ``threads()``
    large batches are split into row blocks that run on parallel threads.
    """

    def __init__(self, layout, activation, loss, alpha):
        self.layout, self.activation, self.loss, self.alpha = (
            layout, activation, loss, alpha,
        )  # fmt: skip
        self._buffers = {}
        self._views = {}
        self._scratch = []
        self._part_grads = {}
        self._pool, self._n_threads = None, 1
        # Multiply-adds of one forward pass per row, to decide when to split.
        sizes = layout.layer_sizes
        self._widest = max(sizes[1:])
        self._work_per_row = sum(a * b for a, b in pairwise(sizes))

    @contextmanager
    def threads(self, n_threads=None):
        """Train with one BLAS thread per Python thread, ``n_threads`` of them.

        ``n_threads`` defaults to the number of threads BLAS would use now, so
        a caller that limited BLAS (joblib workers do) gets no extra threads.

        A GEMM is already multi-threaded by BLAS, but the elementwise passes
        between GEMMs run on one core. Giving each core its own block of rows,
        with a single-threaded BLAS, keeps both busy (measured 1.2-1.5x per
        epoch on 10000-row full batches on 2 cores), and small batches avoid
        BLAS's thread start-up cost altogether.
        """
        if n_threads is None:
            blas = [
                lib["num_threads"] for lib in _BLAS.info() if lib["user_api"] == "blas"
            ]
            n_threads = max(blas, default=1)
        with _BLAS.limit(limits=1, user_api="blas"):
            if n_threads > 1:
                self._pool = ThreadPoolExecutor(n_threads)
                self._n_threads = n_threads
            try:
                yield self
            finally:
                if self._pool is not None:
                    self._pool.shutdown()
                self._pool = None

    def _unpack(self, flat):
        # Training updates theta and grad in place, so their per-layer views
        # are made once per array instead of once per batch.
        cached = self._views.get(id(flat))
        if cached is None or cached[0] is not flat:
            cached = (flat, self.layout.unpack(flat))
            self._views[id(flat)] = cached
        return cached[1]

    def _blocks(self, n):
        if self._pool is None or n * self._work_per_row < 2 * _MIN_WORK_PER_THREAD:
            return [slice(0, n)]
        n_blocks = min(self._n_threads, n * self._work_per_row // _MIN_WORK_PER_THREAD)
        bounds = np.linspace(0, n, n_blocks + 1).astype(int)
        return [slice(a, b) for a, b in pairwise(bounds)]

    def _unpenalised(self, theta, X, Y, sample_weight, total, grad, slot):
        """Loss of rows X (normalised by ``total``) and its gradient into grad."""
        n = X.shape[0]
        step = max(256, _CACHE_BYTES // (self._widest * theta.dtype.itemsize))
        if n > step:
            # Sub-blocks small enough that a layer's activations, deltas and
            # scratch stay in the core's cache between the passes over them.
            # Every part is normalised by ``total``, so gradients add up.
            part = self._part_grads.get(slot)
            if part is None:
                part = self._part_grads[slot] = np.empty_like(grad)
            value = 0.0
            for start in range(0, n, step):
                rows = slice(start, min(start + step, n))
                sw = None if sample_weight is None else sample_weight[rows]
                out = grad if start == 0 else part
                value += self._unpenalised(
                    theta, X[rows], Y[rows], sw, total, out, slot
                )
                if start:
                    grad += part
            return value
        buffers = self._buffers.get(slot)
        if buffers is None or buffers.n_samples < n:
            buffers = Buffers(
                self.layout.layer_sizes, n, theta.dtype, self.activation.scratch_dtype
            )
            self._buffers[slot] = buffers
        buffers = buffers.rows(n)
        params = self._unpack(theta)
        raw, inputs = forward(params, X, self.activation, buffers)
        value, delta = self.loss.value_and_delta(Y, raw, sample_weight, total)
        backward(
            params, inputs, delta, self.activation, 0.0, self._unpack(grad), buffers
        )
        return value

    def __call__(self, theta, X, Y, sample_weight, grad):
        """Return the objective at ``theta`` and write its gradient into ``grad``."""
        n = X.shape[0]
        total = n if sample_weight is None else float(np.sum(sample_weight))
        blocks = self._blocks(n)
        if len(blocks) == 1:
            value = self._unpenalised(theta, X, Y, sample_weight, total, grad, 0)
        else:
            while len(self._scratch) < len(blocks) - 1:
                self._scratch.append(np.empty_like(grad))
            outs = [grad, *self._scratch[: len(blocks) - 1]]
            futures = [
                self._pool.submit(
                    self._unpenalised,
                    theta,
                    X[block],
                    Y[block],
                    None if sample_weight is None else sample_weight[block],
                    total,
                    out,
                    slot,
                )
                for slot, (block, out) in enumerate(zip(blocks, outs, strict=True))
            ]
            value = sum(future.result() for future in futures)
            for out in outs[1:]:
                grad += out
        if self.alpha:
            # d/dW of (alpha / 2) ||W||^2 / total, on all weight matrices at once.
            l2 = self.alpha / total
            W = self.layout.weights(theta)
            grad_W = self.layout.weights(grad)
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


def train_minibatch(
    objective, theta, X, Y, sample_weight, *, progress, batch_size, max_iter,
    shuffle, rng, tol, n_iter_no_change, validation_score=None, incremental=False,
    log=None,
):  # fmt: skip
    """Run epochs of a first-order optimizer over minibatches.

    ``theta`` is updated in place. ``validation_score(theta)``, if given,
    turns on early stopping on that score (higher is better) and keeps the
    best weights in ``progress.best_theta``. The stopping rule, the schedule
    hooks and the order in which ``rng`` is used are scikit-learn's, so the
    same seed visits the same batches. Raises ``TrainingDiverged`` as soon as
    a batch loss is non-finite or an epoch loss explodes.
    """
    n_samples = X.shape[0]
    optimizer = progress.optimizer
    grad = np.empty_like(theta)
    # Row numbers as int32 halve the memory of the batch order.
    order = np.arange(n_samples, dtype=np.int32 if n_samples < 2**31 else np.intp)
    gather = shuffle and batch_size < n_samples
    if gather:
        gather_batch = _Gather(X, Y, sample_weight, batch_size)
    n_iter, hit_max_iter, message = 0, False, ""

    for epoch in range(1, max_iter + 1):
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
        if log is not None:
            log(f"Iteration {len(progress.loss_curve)}, loss = {loss:.8f}")

        _update_no_improvement(progress, theta, tol, validation_score, log)
        optimizer.end_epoch(progress.n_seen)

        if progress.no_improvement_count > n_iter_no_change:
            what = "Validation score" if validation_score else "Training loss"
            message = (
                f"{what} did not improve more than tol={tol:f} for "
                f"{n_iter_no_change} consecutive epochs."
            )
            if optimizer.on_plateau():
                if log is not None:
                    log(message + " Stopping.")
                break
            if log is not None:
                log(message + f" Setting learning rate to {optimizer.learning_rate:f}")
            progress.no_improvement_count = 0
        if incremental:
            break
        if epoch == max_iter:
            hit_max_iter = True

    return TrainResult(
        theta,
        n_iter,
        progress.loss_curve[-1],
        hit_max_iter,
        progress.loss_curve,
        message,
    )


def _update_no_improvement(progress, theta, tol, validation_score, log):
    if validation_score is not None:
        score = validation_score(theta)
        progress.validation_scores.append(score)
        if log is not None:
            log(f"Validation score: {score:f}")
        if score < progress.best_validation_score + tol:
            progress.no_improvement_count += 1
        else:
            progress.no_improvement_count = 0
        if score > progress.best_validation_score:
            progress.best_validation_score = score
            progress.best_theta = theta.copy()
    else:
        loss = progress.loss_curve[-1]
        if loss > progress.best_loss - tol:
            progress.no_improvement_count += 1
        else:
            progress.no_improvement_count = 0
        progress.best_loss = min(progress.best_loss, loss)


def train_lbfgs(
    objective, theta, X, Y, sample_weight, *, max_iter, max_fun, tol, log=None
):
    """Minimise the full-batch objective with scipy's L-BFGS-B.

    The loss and gradient handed to scipy are exactly consistent (for several
    outputs too). Returns a ``TrainResult`` whose ``loss`` is the final
    objective and whose ``loss_curve`` holds the objective after each
    iteration.
    """
    dtype = theta.dtype
    work = np.empty_like(theta)
    grad = np.empty_like(theta)
    curve = []

    def fun(flat):
        work[...] = flat
        value = objective(work, X, Y, sample_weight, grad)
        if not np.isfinite(value):
            # scipy's line search backs off from an infinite value.
            return np.inf, np.zeros(flat.shape)
        return value, grad.astype(np.float64)

    def callback(intermediate_result):
        curve.append(float(intermediate_result.fun))
        if log is not None:
            log(f"Iteration {len(curve)}, loss = {curve[-1]:.8f}")

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
