"""Layers of a one-pass ensemble: k members that share their weight matrices.

TabM's parameter-efficient ensemble (Gorishniy et al., 2024, after
BatchEnsemble, Wen et al., 2020): every hidden affine layer keeps one weight
matrix ``W`` for all ``k`` members, and member ``j`` has its own input
scaling ``r_j``, output scaling ``s_j`` and bias ``b_j``,

    z_j = ((a_j * r_j) W) * s_j + b_j,

followed by its own output layer. The members are an array axis: from the
first affine layer on, a batch of ``n`` rows is ``k * n`` rows, member-major
(rows ``j * n`` to ``j * n + n - 1`` are member ``j``'s), so each layer is
one stacked matrix product over all members, never a Python loop. In the
``'mini'`` style only the first layer has member scalings (``r_j``); the
hidden layers after it and the first layer's bias are shared.

At prediction the last layer, ``EnsembleMean``, turns the members' raw
outputs into the raw output of their mean prediction; in training the
network's output is the members' raw outputs and the loss is the mean of the
members' losses (``MemberLoss``).
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from skann._core._math import log1pexp, logsumexp


class EnsembleLinear:
    """An affine layer of an ensemble: ``z_j = a_j V_j + b_j`` for each member ``j``.

    Rows are member-major: the layer's ``k * n`` rows are ``k`` blocks of
    ``n``, block ``j`` member ``j``'s, so the layer is one stacked matrix
    product of contiguous blocks. Member ``j``'s matrix ``V_j`` is either its
    own (``own_weights``: the output layers) or the shared ``W`` with the
    member's input and output scalings folded in, ``r_j[:, None] * W *
    s_j[None, :]``, which equals scaling the activations and the products
    but touches ``k * fan_in * fan_out`` numbers instead of ``k * n`` rows.
    With ``shared_input`` (the first layer) the input is the ``n`` rows
    themselves, the same for every member, and is never copied ``k`` times.
    The biases are the members' own (``member_biases``) or one shared vector.
    """

    row_separable = True
    param_names = (
        "coefs",
        "intercepts",
        "ensemble_input_scales",
        "ensemble_output_scales",
    )
    state_names = ()

    def __init__(self, layout, index, fan_in, fan_out, init_gain, k, *,
                 own_weights=False, input_scales=True, output_scales=True,
                 member_biases=True, shared_input=False):  # fmt: skip
        self.index, self.fan_in, self.fan_out = index, fan_in, fan_out
        self.init_gain, self.k, self.shared_input = init_gain, k, shared_input
        self.W = layout.slot((k, fan_in, fan_out) if own_weights else (fan_in, fan_out),
                             "weights")  # fmt: skip
        self.b = layout.slot((k, fan_out) if member_biases else (fan_out,), "biases")
        self.params = {"coefs": self.W, "intercepts": self.b}
        self.r = self.s = None
        if input_scales:
            self.r = layout.slot((k, fan_in), "extra")
            self.params["ensemble_input_scales"] = self.r
        if output_scales:
            self.s = layout.slot((k, fan_out), "extra")
            self.params["ensemble_output_scales"] = self.s
        self.own_weights = own_weights
        self.states = {}

    def init(self, rng, theta):
        """TabM's start: random signs in the first layer's input scalings, else 1."""
        if self.r is not None:
            r = self.r.view(theta)
            if self.shared_input:
                r[...] = 2.0 * rng.randint(0, 2, r.shape) - 1.0
            else:
                r.fill(1)
        if self.s is not None:
            self.s.view(theta).fill(1)

    def _views(self, flat):
        return tuple(
            None if slot is None else slot.view(flat)
            for slot in (self.W, self.b, self.r, self.s)
        )

    def compile(self, ctx):
        k, fan_in, fan_out = self.k, self.fan_in, self.fan_out
        shared = self.shared_input
        n = ctx.n if shared else ctx.n // k
        first, training, sparse = ctx.first, ctx.training, ctx.first and ctx.sparse
        W, b, r, s = self._views(ctx.theta)
        folded = not self.own_weights
        shape = (k, fan_in, fan_out)
        # The members' matrices: the layer's own, or the shared one folded.
        # A training plan folds into its thread's work arrays once per batch,
        # however many row blocks the batch is run in, and the plans of those
        # blocks read and accumulate the same arrays.
        if not folded:
            V = W
        elif training:
            V = ctx.workspace.scratch(("folded", self.index), shape)
        else:
            V = np.empty(shape, ctx.dtype)
        bias = b[:, np.newaxis, :] if b.ndim == 2 else b
        delta_in = None
        if training and not first:
            delta_in = ctx.delta(self.index, fan_in)
        ctx.n = k * n
        out = ctx.workspace.array(("affine", self.index), k * n, fan_out)
        out3 = out.reshape(k, n, fan_out)
        held = [None]

        def fold():
            np.multiply(W, 1.0 if r is None else r[:, :, np.newaxis], out=V)
            if s is not None:
                np.multiply(V, s[:, np.newaxis, :], out=V)

        def forward(A):
            if sparse:
                # A sparse product has no stacked form: side by side, then
                # member-major.
                wide = A @ V.transpose(1, 0, 2).reshape(fan_in, k * fan_out)
                out3[...] = np.asarray(wide).reshape(n, k, fan_out).transpose(1, 0, 2)
            else:
                np.matmul(A if shared else A.reshape(k, n, fan_in), V, out=out3)
            np.add(out3, bias, out=out3)
            if training:
                held[0] = A
            return out

        if not training:
            if folded:
                # The weights of a prediction plan do not change: fold them once.
                fold()
            return forward, None
        dW, db, _, _ = self._views(ctx.grad)
        if folded:
            dV, fresh, work = self._hook_folding(ctx, fold, shape)
        else:
            dV, fresh, work = dW, (True,), None

        def backward(delta):
            A = held[0]
            delta3 = delta.reshape(k, n, fan_out)
            np.add.reduce(delta3, axis=1 if b.ndim == 2 else (0, 1), out=db)
            # A later block of the batch adds its gradient of V to the others'.
            into = dV if fresh[0] else work
            if sparse:
                wide = A.T @ delta3.transpose(1, 0, 2).reshape(n, k * fan_out)
                into[...] = (
                    np.asarray(wide).reshape(fan_in, k, fan_out).transpose(1, 0, 2)
                )
            elif shared:
                np.matmul(A.T, delta3, out=into)
            else:
                np.matmul(A.reshape(k, n, fan_in).transpose(0, 2, 1), delta3, out=into)
            if folded:
                if fresh[0]:
                    fresh[0] = False
                else:
                    np.add(dV, work, out=dV)
            if first:
                return None
            if shared:
                # Every member read the same rows: their gradients add up.
                products = np.matmul(delta3, V.transpose(0, 2, 1))
                return np.add.reduce(products, axis=0, out=delta_in)
            delta_in3 = delta_in.reshape(k, n, fan_in)
            np.matmul(delta3, V.transpose(0, 2, 1), out=delta_in3)
            return delta_in

        return forward, backward

    def _hook_folding(self, ctx, fold, shape):
        """Fold at the start of a training batch and unfold at its end.

        Returns the batch's gradient of the folded matrices, summed over its
        row blocks, the flag that says no block has written it yet, and the
        scratch a later block writes its part into.
        """
        dV = ctx.workspace.scratch(("folded grad", self.index), shape)
        fresh = ctx.workspace.scratch(("folded fresh", self.index), (1,), bool)
        work = ctx.workspace.scratch(("folded work", self.index), shape)
        W, _, r, s = self._views(ctx.theta)
        dW, _, dr, ds = self._views(ctx.grad)

        def begin():
            fold()
            fresh[0] = True

        def end():
            self._unfold(dV, W, r, s, dW, dr, ds, work)

        ctx.begins.append(begin)
        ctx.ends.append(end)
        return dV, fresh, work

    @staticmethod
    def _unfold(dV, W, r, s, dW, dr, ds, work):
        """The gradients of ``W``, ``r`` and ``s`` from that of ``V = r W s``.

        Member scalings come as ``r`` alone (the first layer of the 'mini'
        style) or as ``r`` and ``s``.
        """
        # d r_j = sum_o dV_j * W * s_j; d s_j = sum_i dV_j * W * r_j.
        np.multiply(dV, W, out=work)
        if s is None:
            np.add.reduce(work, axis=2, out=dr)
        else:
            np.matmul(work, s[:, :, np.newaxis], out=dr[:, :, np.newaxis])
            np.matmul(r[:, np.newaxis, :], work, out=ds[:, np.newaxis, :])
        # d W = sum_j r_j[:, None] * dV_j * s_j[None, :].
        np.multiply(dV, r[:, :, np.newaxis], out=work)
        if s is not None:
            np.multiply(work, s[:, np.newaxis, :], out=work)
        np.add.reduce(work, axis=0, out=dW)


def _mean_identity(members):
    return members.mean(axis=0)


def _mean_exp(members):
    # The log of the mean of e^r: the raw output of the mean prediction.
    return logsumexp(members, axis=0) - np.log(members.shape[0])


def _mean_softmax(members):
    # Log of the mean of the members' class probabilities, from their log
    # probabilities; softmax of it is that mean.
    log_proba = members - logsumexp(members, axis=2, keepdims=True)
    return logsumexp(log_proba, axis=0) - np.log(members.shape[0])


def _mean_logistic(members):
    # The logit of the mean probability, from log p = -log(1 + e^-r) and
    # log(1 - p) = -log(1 + e^r), without overflow.
    log_k = np.log(members.shape[0])
    log_p = logsumexp(-log1pexp(-members), axis=0) - log_k
    log_q = logsumexp(-log1pexp(members), axis=0) - log_k
    return log_p - log_q


# The output activation of the loss -> the raw output of the members' mean
# prediction, from the members' raw outputs of shape (k, n, n_outputs).
MEANS = {
    "identity": _mean_identity,
    "exp": _mean_exp,
    "softmax": _mean_softmax,
    "logistic": _mean_logistic,
}


class EnsembleMean:
    """At prediction, the raw output of the members' mean prediction.

    The mean is taken in the space of predictions: of the outputs for an
    identity link, of ``e^r`` for Poisson, of the class probabilities for
    a classifier. In training it passes the members' rows through; when the
    members' own outputs are asked for, it puts each row's members in
    consecutive rows (row ``i * k + j`` for member ``j``).
    """

    row_separable = True
    param_names = state_names = ()
    params = states = {}

    def __init__(self, k, out_activation):
        self.k, self.out_activation = k, out_activation

    def compile(self, ctx):
        k = self.k
        n = ctx.n // k
        if ctx.training:
            return (lambda A: A), None
        ctx.n = n
        if ctx.members:

            def by_row(A):
                width = A.shape[1]
                return A.reshape(k, n, width).transpose(1, 0, 2).reshape(n * k, width)

            return by_row, None
        mean = MEANS[self.out_activation]

        def forward(A):
            return mean(A.reshape(k, n, A.shape[1])).astype(A.dtype, copy=False)

        return forward, None


class MemberLoss:
    """The mean over members of each member's loss, for ``n * k`` output rows.

    Member ``j``'s output for row ``i`` (output row ``j * n + i``) is
    scored against row ``i``'s target with row ``i``'s weight. ``total`` is
    that of the ``n`` rows; the members' losses are divided by
    ``k * total``, so the value is the mean of the members' mean losses,
    and the L2 penalty, divided by ``total``, keeps its meaning.
    """

    def __init__(self, loss, k):
        self.loss, self.k = loss, k

    def value_and_delta(self, Y, raw, sample_weight=None, total=None):
        k = self.k
        if total is None:
            total = Y.shape[0] if sample_weight is None else np.sum(sample_weight)
        Y = np.tile(Y, (k, 1))
        if sample_weight is not None:
            sample_weight = np.tile(sample_weight, k)
        return self.loss.value_and_delta(Y, raw, sample_weight, k * total)
