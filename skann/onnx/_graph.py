"""The graph-building helpers the converters share: nodes, constants, activations."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from onnx import TensorProto
from skl2onnx.common.data_types import (
    BooleanTensorType,
    DoubleTensorType,
    FloatTensorType,
    Int32TensorType,
    Int64TensorType,
)
from skl2onnx.common.utils import (
    check_input_and_output_numbers,
    check_input_and_output_types,
)

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


def _float_output_shape(operator, width):
    """Check one float input and set the one output to (n_samples, ``width``).

    The output is float, or double for a double input.
    """
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(operator, good_input_types=_INPUT_TYPES)
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = _tensor_type(_graph_dtype(operator))([n_rows, width])
