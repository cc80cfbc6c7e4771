"""The layers of a network and the flat vectors their parameters live in.

A layer declares its trainable arrays as slots of one flat parameter vector
(and its non-trained state, such as running statistics, as slots of a second
one), then compiles, for a batch of ``n`` rows, a forward and a backward
closure bound to views of those vectors and to reused work arrays. The hot
loop calls the closures and nothing else.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math

import numpy as np

# Order of the groups in the flat vector: scikit-learn's packed vector is all
# weight matrices, then all biases; parameters it does not have come last, so
# the L2 penalty is one slice and the Glorot draws keep their order.
GROUPS = ("weights", "biases", "extra")

# Exponential decay of batch normalisation's running statistics: each batch
# moves them a tenth of the way to its own statistics.
BATCH_NORM_MOMENTUM = 0.1
BATCH_NORM_EPSILON = 1e-5


class Slot:
    """An array of ``shape`` at ``[start, stop)`` of a flat vector."""

    __slots__ = ("group", "shape", "start", "stop")

    def __init__(self, shape, group):
        self.shape, self.group = tuple(shape), group
        self.start = self.stop = None

    def view(self, flat):
        """The slot's array as a view into ``flat``."""
        return flat[self.start : self.stop].reshape(self.shape)


class Layout:
    """Places the slots that layers declare into one flat vector."""

    def __init__(self):
        self.slots, self.size = [], 0
        self.weights_stop = 0

    def slot(self, shape, group):
        """Declare an array of ``shape`` in ``group`` (one of ``GROUPS``)."""
        slot = Slot(shape, group)
        self.slots.append(slot)
        return slot

    def finalize(self):
        offset = 0
        for group in GROUPS:
            for slot in self.slots:
                if slot.group == group:
                    slot.start = offset
                    offset += math.prod(slot.shape)
                    slot.stop = offset
            if group == "weights":
                self.weights_stop = offset
        self.size = offset


class Workspace:
    """Work arrays for batches of up to ``capacity`` rows, reused across batches.

    Writing into memory that is already mapped matters: on a 10000-row batch
    ``1 - A * A`` into fresh arrays took 2.4 ms, into a reused array 0.28 ms.
    ``array(key, n, width)`` cuts the block named ``key`` to ``n`` rows, so a
    shorter last batch needs no memory of its own. Layers that only need an
    array for a moment (deltas, derivative scratch) share blocks by key; a
    shared block holds ``max_width`` columns, the widest any layer asks for.
    """

    def __init__(self, capacity, dtype, max_width=1):
        self.capacity, self.dtype = capacity, np.dtype(dtype)
        self.max_width = max_width
        self._blocks = {}

    def array(self, key, n, width, dtype=None, shared=False):
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        size = self.capacity * (max(width, self.max_width) if shared else width)
        block = self._blocks.get((key, dtype))
        if block is None or block.size < size:
            block = np.empty(size, dtype)
            self._blocks[key, dtype] = block
        return block[: n * width].reshape(n, width)

    def scratch(self, key, shape, dtype=None):
        """An array of this exact shape, named ``key``, whatever the capacity."""
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        array = self._blocks.get((key, dtype))
        if array is None or array.shape != tuple(shape):
            array = self._blocks[key, dtype] = np.empty(shape, dtype)
        return array


class Context:
    """What a layer compiles against: one batch size, one mode, one set of arrays.

    ``theta`` and ``state`` are the flat parameter and state vectors, ``grad``
    the flat gradient (None at prediction); the compiled closures hold views
    of them, so the vectors must be updated in place. ``rng`` draws dropout
    masks. ``sparse`` says whether the network's input is a sparse matrix.
    """

    def __init__(self, n, training, theta, grad, state, workspace, rng, sparse):
        self.n, self.training = n, training
        self.theta, self.grad, self.state = theta, grad, state
        self.workspace, self.rng, self.sparse = workspace, rng, sparse
        self.dtype = theta.dtype
        self.first = True
        # Whether an ensemble's members' own outputs are asked for, not their mean.
        self.members = False
        # Arrays layers hand each other outside the chain of forward passes
        # (the retrieval context, the hidden layer the gate reads), by name.
        self.shared = {}
        self._ones = None
        # The current batch's sample weights (None without), set per call.
        self.sample_weight = [None]
        # Work a layer does once per batch however many row blocks it is run
        # in: before the first block's forward pass, after the last block's
        # backward pass (an ensemble folds and unfolds its members' matrices).
        self.begins, self.ends = [], []

    @property
    def ones(self):
        """A vector of ``n`` ones: column sums as a GEMV."""
        # An ensemble's layers see k times the rows of the layers before them.
        if self._ones is None or self._ones.shape[0] != self.n:
            self._ones = self.workspace.array("ones", self.n, 1)[:, 0]
            self._ones.fill(1)
        return self._ones

    def delta(self, index, width):
        """A delta array: consecutive affine layers alternate two blocks."""
        return self.workspace.array(("delta", index % 2), self.n, width, shared=True)


# Bytes of a training product's output from which np.matmul beats np.dot:
# below, its call overhead costs more than np.dot's zero fill. With one BLAS
# thread, np.dot against np.matmul into 200 x 20 float64 entries took 3.6
# against 3.9 us, into 100 x 64 (50 KiB) 10.3 against 10.1, into 200 x 64
# 20.3 against 18.7, into 128 x 256 249 against 243; in float32 the cross
# lies between 32 and 50 KiB as well.
_MIN_MATMUL_BYTES = 48 << 10


def _worth_matmul(n, width, dtype):
    """Whether a training product of ``n`` rows into ``width`` takes np.matmul."""
    return n * width * dtype.itemsize >= _MIN_MATMUL_BYTES


def _product(A, B, out, gemm):
    """``out = A B``, by np.matmul where ``gemm`` allows and BLAS takes ``A`` as
    it is (contiguous, aligned, of B's dtype), else by np.dot.
    """
    if gemm and A.dtype == B.dtype and A.flags.c_contiguous and A.flags.aligned:
        return np.matmul(A, B, out=out)
    return np.dot(A, B, out=out)


class Affine:
    """``Z = A W + b``: W is penalised by L2, b is not.

    With ``train_bias=False`` the bias keeps its initial value: before batch
    normalisation its gradient is zero in exact arithmetic, and Adam would
    only amplify the rounding noise of float32 into steps.
    """

    row_separable = True
    # Trainable arrays and state, by the name of their fitted attribute.
    param_names = ("coefs", "intercepts")
    state_names = ()

    def __init__(self, layout, index, fan_in, fan_out, init_gain, train_bias=True):
        self.index, self.fan_in, self.fan_out = index, fan_in, fan_out
        self.init_gain, self.train_bias = init_gain, train_bias
        self.W = layout.slot((fan_in, fan_out), "weights")
        self.b = layout.slot((fan_out,), "biases")
        self.params, self.states = {"coefs": self.W, "intercepts": self.b}, {}

    def compile(self, ctx):
        n, first, training = ctx.n, ctx.first, ctx.training
        W, b = self.W.view(ctx.theta), self.b.view(ctx.theta)
        out = ctx.workspace.array(("affine", self.index), n, self.fan_out)
        sparse_input = first and ctx.sparse
        held = [None]

        # np.dot calls the same BLAS routines as np.matmul with less overhead:
        # 0.8 against 1.7 us for one row through a 50 x 30 layer. But np.dot
        # zero-fills its output before a matrix-matrix product, a pass over
        # memory that np.matmul skips: the layers of a (64, 64) network on
        # 1000 to 10000 rows took 1.1-1.2 times as long with one BLAS thread,
        # 1.2-2 times with two. For matrices on both sides (and a contiguous,
        # aligned input of W's dtype) np.matmul calls the same GEMM with the
        # same arguments, so prediction takes it there, and training where
        # the output is large enough (see _MIN_MATMUL_BYTES); elsewhere
        # (vectors, strided or mixed-dtype input) np.dot stays.
        gemm, gemm_in = self._gemm(ctx, first, sparse_input)

        def forward(A):
            if sparse_input:
                out[...] = A @ W
            else:
                _product(A, W, out, gemm)
            np.add(out, b, out=out)
            if training:
                held[0] = A
            return out

        if not training:
            return forward, None
        dW, db = self.W.view(ctx.grad), self.b.view(ctx.grad)
        ones = ctx.ones
        delta_in = None if first else ctx.delta(self.index, self.fan_in)
        one_row = n == 1
        train_bias = self.train_bias
        if not train_bias:
            db.fill(0)

        def backward(delta):
            A = held[0]
            if sparse_input:
                dW[...] = A.T @ delta
            else:
                np.dot(A.T, delta, out=dW)
            if train_bias and one_row:
                # Per-sample SGD: the bias gradient is the delta itself.
                db[...] = delta
            elif train_bias:
                # Column sums as a GEMV with a ones vector: 3-4x faster than
                # np.add.reduce(delta, axis=0) from 200 to 10000 rows.
                np.dot(ones, delta, out=db)
            if first:
                return None
            # With one output too: a rank-1 GEMM gives the same products as a
            # broadcast multiply, which NumPy 2 runs buffered (200 rows into 10
            # units: 0.9 us against 3.3 us, and a 32 KiB buffer).
            return _product(delta, W.T, delta_in, gemm_in)

        return forward, backward

    def _gemm(self, ctx, first, sparse_input):
        """Whether the forward product, and the delta for the layer below, may
        take np.matmul (see ``_product``): matrices on both sides, and in
        training an output of at least ``_MIN_MATMUL_BYTES``.
        """
        n, training = ctx.n, ctx.training
        matrices = not sparse_input and min(n, self.fan_in, self.fan_out) > 1
        forward = matrices and (
            not training or _worth_matmul(n, self.fan_out, ctx.dtype)
        )
        below = (
            training and not first and matrices
            and _worth_matmul(n, self.fan_in, ctx.dtype)
        )  # fmt: skip
        return forward, below


class ActivationLayer:
    """``A = f(Z)``, in place on ``Z`` where the derivative needs only ``A``."""

    row_separable = True
    param_names = state_names = ()
    params = states = {}

    def __init__(self, activation, index, width):
        self.activation, self.index, self.width = activation, index, width

    def compile(self, ctx):
        act, training = self.activation, ctx.training
        keep_input = training and act.needs_input
        out = (
            ctx.workspace.array(("activation", self.index), ctx.n, self.width)
            if keep_input
            else None
        )
        held = [None, None]
        f = act.forward

        def forward(Z):
            A = f(Z, Z if out is None else out)
            if training:
                held[0], held[1] = (Z if keep_input else None), A
            return A

        if not training:
            return forward, None
        scratch = ctx.workspace.array(
            "scratch", ctx.n, self.width, act.scratch_dtype, shared=True
        )
        derivative = act.derivative

        def backward(delta):
            return derivative(held[0], held[1], delta, scratch)

        return forward, backward


class Dropout:
    """Inverted dropout: in training, zero each unit with probability ``rate``
    and scale the survivors by ``1 / (1 - rate)``; the identity at prediction.
    """

    # The mask is drawn once per batch, not per row block.
    row_separable = False
    param_names = state_names = ()
    params = states = {}

    def __init__(self, rate, index, width):
        self.rate, self.index, self.width = rate, index, width

    def compile(self, ctx):
        if not ctx.training:
            return (lambda A: A), None
        n, width = ctx.n, self.width
        keep = 1.0 - self.rate
        rng = ctx.rng
        mask = ctx.workspace.array(("dropout", self.index), n, width)
        out = ctx.workspace.array(("dropped", self.index), n, width)

        def forward(A):
            # Keep a unit when a uniform draw falls below 1 - rate: the draws
            # come from the fit's random stream, so a seeded fit repeats.
            np.less(rng.random_sample((n, width)), keep, out=mask)
            np.multiply(mask, 1.0 / keep, out=mask)
            return np.multiply(A, mask, out=out)

        def backward(delta):
            return np.multiply(delta, mask, out=delta)

        return forward, backward


class BatchNorm:
    """Batch normalisation of an affine layer's output, before its activation.

    Training normalises each unit by the batch's mean and (biased) variance,
    then scales by ``gamma`` and shifts by ``beta`` (trainable, not
    penalised), and moves the running mean and unbiased variance (state, not
    trained) by ``BATCH_NORM_MOMENTUM``. Prediction uses the running
    statistics, so it is row by row.
    """

    # Batch statistics couple the rows of a batch.
    row_separable = False
    param_names = ("batch_norm_scales", "batch_norm_offsets")
    state_names = ("batch_norm_means", "batch_norm_vars")

    def __init__(self, layout, state_layout, index, width):
        self.index, self.width = index, width
        self.gamma = layout.slot((width,), "extra")
        self.beta = layout.slot((width,), "extra")
        self.mean = state_layout.slot((width,), "extra")
        self.var = state_layout.slot((width,), "extra")
        self.params = {"batch_norm_scales": self.gamma, "batch_norm_offsets": self.beta}
        self.states = {"batch_norm_means": self.mean, "batch_norm_vars": self.var}

    def init(self, theta, state):
        self.gamma.view(theta).fill(1)
        self.beta.view(theta).fill(0)
        self.mean.view(state).fill(0)
        self.var.view(state).fill(1)

    def compile(self, ctx):
        n, width = ctx.n, self.width
        gamma, beta = self.gamma.view(ctx.theta), self.beta.view(ctx.theta)
        running_mean, running_var = self.mean.view(ctx.state), self.var.view(ctx.state)
        eps, momentum = BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM

        if not ctx.training:

            def predict(Z):
                scale = gamma / np.sqrt(running_var + eps)
                shift = beta - running_mean * scale
                Z *= scale
                Z += shift
                return Z

            return predict, None

        ones = ctx.ones
        xhat = ctx.workspace.array(("batch_norm", self.index), n, width)
        out = ctx.workspace.array(("normalised", self.index), n, width)
        dgamma, dbeta = self.gamma.view(ctx.grad), self.beta.view(ctx.grad)
        batch_weights = ctx.sample_weight
        held = [None, None]

        def forward(Z):
            # Statistics weighted by the rows' sample weights (1/n each without
            # weights), so integer weights equal repeated rows.
            w = batch_weights[0]
            if w is None:
                p, total = ones, float(n)
            else:
                total = float(np.sum(w))
                p = w
            mean = np.dot(p, Z) / total
            np.subtract(Z, mean, out=xhat)
            var = np.einsum("i,ij,ij->j", p, xhat, xhat) / total
            inv_std = 1.0 / np.sqrt(var + eps)
            np.multiply(xhat, inv_std, out=xhat)
            held[0], held[1] = inv_std, (None if w is None else w / total)
            # Running variance unbiased as if the weights counted rows.
            unbiased = total / (total - 1) if total > 1 else 1.0
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
            running_var[...] = (1 - momentum) * running_var + (
                momentum * unbiased
            ) * var
            np.multiply(xhat, gamma, out=out)
            return np.add(out, beta, out=out)

        def backward(delta):
            np.einsum("ij,ij->j", delta, xhat, out=dgamma)
            np.dot(ones, delta, out=dbeta)
            # With p_i the rows' shares of the weight (1 / n unweighted):
            # d xhat = delta gamma; d z = (d xhat - p (sum d xhat
            #   + xhat sum d xhat xhat)) / std.
            delta *= gamma
            sum_d = np.dot(ones, delta)
            sum_dx = np.einsum("ij,ij->j", delta, xhat)
            correction = np.multiply(xhat, sum_dx)
            correction += sum_d
            p = held[1]
            if p is None:
                correction *= 1.0 / n
            else:
                correction *= p[:, np.newaxis]
            delta -= correction
            delta *= held[0]
            return delta

        return forward, backward
