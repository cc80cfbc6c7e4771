"""scikit-learn's callback protocol (``sklearn.callback``) on both estimators."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skann._callbacks
from skann import ANNClassifier, ANNRegressor

sklearn_callback = pytest.importorskip(
    "sklearn.callback",
    reason="callbacks need scikit-learn >= 1.9, which has sklearn.callback",
)

ESTIMATORS = [ANNClassifier, ANNRegressor]
SOLVERS = ["sgd", "adam", "lbfgs"]

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)


class Recorder:
    """A FitCallback that records each hook call and can ask to stop.

    ``stop_after`` is the number of epoch subtasks after which the end hook
    returns True.
    """

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.calls = []
        self.ends = []

    def setup(self, estimator, context):
        self.calls.append(("setup", None, None))

    def teardown(self, estimator, context):
        self.calls.append(("teardown", None, None))

    def on_fit_task_begin(
        self, estimator, context, *, X=None, y=None, metadata=None,
        fitted_estimator=None,
    ):  # fmt: skip
        self.calls.append(("begin", context, fitted_estimator))

    def on_fit_task_end(
        self, estimator, context, *, X=None, y=None, metadata=None,
        fitted_estimator=None,
    ):  # fmt: skip
        self.calls.append(("end", context, fitted_estimator))
        self.ends.append((X, y, metadata))
        is_subtask = context.parent is not None
        return is_subtask and context.task_id + 1 == self.stop_after

    def sequence(self):
        """The calls as ``(hook, task_name)`` pairs, in order."""
        return [
            (hook, None if context is None else context.task_name)
            for hook, context, _ in self.calls
        ]

    def subtask_ends(self):
        return [
            fitted
            for hook, context, fitted in self.calls
            if hook == "end" and context.parent is not None
        ]


class NoOp:
    """A FitCallback that does nothing."""

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        pass


def small(Estimator, solver, **params):
    """A small seeded network that runs its whole budget of 5 epochs."""
    defaults = {
        "hidden_layer_sizes": (5,),
        "solver": solver,
        "max_iter": 5,
        "n_iter_no_change": 10,
        "tol": 0.0,
        "random_state": 0,
    }
    return Estimator(**{**defaults, **params})


def expected_sequence(subtask, n_subtasks):
    return [
        ("setup", None),
        ("begin", "fit"),
        *[(hook, subtask) for _ in range(n_subtasks) for hook in ("begin", "end")],
        ("end", "fit"),
        ("teardown", None),
    ]


def test_recorder_follows_the_protocol():
    assert isinstance(Recorder(), sklearn_callback.FitCallback)
    assert isinstance(NoOp(), sklearn_callback.FitCallback)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_hooks_per_epoch_when_the_budget_is_used(Estimator, solver, data):
    """One fit task, one subtask per epoch (L-BFGS iteration), in order.

    When training runs its whole budget no subtask is left over: 5 epochs
    give 6 begin and 6 end calls (scikit-learn's LogisticRegression gives
    one more pair with L-BFGS, an empty last iteration).
    """
    X, y = data
    recorder = Recorder()
    estimator = small(Estimator, solver).set_callbacks(recorder).fit(X, y)

    assert estimator.n_iter_ == 5
    subtask = "lbfgs-iter" if solver == "lbfgs" else "epoch"
    assert recorder.sequence() == expected_sequence(subtask, 5)
    contexts = [context for hook, context, _ in recorder.calls if hook == "begin"]
    root, *epochs = contexts
    assert root.parent is None and root.max_subtasks == 5
    assert [c.task_id for c in epochs] == [0, 1, 2, 3, 4]
    assert all(c.parent is root and c.max_subtasks == 0 for c in epochs)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_plateau_stop_leaves_one_empty_subtask(Estimator, solver, data):
    """The plateau rule decides after the callbacks have seen the epoch.

    The next epoch's subtask has begun by then; it ends empty (no data, no
    fitted estimator), so there are n_iter_ + 1 subtasks.
    """
    X, y = data
    recorder = Recorder()
    estimator = small(
        Estimator, solver, max_iter=50, tol=1e3, n_iter_no_change=2
    ).set_callbacks(recorder)
    estimator.fit(X, y)

    assert estimator.n_iter_ < 50
    ends = recorder.subtask_ends()
    assert len(ends) == estimator.n_iter_ + 1
    assert ends[-1] is None and all(e is not None for e in ends[:-1])
    assert recorder.sequence() == expected_sequence("epoch", estimator.n_iter_ + 1)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_lbfgs_convergence_leaves_one_empty_subtask(Estimator, data):
    """L-BFGS converging before max_iter: n_iter_ + 1 subtasks, the last empty.

    This is LogisticRegression's convention, whose count is the same here.
    """
    X, y = data
    recorder = Recorder()
    estimator = small(Estimator, "lbfgs", max_iter=1000, tol=1e-2)
    estimator.set_callbacks(recorder).fit(X, y)

    assert estimator.n_iter_ < 1000
    ends = recorder.subtask_ends()
    assert len(ends) == estimator.n_iter_ + 1
    assert ends[-1] is None

    logistic = LogisticRegression(max_iter=1000, tol=1e-2)
    logistic_recorder = Recorder()
    logistic.set_callbacks(logistic_recorder).fit(X, X[:, 0] > 0)
    assert len(logistic_recorder.subtask_ends()) == logistic.n_iter_[0] + 1


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_is_one_task_of_one_epoch(Estimator, data):
    X, y = data
    recorder = Recorder()
    estimator = small(Estimator, "adam").set_callbacks(recorder)
    classes = {"classes": np.unique(y)} if Estimator is ANNClassifier else {}
    estimator.partial_fit(X, y, **classes)
    assert recorder.sequence() == expected_sequence("epoch", 1)

    recorder.calls.clear()
    estimator.partial_fit(X, y)
    assert recorder.sequence() == expected_sequence("epoch", 1)
    (fitted,) = recorder.subtask_ends()
    assert fitted.n_iter_ == 1
    assert fitted.history_[-1]["epoch"] == 2


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_callback_stops_training(Estimator, solver, data):
    X, y = data
    recorder = Recorder(stop_after=3)
    estimator = small(Estimator, solver, max_iter=20).set_callbacks(recorder)
    with warnings.catch_warnings():
        # A requested stop is not a failure to converge.
        warnings.simplefilter("error", ConvergenceWarning)
        estimator.fit(X, y)

    assert estimator.n_iter_ == 3
    assert len(estimator.loss_curve_) == 3
    subtask = "lbfgs-iter" if solver == "lbfgs" else "epoch"
    assert recorder.sequence() == expected_sequence(subtask, 3)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_fitted_estimator_is_the_epochs_network(Estimator, solver, data):
    """Each epoch's fitted estimator predicts with that epoch's weights."""
    X, y = data
    recorder = Recorder()
    estimator = small(Estimator, solver).set_callbacks(recorder).fit(X, y)

    ends = recorder.subtask_ends()
    for epoch, fitted in enumerate(ends, start=1):
        assert fitted is not estimator
        assert fitted.n_iter_ == epoch
        assert fitted.loss_ == estimator.loss_curve_[epoch - 1]
        assert fitted.history_[-1]["epoch"] == epoch
        assert fitted.history_[-1]["loss"] == fitted.loss_
        fitted.predict(X)
    assert not np.array_equal(ends[0].coefs_[0], ends[-1].coefs_[0])
    for W, W_last in zip(estimator.coefs_, ends[-1].coefs_, strict=True):
        assert_array_equal(W, W_last)

    # The first epoch begins on the initial weights; the fit task ends on the
    # fitted estimator itself.
    _, _, initial = recorder.calls[2]
    assert not hasattr(initial, "n_iter_")
    initial.predict(X)
    _, _, final = recorder.calls[-2]
    for W, W_final in zip(estimator.coefs_, final.coefs_, strict=True):
        assert_array_equal(W, W_final)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_epoch_record_holds_the_validation_score(Estimator, data):
    X, y = data
    recorder = Recorder()
    estimator = small(Estimator, "adam", early_stopping=True, validation_fraction=0.2)
    estimator.set_callbacks(recorder).fit(X, y)
    scores = [
        fitted.history_[-1]["validation_score"] for fitted in recorder.subtask_ends()
    ]
    assert scores == estimator.validation_scores_


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_metadata_are_the_sample_weights(Estimator, data):
    X, y = data
    recorder = Recorder()
    estimator = small(Estimator, "adam").set_callbacks(recorder)
    estimator.fit(X, y)
    assert all(metadata is None for _, _, metadata in recorder.ends[:-1])

    sample_weight = np.linspace(0.5, 1.5, len(y))
    recorder.ends.clear()
    estimator.fit(X, y, sample_weight=sample_weight)
    X_seen, y_seen, metadata = recorder.ends[0]
    assert_array_equal(X_seen, X)
    assert_array_equal(y_seen, y)
    assert_array_equal(metadata["sample_weight"], sample_weight)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_scoring_monitor_logs_every_epoch(Estimator, solver, data):
    X, y = data
    name = "r2" if Estimator is ANNRegressor else "accuracy"
    monitor = sklearn_callback.ScoringMonitor(scoring=name)
    estimator = small(Estimator, solver).set_callbacks(monitor)
    estimator.fit(X, y, sample_weight=np.ones(len(y)))

    rows = monitor.get_logs().data
    epochs = [row for row in rows if len(row["task_id_path"]) == 2]
    assert [row["task_id"] for row in epochs] == list(range(estimator.n_iter_))
    assert all(np.isfinite(row[name]) for row in rows)
    (fit,) = [row for row in rows if row["task_name"] == "fit"]
    assert fit[name] == pytest.approx(estimator.score(X, y))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_callbacks_leave_the_weights_unchanged(Estimator, solver, data):
    """Without callbacks, with a no-op one, with one that asks for each epoch's
    fitted estimator, and with callbacks set then cleared: the same weights."""
    X, y = data
    plain = small(Estimator, solver).fit(X, y)
    with_noop = small(Estimator, solver).set_callbacks(NoOp()).fit(X, y)
    recorded = small(Estimator, solver).set_callbacks(Recorder()).fit(X, y)
    cleared = small(Estimator, solver).set_callbacks(NoOp()).set_callbacks().fit(X, y)
    for other in (with_noop, recorded, cleared):
        for W, W_other in zip(plain.coefs_, other.coefs_, strict=True):
            assert_array_equal(W, W_other)
        for b, b_other in zip(plain.intercepts_, other.intercepts_, strict=True):
            assert_array_equal(b, b_other)
    assert not hasattr(cleared, "_skl_callbacks")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fit_without_callbacks_opens_no_task(Estimator, data, monkeypatch):
    """Without callbacks the fit task costs nothing: no context is made."""

    def fail(*args, **kwargs):
        raise AssertionError("a callback context was made without callbacks")

    monkeypatch.setattr(skann._callbacks, "_FitTask", fail)
    X, y = data
    small(Estimator, "adam").fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_without_sklearn_callback_no_hooks_run(Estimator, data, monkeypatch):
    """The path taken with scikit-learn < 1.9: callbacks are never called."""
    monkeypatch.setattr(skann._callbacks, "callback_management_context", None)
    X, y = data
    recorder = Recorder()
    estimator = small(Estimator, "adam")
    estimator._skl_callbacks = [recorder]
    estimator.fit(X, y)
    assert recorder.calls == []


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_failed_fit_still_tears_down(Estimator, data):
    """A fit that raises tears its callbacks down and leaves no context behind."""

    class Failing(Recorder):
        def on_fit_task_end(self, estimator, context, **kwargs):
            super().on_fit_task_end(estimator, context, **kwargs)
            raise RuntimeError("callback failed")

    X, y = data
    recorder = Failing()
    estimator = small(Estimator, "adam").set_callbacks(recorder)
    with pytest.raises(RuntimeError, match="callback failed"):
        estimator.fit(X, y)
    assert recorder.sequence()[-1] == ("teardown", None)
    assert not hasattr(estimator, "coefs_")
    assert not hasattr(estimator, "_callback_fit_ctx")
    assert estimator._skl_callbacks == [recorder]


@pytest.mark.parametrize("Estimator", [*ESTIMATORS, LogisticRegression])
def test_callbacks_survive_clone_as_in_scikit_learn(Estimator):
    """clone keeps the callbacks, by reference, and they are no parameter.

    LogisticRegression is the reference: scikit-learn shares one callback
    instance between the clones of an estimator.
    """
    recorder = Recorder()
    estimator = Estimator().set_callbacks(recorder)
    assert "callbacks" not in estimator.get_params()
    twin = clone(estimator)
    assert twin._skl_callbacks == [recorder]
    assert twin._skl_callbacks[0] is recorder
    assert not hasattr(clone(Estimator().set_callbacks()), "_skl_callbacks")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_cloned_estimator_calls_the_callbacks(Estimator, data):
    X, y = data
    recorder = Recorder()
    clone(small(Estimator, "adam").set_callbacks(recorder)).fit(X, y)
    assert recorder.sequence() == expected_sequence("epoch", 5)


def test_progress_bar_in_a_pipeline(regression_data):
    pytest.importorskip("rich", reason="ProgressBar needs rich")
    X, y = regression_data
    pipeline = make_pipeline(
        StandardScaler(), ANNRegressor(hidden_layer_sizes=(5,), max_iter=5)
    )
    progress_bar = sklearn_callback.ProgressBar(max_propagation_depth=None)
    pipeline.set_callbacks(progress_bar).fit(X, y)
    assert pipeline[-1].n_iter_ == 5
    # The propagated callback is removed again once the pipeline is fitted.
    assert not hasattr(pipeline[-1], "_skl_callbacks")


def test_progress_bar_in_a_parallel_grid_search(regression_data):
    pytest.importorskip("rich", reason="ProgressBar needs rich")
    X, y = regression_data
    pipeline = make_pipeline(
        StandardScaler(), ANNRegressor(hidden_layer_sizes=(5,), max_iter=5)
    )
    search = GridSearchCV(
        pipeline, {"annregressor__alpha": [1e-4, 1e-2]}, cv=2, n_jobs=2
    )
    progress_bar = sklearn_callback.ProgressBar(max_propagation_depth=None)
    search.set_callbacks(progress_bar).fit(X, y)
    assert search.best_estimator_[-1].n_iter_ == 5
