"""First-order optimizers that update one flat parameter vector in place."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math

import numpy as np

# Updates run over blocks of this many entries: each block of every vector
# stays in cache across the update's passes, and the temporary is one block
# instead of a third copy of the parameters.
_BLOCK = 16384


class Optimizer:
    """What SGD and Adam share: block-wise updates, a work array, their state.

    ``step(theta, grad, learning_rate)`` updates ``theta`` in place; the rate
    belongs to the caller (the training loop asks its schedule for it), so an
    optimizer holds only the state its update rule accumulates, named in
    ``_state`` for ``state_dict``.

    ``rate_factors``, an array of shape (size,) or None, multiplies the rate
    entry by entry (RealMLP's per-parameter rates); it scales the step
    itself, so under Adam it is not undone by the normalisation as a scaled
    gradient would be. None, the default, costs one test per block.
    """

    _state = ()

    def __init__(self, size, dtype, rate_factors=None):
        self._blocks = [
            slice(start, min(start + _BLOCK, size)) for start in range(0, size, _BLOCK)
        ]
        self._work = np.empty(min(size, _BLOCK), dtype)
        self.rate_factors = rate_factors

    def state_dict(self):
        return {name: getattr(self, name) for name in self._state}

    def load_state_dict(self, state):
        for name in self._state:
            current = getattr(self, name)
            if isinstance(current, np.ndarray):
                current[...] = state[name]
            else:
                setattr(self, name, type(current)(state[name]))


class SGD(Optimizer):
    """Stochastic gradient descent with (Nesterov) momentum.

    The update is scikit-learn's: ``v <- momentum v - lr g`` then
    ``theta += v``, or with Nesterov ``theta += momentum v - lr g``.
    """

    _state = ("velocity",)

    def __init__(self, size, dtype, momentum=0.9, nesterov=True, rate_factors=None):
        super().__init__(size, dtype, rate_factors)
        self.momentum, self.nesterov = momentum, nesterov
        self.velocity = np.zeros(size, dtype)

    def step(self, theta, grad, learning_rate):
        """Update ``theta`` in place from the gradient ``grad``."""
        lr, momentum = float(learning_rate), self.momentum
        factors = self.rate_factors
        for block in self._blocks:
            v, g = self.velocity[block], grad[block]
            lr_g = np.multiply(g, lr, out=self._work[: g.shape[0]])
            if factors is not None:
                lr_g *= factors[block]
            v *= momentum
            v -= lr_g
            if self.nesterov:
                # Look-ahead step: momentum * v_new - lr * g.
                theta[block] -= lr_g
                np.multiply(v, momentum, out=lr_g)
                theta[block] += lr_g
            else:
                theta[block] += v


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2014) with scikit-learn's update and defaults."""

    _state = ("t", "m", "v")

    def __init__(
        self, size, dtype, beta_1=0.9, beta_2=0.999, epsilon=1e-8, rate_factors=None
    ):
        super().__init__(size, dtype, rate_factors)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.t = 0
        self.m = np.zeros(size, dtype)
        self.v = np.zeros(size, dtype)

    def step(self, theta, grad, learning_rate):
        """Update ``theta`` in place from the gradient ``grad``."""
        b1, b2 = self.beta_1, self.beta_2
        self.t += 1
        # Bias correction folded into the step size (Kingma & Ba, 2014, Sec. 2).
        # math.sqrt keeps lr a Python float: a NumPy float64 scalar would send
        # every float32 pass below through a float64 loop (NEP 50).
        lr = float(learning_rate) * math.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        factors = self.rate_factors
        for block in self._blocks:
            m, v, g = self.m[block], self.v[block], grad[block]
            work = self._work[: g.shape[0]]
            m *= b1
            m += np.multiply(g, 1 - b1, out=work)
            v *= b2
            np.square(g, out=work)
            work *= 1 - b2
            v += work
            np.sqrt(v, out=work)
            work += self.epsilon
            np.divide(m, work, out=work)
            work *= lr
            if factors is not None:
                work *= factors[block]
            theta[block] -= work


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
