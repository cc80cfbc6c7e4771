"""Affine layers with RealMLP's scalings: a learnable front scaling, NTK.

Two options of RealMLP (Holzmüller et al., 2024) change how an affine layer
maps its input, not what it can represent:

- a learnable scale per input feature in front of the first layer,
  ``x_j s_j`` with ``s`` starting at 1, trained at its own learning rate;
- the NTK parametrisation: the weights start from N(0, 1) and the layer
  multiplies its product by ``1 / sqrt(fan_in)``, so a weight's step moves
  the output by the same amount whatever the width; the biases start from
  N(0, 1) too and train at ``NTK_BIAS_RATE`` times the learning rate.

Both are folded into one effective weight matrix per batch,
``W_eff = diag(s) W c`` with ``c = 1 / sqrt(fan_in)`` (or 1), so the layer
costs one product of ``fan_in x fan_out`` entries per batch more than a
plain affine layer, and none per row; a sparse input stays sparse.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math

import numpy as np
from scipy.special import ndtri

from skann._core.layers import Affine, _product

# RealMLP's learning-rate factor of the biases under the NTK parametrisation.
NTK_BIAS_RATE = 0.1

PARAMETRIZATIONS = ("standard", "ntk")


def ntk_factor(fan_in, parametrization):
    """The factor ``c`` an affine layer multiplies its product ``A W`` by."""
    return 1.0 / math.sqrt(fan_in) if parametrization == "ntk" else 1.0


def standard_normal(rng, shape):
    """N(0, 1) draws from the uniform draws ``rng.uniform`` would take.

    The inverse normal CDF of ``rng.random_sample(shape)``: as many draws
    from the stream as the Glorot-uniform initialisation takes, so what
    follows the initialisation (the early-stopping split, the batch order)
    is the same under either parametrisation. Half a unit of the draws'
    last place keeps them inside (0, 1), so the values are finite
    (``|z| < 8.3``).
    """
    return ndtri(rng.random_sample(shape) + 2.0**-54)


class ScaledAffine(Affine):
    """``Z = (A diag(s)) W c + b``: an affine layer with the scalings above.

    ``front`` adds the per-feature scales ``s`` (trainable, not penalised,
    the fitted ``front_scales_``); ``factor`` is ``c``. W is penalised by L2
    as stored, so under NTK the penalty on the effective weights ``W c`` is
    ``fan_in`` times stronger than ``alpha`` says.
    """

    param_names = ("coefs", "intercepts", "front_scales")

    def __init__(self, layout, index, fan_in, fan_out, init_gain, factor=1.0,
                 front=False, train_bias=True):  # fmt: skip
        super().__init__(layout, index, fan_in, fan_out, init_gain, train_bias)
        self.factor = float(factor)
        self.s = layout.slot((fan_in,), "extra") if front else None
        if front:
            self.params = {**self.params, "front_scales": self.s}

    def compile(self, ctx):
        n, first, training = ctx.n, ctx.first, ctx.training
        W, b = self.W.view(ctx.theta), self.b.view(ctx.theta)
        s = None if self.s is None else self.s.view(ctx.theta)[:, np.newaxis]
        c = self.factor
        out = ctx.workspace.array(("affine", self.index), n, self.fan_out)
        # Rebuilt at every forward pass: the optimizer updates W and s in place.
        W_eff = np.empty_like(W)
        sparse_input = first and ctx.sparse
        gemm, gemm_in = self._gemm(ctx, first, sparse_input)
        held = [None]

        def effective():
            if s is None:
                np.multiply(W, c, out=W_eff)
            else:
                np.multiply(W, s, out=W_eff)
                if c != 1.0:
                    np.multiply(W_eff, c, out=W_eff)
            return W_eff

        def forward(A):
            We = effective()
            if sparse_input:
                out[...] = A @ We
            else:
                _product(A, We, out, gemm)
            np.add(out, b, out=out)
            if training:
                held[0] = A
            return out

        if not training:
            return forward, None
        dW, db = self.W.view(ctx.grad), self.b.view(ctx.grad)
        ds = None if s is None else self.s.view(ctx.grad)
        ones = ctx.ones
        delta_in = None if first else ctx.delta(self.index, self.fan_in)
        train_bias = self.train_bias
        if not train_bias:
            db.fill(0)

        def backward(delta):
            A = held[0]
            # d objective / d W_eff first, in dW's memory; then the chain rule
            # through W_eff = diag(s) W c for W and s.
            if sparse_input:
                dW[...] = A.T @ delta
            else:
                np.dot(A.T, delta, out=dW)
            if s is not None:
                np.einsum("jk,jk->j", dW, W, out=ds)
                if c != 1.0:
                    np.multiply(ds, c, out=ds)
                np.multiply(dW, s, out=dW)
            if c != 1.0:
                np.multiply(dW, c, out=dW)
            if train_bias:
                np.dot(ones, delta, out=db)
            if first:
                return None
            # A rank-1 GEMM for one output too (see Affine).
            return _product(delta, W_eff.T, delta_in, gemm_in)

        return forward, backward
