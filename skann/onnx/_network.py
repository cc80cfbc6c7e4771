"""The network's converters: layers, target scaling, regressor and classifier."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numbers

import numpy as np
from onnx import TensorProto

# skl2onnx's own parser for classifiers, the one its converters of
# scikit-learn's classifiers (MLPClassifier among them) are parsed by:
# it adds the ZipMap and the class-label outputs the options ask for.
from skl2onnx._parse import _parse_sklearn_classifier
from skl2onnx.common.data_types import (
    DoubleTensorType,
    Int64TensorType,
    StringTensorType,
)
from skl2onnx.common.utils import (
    check_input_and_output_numbers,
    check_input_and_output_types,
)
from sklearn.utils.validation import check_is_fitted

from skann._core.layers import BATCH_NORM_EPSILON
from skann.onnx._embedding import _add_embedding
from skann.onnx._ensemble import _add_ensemble, _is_ensemble
from skann.onnx._graph import (
    _INPUT_TYPES,
    _float_output_shape,
    _Graph,
    _graph_dtype,
    _tensor_type,
)
from skann.onnx._retrieval import _add_retrieval, _is_retrieving

# The options of the classifier's conversion, as skl2onnx declares them for
# MLPClassifier: ``zipmap`` (the probabilities as a list of dictionaries,
# False for a tensor, 'columns' for one output per class), ``nocl`` (labels
# as class indices) and ``output_class_labels`` (the classes as an output).
_CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [True, False],
    "output_class_labels": [False, True],
}


def _folded_layers(model):
    """The fitted affine layers as ``[(W, b), ...]`` in float64.

    The layer's own scalings are folded into its weights: the NTK factor,
    ``z = a W / sqrt(fan_in) + b``, and the front scales of the first layer,
    ``(x diag(s)) W = x (diag(s) W)``. Batch normalisation at prediction,
    ``(z - mean) gamma / sqrt(var + eps) + beta`` on a hidden layer's affine
    output ``z``, is itself affine in ``z``, so it is folded into that
    layer's ``W`` and ``b`` too.
    """
    layers = [
        (np.asarray(W, np.float64), np.asarray(b, np.float64))
        for W, b in zip(model.coefs_, model.intercepts_, strict=True)
    ]
    spec = getattr(model, "_fitted_spec", {})
    if spec.get("parametrization", "standard") == "ntk":
        layers = [(W / np.sqrt(W.shape[0]), b) for W, b in layers]
    if getattr(model, "front_scales_", None) is not None:
        s = np.asarray(model.front_scales_[0], np.float64)
        W, b = layers[0]
        layers[0] = (s[:, np.newaxis] * W, b)
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
    if _is_ensemble(model):
        A = _add_embedding(graph, model, X)
        return _add_ensemble(graph, model, A, output, fold_target)
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
    # A numeric embedding widens the features before the first layer.
    A = _add_embedding(graph, model, X)
    for k, (W, b) in enumerate(layers):
        last = k == n_hidden
        if last and retrieving:
            # The gate reads the last hidden layer's output, A (the
            # embedded or raw features without hidden layers).
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


# -- Regressor -----------------------------------------------------------------


def _regressor_shape(operator):
    """Output: a float (double for double input) tensor of (n_samples, n_outputs)."""
    model = operator.raw_operator
    check_is_fitted(model)
    _float_output_shape(operator, model.n_outputs_)


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
