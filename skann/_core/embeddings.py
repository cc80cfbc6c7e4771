"""Embeddings of numerical features: each input feature becomes a vector.

Both embeddings turn the ``p`` input features of a row into ``p`` vectors of
``d`` entries (``p * d`` columns, feature by feature) that feed the first
hidden layer, after Gorishniy, Rubachev and Babenko (2022), "On Embeddings
for Numerical Features in Tabular Deep Learning". Each feature ``j`` is first
expanded into ``m`` numbers ``e_j(x_j)``, then mapped by its own affine map
and a ReLU: ``relu(e_j(x_j) W_j + b_j)``, with ``W_j`` of shape (m, d).

- ``PeriodicEmbedding`` (the paper's PLR): ``e_j(x) = [cos(2 pi c_j x),
  sin(2 pi c_j x)]`` with ``k`` trained frequencies ``c_j`` per feature, so
  ``m = 2 k``.
- ``PiecewiseLinearEmbedding`` (the paper's PLE followed by the same map):
  ``e_j(x)`` has one entry per bin of the feature's bin edges
  ``b_0 <= ... <= b_B`` (state, set from the training rows, never trained):
  ``(x - b_{t-1}) / (b_t - b_{t-1})`` clipped to ``[0, 1]``, except that the
  first bin is not clipped below and the last not above, so that values
  beyond the training range extrapolate linearly. A bin of zero width (tied
  quantiles, a constant feature) has entry 0 for every value.

Every computation runs over all features at once: the arrays of a batch are
laid out feature-first, ``(p, n, m)``, so the per-feature maps are one
stacked matrix product. The maps' weights ``W`` are penalised by L2 like any
affine layer's weights; their biases and the frequencies are not (the
frequencies' scale is set by their initialisation, which a penalty would
pull towards constant features).
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy.special import ndtri

# The names of the options, as the estimators take them.
PERIODIC, PIECEWISE_LINEAR = "periodic", "piecewise_linear"
EMBEDDINGS = (PERIODIC, PIECEWISE_LINEAR)

# Glorot gain of the per-feature maps: that of the ReLU they feed.
_RELU_GAIN = 6.0


def _dense(A):
    """A batch as a dense array (a sparse batch is densified; rows stay few)."""
    return A.toarray() if hasattr(A, "toarray") else A


class _FeatureMaps:
    """The per-feature affine maps and ReLU shared by both embeddings.

    Declares ``W`` (p, m, d) among the weights and ``b`` (p, d) among the
    biases. ``_compile_maps`` returns the work array ``E`` (p, n, m), which
    a subclass's forward pass fills before calling the maps' forward, and
    the maps' backward.
    """

    row_separable = True

    def __init__(self, layout, n_features, width, dim):
        self.n_features, self.width, self.dim = n_features, width, dim
        self.W = layout.slot((n_features, width, dim), "weights")
        self.b = layout.slot((n_features, dim), "biases")

    @property
    def out_width(self):
        return self.n_features * self.dim

    def work_per_row(self):
        """Multiply-adds of one row's forward pass."""
        return self.n_features * self.width * self.dim

    def row_width(self):
        """Entries of one row's work arrays."""
        return self.n_features * (2 * self.width + 2 * self.dim)

    def init_draws(self):
        """Uniform draws of ``init_maps``."""
        return self.n_features * (self.width + 1) * self.dim

    def init_maps(self, rng, theta):
        """Glorot-uniform ``W`` then ``b``, per feature, as for an affine layer."""
        p, m, d = self.n_features, self.width, self.dim
        bound = np.sqrt(_RELU_GAIN / (m + d))
        self.W.view(theta)[...] = rng.uniform(-bound, bound, (p, m, d))
        self.b.view(theta)[...] = rng.uniform(-bound, bound, (p, d))

    def _compile_maps(self, ctx):
        """Work arrays and the map's forward and backward over them."""
        p, m, d, n = self.n_features, self.width, self.dim, ctx.n
        space, training = ctx.workspace, ctx.training
        W, b = self.W.view(ctx.theta), self.b.view(ctx.theta)
        E = space.array(("embedding_input", 0), n, p * m).reshape(p, n, m)
        Z = space.array(("embedding_hidden", 0), n, p * d).reshape(p, n, d)
        out = space.array(("embedding_output", 0), n, p * d)
        # The output row by row: feature j's d entries at columns j d to j d + d.
        out_by_feature = out.reshape(n, p, d).transpose(1, 0, 2)

        def forward():
            np.matmul(E, W, out=Z)
            np.add(Z, b[:, np.newaxis, :], out=Z)
            np.maximum(Z, 0, out=out_by_feature)
            return out

        if not training:
            return E, forward, None
        dW, db = self.W.view(ctx.grad), self.b.view(ctx.grad)
        dZ = space.array(("embedding_delta", 0), n, p * d).reshape(p, n, d)

        def backward(delta):
            """The gradients of ``W`` and ``b`` from the delta of the output.

            Returns the delta of the pre-activations ``Z``, (p, n, d).
            """
            # ReLU's derivative: the delta where the unit is active.
            np.multiply(delta.reshape(n, p, d).transpose(1, 0, 2), Z > 0, out=dZ)
            np.matmul(E.transpose(0, 2, 1), dZ, out=dW)
            np.sum(dZ, axis=1, out=db)
            return dZ

        return E, forward, backward


class PeriodicEmbedding(_FeatureMaps):
    """``relu([cos(2 pi c x), sin(2 pi c x)] W + b)`` per feature (PLR).

    ``k`` frequencies per feature, trained and not penalised, start from
    ``N(0, scale^2)``; they are drawn after every other weight of the
    network, as inverse normal CDFs of uniform draws, so the draws the
    initialisation takes are a fixed number (``init_draws``).
    """

    param_names = ("embedding_frequencies", "embedding_coefs", "embedding_intercepts")
    state_names = ()

    def __init__(self, layout, n_features, n_frequencies, dim, scale):
        super().__init__(layout, n_features, 2 * n_frequencies, dim)
        self.k, self.scale = n_frequencies, scale
        self.c = layout.slot((n_features, n_frequencies), "extra")
        self.params = dict(zip(self.param_names, (self.c, self.W, self.b), strict=True))
        self.states = {}

    def init_draws(self):
        return super().init_draws() + self.n_features * self.k

    def init(self, rng, theta, state):
        self.init_maps(rng, theta)
        # Uniform draws lie on [0, 1 - 2^-53] in steps of 2^-53: half a step
        # more makes them symmetric about 1/2 and keeps ndtri finite.
        u = rng.random_sample((self.n_features, self.k)) + 2.0**-54
        self.c.view(theta)[...] = self.scale * ndtri(u)

    def compile(self, ctx):
        p, k, n = self.n_features, self.k, ctx.n
        c = self.c.view(ctx.theta)
        E, map_forward, map_backward = self._compile_maps(ctx)
        cosines, sines = E[:, :, :k], E[:, :, k:]
        # The phases x (2 pi c), then their cosines and sines in place in E.
        V = ctx.workspace.array(("embedding_phases", 0), n, p * k).reshape(p, n, k)
        angular = np.empty((p, 1, k), ctx.dtype)
        held = [None]
        two_pi, training = 2 * np.pi, ctx.training

        def forward(A):
            X = _dense(A)
            np.multiply(c[:, np.newaxis, :], two_pi, out=angular)
            np.multiply(X.T[:, :, np.newaxis], angular, out=V)
            # In double precision NumPy computes cosines and sines one value
            # at a time (6 to 17 ns per value on the machine measured, by the
            # size of the phase); in single precision it vectorises them, 30
            # times faster: the main cost of this layer in double.
            np.cos(V, out=cosines)
            np.sin(V, out=sines)
            if training:
                held[0] = X
            return map_forward()

        if map_backward is None:
            return forward, None
        dc = self.c.view(ctx.grad)
        W_T = self.W.view(ctx.theta).transpose(0, 2, 1)
        dE = ctx.workspace.array(("embedding_input_delta", 0), n, p * 2 * k)
        dE = dE.reshape(p, n, 2 * k)

        def backward(delta):
            dZ = map_backward(delta)
            # d/dV of cos V is -sin V, of sin V is cos V: the phases' delta
            # goes into V, whose values forward no longer needs.
            np.matmul(dZ, W_T, out=dE)
            np.multiply(dE[:, :, k:], cosines, out=dE[:, :, k:])
            np.multiply(dE[:, :, :k], sines, out=dE[:, :, :k])
            np.subtract(dE[:, :, k:], dE[:, :, :k], out=V)
            # dV / dc = 2 pi x, summed over the rows: per feature a (1, n)
            # by (n, k) product, twice as fast as the einsum.
            np.matmul(held[0].T[:, np.newaxis, :], V, out=dc[:, np.newaxis, :])
            np.multiply(dc, two_pi, out=dc)

        return forward, backward


class PiecewiseLinearEmbedding(_FeatureMaps):
    """``relu(ple(x) W + b)`` per feature, over ``bins`` bins of fixed edges.

    The edges (state, shape (p, bins + 1), sorted per feature) are set from
    the training rows by ``set_edges``; before that every bin has zero width.
    Only ``W`` and ``b`` are trained: the encoding of the input is fixed.
    """

    param_names = ("embedding_coefs", "embedding_intercepts")
    state_names = ("embedding_bin_edges",)

    def __init__(self, layout, state_layout, n_features, bins, dim):
        super().__init__(layout, n_features, bins, dim)
        self.bins = bins
        self.edges = state_layout.slot((n_features, bins + 1), "extra")
        self.params = dict(zip(self.param_names, (self.W, self.b), strict=True))
        self.states = {"embedding_bin_edges": self.edges}

    def init(self, rng, theta, state):
        self.init_maps(rng, theta)
        self.edges.view(state).fill(0)

    def compile(self, ctx):
        E, map_forward, map_backward = self._compile_maps(ctx)
        # The edges are fixed once the plan is compiled: state is set before
        # training and never changed by it.
        lower, inverse, low, high = (
            a[:, np.newaxis, :].astype(ctx.dtype, copy=False)
            for a in bin_encoding(self.edges.view(ctx.state))
        )

        def forward(A):
            X = _dense(A)
            np.subtract(X.T[:, :, np.newaxis], lower, out=E)
            np.multiply(E, inverse, out=E)
            np.maximum(E, low, out=E)
            np.minimum(E, high, out=E)
            return map_forward()

        if map_backward is None:
            return forward, None

        def backward(delta):
            map_backward(delta)

        return forward, backward


def bin_encoding(edges):
    """Per bin ``(lower edge, 1 / width, lower clip, upper clip)``, each (p, B).

    ``edges`` (p, B + 1) are sorted per feature. A bin of zero width has
    ``1 / width`` 0, so its entry is 0 for every value; the first bin of
    positive width is not clipped below, the last not above.
    """
    widths = np.diff(edges, axis=1)
    active = widths > 0
    inverse = np.divide(1.0, widths, out=np.zeros_like(widths), where=active)
    low = np.zeros_like(widths)
    high = np.ones_like(widths)
    features = np.flatnonzero(active.any(axis=1))
    first = np.argmax(active, axis=1)[features]
    last = widths.shape[1] - 1 - np.argmax(active[:, ::-1], axis=1)[features]
    low[features, first] = -np.inf
    high[features, last] = np.inf
    return edges[:, :-1], inverse, low, high


def quantile_edges(X, bins, sample_weight=None):
    """``bins + 1`` quantile edges of each column of ``X``: shape (p, bins + 1).

    The edge at level ``q`` is the smallest value of the column whose share
    of the total weight at or below it reaches ``q`` (the inverted empirical
    distribution function, so each edge is a value of the column), weighted
    by ``sample_weight``: unit weights give the edges without weights,
    integer weights those of repeated rows, and rows of weight zero do not
    count. The loop runs over the levels, each over all rows and columns.
    """
    X = _dense(X)
    n = X.shape[0]
    order = np.argsort(X, axis=0, kind="stable")
    values = np.take_along_axis(X, order, axis=0)
    if sample_weight is None:
        weights = np.ones((n, 1))
    else:
        weights = np.asarray(sample_weight, np.float64)[:, np.newaxis]
    cumulative = np.cumsum(
        np.take_along_axis(np.broadcast_to(weights, X.shape), order, axis=0),
        axis=0,
        dtype=np.float64,
    )
    total = cumulative[-1]
    # The rows of weight zero below the first of positive weight never count.
    floor = np.minimum(np.finfo(np.float64).tiny, total)
    edges = np.empty((X.shape[1], bins + 1), X.dtype)
    columns = np.arange(X.shape[1])
    for t, level in enumerate(np.linspace(0.0, 1.0, bins + 1)):
        target = np.maximum(level * total, floor)
        index = np.minimum(np.count_nonzero(cumulative < target, axis=0), n - 1)
        edges[:, t] = values[index, columns]
    return edges
