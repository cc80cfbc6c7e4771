"""scikit-learn's callback protocol (``sklearn.callback``), where it exists."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import copy
from contextlib import contextmanager

from skann._core.training import history_columns

try:
    from sklearn.callback import CallbackSupportMixin
    from sklearn.callback._callback_support import callback_management_context
except ImportError:  # scikit-learn < 1.9 has no callbacks
    callback_management_context = None

    class CallbackSupportMixin:
        """Stand-in base for scikit-learn versions without ``sklearn.callback``."""


@contextmanager
def fit_task(
    estimator, X, y, max_subtasks, network=None, theta=None, state=None,
    sample_weight=None, progress=None,
):  # fmt: skip
    """The fit task of ``estimator``: yields the epoch-end hooks of its callbacks.

    Without callbacks (always so before scikit-learn 1.9) there are no hooks
    and nothing else happens. Otherwise the task follows scikit-learn's
    protocol as ``LogisticRegression`` does: the callbacks are set up, the
    task begins, each epoch (each L-BFGS iteration) is a subtask, the task
    ends and the callbacks are torn down, also when training raises.
    ``network``, ``theta`` and ``state`` (the weights training starts from)
    let the callbacks see an estimator fitted as of any epoch, and
    ``sample_weight`` is handed to them as metadata; ``progress`` is the
    fit's record, whose history the reconstructed estimators carry.
    """
    if callback_management_context is None or not getattr(
        estimator, "_skl_callbacks", None
    ):
        yield []
        return
    # Tear down here, not only in _fit_context: a failed fit restores the
    # estimator's attributes, which drops the context that teardown looks for.
    with callback_management_context(estimator):
        task = _FitTask(estimator, X, y, max_subtasks, network, sample_weight, progress)
        task.begin(theta, state)
        yield [task]
        task.end()


class _FitTask:
    """The callback contexts of one fit: the root task and one subtask per epoch.

    Called as an epoch-end hook, it ends the epoch's subtask and returns the
    callbacks' request to stop; unless training is bound to end there (a
    stop, or the last epoch of the budget), it begins the next epoch's
    subtask right away, since the loop has no epoch-start hook. A subtask
    begun for an epoch that never runs (the plateau rule or L-BFGS stopped
    first) is ended empty when the task ends, as scikit-learn's L-BFGS bridge
    for ``LogisticRegression`` does.
    """

    def __init__(self, estimator, X, y, max_subtasks, network, sample_weight, progress):
        self.estimator, self.X, self.y = estimator, X, y
        self.max_subtasks, self.network = max_subtasks, network
        self.progress = progress
        # scikit-learn's metadata are fit parameters: ScoringMonitor passes
        # them on to its scorer, which accepts sample_weight and nothing else.
        self.metadata = (
            None if sample_weight is None else {"sample_weight": sample_weight}
        )
        self.subtask_name = "epoch" if estimator._is_stochastic() else "lbfgs-iter"
        self.n_epochs = 0
        self.summary = {}
        self.epoch_context = None
        self.context = estimator._init_callback_context(max_subtasks=max_subtasks)
        self.context.call_on_fit_task_begin(
            estimator=estimator, X=X, y=y, metadata=self.metadata
        )

    def begin(self, theta, state):
        """Begin the next epoch's subtask, from weights ``theta``."""
        self.epoch_context = self.context.subcontext(task_name=self.subtask_name)
        self.epoch_context.call_on_fit_task_begin(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes=lambda: self._fitted_attributes(theta, state),
        )

    def __call__(self, record, theta, state):
        self.n_epochs += 1
        # The fit's record, earlier fits' epochs included, and this epoch's,
        # which training adds to it after the hooks.
        history = [*self.progress.history, dict(record)]
        self.summary = {
            "n_iter_": self.n_epochs,
            "loss_": record["loss"],
            "_history": history_columns(history),
        }
        stop = self.epoch_context.call_on_fit_task_end(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes=lambda: self._fitted_attributes(theta, state),
        )
        self.epoch_context = None
        if not stop and self.n_epochs < self.max_subtasks:
            self.begin(theta, state)
        return stop

    def end(self):
        """End the fit task, on the fitted estimator."""
        if self.epoch_context is not None:
            self.epoch_context.call_on_fit_task_end(estimator=self.estimator)
        self.context.call_on_fit_task_end(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes={},
        )

    def _fitted_attributes(self, theta, state):
        """The attributes of the estimator as if fit had stopped at ``theta``."""
        if self.network is None:
            return None
        estimator = self.estimator
        scratch = copy.copy(estimator)
        scratch._set_fitted_network(self.network, theta, state)
        before = vars(estimator)
        attributes = {
            name: value
            for name, value in vars(scratch).items()
            if name not in before or before[name] is not value
        }
        return attributes | self.summary
