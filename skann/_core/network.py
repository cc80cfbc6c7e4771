"""The feed-forward network: a sequence of layers over one flat parameter vector."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from itertools import pairwise
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from skann._core.activations import ACTIVATIONS
from skann._core.layers import (
    ActivationLayer,
    Affine,
    BatchNorm,
    Context,
    ContextSplit,
    Dropout,
    Layout,
    RetrievalHead,
    Tap,
    Workspace,
)
from skann._core.scaled_affine import (
    NTK_BIAS_RATE,
    ScaledAffine,
    ntk_factor,
    standard_normal,
)

# Rows per chunk at prediction: the work arrays of one chunk take about this
# many bytes, whatever the number of rows predicted.
_PREDICT_CHUNK_BYTES = 32 << 20


class NetworkSpec(NamedTuple):
    """What a network is: fixed at fit, stored on the fitted model.

    ``layer_sizes`` runs from the number of inputs through the hidden layers
    to the number of outputs; ``activations`` and ``dropout`` hold one entry
    per hidden layer; ``init_gains`` one Glorot gain per affine layer.
    """

    layer_sizes: tuple
    activations: tuple
    dropout: tuple
    batch_norm: bool
    init_gains: tuple
    # Retrieval: neighbours given as context (0: none), and the link of
    # their vote to the raw output ('identity', 'log' or 'logit').
    n_neighbors: int = 0
    retrieval_link: str = "identity"
    # RealMLP's scalings (skann._core.scaled_affine): learnable scales of the
    # inputs, and 'standard' or 'ntk'.
    front_scaling: bool = False
    parametrization: str = "standard"

    @classmethod
    def build(
        cls, layer_sizes, activation, dropout=0.0, batch_norm=False, n_neighbors=0,
        retrieval_link="identity", front_scaling=False, parametrization="standard",
    ):  # fmt: skip
        """A spec from an activation name (or one per hidden layer) and rates.

        The Glorot gain of each affine layer is that of the activation it
        feeds; the output layer takes the last hidden layer's, and a network
        without hidden layers that of a single ``activation`` name: the
        choices scikit-learn makes for one activation everywhere.
        """
        layer_sizes = tuple(int(n) for n in layer_sizes)
        n_hidden = len(layer_sizes) - 2
        names = (activation,) * n_hidden if isinstance(activation, str) else activation
        rates = (dropout,) * n_hidden if np.isscalar(dropout) else dropout
        names, rates = tuple(names), tuple(float(r) for r in rates)
        gains = [ACTIVATIONS[name].init_gain for name in names]
        if names:
            gains.append(gains[-1])
        else:
            gains.append(
                ACTIVATIONS[activation].init_gain
                if isinstance(activation, str)
                else 6.0
            )
        return cls(
            layer_sizes, names, rates, bool(batch_norm), tuple(gains),
            int(n_neighbors or 0), retrieval_link, bool(front_scaling),
            parametrization,
        )  # fmt: skip


# The layer types a network is built from: their trainable arrays and state
# are the fitted model's per-layer arrays, by name.
LAYER_TYPES = (Affine, BatchNorm, ActivationLayer, Dropout, RetrievalHead, ScaledAffine)
FITTED_ARRAYS = tuple(
    dict.fromkeys(
        name for kind in LAYER_TYPES for name in (*kind.param_names, *kind.state_names)
    )
)


class Network:
    """The layers a ``NetworkSpec`` describes and the layout of their arrays.

    Per hidden layer: affine, batch normalisation (if on), activation,
    dropout (if its rate is positive); then the output affine layer, whose
    output is the raw network output before the loss's link. A retrieving
    network (``n_neighbors``) takes its context after the features, splits
    it off first, and mixes the neighbours' vote into the output last.
    """

    def __init__(self, spec):
        self.spec = spec
        self.layout, self.state_layout = Layout(), Layout()
        self.layers, self.affines, self.batch_norms = [], [], []
        n_hidden = len(spec.layer_sizes) - 2
        if spec.n_neighbors:
            self.layers.append(ContextSplit(spec.layer_sizes[0]))
        for k, (fan_in, fan_out) in enumerate(pairwise(spec.layer_sizes)):
            normalised = spec.batch_norm and k < n_hidden
            front = spec.front_scaling and k == 0
            factor = ntk_factor(fan_in, spec.parametrization)
            if front or factor != 1.0:
                affine = ScaledAffine(
                    self.layout, k, fan_in, fan_out, spec.init_gains[k], factor,
                    front, train_bias=not normalised,
                )  # fmt: skip
            else:
                affine = Affine(
                    self.layout, k, fan_in, fan_out, spec.init_gains[k],
                    train_bias=not normalised,
                )  # fmt: skip
            if k == n_hidden and spec.n_neighbors:
                self.layers.append(Tap())
            self.layers.append(affine)
            self.affines.append(affine)
            if k == n_hidden:
                break
            if normalised:
                norm = BatchNorm(self.layout, self.state_layout, k, fan_out)
                self.layers.append(norm)
                self.batch_norms.append(norm)
            activation = ACTIVATIONS[spec.activations[k]]
            self.layers.append(ActivationLayer(activation, k, fan_out))
            if spec.dropout[k] > 0:
                self.layers.append(Dropout(spec.dropout[k], k, fan_out))
        self.retrieval = None
        if spec.n_neighbors:
            self.retrieval = RetrievalHead(
                self.layout, self.state_layout, spec.n_neighbors,
                spec.layer_sizes[-1], spec.layer_sizes[-2], spec.retrieval_link,
            )  # fmt: skip
            self.layers.append(self.retrieval)
        self.layout.finalize()
        self.state_layout.finalize()
        self.size, self.state_size = self.layout.size, self.state_layout.size
        self.row_separable = all(layer.row_separable for layer in self.layers)
        # Multiply-adds of one forward pass per row, to size row blocks.
        self.work_per_row = sum(a * b for a, b in pairwise(spec.layer_sizes))
        self.max_width = max(spec.layer_sizes[1:])

    def rate_factors(self, dtype, front_scaling_lr_factor):
        """Per-entry factors of the learning rate, or None when all are 1.

        Front scales train at ``front_scaling_lr_factor`` times the rate, the
        biases of an NTK network at ``NTK_BIAS_RATE`` times; every other
        entry at the rate itself.
        """
        factors = []
        if self.spec.parametrization == "ntk":
            factors += [(affine.b, NTK_BIAS_RATE) for affine in self.affines]
        if self.spec.front_scaling:
            factors.append((self.affines[0].s, float(front_scaling_lr_factor)))
        if all(factor == 1.0 for _, factor in factors):
            return None
        vector = np.ones(self.size, dtype)
        for slot, factor in factors:
            slot.view(vector)[...] = factor
        return vector

    def weights(self, theta):
        """The part of ``theta`` that holds weight matrices (for the L2 term)."""
        return theta[: self.layout.weights_stop]

    def _slots(self):
        """``(name, slot, in_state)`` of every layer's arrays, in layer order."""
        for layer in self.layers:
            for name, slot in layer.params.items():
                yield name, slot, False
            for name, slot in layer.states.items():
                yield name, slot, True

    def arrays(self, theta, state):
        """Every per-layer array by name, as lists of views in layer order.

        Names in ``FITTED_ARRAYS`` that no layer of this network has are absent.
        """
        arrays = {}
        for name, slot, in_state in self._slots():
            arrays.setdefault(name, []).append(slot.view(state if in_state else theta))
        return arrays

    def pack(self, arrays, dtype):
        """New parameter and state vectors holding ``arrays`` (as ``arrays`` gives)."""
        theta = np.empty(self.size, dtype)
        state = np.empty(self.state_size, dtype)
        position = dict.fromkeys(arrays, 0)
        for name, slot, in_state in self._slots():
            slot.view(state if in_state else theta)[...] = arrays[name][position[name]]
            position[name] += 1
        return theta, state

    def init(self, rng, dtype=np.float64, zero_output=False):
        """Glorot-uniform weights and biases, and fresh normalisation arrays.

        Draws ``W`` then ``b`` layer by layer from ``rng`` in float64, the
        order and precision scikit-learn uses, so the same seed gives the same
        network. Under the NTK parametrisation they are N(0, 1), from the
        same uniform draws; front scales start at 1. With ``zero_output`` the
        output layer's weights and biases are zero. Returns the flat
        parameter and state vectors.
        """
        theta = np.empty(self.size, dtype)
        state = np.empty(self.state_size, dtype)
        ntk = self.spec.parametrization == "ntk"
        for affine in self.affines:
            fan_in, fan_out = affine.fan_in, affine.fan_out
            if ntk:
                affine.W.view(theta)[...] = standard_normal(rng, (fan_in, fan_out))
                affine.b.view(theta)[...] = standard_normal(rng, fan_out)
                continue
            bound = np.sqrt(affine.init_gain / (fan_in + fan_out))
            affine.W.view(theta)[...] = rng.uniform(-bound, bound, (fan_in, fan_out))
            affine.b.view(theta)[...] = rng.uniform(-bound, bound, fan_out)
        if self.spec.front_scaling:
            self.affines[0].s.view(theta).fill(1)
        if zero_output:
            # Drawn, then zeroed: the stream after the initialisation (the
            # early-stopping split, the batch order, dropout masks) and every
            # other layer stay those of the default initialisation.
            output = self.affines[-1]
            output.W.view(theta)[...] = 0
            output.b.view(theta)[...] = 0
        for norm in self.batch_norms:
            norm.init(theta, state)
        if self.retrieval is not None:
            self.retrieval.init(theta, state)
        return theta, state

    def compile(self, n, training, theta, grad=None, state=None, workspace=None,
                rng=None, sparse=False):  # fmt: skip
        """A ``Plan`` for batches of ``n`` rows bound to these vectors."""
        if workspace is None:
            workspace = Workspace(n, theta.dtype, self.max_width)
        if state is None:
            state = np.empty(0, theta.dtype)
        ctx = Context(n, training, theta, grad, state, workspace, rng, sparse)
        forwards, backwards = [], []
        for layer in self.layers:
            forward, backward = layer.compile(ctx)
            forwards.append(forward)
            if backward is not None:
                backwards.append(backward)
            ctx.first = ctx.first and getattr(layer, "keeps_first", False)
        return Plan(forwards, backwards[::-1], ctx.sample_weight)

    def predict(self, theta, state, X, plans=None):
        """Raw output of shape (n_samples, n_outputs) in row chunks.

        Each chunk's work arrays take about ``_PREDICT_CHUNK_BYTES``, so the
        memory beyond the output is bounded whatever the number of rows.

        Parameters
        ----------
        theta, state : ndarray
            The flat parameter and state vectors.
        X : {ndarray, sparse matrix} of shape (n_samples, n_inputs)
            The network's input.
        plans : mapping, default=None
            Plans the caller keeps between calls for these ``theta`` and
            ``state``: the plan of a chunk, with its work arrays, is looked up
            with ``plans.get((rows, sparse, dtype))`` and, when missing,
            compiled and stored there as ``(plan, workspace, nbytes)``. The
            caller must not run two calls on the same ``plans`` at once.
            Without it, every call compiles its own.

        Returns
        -------
        raw : ndarray of shape (n_samples, n_outputs)
            A new array, in the dtype of ``theta``.
        """
        n = X.shape[0]
        row_bytes = sum(self.spec.layer_sizes[1:]) * theta.dtype.itemsize
        chunk = int(min(n, max(1, _PREDICT_CHUNK_BYTES // row_bytes)))
        sparse = sp.issparse(X)
        key = (chunk, sparse, theta.dtype)
        compiled = None if plans is None else plans.get(key)
        if compiled is None:
            workspace = Workspace(chunk, theta.dtype, self.max_width)
            plan = self.compile(chunk, False, theta, state=state,
                                workspace=workspace, sparse=sparse)  # fmt: skip
            compiled = (plan, workspace, chunk * row_bytes)
            if plans is not None:
                plans[key] = compiled
        plan, workspace, _ = compiled
        if n == chunk:
            raw = plan.forward(X)
            # A kept plan's output buffer is overwritten by the next call.
            return raw if plans is None else raw.copy()
        raw = np.empty((n, self.spec.layer_sizes[-1]), theta.dtype)
        for start in range(0, n, chunk):
            rows = min(chunk, n - start)
            if rows < chunk:
                plan = self.compile(rows, False, theta, state=state,
                                    workspace=workspace, sparse=sparse)  # fmt: skip
            raw[start : start + rows] = plan.forward(X[start : start + rows])
        return raw


class Plan:
    """A network compiled for one batch size: forward and backward closures."""

    __slots__ = ("backwards", "forwards", "sample_weight")

    def __init__(self, forwards, backwards, sample_weight):
        self.forwards, self.backwards = forwards, backwards
        self.sample_weight = sample_weight

    def forward(self, X, sample_weight=None):
        """Raw output of shape (n, n_outputs), in a reused buffer.

        ``sample_weight`` weights the batch statistics of batch normalisation.
        """
        self.sample_weight[0] = sample_weight
        A = X
        for forward in self.forwards:
            A = forward(A)
        return A

    def backward(self, delta):
        """Backpropagate ``delta = d objective / d raw`` into the bound gradient."""
        for backward in self.backwards:
            delta = backward(delta)


def n_init_draws(layer_sizes):
    """How many uniform draws the initialisation takes from ``rng``.

    One per weight and bias: code that must continue the same random stream
    after the initialisation (the early-stopping split) skips this many.
    """
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in pairwise(layer_sizes))
