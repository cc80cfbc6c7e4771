"""The converter's part for one-pass ensembles (``ensemble_size > 1``)."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np


def _is_ensemble(model):
    return getattr(model, "_fitted_spec", {}).get("ensemble_size", 1) > 1


def _member_layers(model):
    """Each affine layer as ``(V, b)`` with the members' scalings folded in.

    ``V`` is (k, fan_in, fan_out), member ``j``'s ``r_j[:, None] * W *
    s_j[None, :]`` (a shared hidden layer of the 'mini' style keeps its
    (fan_in, fan_out) matrix, which ONNX's MatMul broadcasts over the
    members); ``b`` is (k, 1, fan_out) for members' own biases, else
    (fan_out,).
    """
    input_scales = model.ensemble_input_scales_ or []
    output_scales = model.ensemble_output_scales_ or []
    layers = []
    for i, (W, b) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
        V, b = np.asarray(W, np.float64), np.asarray(b, np.float64)
        if i < len(input_scales):
            V = np.asarray(input_scales[i], np.float64)[:, :, np.newaxis] * V
        if i < len(output_scales):
            V = V * np.asarray(output_scales[i], np.float64)[:, np.newaxis, :]
        layers.append((V, b[:, np.newaxis, :] if b.ndim == 2 else b))
    return layers


# The members' output activation, on (k, n_samples, n_outputs).
_OUTPUT_OPS = {"logistic": "Sigmoid", "exp": "Exp", "softmax": "Softmax"}


def _add_ensemble(graph, model, X, output, fold_target):
    """Nodes from ``X`` to the members' mean prediction, named ``output``.

    The members are the leading axis, (k, n_samples, width), from the first
    layer on: ``X`` (n_samples, n_features) times the members' stacked
    matrices broadcasts to it. Each member's output activation comes before
    the mean over the members, as in ``predict``; the regressor's target
    scaling (``fold_target``) after it. ``output`` None names the result
    anew. Returns the name of the result.
    """
    layers = _member_layers(model)
    activations = list(model.hidden_activations_)
    A = X
    for k, (V, b) in enumerate(layers):
        product = graph.node(
            "MatMul", [A, graph.constant(f"layer{k}_weights", V)], f"layer{k}_matmul"
        )
        Z = graph.node(
            "Add", [product, graph.constant(f"layer{k}_bias", b)], f"layer{k}_add"
        )
        if k < len(activations):
            A = graph.activation(activations[k], Z, k)
    op_type = _OUTPUT_OPS.get(model.out_activation_)
    if op_type is not None:
        # The last axis: at opsets before 13 Softmax flattens the axes
        # from ``axis`` on, which for the last axis is the same.
        attrs = {"axis": 2} if op_type == "Softmax" else {}
        Z = graph.node(op_type, [Z], "output_activation", **attrs)
    y = graph.reduce("ReduceMean", Z, 0, "members_mean", keepdims=0)
    mean = getattr(model, "target_mean_", None) if fold_target else None
    if mean is not None:
        scale = graph.constant("target_scale", np.asarray(model.target_scale_))
        y = graph.node("Mul", [y, scale], "target_scale")
        mean = graph.constant("target_mean", np.asarray(mean, np.float64))
        return graph.node("Add", [y, mean], "target_mean", output)
    if output is None:
        return y
    return graph.node("Identity", [y], "members_output", output)
