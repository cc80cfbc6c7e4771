"""Layers of a one-pass ensemble: k members that share their weight matrices.

TabM's parameter-efficient ensemble (Gorishniy et al., 2024, after
BatchEnsemble, Wen et al., 2020): every hidden affine layer keeps one weight
matrix ``W`` for all ``k`` members, and member ``j`` has its own input
scaling ``r_j``, output scaling ``s_j`` and bias ``b_j``,

    z_j = ((a_j * r_j) W) * s_j + b_j,

followed by its own output layer. The members are an array axis: from the
first affine layer on, a batch of ``n`` rows is ``n * k`` rows, row
``i * k + j`` holding member ``j``'s view of row ``i``, so each layer is one
matrix product over all members, never a loop. In the ``'mini'`` style only
the first layer has member scalings (``r_j``); the hidden layers after it and
the first layer's bias are shared.

At prediction the last layer, ``EnsembleMean``, turns the members' raw
outputs into the raw output of their mean prediction; in training the
network's output is the members' raw outputs and the loss is the mean of the
members' losses (``MemberLoss``).
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy.special import logsumexp

from skann._core._math import log1pexp

_SCALED_NAMES = (
    "coefs",
    "intercepts",
    "ensemble_input_scales",
    "ensemble_output_scales",
)


class EnsembleInput:
    """The first affine layer of an ensemble: ``n`` rows in, ``n * k`` rows out.

    Member ``j``'s product ``(x * r_j) W`` is ``x (r_j W)`` with the input
    scaling folded into the matrix, so the input is never copied ``k`` times:
    one product of ``x`` with the ``k`` folded matrices side by side gives
    every member's rows, and a sparse input stays sparse. With
    ``member_outputs=False`` (the ``'mini'`` style) there is no output
    scaling and one shared bias.
    """

    row_separable = True
    param_names, state_names = _SCALED_NAMES, ()

    def __init__(self, layout, index, fan_in, fan_out, init_gain, k, member_outputs):
        self.index, self.fan_in, self.fan_out = index, fan_in, fan_out
        self.init_gain, self.k, self.member_outputs = init_gain, k, member_outputs
        self.W = layout.slot((fan_in, fan_out), "weights")
        self.b = layout.slot((k, fan_out) if member_outputs else (fan_out,), "biases")
        self.r = layout.slot((k, fan_in), "extra")
        self.params = {
            "coefs": self.W,
            "intercepts": self.b,
            "ensemble_input_scales": self.r,
        }
        self.s = None
        if member_outputs:
            self.s = layout.slot((k, fan_out), "extra")
            self.params["ensemble_output_scales"] = self.s
        self.states = {}

    def init(self, rng, theta):
        # TabM's start: random signs in the first layer make the members differ.
        self.r.view(theta)[...] = 2.0 * rng.randint(0, 2, self.r.shape) - 1.0
        if self.s is not None:
            self.s.view(theta).fill(1)

    def compile(self, ctx):
        n, k, fan_in, fan_out = ctx.n, self.k, self.fan_in, self.fan_out
        first, training, sparse = ctx.first, ctx.training, ctx.first and ctx.sparse
        W, b, r = self.W.view(ctx.theta), self.b.view(ctx.theta), self.r.view(ctx.theta)
        s = None if self.s is None else self.s.view(ctx.theta)
        ws = ctx.workspace
        # The folded matrices (fan_in, k, fan_out): column block j is r_j W.
        # Weight-sized, not batch-sized: outside the workspace.
        folded = np.empty((fan_in, k * fan_out), ctx.dtype)
        folded3 = folded.reshape(fan_in, k, fan_out)
        products = ws.array(("ensemble_products", self.index), n, k * fan_out)
        out = ws.array(("affine", self.index), n * k, fan_out)
        out3 = out.reshape(n, k, fan_out)
        products3 = products.reshape(n, k, fan_out)
        bias = b if s is not None else b[np.newaxis]
        held = [None]
        delta_in = None if first or not training else ctx.delta(self.index, fan_in)
        ctx.n = n * k

        def fold():
            np.multiply(r.T[:, :, np.newaxis], W[:, np.newaxis, :], out=folded3)

        if not training:
            # The weights of a prediction plan do not change: fold them once.
            fold()

        def forward(A):
            if training:
                fold()
            if sparse:
                products[...] = A @ folded
            else:
                np.dot(A, folded, out=products)
            if s is None:
                np.add(products3, bias, out=out3)
            else:
                np.multiply(products3, s, out=out3)
                np.add(out3, bias, out=out3)
            if training:
                held[0] = A
            return out

        if not training:
            return forward, None
        dW, db, dr = self.W.view(ctx.grad), self.b.view(ctx.grad), self.r.view(ctx.grad)
        ds = None if s is None else self.s.view(ctx.grad)
        d_products = ws.array(("ensemble_d_products", self.index), n, k * fan_out)
        d_products3 = d_products.reshape(n, k, fan_out)
        d_folded = np.empty((fan_in, k * fan_out), ctx.dtype)
        d_folded3 = d_folded.reshape(fan_in, k, fan_out)

        def backward(delta):
            A = held[0]
            delta3 = delta.reshape(n, k, fan_out)
            if s is None:
                np.add.reduce(delta3, axis=(0, 1), out=db)
                d_products3[...] = delta3
            else:
                np.add.reduce(delta3, axis=0, out=db)
                np.einsum("nko,nko->ko", delta3, products3, out=ds)
                np.multiply(delta3, s, out=d_products3)
            if sparse:
                d_folded[...] = A.T @ d_products
            else:
                np.dot(A.T, d_products, out=d_folded)
            # folded[:, j] = r_j[:, None] * W: the chain rule through the fold.
            np.einsum("ik,iko->io", r.T, d_folded3, out=dW)
            np.einsum("iko,io->ki", d_folded3, W, out=dr)
            if first:
                return None
            return np.dot(d_products, folded.T, out=delta_in)

        return forward, backward


class EnsembleAffine:
    """A hidden affine layer after the first: ``((a * r_j) W) * s_j + b_j``."""

    row_separable = True
    param_names, state_names = _SCALED_NAMES, ()

    def __init__(self, layout, index, fan_in, fan_out, init_gain, k):
        self.index, self.fan_in, self.fan_out = index, fan_in, fan_out
        self.init_gain, self.k = init_gain, k
        self.W = layout.slot((fan_in, fan_out), "weights")
        self.b = layout.slot((k, fan_out), "biases")
        self.r = layout.slot((k, fan_in), "extra")
        self.s = layout.slot((k, fan_out), "extra")
        self.params = {
            "coefs": self.W,
            "intercepts": self.b,
            "ensemble_input_scales": self.r,
            "ensemble_output_scales": self.s,
        }
        self.states = {}

    def init(self, rng, theta):
        self.r.view(theta).fill(1)
        self.s.view(theta).fill(1)

    def compile(self, ctx):
        rows, k, fan_in, fan_out = ctx.n, self.k, self.fan_in, self.fan_out
        n, training = rows // k, ctx.training
        W, b = self.W.view(ctx.theta), self.b.view(ctx.theta)
        r, s = self.r.view(ctx.theta), self.s.view(ctx.theta)
        ws = ctx.workspace
        scaled = ws.array(("ensemble_scaled", self.index), rows, fan_in)
        scaled3 = scaled.reshape(n, k, fan_in)
        products = ws.array(("ensemble_products", self.index), rows, fan_out)
        products3 = products.reshape(n, k, fan_out)
        out = ws.array(("affine", self.index), rows, fan_out)
        out3 = out.reshape(n, k, fan_out)
        held = [None]

        def forward(A):
            np.multiply(A.reshape(n, k, fan_in), r, out=scaled3)
            np.dot(scaled, W, out=products)
            np.multiply(products3, s, out=out3)
            np.add(out3, b, out=out3)
            if training:
                held[0] = A
            return out

        if not training:
            return forward, None
        dW, db = self.W.view(ctx.grad), self.b.view(ctx.grad)
        dr, ds = self.r.view(ctx.grad), self.s.view(ctx.grad)
        d_products = ws.array(("ensemble_d_products", self.index), rows, fan_out)
        d_products3 = d_products.reshape(n, k, fan_out)
        delta_in = ctx.delta(self.index, fan_in)
        delta_in3 = delta_in.reshape(n, k, fan_in)

        def backward(delta):
            delta3 = delta.reshape(n, k, fan_out)
            np.add.reduce(delta3, axis=0, out=db)
            np.einsum("nko,nko->ko", delta3, products3, out=ds)
            np.multiply(delta3, s, out=d_products3)
            np.dot(scaled.T, d_products, out=dW)
            # d scaled, then through the scaling: d r and d A.
            np.dot(d_products, W.T, out=delta_in)
            np.einsum("nki,nki->ki", delta_in3, held[0].reshape(n, k, fan_in), out=dr)
            np.multiply(delta_in3, r, out=delta_in3)
            return delta_in

        return forward, backward


class EnsembleHead:
    """The members' own output layers: ``z_j = a_j W_j + b_j``."""

    row_separable = True
    param_names, state_names = ("coefs", "intercepts"), ()

    def __init__(self, layout, index, fan_in, fan_out, init_gain, k):
        self.index, self.fan_in, self.fan_out = index, fan_in, fan_out
        self.init_gain, self.k = init_gain, k
        self.W = layout.slot((k, fan_in, fan_out), "weights")
        self.b = layout.slot((k, fan_out), "biases")
        self.params = {"coefs": self.W, "intercepts": self.b}
        self.states = {}

    def compile(self, ctx):
        rows, k, fan_in, fan_out = ctx.n, self.k, self.fan_in, self.fan_out
        n, training = rows // k, ctx.training
        W, b = self.W.view(ctx.theta), self.b.view(ctx.theta)
        ws = ctx.workspace
        # Member-major products (k, n, fan_out), then rows back in row order.
        by_member = ws.array(("ensemble_by_member", self.index), k * n, fan_out)
        by_member3 = by_member.reshape(k, n, fan_out)
        out = ws.array(("affine", self.index), rows, fan_out)
        out3 = out.reshape(n, k, fan_out)
        held = [None]

        def forward(A):
            A3 = A.reshape(n, k, fan_in)
            np.matmul(A3.transpose(1, 0, 2), W, out=by_member3)
            np.add(by_member3.transpose(1, 0, 2), b, out=out3)
            if training:
                held[0] = A3
            return out

        if not training:
            return forward, None
        dW, db = self.W.view(ctx.grad), self.b.view(ctx.grad)
        d_by_member = ws.array(("ensemble_d_by_member", self.index), k * n, fan_in)
        d_by_member3 = d_by_member.reshape(k, n, fan_in)
        delta_in = ctx.delta(self.index, fan_in)
        delta_in3 = delta_in.reshape(n, k, fan_in)

        def backward(delta):
            delta_t = delta.reshape(n, k, fan_out).transpose(1, 0, 2)
            np.add.reduce(delta_t, axis=1, out=db)
            np.matmul(held[0].transpose(1, 2, 0), delta_t, out=dW)
            np.matmul(delta_t, W.transpose(0, 2, 1), out=d_by_member3)
            delta_in3[...] = d_by_member3.transpose(1, 0, 2)
            return delta_in

        return forward, backward


def _mean_identity(members):
    return members.mean(axis=1)


def _mean_exp(members):
    # The log of the mean of e^r: the raw output of the mean prediction.
    return logsumexp(members, axis=1) - np.log(members.shape[1])


def _mean_softmax(members):
    # Log of the mean of the members' class probabilities, from their log
    # probabilities; softmax of it is that mean.
    log_proba = members - logsumexp(members, axis=2, keepdims=True)
    return logsumexp(log_proba, axis=1) - np.log(members.shape[1])


def _mean_logistic(members):
    # The logit of the mean probability, from log p = -log(1 + e^-r) and
    # log(1 - p) = -log(1 + e^r), without overflow.
    log_k = np.log(members.shape[1])
    log_p = logsumexp(-log1pexp(-members), axis=1) - log_k
    log_q = logsumexp(-log1pexp(members), axis=1) - log_k
    return log_p - log_q


# The output activation of the loss -> the raw output of the members' mean
# prediction, from the members' raw outputs of shape (n, k, n_outputs).
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
    a classifier. In training, and when the members' own outputs are asked
    for, it passes the ``n * k`` rows through.
    """

    row_separable = True
    param_names = state_names = ()
    params = states = {}

    def __init__(self, k, out_activation):
        self.k, self.out_activation = k, out_activation

    def compile(self, ctx):
        rows, k = ctx.n, self.k
        if ctx.training or ctx.members:
            return (lambda A: A), None
        mean = MEANS[self.out_activation]
        ctx.n = rows // k

        def forward(A):
            members = A.reshape(rows // k, k, A.shape[1])
            return mean(members).astype(A.dtype, copy=False)

        return forward, None


class MemberLoss:
    """The mean over members of each member's loss, for ``n * k`` output rows.

    Member ``j`` of row ``i`` is scored against row ``i``'s target with row
    ``i``'s weight. ``total`` is that of the ``n`` rows; the members' losses
    are divided by ``k * total``, so the value is the mean of the members'
    mean losses, and the L2 penalty, divided by ``total``, keeps its meaning.
    """

    def __init__(self, loss, k):
        self.loss, self.k = loss, k

    def value_and_delta(self, Y, raw, sample_weight=None, total=None):
        k = self.k
        if total is None:
            total = Y.shape[0] if sample_weight is None else np.sum(sample_weight)
        Y = np.repeat(Y, k, axis=0)
        if sample_weight is not None:
            sample_weight = np.repeat(sample_weight, k)
        return self.loss.value_and_delta(Y, raw, sample_weight, k * total)
