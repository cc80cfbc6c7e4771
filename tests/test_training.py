"""The core training loops: loss decreases, epoch hooks, stopping rules, determinism."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import pickle
import threading
from itertools import product
from typing import NamedTuple

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from threadpoolctl import threadpool_info, threadpool_limits

import skann._core.objective
from skann._core import layers
from skann._core.losses import LOSSES
from skann._core.monitors import PlateauRule, ValidationMonitor
from skann._core.network import Network, NetworkSpec
from skann._core.objective import Objective, single_threaded_blas
from skann._core.optimizers import SGD, Adam
from skann._core.schedules import Schedule
from skann._core.training import (
    DIVERGENCE_FACTOR,
    Progress,
    TrainingDiverged,
    gen_batches,
    history_columns,
    history_records,
    train_lbfgs,
    train_minibatch,
)

RECORD_KEYS = {
    "epoch", "loss", "validation_loss", "validation_score", "learning_rate",
    "gradient_norm", "seconds", "restart",
}  # fmt: skip


class Problem(NamedTuple):
    objective: Objective
    theta: np.ndarray
    X: np.ndarray
    Y: np.ndarray


def make_problem(activation="tanh", dropout=0.0, batch_norm=False):
    """Two targets of 40 samples and a 3-6-2 network with Glorot weights."""
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3)
    Y = np.column_stack([X[:, 0] - 2 * X[:, 1], np.sin(X[:, 2])])
    network = Network(NetworkSpec.build([3, 6, 2], activation, dropout, batch_norm))
    theta, state = network.init(rng)
    objective = Objective(network, LOSSES["squared_error"], 1e-3, state, rng)
    return Problem(objective, theta, X, Y)


def sgd(problem, **params):
    return SGD(problem.theta.size, problem.theta.dtype, **params)


def new_progress(optimizer, schedule="constant", learning_rate=0.05, **fields):
    """A fresh Progress whose schedule starts at ``learning_rate``."""
    rate = Schedule(schedule, learning_rate, power_t=0.5)
    return Progress(optimizer, rate, **fields)


class Recorder:
    """An epoch-end hook that keeps what it was called with and never stops."""

    def __init__(self):
        self.records, self.thetas, self.states = [], [], []

    def __call__(self, record, theta, state):
        self.records.append(dict(record))
        self.thetas.append(theta)
        self.states.append(state)
        return False


def stop_at(epoch):
    """An epoch-end hook that asks to stop at ``epoch``."""
    return lambda record, theta, state: record["epoch"] == epoch


def run(
    problem, optimizer, progress=None, seed=0, hooks=(), tol=1e-4,
    n_iter_no_change=10, monitor="loss", log=None, schedule="constant",
    learning_rate=0.05, **options,
):  # fmt: skip
    """``train_minibatch`` on ``problem``, with ``hooks`` then the plateau rule.

    Returns the result, the progress and the plateau rule.
    """
    options = {"batch_size": 10, "max_iter": 30, "shuffle": True, **options}
    if progress is None:
        progress = new_progress(optimizer, schedule, learning_rate)
    rule = PlateauRule(progress, tol, n_iter_no_change, monitor, log)
    objective, theta, X, Y = problem
    result = train_minibatch(
        objective,
        theta,
        X,
        Y,
        None,
        progress=progress,
        rng=np.random.RandomState(seed),
        hooks=[*hooks, rule],
        **options,
    )
    return result, progress, rule


@pytest.mark.parametrize("optimizer_class", [SGD, Adam])
def test_train_minibatch_decreases_the_loss(optimizer_class):
    problem = make_problem()
    optimizer = optimizer_class(problem.theta.size, problem.theta.dtype)
    result, progress, _rule = run(problem, optimizer)
    assert result.loss == progress.loss_curve[-1]
    assert progress.loss_curve[-1] < 0.5 * progress.loss_curve[0]
    assert result.theta is problem.theta
    assert progress.n_seen == 40 * result.n_iter


def test_train_minibatch_is_deterministic_given_the_rng():
    first, second = make_problem(), make_problem()
    _, first_progress, _ = run(first, sgd(first))
    _, second_progress, _ = run(second, sgd(second))
    assert_array_equal(first.theta, second.theta)
    assert first_progress.loss_curve == second_progress.loss_curve


def test_shuffling_with_another_seed_changes_the_trajectory():
    first, second = make_problem(), make_problem()
    run(first, sgd(first), seed=0)
    run(second, sgd(second), seed=1)
    assert not np.array_equal(first.theta, second.theta)


@pytest.mark.parametrize(
    "options", [{"dropout": 0.3}, {"batch_norm": True}], ids=["dropout", "batch-norm"]
)
def test_train_minibatch_with_layer_options_is_deterministic(options):
    """Masks come from the objective's rng; running statistics move in place."""
    first, second = make_problem(**options), make_problem(**options)
    state = first.objective.state
    initial = state.copy()
    recorder = Recorder()
    _, first_progress, _ = run(first, sgd(first), max_iter=5, hooks=[recorder])
    _, second_progress, _ = run(second, sgd(second), max_iter=5)
    assert_array_equal(first.theta, second.theta)
    first_curve = first_progress.loss_curve
    assert first_curve == second_progress.loss_curve
    assert first_curve[-1] < first_curve[0]
    assert all(seen is state for seen in recorder.states)
    assert np.array_equal(state, initial) == (not options.get("batch_norm"))


def test_stopping_rule_counts_epochs_without_improvement():
    """A tol larger than any loss means no epoch after the first improves."""
    problem = make_problem()
    result, progress, rule = run(problem, sgd(problem), tol=1e6, n_iter_no_change=3)
    # The first epoch sets the best loss; four more fail to improve on it by
    # tol, and the rule fires once the count exceeds n_iter_no_change.
    assert result.n_iter == 5
    assert not result.hit_max_iter
    assert "did not improve more than tol" in result.message
    assert rule.best == min(progress.loss_curve)


def test_infinite_patience_runs_every_epoch():
    problem = make_problem()
    result, _, _ = run(
        problem, sgd(problem), tol=1e6, n_iter_no_change=np.inf, max_iter=12
    )
    assert result.n_iter == 12
    assert result.hit_max_iter
    assert result.message == ""


def test_adaptive_schedule_lowers_the_rate_instead_of_stopping():
    problem = make_problem()
    optimizer = sgd(problem)
    lines = []
    result, progress, _rule = run(
        problem, optimizer, tol=1e6, n_iter_no_change=2, max_iter=100,
        log=lines.append, schedule="adaptive",
    )  # fmt: skip
    # After the first epoch every plateau lasts three epochs. Seven plateaus
    # divide 0.05 by 5 until it is <= 1e-6 (6.4e-7); the eighth stops training.
    assert progress.schedule.rate() == pytest.approx(0.05 / 5**7)
    assert result.n_iter == 1 + 3 * 8
    assert not result.hit_max_iter
    assert len(lines) == 8
    assert all("Setting learning rate to" in line for line in lines[:7])
    assert lines[-1] == result.message + " Stopping."


def test_plateau_rule_logs_when_it_stops():
    problem = make_problem()
    lines = []
    run(problem, sgd(problem), tol=1e6, n_iter_no_change=3, log=lines.append)
    assert lines == [
        (
            "Training loss did not improve more than tol=1000000.000000 for 3 "
            "consecutive epochs. Stopping."
        )
    ]


def test_incremental_training_runs_exactly_one_epoch():
    problem = make_problem()
    progress = new_progress(sgd(problem))
    recorder = Recorder()
    for epoch in range(1, 4):
        result, _, _ = run(
            problem, None, progress=progress, incremental=True, hooks=[recorder]
        )
        assert result.n_iter == 1
        assert len(progress.loss_curve) == epoch
    assert progress.n_seen == 3 * 40
    # Epochs are numbered across calls.
    assert [record["epoch"] for record in recorder.records] == [1, 2, 3]


def test_plateau_rule_can_monitor_a_validation_score():
    """A hook adds the score to the record; the plateau rule counts on it."""
    problem = make_problem()
    scores = iter([0.1, 0.5, 0.3, 0.2, 0.4, 0.45])

    def validation_score(record, theta, state):
        record["validation_score"] = next(scores)

    result, progress, rule = run(
        problem,
        sgd(problem),
        tol=0.0,
        n_iter_no_change=3,
        monitor="validation_score",
        hooks=[validation_score],
    )
    # Four epochs in a row fail to beat 0.5, one more than n_iter_no_change.
    assert result.n_iter == 6
    assert "Validation score did not improve" in result.message
    scores = [record["validation_score"] for record in progress.history]
    assert scores == [0.1, 0.5, 0.3, 0.2, 0.4, 0.45]
    assert rule.best == 0.5


@pytest.mark.parametrize("metric", ["score", "loss"])
def test_validation_monitor_keeps_the_best_weights(metric):
    """The monitor scores held-out rows and keeps the weights of the best epoch."""
    problem = make_problem()
    objective, theta, X, Y = problem
    scores = iter([0.1, 0.5, 0.3, 0.2, 0.4, 0.45])
    snapshots = []

    def score(raw):
        snapshots.append(theta.copy())
        return next(scores)

    monitor = ValidationMonitor(
        objective, X[:10], Y[:10], None, score, metric, theta, objective.state
    )
    _result, progress, _ = run(problem, sgd(problem), max_iter=6, hooks=[monitor])
    records = progress.history
    assert [r["validation_score"] for r in records] == [0.1, 0.5, 0.3, 0.2, 0.4, 0.45]
    losses = [r["validation_loss"] for r in records]
    # The validation loss is the objective at prediction on the held-out rows.
    grad = np.empty_like(theta)
    assert losses[-1] == pytest.approx(objective(theta, X[:10], Y[:10], None, grad))
    best = 1 if metric == "score" else int(np.argmin(losses))
    assert_array_equal(monitor.best_theta, snapshots[best])
    assert monitor.best_score == [0.1, 0.5, 0.3, 0.2, 0.4, 0.45][best]


def test_history_columns_round_trip():
    """A stored history gives back its records, missing entries as None."""
    problem = make_problem()
    _, progress, _ = run(problem, sgd(problem), max_iter=3)
    columns = history_columns(progress.history)
    assert all(isinstance(column, np.ndarray) for column in columns.values())
    assert history_records(columns) == progress.history


def test_train_minibatch_calls_hooks_once_per_epoch():
    problem = make_problem()
    recorder = Recorder()
    optimizer = sgd(problem)
    _, progress, _ = run(
        problem, optimizer, max_iter=4, hooks=[recorder], schedule="invscaling"
    )
    records = recorder.records
    assert [record["epoch"] for record in records] == [1, 2, 3, 4]
    assert all(set(record) == RECORD_KEYS for record in records)
    assert [record["loss"] for record in records] == progress.loss_curve
    assert all(record["seconds"] >= 0 for record in records)
    # The rate the epoch stepped with: invscaling lowers it after each epoch.
    rates = [record["learning_rate"] for record in records]
    assert rates[0] == 0.05
    assert rates == sorted(rates, reverse=True) and len(set(rates)) == 4
    # Hooks see the live parameters and the objective's state.
    assert all(theta is problem.theta for theta in recorder.thetas)
    assert all(state is problem.objective.state for state in recorder.states)


def test_hook_returning_true_stops_train_minibatch_after_that_epoch():
    problem = make_problem()
    recorder = Recorder()
    result, progress, _rule = run(
        problem, sgd(problem), max_iter=30, hooks=[stop_at(3), recorder]
    )
    assert result.n_iter == 3
    assert len(progress.loss_curve) == 3
    assert not result.hit_max_iter
    # Every hook still runs at the epoch that stops.
    assert [record["epoch"] for record in recorder.records] == [1, 2, 3]


def test_non_finite_loss_raises_naming_the_epoch():
    objective, theta, X, Y = make_problem(activation="relu")
    problem = Problem(objective, theta, 1e3 * X, 1e6 * Y)
    with (
        np.errstate(all="ignore"),
        pytest.raises(TrainingDiverged, match=r"epoch \d+.*learning_rate") as info,
    ):
        run(problem, sgd(problem), learning_rate=1e6)
    assert isinstance(info.value, ValueError)
    assert info.value.epoch >= 1


def test_exploding_but_finite_loss_counts_as_divergence():
    """Full-batch GD with too large a step on a linear model grows geometrically."""
    rng = np.random.RandomState(0)
    X = rng.randn(20, 2)
    Y = (X @ np.array([1.0, 2.0]))[:, np.newaxis]
    network = Network(NetworkSpec.build([2, 1], "identity"))
    objective = Objective(network, LOSSES["squared_error"], 0)
    problem = Problem(objective, np.zeros(network.size), X, Y)
    optimizer = sgd(problem, momentum=0.0)
    with pytest.raises(TrainingDiverged, match="epoch") as info:
        run(
            problem, optimizer, batch_size=20, max_iter=100, n_iter_no_change=100,
            learning_rate=3.0,
        )  # fmt: skip
    initial = 0.5 * np.mean(Y**2)
    assert np.isfinite(info.value.loss)
    assert info.value.loss > DIVERGENCE_FACTOR * initial


def test_gen_batches_covers_every_row_once():
    assert list(gen_batches(10, 4)) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert list(gen_batches(3, 5)) == [slice(0, 3)]
    assert list(gen_batches(0, 5)) == []
    for n_samples, batch_size, least in product(range(1, 40), range(1, 12), (1, 2, 3)):
        if least > batch_size:
            continue  # batch norm, the one minimum above 1, needs batches of 2
        batches = list(gen_batches(n_samples, batch_size, least))
        rows = [row for batch in batches for row in range(batch.start, batch.stop)]
        assert rows == list(range(n_samples))
        sizes = [batch.stop - batch.start for batch in batches]
        assert all(size == batch_size for size in sizes[:-1])
        # A last batch below the minimum joins the one before it, if any.
        assert len(sizes) == 1 or least <= sizes[-1] < batch_size + least


def test_gen_batches_joins_a_last_batch_below_the_minimum():
    assert list(gen_batches(9, 4, min_batch_size=2)) == [slice(0, 4), slice(4, 9)]
    assert list(gen_batches(10, 4, min_batch_size=2)) == [
        slice(0, 4), slice(4, 8), slice(8, 10)
    ]  # fmt: skip


def lbfgs(problem, dtype=np.float64, **options):
    """``train_lbfgs`` on ``problem``: the result and the loss curve."""
    objective, theta, X, Y = problem
    options = {"max_iter": 60, "max_fun": 15000, "tol": 1e-6, **options}
    progress = Progress()
    result = train_lbfgs(
        objective,
        theta.astype(dtype),
        X.astype(dtype),
        Y.astype(dtype),
        None,
        progress=progress,
        **options,
    )
    return result, progress.loss_curve


def test_train_lbfgs_decreases_monotonically_and_reports_its_loss():
    problem = make_problem()
    result, curve = lbfgs(problem)
    curve = np.array(curve)
    assert len(curve) == result.n_iter
    assert np.all(np.diff(curve) <= 0)
    assert curve[-1] < 0.1 * curve[0]
    grad = np.empty_like(problem.theta)
    objective, _, X, Y = problem
    assert result.loss == pytest.approx(objective(result.theta, X, Y, None, grad))
    assert result.loss == pytest.approx(curve[-1])


def test_train_lbfgs_reports_when_it_runs_out_of_iterations():
    result, _curve = lbfgs(make_problem(), max_iter=3, tol=1e-12)
    assert result.n_iter == 3
    assert result.message


def test_train_lbfgs_keeps_float32():
    result, curve = lbfgs(make_problem(), dtype=np.float32, max_iter=20)
    assert result.theta.dtype == np.float32
    assert curve[-1] < curve[0]


def test_train_lbfgs_calls_hooks_once_per_iteration():
    recorder = Recorder()
    _result, curve = lbfgs(make_problem(), max_iter=5, tol=1e-12, hooks=[recorder])
    records = recorder.records
    assert [record["epoch"] for record in records] == [1, 2, 3, 4, 5]
    assert all(set(record) == RECORD_KEYS for record in records)
    assert [record["loss"] for record in records] == curve
    assert all(record["learning_rate"] is None for record in records)
    assert all(record["seconds"] >= 0 for record in records)
    assert all(theta.dtype == np.float64 for theta in recorder.thetas)


def test_hook_returning_true_stops_train_lbfgs_after_that_iteration():
    recorder = Recorder()
    result, curve = lbfgs(make_problem(), tol=1e-12, hooks=[stop_at(3), recorder])
    assert result.n_iter == 3
    assert len(curve) == 3
    assert [record["epoch"] for record in recorder.records] == [1, 2, 3]
    # The parameters the last hook saw are the ones returned.
    assert_array_equal(recorder.thetas[-1], result.theta)


def test_training_diverged_survives_pickling():
    """A divergence raised in a joblib worker reaches the caller intact."""
    error = pickle.loads(pickle.dumps(TrainingDiverged(3, 1e20)))
    assert (error.epoch, error.loss) == (3, 1e20)
    assert str(error) == str(TrainingDiverged(3, 1e20))


@pytest.mark.parametrize("weighted", [False, True])
def test_row_groups_match_one_group(monkeypatch, weighted):
    """Splitting a large batch into row groups changes only the rounding."""
    rng = np.random.RandomState(0)
    X, Y = rng.randn(2000, 10), rng.randn(2000, 1)
    sample_weight = rng.uniform(0.5, 2.0, 2000) if weighted else None
    network = Network(NetworkSpec.build([10, 64, 64, 1], "tanh"))
    theta, _ = network.init(rng)
    objective = Objective(network, LOSSES["squared_error"], 0.3)
    grad_split, grad_one = np.empty_like(theta), np.empty_like(theta)
    assert len(objective._groups(2000)) == 2
    with objective.threads():
        value_split = objective(theta, X, Y, sample_weight, grad_split)

    monkeypatch.setattr(skann._core.objective, "_MIN_WORK_PER_GROUP", 10**12)
    assert objective._groups(2000) is None
    value_one = objective(theta, X, Y, sample_weight, grad_one)
    assert value_split == pytest.approx(value_one, rel=1e-12)
    assert_allclose(grad_split, grad_one, rtol=1e-10, atol=1e-14)


def blas_threads():
    """The thread count of the loaded BLAS (the largest, if several)."""
    return max(
        (lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"),
        default=1,
    )


# threadpoolctl lets only one Python thread at a time set OpenBLAS's
# (pthreads) process-wide limit; skann's limiter never hands that control back.
@pytest.fixture
def two_blas_threads():
    """BLAS at two threads for the test, whatever the machine or earlier tests."""
    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() < 2:
            pytest.skip("BLAS cannot run two threads here")
        yield 2


def test_single_threaded_blas_is_reference_counted(two_blas_threads):
    """Two fits in two Python threads: the first to leave keeps BLAS limited
    for the other, and the last restores the count from before either entered.
    """
    first_inside, first_left = threading.Event(), threading.Event()
    both_inside, done = threading.Barrier(2), threading.Barrier(3)
    seen = {}

    def first():
        with single_threaded_blas() as threads:
            first_inside.set()
            both_inside.wait(timeout=10)
            seen["first inside"] = (threads, blas_threads())
        first_left.set()
        done.wait(timeout=10)

    def second():
        first_inside.wait(timeout=10)
        with single_threaded_blas() as threads:
            both_inside.wait(timeout=10)
            seen["second inside"] = (threads, blas_threads())
            first_left.wait(timeout=10)
            seen["after the first left"] = blas_threads()
        done.wait(timeout=10)

    # Both threads stay alive until every check is done.
    workers = [threading.Thread(target=first), threading.Thread(target=second)]
    for worker in workers:
        worker.start()
    done.wait(timeout=20)
    seen["after both left"] = blas_threads()
    for worker in workers:
        worker.join(timeout=10)
    assert seen == {
        "first inside": (two_blas_threads, 1),
        "second inside": (two_blas_threads, 1),
        "after the first left": 1,
        "after both left": two_blas_threads,
    }


def test_single_threaded_blas_limits_blas_in_a_worker_thread(two_blas_threads):
    """A fit in a thread (a threading backend) after one in the main thread."""
    with single_threaded_blas():
        pass
    seen = []

    def fit():
        with single_threaded_blas() as threads:
            seen.append((threads, blas_threads()))

    worker = threading.Thread(target=fit)
    worker.start()
    worker.join(timeout=10)
    assert seen == [(two_blas_threads, 1)]
    assert blas_threads() == two_blas_threads


@pytest.mark.parametrize(
    "options", [{"dropout": 0.3}, {"batch_norm": True}], ids=["dropout", "batch-norm"]
)
def test_threads_do_not_split_a_network_that_is_not_row_separable(
    two_blas_threads, options
):
    """Batch statistics and per-batch masks are not split into row groups;
    BLAS still runs one thread (small batches lose more to its start-up)."""
    objective = make_problem(**options).objective
    assert not objective.network.row_separable
    with objective.threads():
        assert blas_threads() == 1
        assert objective._pool is None
        assert objective._groups(10**6) is None
    assert blas_threads() == two_blas_threads


def test_threads_limit_blas_for_a_row_separable_network(two_blas_threads):
    objective = make_problem().objective
    assert objective.network.row_separable
    with objective.threads():
        assert blas_threads() == 1
        assert objective._pool is not None
    assert blas_threads() == two_blas_threads


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_products_by_matmul_train_the_same_weights(
    monkeypatch, matmul_choices, dtype
):
    # From _MIN_MATMUL_BYTES of output on, training's forward and backward
    # products take np.matmul, which skips np.dot's zero fill and calls the
    # same GEMM: the weights are the same bits either way.
    rng = np.random.RandomState(0)
    X = rng.randn(300, 7).astype(dtype)
    Y = (X[:, :3] @ rng.randn(3, 2)).astype(dtype)
    network = Network(NetworkSpec.build([7, 128, 64, 2], "relu", 0.0, False))
    theta0 = network.init(rng)[0].astype(dtype)

    def fit():
        theta = theta0.copy()
        objective = Objective(network, LOSSES["squared_error"], 1e-3)
        progress = new_progress(Adam(theta.size, dtype), learning_rate=1e-2)
        train_minibatch(
            objective, theta, X, Y, None, progress=progress, batch_size=300,
            max_iter=2, shuffle=True, rng=np.random.RandomState(1),
        )  # fmt: skip
        return theta

    with_matmul = fit()
    assert any(matmul_choices) and not all(matmul_choices)
    monkeypatch.setattr(layers, "_MIN_MATMUL_BYTES", 2**62)
    assert_array_equal(fit(), with_matmul)
    assert np.isfinite(with_matmul).all()
