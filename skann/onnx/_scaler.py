"""The converter of RobustSmoothClipScaler: centre, scale and smooth clip."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from sklearn.utils.validation import check_is_fitted

from skann.onnx._graph import _float_output_shape, _Graph, _graph_dtype


def _scaler_shape(operator):
    """Output: a float (double for double input) tensor of the input's shape."""
    model = operator.raw_operator
    check_is_fitted(model)
    _float_output_shape(operator, model.n_features_in_)


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
