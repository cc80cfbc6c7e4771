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
    returns it. ``derivative(A, delta)`` multiplies ``delta`` in place by
    ``f'(z)``, written in terms of the output ``A = f(z)``, so that the backward
    pass needs no copy of ``Z``. ``init_gain`` is the numerator of Glorot's
    uniform bound ``sqrt(gain / (fan_in + fan_out))``.
    """

    forward: Callable
    derivative: Callable
    init_gain: float


def _identity(Z):
    return Z


def _identity_derivative(A, delta):
    return delta


def _relu(Z):
    return np.maximum(Z, 0, out=Z)


def _relu_derivative(A, delta):
    # Multiplying by the mask is one pass; ``delta[A == 0] = 0`` is a fancy-index
    # scatter that costs several times more on large batches.
    return np.multiply(delta, A > 0, out=delta)


def _tanh(Z):
    return np.tanh(Z, out=Z)


def _tanh_derivative(A, delta):
    # tanh'(z) = 1 - tanh(z)^2
    delta *= 1 - A * A
    return delta


def _logistic(Z):
    return sigmoid(Z, out=Z)


def _logistic_derivative(A, delta):
    # sigma'(z) = sigma(z) (1 - sigma(z))
    delta *= A * (1 - A)
    return delta


_LOGISTIC = Activation(_logistic, _logistic_derivative, 2.0)

ACTIVATIONS = {
    "identity": Activation(_identity, _identity_derivative, 6.0),
    "relu": Activation(_relu, _relu_derivative, 6.0),
    "tanh": Activation(_tanh, _tanh_derivative, 6.0),
    "logistic": _LOGISTIC,
    # The articles' name for the logistic function.
    "sigmoid": _LOGISTIC,
}
