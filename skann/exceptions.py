"""Exceptions that skann raises beyond scikit-learn's."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

__all__ = ["TrainingDiverged"]


class TrainingDiverged(ValueError):
    """Training stopped because its loss became non-finite or exploded.

    Raised by ``fit`` and ``partial_fit`` when a batch loss is not finite,
    an epoch's loss exceeds a million times the loss at the initial weights
    (or a million, if that is larger), or a weight overflows. A fresh fit that
    diverges leaves the estimator unfitted; a continued one (``warm_start``,
    ``partial_fit``) keeps the state it continued from.

    Parameters
    ----------
    epoch : int
        The epoch (the iteration, for ``'lbfgs'``) at which training stopped.
    loss : float
        The loss that stopped it.
    step : {'epoch', 'iteration'}, default='epoch'
        What ``epoch`` counts; chooses the advice in the message.
    """

    def __init__(self, epoch, loss, step="epoch"):
        self.epoch, self.loss = epoch, loss
        advice = (
            "Lower `learning_rate`, clip the steps (`max_grad_norm=1.0`), "
            "standardise a regression target (`target_scaling='standard'`), "
            "scale the inputs (for example with StandardScaler) or use a "
            "smaller network."
            if step == "epoch"
            else "Scale the inputs (for example with StandardScaler) and, for "
            "regression, the target (`target_scaling='standard'`)."
        )
        self.step = step
        super().__init__(
            f"Training diverged at {step} {epoch}: the loss became {loss:.6g}. {advice}"
        )

    def __reduce__(self):
        # Rebuilt from its fields, so the error survives joblib's worker processes.
        return type(self), (self.epoch, self.loss, self.step)
