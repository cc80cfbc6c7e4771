"""The feed-forward network: a sequence of layers over one flat parameter vector."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from itertools import pairwise
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from skann._core.activations import ACTIVATIONS
from skann._core.embeddings import (
    PERIODIC,
    PeriodicEmbedding,
    PiecewiseLinearEmbedding,
)
from skann._core.ensemble import EnsembleLinear, EnsembleMean
from skann._core.layers import (
    ActivationLayer,
    Affine,
    BatchNorm,
    Context,
    Dropout,
    Layout,
    Workspace,
)
from skann._core.retrieval_layers import ContextSplit, RetrievalHead, Tap
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
    ``layer_sizes[0]`` is the number of input features even when a numeric
    embedding widens them to ``layer_sizes[0] * embedding_dim`` columns
    before the first affine layer.
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
    # Numeric embedding of each input feature (None: none; see
    # skann._core.embeddings): its output width per feature, its number of
    # bins ('piecewise_linear') and the scale of its initial frequencies
    # ('periodic', which has embedding_dim frequencies per feature).
    numeric_embedding: str | None = None
    embedding_dim: int = 0
    embedding_bins: int = 0
    embedding_scale: float = 0.0
    # One-pass ensemble: members (1: a single network), style ('full' or
    # 'mini') and the output activation their predictions are averaged under.
    ensemble_size: int = 1
    ensemble_style: str = "full"
    ensemble_link: str = "identity"
    # RealMLP's scalings (skann._core.scaled_affine): learnable scales of the
    # inputs, and 'standard' or 'ntk'.
    front_scaling: bool = False
    parametrization: str = "standard"

    @classmethod
    def build(
        cls, layer_sizes, activation, dropout=0.0, batch_norm=False, n_neighbors=0,
        retrieval_link="identity", embedding=None, ensemble_size=1,
        ensemble_style="full", ensemble_link="identity", front_scaling=False,
        parametrization="standard",
    ):  # fmt: skip
        """A spec from an activation name (or one per hidden layer) and rates.

        The Glorot gain of each affine layer is that of the activation it
        feeds; the output layer takes the last hidden layer's, and a network
        without hidden layers that of a single ``activation`` name: the
        choices scikit-learn makes for one activation everywhere.
        ``embedding`` is None or ``(name, dim, bins, scale)``.
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
            int(n_neighbors or 0), retrieval_link,
            *_embedding_fields(embedding), int(ensemble_size), ensemble_style,
            ensemble_link, bool(front_scaling), parametrization,
        )  # fmt: skip


def _embedding_fields(embedding):
    """The spec's embedding fields from ``(name, dim, bins, scale)`` or None."""
    if embedding is None or embedding[0] is None:
        return None, 0, 0, 0.0
    name, dim, bins, scale = embedding
    if name == PERIODIC:
        return name, int(dim), 0, float(scale)
    return name, int(dim), int(bins), 0.0


def _build_embedding(spec, layout, state_layout):
    """The embedding layer of ``spec``, or None."""
    if spec.numeric_embedding is None:
        return None
    p, dim = spec.layer_sizes[0], spec.embedding_dim
    if spec.numeric_embedding == PERIODIC:
        return PeriodicEmbedding(layout, p, dim, dim, spec.embedding_scale)
    return PiecewiseLinearEmbedding(layout, state_layout, p, spec.embedding_bins, dim)


# The layer types a network is built from: their trainable arrays and state
# are the fitted model's per-layer arrays, by name.
LAYER_TYPES = (
    PeriodicEmbedding,
    PiecewiseLinearEmbedding,
    Affine,
    BatchNorm,
    ActivationLayer,
    Dropout,
    RetrievalHead,
    EnsembleLinear,
    ScaledAffine,
)
# Each name once: both embeddings, the affine layers and an ensemble's have
# coefficients and intercepts.
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
    it off first, and mixes the neighbours' vote into the output last. A
    numeric embedding comes before the first affine layer (after the split
    of a retrieving network's input), which then takes its ``p * dim``
    columns.
    """

    def __init__(self, spec):
        self.spec = spec
        self.layout, self.state_layout = Layout(), Layout()
        self.layers, self.affines, self.batch_norms = [], [], []
        n_hidden = len(spec.layer_sizes) - 2
        if spec.n_neighbors:
            self.layers.append(ContextSplit(spec.layer_sizes[0]))
        self.embedding = _build_embedding(spec, self.layout, self.state_layout)
        sizes = list(spec.layer_sizes)
        if self.embedding is not None:
            self.layers.append(self.embedding)
            sizes[0] = self.embedding.out_width
        for k, (fan_in, fan_out) in enumerate(pairwise(sizes)):
            normalised = spec.batch_norm and k < n_hidden
            affine = self._affine(k, fan_in, fan_out, normalised)
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
                spec.layer_sizes[-1], sizes[-2], spec.retrieval_link,
            )  # fmt: skip
            self.layers.append(self.retrieval)
        if spec.ensemble_size > 1:
            self.layers.append(EnsembleMean(spec.ensemble_size, spec.ensemble_link))
        self.layout.finalize()
        self.state_layout.finalize()
        self.size, self.state_size = self.layout.size, self.state_layout.size
        self.row_separable = all(layer.row_separable for layer in self.layers)
        # Multiply-adds of one forward pass per row, to size row blocks.
        # An ensemble's layers after the embedding take k rows per row.
        k = spec.ensemble_size
        self.work_per_row = k * sum(a * b for a, b in pairwise(sizes))
        self.max_width = max(sizes)
        # Entries of one row's work arrays at prediction.
        self.row_width = k * sum(sizes[1:])
        if self.embedding is not None:
            self.work_per_row += self.embedding.work_per_row()
            self.row_width += self.embedding.row_width()

    def _affine(self, k, fan_in, fan_out, normalised):
        """The ``k``-th affine layer: a plain one, or an ensemble's."""
        spec = self.spec
        gain, members = spec.init_gains[k], spec.ensemble_size
        if members == 1:
            front = spec.front_scaling and k == 0
            factor = ntk_factor(fan_in, spec.parametrization)
            if front or factor != 1.0:
                return ScaledAffine(
                    self.layout, k, fan_in, fan_out, gain, factor, front,
                    train_bias=not normalised,
                )  # fmt: skip
            return Affine(
                self.layout, k, fan_in, fan_out, gain, train_bias=not normalised
            )
        args = (self.layout, k, fan_in, fan_out, gain, members)
        if k == len(spec.layer_sizes) - 2:
            # Each member's own output layer.
            return EnsembleLinear(
                *args, own_weights=True, input_scales=False, output_scales=False
            )
        full = spec.ensemble_style == "full"
        if k == 0 or full:
            return EnsembleLinear(
                *args, output_scales=full, member_biases=full, shared_input=k == 0
            )
        return Affine(self.layout, k, fan_in, fan_out, gain)

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
        network. A numeric embedding's draws follow all of these. Under the
        NTK parametrisation they are N(0, 1), from the same uniform draws;
        front scales start at 1. With ``zero_output`` the output layer's
        weights and biases are zero. Returns the flat parameter and state
        vectors.
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
            affine.W.view(theta)[...] = rng.uniform(-bound, bound, affine.W.shape)
            # An ensemble's members have their own output layers, drawn each,
            # but start from the same bias in a shared hidden layer.
            own = getattr(affine, "own_weights", False)
            shape = affine.b.shape if own else fan_out
            affine.b.view(theta)[...] = rng.uniform(-bound, bound, shape)
        if self.embedding is not None:
            # After every Glorot draw: the other layers start as they would
            # on a network of the same shapes without the embedding.
            self.embedding.init(rng, theta, state)
        for affine in self.affines:
            if hasattr(affine, "init"):
                affine.init(rng, theta)
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
                rng=None, sparse=False, members=False):  # fmt: skip
        """A ``Plan`` for batches of ``n`` rows bound to these vectors.

        With ``members`` an ensemble's plan outputs each member's raw output
        (``n * ensemble_size`` rows, row ``i * ensemble_size + j`` for member
        ``j``) instead of the raw output of their mean prediction.
        """
        if workspace is None:
            workspace = Workspace(
                n * self.spec.ensemble_size, theta.dtype, self.max_width
            )
        if state is None:
            state = np.empty(0, theta.dtype)
        ctx = Context(n, training, theta, grad, state, workspace, rng, sparse)
        ctx.members = members
        forwards, backwards = [], []
        for layer in self.layers:
            forward, backward = layer.compile(ctx)
            forwards.append(forward)
            if backward is not None:
                backwards.append(backward)
            ctx.first = ctx.first and getattr(layer, "keeps_first", False)
        return Plan(forwards, backwards[::-1], ctx.sample_weight, ctx.begins, ctx.ends)

    def predict(self, theta, state, X, plans=None, members=False):
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
            with ``plans.get((rows, sparse, dtype))`` (``+ ('members',)``
            with ``members``) and, when missing, compiled and stored there as
            ``(plan, workspace, nbytes)``. The caller must not run two calls
            on the same ``plans`` at once. Without it, every call compiles
            its own.
        members : bool, default=False
            For an ensemble, each member's raw output instead of the raw
            output of their mean prediction.

        Returns
        -------
        raw : ndarray of shape (n_samples, n_outputs)
            A new array, in the dtype of ``theta``; with ``members``, of
            shape (n_samples * ensemble_size, n_outputs), each row's members
            in consecutive rows.
        """
        n, k = X.shape[0], self.spec.ensemble_size
        row_bytes = self.row_width * theta.dtype.itemsize
        chunk = int(min(n, max(1, _PREDICT_CHUNK_BYTES // row_bytes)))
        sparse = sp.issparse(X)
        key = (chunk, sparse, theta.dtype) + (("members",) if members else ())
        compiled = None if plans is None else plans.get(key)
        if compiled is None:
            workspace = Workspace(chunk * k, theta.dtype, self.max_width)
            plan = self.compile(chunk, False, theta, state=state,
                                workspace=workspace, sparse=sparse,
                                members=members)  # fmt: skip
            compiled = (plan, workspace, chunk * row_bytes)
            if plans is not None:
                plans[key] = compiled
        plan, workspace, _ = compiled
        if n == chunk:
            raw = plan.forward(X)
            # A kept plan's output buffer is overwritten by the next call.
            return raw if plans is None else raw.copy()
        # Output rows per input row: an ensemble's members, when asked for.
        per = k if members else 1
        raw = np.empty((n * per, self.spec.layer_sizes[-1]), theta.dtype)
        for start in range(0, n, chunk):
            rows = min(chunk, n - start)
            if rows < chunk:
                plan = self.compile(rows, False, theta, state=state,
                                    workspace=workspace, sparse=sparse,
                                    members=members)  # fmt: skip
            raw[start * per : (start + rows) * per] = plan.forward(
                X[start : start + rows]
            )
        return raw


class Plan:
    """A network compiled for one batch size: forward and backward closures.

    A batch run in several row blocks, each through the plan of its size,
    calls ``forward(..., begin=False)`` after the first block and
    ``backward(..., end=False)`` before the last, and the first block's plan,
    whose gradient is the batch's, ends the batch with ``end()``.
    """

    __slots__ = ("backwards", "begins", "ends", "forwards", "sample_weight")

    def __init__(self, forwards, backwards, sample_weight, begins=(), ends=()):
        self.forwards, self.backwards = forwards, backwards
        self.sample_weight = sample_weight
        self.begins, self.ends = tuple(begins), tuple(ends)

    def forward(self, X, sample_weight=None, begin=True):
        """Raw output of shape (n, n_outputs), in a reused buffer.

        ``sample_weight`` weights the batch statistics of batch normalisation.
        """
        if begin:
            for hook in self.begins:
                hook()
        self.sample_weight[0] = sample_weight
        A = X
        for forward in self.forwards:
            A = forward(A)
        return A

    def backward(self, delta, end=True):
        """Backpropagate ``delta = d objective / d raw`` into the bound gradient."""
        for backward in self.backwards:
            delta = backward(delta)
        if end:
            self.end()

    def end(self):
        """Finish the batch's gradient, after its last block's backward pass."""
        for hook in self.ends:
            hook()


def n_init_draws(layer_sizes):
    """How many uniform draws the initialisation takes from ``rng``.

    One per weight and bias: code that must continue the same random stream
    after the initialisation (the early-stopping split) skips this many.
    """
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in pairwise(layer_sizes))
