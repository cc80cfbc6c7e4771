"""ONNX export: skl2onnx converters for skann's estimators and its scaler.

Importing this module registers, with skl2onnx's public registration API
(:func:`skl2onnx.update_registered_converter`), a shape calculator and a
converter for ANNRegressor, ANNClassifier and RobustSmoothClipScaler and,
for the classifier, the parser skl2onnx uses for its own classifiers. After
``import skann.onnx``, skl2onnx's entry points (:func:`skl2onnx.to_onnx`,
:func:`skl2onnx.convert_sklearn`) convert a fitted skann estimator, alone or
inside a pipeline (the tabular recipes included), to an ONNX graph that ONNX
Runtime runs.

Registration is explicit, on import of this module, rather than a side effect
of ``import skann``: the converters need skl2onnx and onnx, which most users
of skann do not install and which take a noticeable time to import, so only
the programs that export pay for them, and a reader of such a program sees
where the converters come from. Without skl2onnx, importing this module
raises an ImportError that says which extra to install.

The graph holds, per layer, one ``Gemm`` node (the affine map, named
``layer<k>_gemm``) and the nodes of its activation (``layer<k>_<name>``).
Batch normalisation, which prediction applies with its running statistics,
is folded into the weights and bias of the affine layer before it, and so is
the regressor's target scaling (``target_scaling='standard'``) into the
output layer; dropout is absent at prediction and has no node. A retrieving
model (``n_neighbors``) adds its search and head as nodes named
``retrieval_<role>``, with the memory of training rows as an initializer
(see ``_add_retrieval``); its target scaling follows the head.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

try:
    from onnx import TensorProto
    from skl2onnx import update_registered_converter

    # skl2onnx's own parser for classifiers, the one its converters of
    # scikit-learn's classifiers (MLPClassifier among them) are parsed by:
    # it adds the ZipMap and the class-label outputs the options ask for.
    from skl2onnx._parse import _parse_sklearn_classifier
    from skl2onnx.common.data_types import (
        BooleanTensorType,
        DoubleTensorType,
        FloatTensorType,
        Int32TensorType,
        Int64TensorType,
        StringTensorType,
    )
    from skl2onnx.common.utils import (
        check_input_and_output_numbers,
        check_input_and_output_types,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "skann.onnx needs skl2onnx (and onnxruntime to run the graphs): "
        "pip install 'skann[onnx]'."
    ) from exc

from skann._classifier import ANNClassifier
from skann._core.layers import _EPS as _LINK_OFFSET
from skann._core.layers import BATCH_NORM_EPSILON
from skann._core.neighbors import DISTANCE_OFFSET
from skann._regressor import ANNRegressor
from skann.model_selection import ValidationSearch
from skann.preprocessing import RobustSmoothClipScaler

__all__ = ["register"]

# The names skl2onnx knows the estimators by.
_REGRESSOR_ALIAS = "SkannANNRegressor"
_CLASSIFIER_ALIAS = "SkannANNClassifier"
_SCALER_ALIAS = "SkannRobustSmoothClipScaler"

# The options of the classifier's conversion, as skl2onnx declares them for
# MLPClassifier: ``zipmap`` (the probabilities as a list of dictionaries,
# False for a tensor, 'columns' for one output per class), ``nocl`` (labels
# as class indices) and ``output_class_labels`` (the classes as an output).
_CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [True, False],
    "output_class_labels": [False, True],
}

# The opset from which ONNX has a Gelu operator; earlier opsets spell the
# activation out in elementary operators.
_GELU_OPSET = 20

# The input types a graph accepts; anything but double is computed in float.
_INPUT_TYPES = [
    FloatTensorType,
    DoubleTensorType,
    Int64TensorType,
    Int32TensorType,
    BooleanTensorType,
]

# Names skann accepts for the same function.
_ALIASES = {"sigmoid": "logistic", "swish": "silu"}

# A layer's activation as one ONNX operator (with its attributes) where ONNX
# Runtime has a kernel for the graph's float type. The others are spelled out
# in elementary operators by ``_Graph.activation``.
_SINGLE_OPERATOR = {
    "relu": ("Relu", {}),
    "tanh": ("Tanh", {}),
    "logistic": ("Sigmoid", {}),
    "exp": ("Exp", {}),
}
# Operators that ONNX Runtime (1.22 to 1.32 at least) implements for float
# only: a double graph spells these activations out instead.
_FLOAT_ONLY_OPERATOR = {
    "leaky_relu": ("LeakyRelu", {"alpha": 0.01}),
    "elu": ("Elu", {"alpha": 1.0}),
    "softplus": ("Softplus", {}),
}

# Retrieval (``n_neighbors``). A squared distance at most this fraction of
# |q|^2 + |m|^2 is cancellation noise and counts as zero, as in skann's
# search (skann._core.neighbors.nearest).
_ZERO_DISTANCE = 1e-10
# The links from the neighbours' vote to the raw output that convert.
_RETRIEVAL_LINKS = ("identity", "log", "logit")
# The first opset whose TopK takes ``largest`` (smallest distances first).
_TOPK_OPSET = 11


def _graph_dtype(operator):
    """The float type the graph computes in: double for double input, else float."""
    if isinstance(operator.inputs[0].type, DoubleTensorType):
        return np.float64
    return np.float32


def _tensor_type(dtype):
    return DoubleTensorType if dtype == np.float64 else FloatTensorType


def _proto_type(dtype):
    return TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT


class _Graph:
    """Adds named nodes and constants of one float type to skl2onnx's container."""

    def __init__(self, scope, container, dtype):
        self.scope, self.container, self.dtype = scope, container, np.dtype(dtype)
        self.opset = container.target_opset or 1

    def constant(self, name, value, dtype=None):
        """An initializer holding ``value`` (in the graph's float type by default)."""
        value = np.asarray(value, self.dtype if dtype is None else dtype)
        name = self.scope.get_unique_variable_name(name)
        if value.dtype.kind in "US":
            content = [str(v).encode("utf-8") for v in value.ravel()]
            self.container.add_initializer(
                name, TensorProto.STRING, list(value.shape), content
            )
        else:
            proto = {
                np.dtype(np.float32): TensorProto.FLOAT,
                np.dtype(np.float64): TensorProto.DOUBLE,
                np.dtype(np.int64): TensorProto.INT64,
            }[value.dtype]
            self.container.add_initializer(
                name, proto, list(value.shape), value.ravel()
            )
        return name

    def node(self, op_type, inputs, name, output=None, **attrs):
        """Add ``op_type`` named ``name``; its output is ``output`` or a new name."""
        if output is None:
            output = self.scope.get_unique_variable_name(name)
        self.container.add_node(
            op_type,
            list(inputs),
            [output],
            name=self.scope.get_unique_operator_name(name),
            **attrs,
        )
        return output

    def node_outputs(self, op_type, inputs, name, outputs, **attrs):
        """Add ``op_type`` named ``name``, with a new output per name in ``outputs``."""
        outputs = [self.scope.get_unique_variable_name(o) for o in outputs]
        self.container.add_node(
            op_type,
            list(inputs),
            outputs,
            name=self.scope.get_unique_operator_name(name),
            **attrs,
        )
        return outputs

    def cast(self, A, from_dtype, to_dtype, name):
        """``A`` (of ``from_dtype``) as ``to_dtype``: a Cast node if they differ."""
        if np.dtype(from_dtype) == np.dtype(to_dtype):
            return A
        return self.node("Cast", [A], name, to=_proto_type(np.dtype(to_dtype)))

    def reduce(self, op_type, A, axis, name, keepdims=1):
        """A reduction of ``A`` over ``axis`` in the form the opset asks for.

        ``axes`` became an input of ReduceSum at opset 13 and of the other
        reductions at opset 18; before, it is an attribute.
        """
        since = 13 if op_type == "ReduceSum" else 18
        if self.opset >= since:
            axes = self.constant(f"{name}_axes", [axis], dtype=np.int64)
            return self.node(op_type, [A, axes], name, keepdims=keepdims)
        return self.node(op_type, [A], name, axes=[axis], keepdims=keepdims)

    def unsqueeze(self, A, axis, name):
        """``A`` with a new axis of length 1 at ``axis`` (an input from opset 13)."""
        if self.opset >= 13:
            axes = self.constant(f"{name}_axes", [axis], dtype=np.int64)
            return self.node("Unsqueeze", [A, axes], name)
        return self.node("Unsqueeze", [A], name, axes=[axis])

    def cast_input(self, variable):
        """The input as the graph's float type (a Cast node only if needed)."""
        if self.dtype == np.float64:
            if isinstance(variable.type, DoubleTensorType):
                return variable.full_name
        elif isinstance(variable.type, FloatTensorType):
            return variable.full_name
        return self.node(
            "Cast", [variable.full_name], "input_cast", to=_proto_type(self.dtype)
        )

    def affine(self, A, W, b, k, output=None):
        """``A W + b`` as one Gemm node."""
        return self.node(
            "Gemm",
            [
                A,
                self.constant(f"layer{k}_weights", W),
                self.constant(f"layer{k}_bias", b),
            ],
            f"layer{k}_gemm",
            output,
        )

    def activation(self, name, Z, k, output=None):
        """``f(Z)`` for skann's activation ``name``, as nodes named ``layer<k>_...``."""
        key = _ALIASES.get(name, name)
        prefix = f"layer{k}_{name}"
        if key == "identity":
            if output is None:
                return Z
            return self.node("Identity", [Z], prefix, output)
        if key in _SINGLE_OPERATOR or (
            key in _FLOAT_ONLY_OPERATOR and self.dtype == np.float32
        ):
            op_type, attrs = {**_SINGLE_OPERATOR, **_FLOAT_ONLY_OPERATOR}[key]
            return self.node(op_type, [Z], prefix, output, **attrs)
        if key == "softmax":
            return self.node("Softmax", [Z], prefix, output, axis=1)
        if key == "leaky_relu":
            # max(z, 0.01 z), as skann computes it.
            slope = self.constant(f"{prefix}_slope", 0.01)
            scaled = self.node("Mul", [Z, slope], f"{prefix}_scaled")
            return self.node("Max", [Z, scaled], prefix, output)
        if key == "elu":
            # max(z, exp(min(z, 0)) - 1): z above 0, exp(z) - 1 below, since
            # exp(z) - 1 >= z everywhere and is 0 at z = 0.
            below = self.node(
                "Min", [Z, self.constant(f"{prefix}_zero", 0.0)], f"{prefix}_min"
            )
            grown = self.node("Exp", [below], f"{prefix}_exp")
            shifted = self.node(
                "Sub", [grown, self.constant(f"{prefix}_one", 1.0)], f"{prefix}_expm1"
            )
            return self.node("Max", [Z, shifted], prefix, output)
        if key == "softplus":
            # max(z, 0) + log(1 + exp(-|z|)): no overflow for any z.
            magnitude = self.node("Abs", [Z], f"{prefix}_abs")
            negated = self.node("Neg", [magnitude], f"{prefix}_neg")
            tail = self.node("Exp", [negated], f"{prefix}_exp")
            tail = self.node(
                "Add", [tail, self.constant(f"{prefix}_one", 1.0)], f"{prefix}_1p"
            )
            tail = self.node("Log", [tail], f"{prefix}_log")
            positive = self.node("Relu", [Z], f"{prefix}_relu")
            return self.node("Add", [positive, tail], prefix, output)
        if key == "gelu":
            # ONNX Runtime's double Gelu differs from the formula by 1e-9.
            if self.opset >= _GELU_OPSET and self.dtype == np.float32:
                return self.node("Gelu", [Z], prefix, output, approximate="tanh")
            return self._gelu(Z, prefix, output)
        if key == "silu":
            # ONNX's Swish (opset 24) is beyond the opsets skl2onnx writes.
            if self.dtype == np.float32:
                # z sigmoid(z)
                gate = self.node("Sigmoid", [Z], f"{prefix}_sigmoid")
                return self.node("Mul", [Z, gate], prefix, output)
            # z / (1 + exp(-z)), the same function: ONNX Runtime (before 1.32)
            # fuses Sigmoid and Mul into a kernel it has for float only, and
            # then refuses to run the double graph.
            grown = self.node(
                "Exp", [self.node("Neg", [Z], f"{prefix}_neg")], f"{prefix}_exp"
            )
            denominator = self.node(
                "Add", [grown, self.constant(f"{prefix}_one", 1.0)], f"{prefix}_1p"
            )
            return self.node("Div", [Z, denominator], prefix, output)
        raise NotImplementedError(
            f"skann.onnx cannot convert the activation {name!r} of layer {k}: "
            "it has no ONNX equivalent here. Update skann, or choose another "
            "activation."
        )

    def _gelu(self, Z, prefix, output):
        # 0.5 z (1 + tanh(c (z + k z^3))) in the order skann evaluates it:
        # u = c z (1 + k z^2).
        u = self.node("Mul", [Z, Z], f"{prefix}_square")
        for op_type, value, step in (
            ("Mul", 0.044715, "cubic"),
            ("Add", 1.0, "1p"),
            ("Mul", None, "times_z"),
            ("Mul", np.sqrt(2.0 / np.pi), "scaled"),
        ):
            other = Z if value is None else self.constant(f"{prefix}_{step}_c", value)
            u = self.node(op_type, [u, other], f"{prefix}_{step}")
        t = self.node("Tanh", [u], f"{prefix}_tanh")
        t = self.node(
            "Add", [t, self.constant(f"{prefix}_one", 1.0)], f"{prefix}_1p_tanh"
        )
        t = self.node("Mul", [t, Z], f"{prefix}_times_z_tanh")
        return self.node(
            "Mul", [t, self.constant(f"{prefix}_half", 0.5)], prefix, output
        )


def _folded_layers(model):
    """The fitted affine layers as ``[(W, b), ...]`` in float64.

    Batch normalisation at prediction, ``(z - mean) gamma / sqrt(var + eps)
    + beta`` on a hidden layer's affine output ``z = a W + b``, is itself
    affine in ``z``, so it is folded into that layer's ``W`` and ``b``.
    """
    layers = [
        (np.asarray(W, np.float64), np.asarray(b, np.float64))
        for W, b in zip(model.coefs_, model.intercepts_, strict=True)
    ]
    if getattr(model, "batch_norm_scales_", None) is not None:
        for k, (gamma, beta, mean, var) in enumerate(
            zip(
                model.batch_norm_scales_,
                model.batch_norm_offsets_,
                model.batch_norm_means_,
                model.batch_norm_vars_,
                strict=True,
            )
        ):
            gamma, beta, mean, var = (
                np.asarray(a, np.float64) for a in (gamma, beta, mean, var)
            )
            scale = gamma / np.sqrt(var + BATCH_NORM_EPSILON)
            W, b = layers[k]
            layers[k] = (W * scale, b * scale + (beta - mean * scale))
    return layers


def _target_scaling(model):
    """``(scale, mean)`` of the regressor's target scaling, or None."""
    mean = getattr(model, "target_mean_", None)
    if mean is None:
        return None
    return np.asarray(model.target_scale_, np.float64), np.asarray(mean, np.float64)


def _add_network(graph, model, X, output, fold_target=False):
    """Nodes from input ``X`` through the output activation to ``output``.

    With ``fold_target``, the regressor's target scaling ``y scale + mean``
    follows: folded into the output layer when the output activation is the
    identity and the model does not retrieve, as two nodes after the output
    otherwise. A retrieving model's head (see ``_add_retrieval``) mixes its
    neighbours' vote into the output layer's result before the output
    activation. ``output`` None names the result anew. Returns the name of
    the result.
    """
    layers = _folded_layers(model)
    scaling = _target_scaling(model) if fold_target else None
    out_activation = model.out_activation_
    retrieving = _is_retrieving(model, graph)
    if scaling is not None and out_activation == "identity" and not retrieving:
        scale, mean = scaling
        W, b = layers[-1]
        layers[-1] = (W * scale, b * scale + mean)
        scaling = None
    n_hidden = len(layers) - 1
    activations = list(model.hidden_activations_)
    if len(activations) != n_hidden:
        raise ValueError(
            f"The model has {n_hidden} hidden layer(s) but {len(activations)} "
            "hidden activation(s); it cannot be converted."
        )
    # The raw output is the model's result when nothing follows it.
    raw_is_result = out_activation == "identity" and scaling is None
    A = X
    for k, (W, b) in enumerate(layers):
        last = k == n_hidden
        if last and retrieving:
            # The gate reads the last hidden layer's output, A (X itself
            # without hidden layers).
            f = graph.affine(A, W, b, k)
            Z = _add_retrieval(graph, model, X, A, f, output if raw_is_result else None)
            if raw_is_result:
                return Z
            break
        if last and raw_is_result:
            return graph.affine(A, W, b, k, output)
        Z = graph.affine(A, W, b, k)
        if not last:
            A = graph.activation(activations[k], Z, k)
    y = graph.activation(out_activation, Z, n_hidden, None if scaling else output)
    if scaling is not None:
        scale, mean = scaling
        y = graph.node(
            "Mul", [y, graph.constant("target_scale", scale)], "target_scale"
        )
        y = graph.node(
            "Add", [y, graph.constant("target_mean", mean)], "target_mean", output
        )
    return y


# -- Retrieval -----------------------------------------------------------------


def _is_retrieving(model, graph):
    """Whether the model retrieves (``n_neighbors``); refuses what cannot convert."""
    spec = getattr(model, "_fitted_spec", None) or {}
    n_neighbors = spec.get("n_neighbors") or 0
    if not n_neighbors:
        return False
    if getattr(model, "_memory", None) is None:
        raise ValueError(
            f"The model was fitted with n_neighbors={n_neighbors} but holds no "
            "memory of training rows to retrieve from; it cannot be converted. "
            "Fit it again."
        )
    link = spec.get("retrieval_link", "identity")
    if link not in _RETRIEVAL_LINKS:
        raise NotImplementedError(
            f"skann.onnx cannot convert the retrieval link {link!r} of the "
            f"model's n_neighbors={n_neighbors} head: it knows "
            f"{', '.join(map(repr, _RETRIEVAL_LINKS))}. Update skann."
        )
    if graph.opset < _TOPK_OPSET:
        raise ValueError(
            f"n_neighbors={n_neighbors}: the graph finds the nearest training "
            "rows with TopK(largest=0), which needs opset "
            f"{_TOPK_OPSET} or later; to_onnx was asked for opset "
            f"{graph.opset}. Convert with target_opset={_TOPK_OPSET} or later."
        )
    return True


def _add_retrieval(graph, model, X, h, f, output=None):
    """The retrieval head after the output layer, as skann predicts it.

    ``X`` is the network's input (the query rows), ``h`` the last hidden
    layer's output and ``f`` the output layer's. The nodes, named
    ``retrieval_<role>``:

    - the search: the squared distances ``|q|^2 + |m|^2 - 2 q m^T`` from each
      query row to every row of the memory (an initializer), those within
      ``1e-10 (|q|^2 + |m|^2)`` of zero set to zero, and the ``k`` smallest
      per row by TopK, which on ties keeps the lower memory index first, as
      skann does. The search is in double precision unless both the graph
      and the fitted model are in single precision: skann's search computes
      in the wider of the two types. The distance matrix is n_query by
      n_memory, evaluated whole;
    - the context: the neighbours' distances divided by the number of
      features ``d``, their log sample weights and targets (Gather), and the
      trust features ``log(1e-3 + d_nearest)`` and ``log(1e-3 + mean d)``,
      standardised; rounded, as skann's context is, to the narrower of the
      graph's type and the memory's;
    - the head: attention ``softmax(-exp(t) d + log w)``, the vote
      ``v = a Y``, its link ``m``, the gate ``g = sigmoid(h Wg + z Cg + bg)``
      and the output ``f + g (m - f)``.

    Two steps are written in a form that is the same function with less
    rounding in a float graph: the attention logits are shifted by the
    nearest distance, ``-exp(t) (d - d_nearest)``, which softmax ignores,
    and the logit link's share of negatives ``1 - v`` is the attended vote
    of ``1 - Y``. Returns the name of the output.
    """
    memory, spec = model._memory, model._fitted_spec
    M = np.asarray(memory["X"])
    n_memory, n_features = M.shape
    k = min(int(spec["n_neighbors"]), n_memory)
    dtype = graph.dtype
    search = np.result_type(dtype, M.dtype)

    # The search: distances to every memory row, the k smallest.
    Q = graph.cast(X, dtype, search, "retrieval_query")
    squares = graph.node("Mul", [Q, Q], "retrieval_query_squares")
    qq = graph.reduce("ReduceSum", squares, 1, "retrieval_query_norms")
    mm = graph.constant(
        "retrieval_memory_norms",
        np.einsum("ij,ij->i", M, M, dtype=search),
        dtype=search,
    )
    # Gemm computes alpha A B^T + C: |q|^2 - 2 q m^T, then + |m|^2.
    cross = graph.node(
        "Gemm",
        [Q, graph.constant("retrieval_memory", M, dtype=search), qq],
        "retrieval_products",
        alpha=-2.0,
        transB=1,
    )
    D = graph.node("Add", [cross, mm], "retrieval_distances")
    norms = graph.node("Add", [qq, mm], "retrieval_norm_sums")
    threshold = graph.node(
        "Mul",
        [norms, graph.constant("retrieval_zero_factor", _ZERO_DISTANCE, search)],
        "retrieval_zero_threshold",
    )
    above = graph.node("Greater", [D, threshold], "retrieval_above_zero")
    D = graph.node(
        "Where",
        [above, D, graph.constant("retrieval_zero", 0.0, search)],
        "retrieval_snapped_distances",
    )
    d2, index = graph.node_outputs(
        "TopK",
        [D, graph.constant("retrieval_k", [k], dtype=np.int64)],
        "retrieval_topk",
        ["retrieval_neighbour_distances", "retrieval_neighbours"],
        axis=1,
        largest=0,
        sorted=1,
    )

    # The context.
    d2 = graph.cast(d2, search, dtype, "retrieval_distances_cast")
    d = graph.node(
        "Div",
        [d2, graph.constant("retrieval_n_features", float(n_features))],
        "retrieval_scaled_distances",
    )
    first = graph.constant("retrieval_first", [0], dtype=np.int64)
    nearest = graph.node("Gather", [d, first], "retrieval_nearest_distance", axis=1)
    mean = graph.reduce("ReduceMean", d, 1, "retrieval_mean_distance")
    trust = graph.node("Concat", [nearest, mean], "retrieval_trust_distances", axis=1)
    trust = graph.node(
        "Add",
        [trust, graph.constant("retrieval_distance_offset", DISTANCE_OFFSET)],
        "retrieval_trust_offset",
    )
    trust = graph.node("Log", [trust], "retrieval_trust")
    # skann's context is in the memory's type: a double graph of a model
    # fitted on float32 rows rounds the distances and trust features to it.
    context = np.dtype(memory["Y"].dtype)
    if context.itemsize < dtype.itemsize:
        d = graph.cast(
            graph.cast(d, dtype, context, "retrieval_context_distances"),
            context,
            dtype,
            "retrieval_rounded_distances",
        )
        nearest = graph.node("Gather", [d, first], "retrieval_rounded_nearest", axis=1)
        trust = graph.cast(
            graph.cast(trust, dtype, context, "retrieval_context_trust"),
            context,
            dtype,
            "retrieval_rounded_trust",
        )
    z = graph.node(
        "Sub",
        [
            trust,
            graph.constant("retrieval_trust_means", model.retrieval_trust_means_[0]),
        ],
        "retrieval_trust_centred",
    )
    z = graph.node(
        "Div",
        [z, graph.constant("retrieval_trust_scales", model.retrieval_trust_scales_[0])],
        "retrieval_trust_standardised",
    )
    Y = graph.node(
        "Gather",
        [graph.constant("retrieval_memory_targets", memory["Y"]), index],
        "retrieval_neighbour_targets",
        axis=0,
    )

    # The head: attention, vote, link, gate.
    gaps = graph.node("Sub", [d, nearest], "retrieval_distance_gaps")
    beta = np.exp(np.asarray(model.retrieval_temperature_[0], np.float64)[0])
    logits = graph.node(
        "Mul",
        [gaps, graph.constant("retrieval_minus_temperature", -beta)],
        "retrieval_logits",
    )
    if memory["log_weights"] is not None:
        log_weights = graph.node(
            "Gather",
            [
                graph.constant("retrieval_memory_log_weights", memory["log_weights"]),
                index,
            ],
            "retrieval_neighbour_log_weights",
            axis=0,
        )
        logits = graph.node("Add", [logits, log_weights], "retrieval_weighted_logits")
    attention = graph.node("Softmax", [logits], "retrieval_attention", axis=1)
    attention = graph.unsqueeze(attention, 2, "retrieval_attention_column")

    def attended(targets, name):
        weighted = graph.node("Mul", [attention, targets], f"{name}_terms")
        return graph.reduce("ReduceSum", weighted, 1, name, keepdims=0)

    vote = attended(Y, "retrieval_vote")
    link = spec.get("retrieval_link", "identity")
    if link == "identity":
        m = vote
    else:
        offset = graph.constant("retrieval_link_offset", _LINK_OFFSET)
        m = graph.node(
            "Log",
            [graph.node("Add", [vote, offset], "retrieval_vote_offset")],
            "retrieval_log_vote",
        )
        if link == "logit":
            complement = graph.node(
                "Sub",
                [graph.constant("retrieval_one", 1.0), Y],
                "retrieval_neighbour_complements",
            )
            rest = attended(complement, "retrieval_vote_complement")
            rest = graph.node(
                "Log",
                [graph.node("Add", [rest, offset], "retrieval_complement_offset")],
                "retrieval_log_complement",
            )
            m = graph.node("Sub", [m, rest], "retrieval_logit_vote")
    u = graph.node(
        "Gemm",
        [
            h,
            graph.constant("retrieval_gate_coefs", model.retrieval_gate_coefs_[0]),
            graph.constant(
                "retrieval_gate_intercepts", model.retrieval_gate_intercepts_[0]
            ),
        ],
        "retrieval_gate_hidden",
    )
    u = graph.node(
        "Gemm",
        [
            z,
            graph.constant(
                "retrieval_gate_trust_coefs", model.retrieval_gate_trust_coefs_[0]
            ),
            u,
        ],
        "retrieval_gate_logits",
    )
    g = graph.node("Sigmoid", [u], "retrieval_gate")
    step = graph.node("Sub", [m, f], "retrieval_vote_minus_output")
    step = graph.node("Mul", [g, step], "retrieval_gated_step")
    return graph.node("Add", [f, step], "retrieval_output", output)


# -- Regressor -----------------------------------------------------------------


def _regressor_shape(operator):
    """Output: a float (double for double input) tensor of (n_samples, n_outputs)."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(operator, good_input_types=_INPUT_TYPES)
    model = operator.raw_operator
    check_is_fitted(model)
    n_rows = operator.inputs[0].get_first_dimension()
    tensor_type = _tensor_type(_graph_dtype(operator))
    operator.outputs[0].type = tensor_type([n_rows, model.n_outputs_])


def _convert_regressor(scope, operator, container):
    """The network, its output link and the target scaling, as ONNX nodes."""
    model = operator.raw_operator
    graph = _Graph(scope, container, _graph_dtype(operator))
    X = graph.cast_input(operator.inputs[0])
    _add_network(graph, model, X, operator.outputs[0].full_name, fold_target=True)


# -- Classifier ----------------------------------------------------------------


def _is_multilabel(model):
    return model.out_activation_ == "logistic" and model.n_outputs_ > 1


def _are_strings(classes):
    kind = classes.dtype.kind
    return kind in "US" or (
        kind == "O" and all(isinstance(c, (str, np.str_)) for c in classes)
    )


def _label_values(model, options):
    """The label tensor's values and ONNX type: ``(values, tensor_type)``.

    ``values`` is None where the label is not a lookup of ``classes_``: class
    indices (``nocl``) and the 0/1 indicator matrix of multilabel targets.
    Labels are strings or 64-bit integers, as skl2onnx writes the labels of
    scikit-learn's classifiers; classes that are neither (floats with a
    fraction, mixed types) cannot be a label tensor, and the error says to
    convert with ``nocl``.
    """
    if _is_multilabel(model) or options.get("nocl", False):
        return None, Int64TensorType
    classes = np.asarray(model.classes_)
    kind = classes.dtype.kind
    if _are_strings(classes):
        return classes.astype(str), StringTensorType
    if kind in "iub":
        return classes.astype(np.int64), Int64TensorType
    if kind == "f" or (
        kind == "O" and all(isinstance(c, numbers.Real) for c in classes)
    ):
        as_float = classes.astype(np.float64)
        if np.all(np.isfinite(as_float)) and np.all(as_float == np.round(as_float)):
            return as_float.astype(np.int64), Int64TensorType
    raise ValueError(
        f"ANNClassifier's classes {list(classes)!r} can be neither strings nor "
        "64-bit integers, the types of an ONNX label. Convert with the option "
        "nocl=True (labels as class indices, e.g. "
        "to_onnx(model, X, options={ANNClassifier: {'nocl': True}})), or fit "
        "the classifier on integer or string labels."
    )


def _classifier_options(scope, model):
    return scope.get_options(
        model, {"zipmap": True, "nocl": False, "output_class_labels": False}
    )


def _parse_classifier(scope, model, inputs, custom_parsers=None):
    """skl2onnx's parser of classifiers, after checking the labels convert."""
    check_is_fitted(model)
    options = _classifier_options(scope, model)
    _label_values(model, options)
    if options["zipmap"] is not False and isinstance(inputs[0].type, DoubleTensorType):
        # skl2onnx would write the graph, and ONNX Runtime refuse to load it.
        raise ValueError(
            "The option zipmap (True by default) puts the probabilities in an "
            "ONNX ZipMap, which takes float values only, but the input is "
            "double, so the graph computes in double. Convert with "
            "options={ANNClassifier: {'zipmap': False}} for double "
            "probabilities, or give float32 input."
        )
    classes = np.asarray(model.classes_)
    if (
        options["output_class_labels"]
        and not options["nocl"]
        and not (classes.dtype in (np.int32, np.int64) or _are_strings(classes))
    ):
        # skl2onnx writes the classes of other types into a LabelEncoder
        # that does not load.
        raise ValueError(
            "The option output_class_labels writes the classes as integers "
            f"or strings, but ANNClassifier's classes are of type "
            f"{classes.dtype}. Read the classes from the model's classes_, "
            "add nocl=True (the classes output is then their indices), or "
            "fit on integer or string labels."
        )
    return _parse_sklearn_classifier(
        scope, model, inputs, custom_parsers=custom_parsers
    )


def _classifier_shape(operator):
    """Outputs: the labels and the (n_samples, n_classes) probabilities.

    Labels are one per row, strings or int64 as the classes are; for
    multilabel targets an int64 0/1 matrix of (n_samples, n_labels), as
    ``predict`` returns.
    """
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    check_input_and_output_types(operator, good_input_types=_INPUT_TYPES)
    model = operator.raw_operator
    check_is_fitted(model)
    options = _classifier_options(operator.scope_inst, model)
    _, label_type = _label_values(model, options)
    n_rows = operator.inputs[0].get_first_dimension()
    n_columns = max(model.n_outputs_, 2)
    label_shape = [n_rows, n_columns] if _is_multilabel(model) else [n_rows]
    operator.outputs[0].type = label_type(label_shape)
    tensor_type = _tensor_type(_graph_dtype(operator))
    operator.outputs[1].type = tensor_type([n_rows, n_columns])


def _convert_classifier(scope, operator, container):
    """The network, the probabilities and the labels, as ONNX nodes.

    Binary targets have one logistic output ``p``, whose probabilities are
    ``[1 - p, p]``; multiclass targets a softmax; multilabel targets one
    logistic output per label. The label is the class of the largest
    probability (``p > 0.5`` for binary targets, the same test), and for
    multilabel targets ``p > 0.5`` per label.
    """
    model = operator.raw_operator
    options = _classifier_options(scope, model)
    classes, _ = _label_values(model, options)
    graph = _Graph(scope, container, _graph_dtype(operator))
    X = graph.cast_input(operator.inputs[0])
    label, proba = operator.outputs[0].full_name, operator.outputs[1].full_name
    binary = not _is_multilabel(model) and model.n_outputs_ == 1
    p = _add_network(graph, model, X, None if binary else proba)
    if binary:
        one = graph.constant("proba_one", 1.0)
        q = graph.node("Sub", [one, p], "proba_complement")
        graph.node("Concat", [q, p], "proba_concat", proba, axis=1)
    if _is_multilabel(model):
        above = graph.node(
            "Greater", [proba, graph.constant("label_threshold", 0.5)], "label_greater"
        )
        graph.node("Cast", [above], "label_cast", label, to=TensorProto.INT64)
        return
    if classes is None:
        graph.node("ArgMax", [proba], "label_argmax", label, axis=1, keepdims=0)
        return
    index = graph.node("ArgMax", [proba], "label_argmax", axis=1, keepdims=0)
    classes = graph.constant("classes", classes, dtype=classes.dtype)
    graph.node("Gather", [classes, index], "label_gather", label, axis=0)


# -- RobustSmoothClipScaler ------------------------------------------------------


def _scaler_shape(operator):
    """Output: a float (double for double input) tensor of the input's shape."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(operator, good_input_types=_INPUT_TYPES)
    model = operator.raw_operator
    check_is_fitted(model)
    n_rows = operator.inputs[0].get_first_dimension()
    tensor_type = _tensor_type(_graph_dtype(operator))
    operator.outputs[0].type = tensor_type([n_rows, model.n_features_in_])


def _convert_scaler(scope, operator, container):
    """``z = (x - center) / scale``, then ``z / hypot(1, z / clip)``.

    ``hypot(1, t)`` is written ``a sqrt(1 + (b / a)^2)`` with ``a = max(1,
    |t|)`` and ``b = min(1, |t|)``, which does not overflow where ``t^2``
    would: an extreme input goes to ``±clip``, as ``transform`` sends it.
    """
    model = operator.raw_operator
    graph = _Graph(scope, container, _graph_dtype(operator))
    X = graph.cast_input(operator.inputs[0])
    output = operator.outputs[0].full_name
    centred = graph.node(
        "Sub", [X, graph.constant("scaler_center", model.center_)], "scaler_centre"
    )
    scale = graph.constant("scaler_scale", model.scale_)
    if model.clip is None:
        graph.node("Div", [centred, scale], "scaler_scale", output)
        return
    z = graph.node("Div", [centred, scale], "scaler_scale")
    ratio = graph.node(
        "Abs",
        [graph.node("Div", [z, graph.constant("scaler_clip", model.clip)], "scaler_t")],
        "scaler_abs_t",
    )
    one = graph.constant("scaler_one", 1.0)
    larger = graph.node("Max", [ratio, one], "scaler_hypot_max")
    smaller = graph.node("Min", [ratio, one], "scaler_hypot_min")
    q = graph.node("Div", [smaller, larger], "scaler_hypot_ratio")
    q = graph.node("Mul", [q, q], "scaler_hypot_square")
    q = graph.node(
        "Sqrt", [graph.node("Add", [q, one], "scaler_hypot_1p")], "scaler_hypot_sqrt"
    )
    hypot = graph.node("Mul", [larger, q], "scaler_hypot")
    graph.node("Div", [z, hypot], "scaler_smooth_clip", output)


def _parse_validation_search(scope, model, inputs, custom_parsers=None):
    # The fitted search predicts with its best candidate: convert that one.
    from skl2onnx._parse import parse_sklearn

    options = scope.get_options(model)
    if options:
        scope.add_options(id(model.best_estimator_), options)
    return parse_sklearn(
        scope, model.best_estimator_, inputs, custom_parsers=custom_parsers
    )


def _never_called(scope, operator, container):
    # The search's parser hands its operators to the best candidate's
    # converters; no operator of the search itself is ever made.
    raise RuntimeError("ValidationSearch has no operator of its own")


def _no_shape(operator):
    raise RuntimeError("ValidationSearch has no operator of its own")


def register():
    """Register skann's converters with skl2onnx.

    Importing :mod:`skann.onnx` calls this already; calling it again (after
    another library replaced a converter, for example) registers them anew.
    After it, :func:`skl2onnx.to_onnx` and :func:`skl2onnx.convert_sklearn`
    convert fitted :class:`~skann.ANNRegressor` and
    :class:`~skann.ANNClassifier` estimators, retrieving ones included, and
    :class:`~skann.preprocessing.RobustSmoothClipScaler`, alone or in
    pipelines, and a fitted :class:`~skann.model_selection.ValidationSearch`
    (the tabular recipes) as its best candidate.

    The classifier takes the options skl2onnx gives ``MLPClassifier``:
    ``zipmap`` (True, the default: the probabilities as a list of
    dictionaries; False: as a tensor; ``'columns'``: one output per class),
    ``nocl`` (labels as class indices) and ``output_class_labels``.

    Examples
    --------
    >>> import numpy as np
    >>> import skann.onnx
    >>> from skl2onnx import to_onnx
    >>> from skann import ANNRegressor
    >>> X = np.random.RandomState(0).normal(size=(50, 3)).astype(np.float32)
    >>> model = ANNRegressor((5,), solver="lbfgs", random_state=0)
    >>> model = model.fit(X, X.sum(axis=1))
    >>> onx = to_onnx(model, X[:1])
    >>> [node.name for node in onx.graph.node]
    ['layer0_gemm', 'layer0_relu', 'layer1_gemm']
    """
    update_registered_converter(
        ANNRegressor, _REGRESSOR_ALIAS, _regressor_shape, _convert_regressor
    )
    update_registered_converter(
        ANNClassifier,
        _CLASSIFIER_ALIAS,
        _classifier_shape,
        _convert_classifier,
        parser=_parse_classifier,
        options=_CLASSIFIER_OPTIONS,
    )
    update_registered_converter(
        RobustSmoothClipScaler, _SCALER_ALIAS, _scaler_shape, _convert_scaler
    )
    update_registered_converter(
        ValidationSearch,
        "SkannValidationSearch",
        _no_shape,
        _never_called,
        parser=_parse_validation_search,
    )


register()
