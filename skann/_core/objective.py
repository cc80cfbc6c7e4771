"""The training objective: mean loss plus L2 penalty, on row groups and threads."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from skann._core.ensemble import MemberLoss
from skann._core.layers import Workspace

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
# An ensemble's group does its members' many small per-layer calls as well
# as the products counted in the work; per member against a single network,
# a (50, 30, 20, 10, 5) tanh network on batches of 200 rows ran 8 members
# (4.6 million per batch) at 1.08-1.11 in two groups and 0.92-0.97 in one,
# 12 members level, 16 members (9.3 million) at 0.75-0.80 in two groups
# and 0.84-0.88 in one.
_MIN_WORK_PER_ENSEMBLE_GROUP = 4_000_000
_MAX_GROUPS = 2
# Nor fewer rows than this per group: below it the GEMMs lose efficiency and
# adding up the groups' gradients costs more than the split saves (minibatches
# of 256 rows through a (256, 256) network ran 15% slower in four groups of
# 64 rows than in two of 128).
_MIN_ROWS_PER_GROUP = 128
# Rows of an ensemble's cache-sized block, at least (see Objective._step).
# Measured per member against a single network on W3 and W4 (k = 8 / 32):
# 64 rows 0.90/0.91 and 0.85/0.96, 128 rows 0.91/0.87 and 0.79/0.92,
# 256 rows 0.92/0.97 and 0.82/0.91, 512 rows 0.92/1.13 and 0.85/0.98.
_MIN_ROWS_PER_BLOCK = 128

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

# NumPy runs a broadcasting ufunc (a layer's bias added to every row, a
# softmax's row sums divided out) through a buffer of np.getbufsize()
# elements, 8192 by default: 64 KiB in float64, more than a core's L1 cache.
# Buffers of 2048 elements added a bias to 200 x 128 rows in 7.6 us against
# 10.0 us, to 256 x 256 in 16.1 against 24.4 us, and cut the memory each
# such call allocates from 64 to 16 KiB. Results are the same.
_UFUNC_BUFFER = 2048


@contextmanager
def small_ufunc_buffers():
    """Run NumPy's buffered ufunc loops in buffers of ``_UFUNC_BUFFER`` elements.

    The size belongs to the calling thread's context: work run on another
    thread gets it through ``contextvars.copy_context().run``.
    """
    old = np.setbufsize(_UFUNC_BUFFER)
    try:
        yield
    finally:
        np.setbufsize(old)


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
        # An ensemble's output holds k rows per row of X: the members' losses.
        k = network.spec.ensemble_size
        self._value_and_delta = (
            loss.value_and_delta if k == 1 else MemberLoss(loss, k).value_and_delta
        )
        self.state, self.rng = state, rng
        self._plans = {}
        self._last = None
        self._workspaces = {}
        self._group_grads = []
        self._part_grads = {}
        self._pool = None

    @contextmanager
    def threads(self):
        """Train with one BLAS thread per Python thread (and small ufunc buffers).

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
        with single_threaded_blas() as n_threads, small_ufunc_buffers():
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
            or workspace.capacity < n * self.network.spec.ensemble_size
            or workspace.dtype != theta.dtype
        ):
            workspace = Workspace(
                n * self.network.spec.ensemble_size, theta.dtype, self.network.max_width
            )
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
        # An ensemble's layers hold k rows per row, so its blocks have k
        # times fewer rows, but no fewer than _MIN_ROWS_PER_BLOCK: a member's
        # matrix products lose efficiency on fewer rows.
        k = self.network.spec.ensemble_size
        rows = max(256, _CACHE_BYTES // (self.network.max_width * itemsize))
        return rows if k == 1 else max(_MIN_ROWS_PER_BLOCK, rows // k)

    def _rows(self, theta, X, Y, sample_weight, total, grad):
        """Loss of rows X (normalised by ``total``) and its gradient into grad."""
        n = X.shape[0]
        step = self._step(theta.dtype.itemsize) if self.network.row_separable else n
        if self.network.spec.ensemble_size > 1 and n > step:
            # As many blocks as whole steps fit, of equal rows: no short
            # last block paying a member's pass for a few rows.
            blocks = n // step
            step = -(-n // blocks)
        if n <= step:
            plan = self._plan(theta, X, grad)
            raw = plan.forward(X, sample_weight)
            value, delta = self._value_and_delta(Y, raw, sample_weight, total)
            plan.backward(delta)
            return value
        # Sub-blocks small enough that a layer's activations, deltas and
        # scratch stay in the core's cache between the passes over them.
        # Every part is normalised by ``total``, so gradients add up; what a
        # plan accumulates over the blocks itself (an ensemble's gradient of
        # its folded matrices) the first block's plan writes at the end.
        thread = threading.get_ident()
        part = self._part_grads.get(thread)
        if part is None or part.shape != grad.shape or part.dtype != grad.dtype:
            # Zeros: slots a block's plan leaves to the end are never written.
            part = self._part_grads[thread] = np.zeros_like(grad)
        value = 0.0
        for start in range(0, n, step):
            rows = slice(start, min(start + step, n))
            sw = None if sample_weight is None else sample_weight[rows]
            out = grad if start == 0 else part
            plan = self._plan(theta, X[rows], out)
            if start == 0:
                first = plan
            raw = plan.forward(X[rows], sw, begin=start == 0)
            block_value, delta = self._value_and_delta(Y[rows], raw, sw, total)
            plan.backward(delta, end=False)
            value += block_value
            if start:
                grad += part
        first.end()
        return value

    def _pool_holds(self, n, dtype):
        """Whether a pool thread holds work arrays for ``n`` rows of ``dtype``."""
        if self._pool is None:
            return False
        rows = n * self.network.spec.ensemble_size
        caller = threading.get_ident()
        return any(
            thread != caller and space.capacity >= rows and space.dtype == dtype
            for thread, space in self._workspaces.items()
        )

    def _groups(self, n):
        if not self.network.row_separable:
            return None
        work = n * self.network.work_per_row
        k = self.network.spec.ensemble_size
        n_groups = min(
            _MAX_GROUPS,
            work // (_MIN_WORK_PER_GROUP if k == 1 else _MIN_WORK_PER_ENSEMBLE_GROUP),
            n * k // _MIN_ROWS_PER_GROUP,
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
            value, delta = self._value_and_delta(Y, raw, sample_weight, total)
            plan.backward(delta)
            return self._penalised(value, theta, grad, total)
        groups = self._groups(n)
        if groups is None and self._pool_holds(n, theta.dtype):
            # A short last batch of a network whose batches run on the
            # pool's threads: it runs there too, in work arrays they hold,
            # not in a third set of the calling thread's (0.65 MiB more at
            # the peak of a (256, 256) network on batches of 256 rows).
            future = self._pool.submit(
                contextvars.copy_context().run,
                self._rows, theta, X, Y, sample_weight, total, grad,
            )  # fmt: skip
            value = future.result()
        elif groups is None:
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
                # Each thread runs in a copy of the caller's context (its
                # ufunc buffer size).
                futures = [
                    self._pool.submit(contextvars.copy_context().run, self._rows, *a)
                    for a in args
                ]
                values = [future.result() for future in futures]
            # Summed in group order, whichever thread computed what.
            value = 0.0
            for part in values:
                value += part
            for out in outs[1:]:
                grad += out
        return self._penalised(value, theta, grad, total)

    def penalty(self, theta, total):
        """The L2 term ``(alpha / 2) ||W||^2 / total`` at ``theta``."""
        if not self.alpha:
            return 0.0
        W = self.network.weights(theta)
        return 0.5 * (self.alpha / total) * float(np.dot(W, W))

    def _penalised(self, value, theta, grad, total):
        """Add the L2 penalty to the value and to the gradient in ``grad``."""
        if self.alpha:
            # d/dW of (alpha / 2) ||W||^2 / total, on all weight matrices at once.
            grad_W = self.network.weights(grad)
            grad_W += (self.alpha / total) * self.network.weights(theta)
            value += self.penalty(theta, total)
        return value
