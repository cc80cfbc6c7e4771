"""Hidden-layer activations: each a forward map and its derivative."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from skann._core._math import sigmoid


class Activation(NamedTuple):
    """An activation ``a = f(z)`` and its derivative.

    ``forward(Z, out)`` writes ``f(Z)`` into ``out`` and returns it; ``out``
    may be ``Z`` itself. ``derivative(Z, A, delta, scratch)`` multiplies
    ``delta`` in place by ``f'(z)`` and returns it. Where ``needs_input`` is
    False the derivative is written in terms of the output ``A = f(z)`` alone,
    so the layer may overwrite ``Z`` and keep no copy of it (``Z`` is then
    None); otherwise ``Z`` is kept. ``scratch`` is an array of ``A``'s shape
    for ``f'(z)``, of ``scratch_dtype`` when that is set (boolean for a 0/1
    mask). ``init_gain`` is the numerator of Glorot's uniform bound
    ``sqrt(gain / (fan_in + fan_out))`` of the layer feeding the activation.
    """

    forward: Callable
    derivative: Callable
    init_gain: float = 6.0
    needs_input: bool = False
    scratch_dtype: type | None = None


def _identity(Z, out):
    if out is not Z:
        out[...] = Z
    return out


def _identity_derivative(Z, A, delta, scratch):
    return delta


def _relu(Z, out):
    return np.maximum(Z, 0, out=out)


def _relu_derivative(Z, A, delta, scratch):
    # Multiplying by the 0/1 mask is one pass; ``delta[A == 0] = 0`` is a
    # fancy-index scatter that costs several times more on large batches.
    # The mask may be boolean: a float delta times a bool stays float.
    return np.multiply(delta, np.greater(A, 0, out=scratch), out=delta)


def _tanh(Z, out):
    return np.tanh(Z, out=out)


def _tanh_derivative(Z, A, delta, scratch):
    # tanh'(z) = 1 - tanh(z)^2; np.square is x * x to the bit, and on an
    # array in cache twice as fast as np.multiply(A, A).
    slope = np.square(A, out=scratch)
    np.subtract(1, slope, out=slope)
    return np.multiply(delta, slope, out=delta)


def _logistic(Z, out):
    return sigmoid(Z, out=out)


def _logistic_derivative(Z, A, delta, scratch):
    # sigma'(z) = sigma(z) (1 - sigma(z))
    slope = np.subtract(1, A, out=scratch)
    slope *= A
    return np.multiply(delta, slope, out=delta)


_LEAKY_SLOPE = 0.01


def _leaky_relu(Z, out):
    # max(z, 0.01 z) is z for z >= 0 and 0.01 z below.
    return np.maximum(Z, np.multiply(Z, _LEAKY_SLOPE), out=out)


def _leaky_relu_derivative(Z, A, delta, scratch):
    # The output has the sign of z: 1 where it is positive, 0.01 elsewhere.
    slope = np.greater(A, 0, out=scratch)
    return np.multiply(delta, np.where(slope, 1.0, _LEAKY_SLOPE), out=delta)


def _elu(Z, out):
    # z for z > 0, exp(z) - 1 otherwise (alpha = 1); expm1 is exact near 0.
    below = Z <= 0
    negative = np.expm1(np.minimum(Z, 0))
    if out is not Z:
        np.copyto(out, Z)
    np.copyto(out, negative, where=below)
    return out


def _elu_derivative(Z, A, delta, scratch):
    # 1 for z > 0; exp(z) = a + 1 otherwise, so the output alone suffices.
    slope = np.add(A, 1, out=scratch)
    np.minimum(slope, 1, out=slope)
    return np.multiply(delta, slope, out=delta)


def _softplus(Z, out):
    # log(1 + e^z) = log(e^0 + e^z), overflow-free.
    return np.logaddexp(0.0, Z, out=out)


def _softplus_derivative(Z, A, delta, scratch):
    # softplus'(z) = sigma(z) = 1 - exp(-softplus(z)); -expm1 keeps it exact
    # where softplus(z) is tiny (very negative z).
    slope = np.negative(A, out=scratch)
    np.expm1(slope, out=slope)
    np.negative(slope, out=slope)
    return np.multiply(delta, slope, out=delta)


# GELU in the tanh approximation of Hendrycks & Gimpel (2016):
# 0.5 z (1 + tanh(sqrt(2 / pi) (z + 0.044715 z^3))).
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715


def _gelu_inner(Z, scratch):
    # u = c (z + k z^3), into scratch
    u = np.square(Z, out=scratch)
    u *= _GELU_K
    u += 1.0
    u *= Z
    u *= _GELU_C
    return u


def _gelu(Z, out):
    t = np.tanh(_gelu_inner(Z, np.empty_like(Z)))
    t += 1.0
    t *= Z
    return np.multiply(t, 0.5, out=out)


def _gelu_derivative(Z, A, delta, scratch):
    # d/dz = 0.5 (1 + t) + 0.5 z (1 - t^2) c (1 + 3 k z^2), t = tanh(u).
    t = np.tanh(_gelu_inner(Z, scratch), out=scratch)
    inner = np.square(Z)
    inner *= 3 * _GELU_K
    inner += 1.0
    inner *= _GELU_C
    inner *= Z
    one_minus_t2 = 1.0 - np.square(t)
    inner *= one_minus_t2
    t += 1.0
    t += inner
    t *= 0.5
    return np.multiply(delta, t, out=delta)


def _silu(Z, out):
    # z sigma(z); computed out of place because z is still needed.
    return np.multiply(Z, sigmoid(Z), out=out)


def _silu_derivative(Z, A, delta, scratch):
    # d/dz z s = s + z s (1 - s) = s (1 + z (1 - s)), s = sigma(z)
    s = sigmoid(Z, out=scratch)
    slope = np.subtract(1.0, s)
    slope *= Z
    slope += 1.0
    slope *= s
    return np.multiply(delta, slope, out=delta)


_LOGISTIC = Activation(_logistic, _logistic_derivative, 2.0)
_SILU = Activation(_silu, _silu_derivative, needs_input=True)

ACTIVATIONS = {
    "identity": Activation(_identity, _identity_derivative),
    "relu": Activation(_relu, _relu_derivative, scratch_dtype=np.bool_),
    "tanh": Activation(_tanh, _tanh_derivative),
    "logistic": _LOGISTIC,
    # The articles' name for the logistic function.
    "sigmoid": _LOGISTIC,
    "leaky_relu": Activation(
        _leaky_relu, _leaky_relu_derivative, scratch_dtype=np.bool_
    ),
    "elu": Activation(_elu, _elu_derivative),
    "softplus": Activation(_softplus, _softplus_derivative),
    "gelu": Activation(_gelu, _gelu_derivative, needs_input=True),
    "silu": _SILU,
    # Ramachandran et al.'s name for the same function.
    "swish": _SILU,
}
