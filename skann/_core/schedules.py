"""Learning-rate schedules: the step size of each epoch, for every minibatch solver."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math

# The adaptive schedule gives up once a plateau would push the step below this
# (scikit-learn's threshold).
MIN_ADAPTIVE_LEARNING_RATE = 1e-6

# Each plateau of the adaptive schedule divides the step by this.
ADAPTIVE_DIVISOR = 5.0


def _unchanged(schedule, base, epoch, n_seen):
    return base


def _invscaling(schedule, base, epoch, n_seen):
    return base / (n_seen + 1) ** schedule.power_t


def _cosine(schedule, base, epoch, n_seen):
    floor = schedule.min_learning_rate
    horizon = max(schedule.max_iter - schedule.warmup_epochs, 1)
    progress = min(epoch, horizon) / horizon
    return floor + (base - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _coslog(schedule, base, epoch, n_seen):
    floor = schedule.min_learning_rate
    horizon = max(schedule.max_iter - schedule.warmup_epochs, 1)
    # The rate of an epoch is the curve's value at the epoch's midpoint: at its
    # start, the first epoch and every epoch starting a cycle would run at 0.
    progress = min((epoch + 0.5) / horizon, 1.0)
    cycles = schedule.lr_cycles
    # Cycle k (from 0) spans log2(1 + (2^K - 1) t) in [k, k + 1), that is
    # t in [(2^k - 1), (2^(k+1) - 1)) / (2^K - 1): each cycle twice as long.
    phase = math.log2(1.0 + (2.0**cycles - 1.0) * progress)
    return floor + (base - floor) * 0.5 * (1.0 - math.cos(2.0 * math.pi * phase))


def _step(schedule, base, epoch, n_seen):
    decay = schedule.lr_decay ** (epoch // schedule.lr_step)
    return max(schedule.min_learning_rate, base * decay)


def _exponential(schedule, base, epoch, n_seen):
    decay = schedule.lr_decay ** (epoch / schedule.lr_step)
    return max(schedule.min_learning_rate, base * decay)


# Schedule name -> rate(schedule, base, epoch after warm-up, samples seen).
RATES = {
    "constant": _unchanged,
    "invscaling": _invscaling,
    "adaptive": _unchanged,
    "cosine": _cosine,
    "step": _step,
    "exponential": _exponential,
    "coslog": _coslog,
}
SCHEDULES = tuple(RATES)


class Schedule:
    """The learning rate of each epoch.

    ``rate(n_seen)`` gives the rate of the next epoch, the one with index
    ``epoch`` (counted from 0 in this fit), after ``n_seen`` training samples
    in all; ``end_epoch()`` moves to the next. The rate is ``learning_rate``
    times ``factor`` (which ``shrink`` lowers: the adaptive schedule on a
    plateau, a restart after a divergence), shaped by the schedule:

    - ``constant``, ``adaptive``: unchanged;
    - ``invscaling``: divided by ``(n_seen + 1) ** power_t`` (scikit-learn's);
    - ``cosine``: half a cosine from the rate down to ``min_learning_rate``
      over the ``max_iter`` epochs after the warm-up;
    - ``step``: multiplied by ``lr_decay`` every ``lr_step`` epochs, at once;
    - ``exponential``: the same decay spread evenly over the epochs,
      ``lr_decay ** (epoch / lr_step)``;
    - ``coslog``: RealMLP's multi-cycle cosine in logarithmic time
      (Holzmüller et al., 2024). With ``H = max_iter - warmup_epochs``,
      ``K = lr_cycles`` and ``t = min((epoch + 0.5) / H, 1)`` the fraction of
      training done at the middle of the epoch, the rate is
      ``min_learning_rate + (rate - min_learning_rate) * 0.5 * (1 - cos(2 pi
      log2(1 + (2^K - 1) t)))``. Each of the ``K`` cycles rises from
      ``min_learning_rate`` to the rate and falls back, and lasts twice as
      long as the one before: the first ends at ``t = 1 / (2^K - 1)``, the
      last starts at ``t = (2^(K-1) - 1) / (2^K - 1)``, just before the middle.
      RealMLP evaluates the curve at every step; here it is evaluated once per
      epoch, at the epoch's midpoint, so no epoch runs at the zero rate of
      ``t = 0``. After ``H`` epochs the rate stays at ``min_learning_rate``.

    ``step`` and ``exponential`` stop at ``min_learning_rate``. The first
    ``warmup_epochs`` epochs ramp linearly up to the rate:
    ``(epoch + 1) / (warmup_epochs + 1)`` of it.
    """

    def __init__(
        self, name, learning_rate, *, power_t=0.5, max_iter=200, lr_decay=0.5,
        lr_step=10, min_learning_rate=0.0, warmup_epochs=0, lr_cycles=4,
    ):  # fmt: skip
        self.name = name
        self._rate = RATES[name]
        self.learning_rate = float(learning_rate)
        self.power_t, self.max_iter = power_t, max_iter
        self.lr_decay, self.lr_step = lr_decay, lr_step
        self.min_learning_rate, self.warmup_epochs = min_learning_rate, warmup_epochs
        self.lr_cycles = lr_cycles
        self.factor = 1.0
        self.epoch = 0

    def rate(self, n_seen=0):
        base = self.learning_rate * self.factor
        if self.epoch < self.warmup_epochs:
            return base * (self.epoch + 1) / (self.warmup_epochs + 1)
        return self._rate(self, base, self.epoch - self.warmup_epochs, n_seen)

    def end_epoch(self):
        self.epoch += 1

    def shrink(self, divisor):
        """Divide every later rate by ``divisor``."""
        self.factor /= divisor

    def on_plateau(self, n_seen=0):
        """React to a plateau; return True when training should stop."""
        if self.name != "adaptive" or self.rate(n_seen) <= MIN_ADAPTIVE_LEARNING_RATE:
            return True
        self.shrink(ADAPTIVE_DIVISOR)
        return False

    def state_dict(self):
        return {"factor": self.factor, "epoch": self.epoch}

    def load_state_dict(self, state):
        self.factor, self.epoch = float(state["factor"]), int(state["epoch"])
