"""Weight averages that become the fitted weights: EMA and SWA."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np


class EMA:
    """An exponential moving average of the weights after each step.

    It starts at the first step's weights, with decay ``min(decay, (1 + t) /
    (10 + t))`` at step ``t`` (counted from 0): the early, poor weights of a
    short fit fade quickly, and a long fit averages over about
    ``1 / (1 - decay)`` steps.
    """

    def __init__(self, size, dtype, decay=0.999):
        self.decay = decay
        self.t = 0
        self.total = np.zeros(size, dtype)

    def after_step(self, theta):
        if self.t == 0:
            self.total[...] = theta
        else:
            decay = min(self.decay, (1 + self.t) / (10 + self.t))
            self.total *= decay
            self.total += (1.0 - decay) * theta
        self.t += 1

    def after_epoch(self, theta):
        pass

    def weights(self, theta):
        """The averaged weights (``theta`` itself before any step)."""
        return theta if self.t == 0 else self.total

    def state_dict(self):
        return {"t": self.t, "total": self.total}

    def load_state_dict(self, state):
        self.t = int(state["t"])
        self.total[...] = state["total"]


class SWA:
    """The plain mean of the weights at the end of the last ``window`` epochs."""

    def __init__(self, size, dtype, window=10):
        self.window = window
        self.t = 0
        self.snapshots = np.zeros((window, size), dtype)
        self._out = np.empty(size, dtype)

    def after_step(self, theta):
        pass

    def after_epoch(self, theta):
        self.snapshots[self.t % self.window] = theta
        self.t += 1

    def weights(self, theta):
        """The averaged weights (``theta`` itself before any epoch)."""
        if self.t == 0:
            return theta
        n = min(self.t, self.window)
        return np.mean(self.snapshots[:n], axis=0, out=self._out)

    def state_dict(self):
        return {"t": self.t, "snapshots": self.snapshots}

    def load_state_dict(self, state):
        self.t = int(state["t"])
        self.snapshots[...] = state["snapshots"]


AVERAGERS = {"ema": EMA, "swa": SWA}
