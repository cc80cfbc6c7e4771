"""Epoch-end hooks: the validation monitor, the plateau rule and verbose printing.

A hook is called as ``hook(record, theta, state)`` after each epoch (each
L-BFGS iteration) with the epoch's record, the weights and the state; it may
fill in the record for the hooks after it and returns True to stop training.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

# Monitored record entry -> whether higher is better.
HIGHER_IS_BETTER = {
    "loss": False,
    "validation_loss": False,
    "validation_score": True,
}

_NAMES = {
    "loss": "Training loss",
    "validation_score": "Validation score",
    "validation_loss": "Validation loss",
}


def _better(value, best, higher_is_better):
    return value > best if higher_is_better else value < best


class ValidationMonitor:
    """Scores the held-out rows after each epoch and keeps the best weights.

    ``score(raw)`` turns the raw network output on the held-out rows into the
    estimator's score (higher is better; NaN when it cannot be computed); the
    loss is the training objective (mean loss plus L2 penalty) at
    prediction (running statistics, no dropout). The weights and state with
    the best ``metric`` (``'score'`` or ``'loss'``) so far are kept, with the
    score they had; a continued fit starts from its fitted weights and their
    best values.
    """

    def __init__(self, objective, X, Y, sample_weight, score, metric, theta, state,
                 best_score=-np.inf, best_loss=np.inf):  # fmt: skip
        self.objective, self.score = objective, score
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        self.total = (
            X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        )
        self.key = f"validation_{metric}"
        self.best_score, self.best_loss = best_score, best_loss
        self.best_theta = theta.copy()
        self.best_state = None if state is None else state.copy()

    def __call__(self, record, theta, state):
        network = self.objective.network
        raw = network.predict(theta, state, self.X)
        score = self.score(raw) if np.isfinite(raw).all() else np.nan
        if np.isfinite(score):
            loss, _ = self.objective.loss.value_and_delta(
                self.Y, raw, self.sample_weight
            )
            loss += self.objective.penalty(theta, self.total)
        else:
            score = loss = np.nan
        record["validation_score"], record["validation_loss"] = score, loss
        best = self.best_score if self.key == "validation_score" else self.best_loss
        if _better(record[self.key], best, HIGHER_IS_BETTER[self.key]):
            self.best_theta[...] = theta
            if state is not None:
                self.best_state[...] = state
            # The score of the kept weights, whichever value chose them.
            self.best_score = score
            self.best_loss = min(self.best_loss, loss)
        return False


class PlateauRule:
    """scikit-learn's stopping rule, as the last epoch-end hook.

    Counts epochs whose ``monitor``ed record entry (the training loss or the
    validation loss, lower is better, or the validation score, higher is
    better) fails to improve on ``best`` by ``tol``; after more than
    ``n_iter_no_change`` of them the progress's schedule reacts (the adaptive
    schedule shrinks its step) or training stops. It only counts: keeping
    the best weights is the validation monitor's job.
    """

    def __init__(self, progress, tol, n_iter_no_change, monitor="loss", log=None,
                 best=None, count=0):  # fmt: skip
        self.progress, self.tol, self.n_iter_no_change = progress, tol, n_iter_no_change
        self.monitor, self.log = monitor, log
        self.higher_is_better = HIGHER_IS_BETTER[monitor]
        if best is None:
            best = -np.inf if self.higher_is_better else np.inf
        self.best, self.count = best, count
        self.message = ""

    def __call__(self, record, theta, state):
        value, tol = record[self.monitor], self.tol
        sign = 1.0 if self.higher_is_better else -1.0
        if sign * value < sign * self.best + tol:
            self.count += 1
        else:
            self.count = 0
        if _better(value, self.best, self.higher_is_better):
            self.best = value
        if self.count <= self.n_iter_no_change:
            return False
        self.message = (
            f"{_NAMES[self.monitor]} did not improve more than tol={tol:f} for "
            f"{self.n_iter_no_change} consecutive epochs."
        )
        progress = self.progress
        schedule = progress.schedule
        if schedule.on_plateau(progress.n_seen):
            if self.log is not None:
                self.log(self.message + " Stopping.")
            return True
        if self.log is not None:
            rate = schedule.rate(progress.n_seen)
            self.log(self.message + f" Setting learning rate to {rate:f}")
        self.count = 0
        return False


def print_epoch(record, theta, state):
    """What ``verbose=True`` prints after each epoch, as scikit-learn does."""
    print(f"Iteration {record['epoch']}, loss = {record['loss']:.8f}")
    if record.get("validation_score") is not None:
        print(f"Validation score: {record['validation_score']:f}")
    return False
