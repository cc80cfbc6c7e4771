"""Hidden-layer activations: each a forward map and its derivative."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from skann._core._math import sigmoid


class Activation(NamedTuple):
    """An activation ``a = f(z)`` and its derivative.

    ``forward(Z)`` overwrites the fresh pre-activation ``Z`` with ``f(Z)`` and
    returns it. ``derivative(A, delta, scratch=None)`` multiplies ``delta`` in
    place by ``f'(z)``, written in terms of the output ``A = f(z)``, so that the
    backward pass needs no copy of ``Z``; ``scratch``, an array of ``A``'s
    shape, holds ``f'(z)`` instead of a fresh temporary; ``scratch_dtype`` is
    its dtype when it differs from the network's. ``init_gain`` is the
    numerator of Glorot's uniform bound ``sqrt(gain / (fan_in + fan_out))``.
    """

    forward: Callable
    derivative: Callable
    init_gain: float
    scratch_dtype: type | None = None


def _identity(Z):
    return Z


def _identity_derivative(A, delta, scratch=None):
    return delta


def _relu(Z):
    return np.maximum(Z, 0, out=Z)


def _relu_derivative(A, delta, scratch=None):
    # Multiplying by the 0/1 mask is one pass; ``delta[A == 0] = 0`` is a
    # fancy-index scatter that costs several times more on large batches.
    # The mask may be boolean: a float delta times a bool stays float.
    return np.multiply(delta, np.greater(A, 0, out=scratch), out=delta)


def _tanh(Z):
    return np.tanh(Z, out=Z)


def _tanh_derivative(A, delta, scratch=None):
    # tanh'(z) = 1 - tanh(z)^2
    slope = np.multiply(A, A, out=scratch)
    np.subtract(1, slope, out=slope)
    return np.multiply(delta, slope, out=delta)


def _logistic(Z):
    return sigmoid(Z, out=Z)


def _logistic_derivative(A, delta, scratch=None):
    # sigma'(z) = sigma(z) (1 - sigma(z))
    slope = np.subtract(1, A, out=scratch)
    slope *= A
    return np.multiply(delta, slope, out=delta)


_LOGISTIC = Activation(_logistic, _logistic_derivative, 2.0)

ACTIVATIONS = {
    "identity": Activation(_identity, _identity_derivative, 6.0),
    "relu": Activation(_relu, _relu_derivative, 6.0, np.bool_),
    "tanh": Activation(_tanh, _tanh_derivative, 6.0),
    "logistic": _LOGISTIC,
    # The articles' name for the logistic function.
    "sigmoid": _LOGISTIC,
}
