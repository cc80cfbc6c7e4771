"""The core training loops: loss decreases, stopping rules, determinism."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import pickle
from typing import NamedTuple

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skann._core.activations import ACTIVATIONS
from skann._core.losses import LOSSES
from skann._core.network import Layout, init_params
from skann._core.optimizers import SGD, Adam
from skann._core.training import (
    DIVERGENCE_FACTOR,
    Objective,
    Progress,
    TrainingDiverged,
    gen_batches,
    train_lbfgs,
    train_minibatch,
)


class Problem(NamedTuple):
    objective: Objective
    theta: np.ndarray
    X: np.ndarray
    Y: np.ndarray


def make_problem(activation="tanh"):
    """Two targets of 40 samples and a 3-6-2 network with Glorot weights."""
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3)
    Y = np.column_stack([X[:, 0] - 2 * X[:, 1], np.sin(X[:, 2])])
    layout = Layout([3, 6, 2])
    act = ACTIVATIONS[activation]
    objective = Objective(layout, act, LOSSES["squared_error"], 1e-3)
    return Problem(objective, init_params(layout, rng, act.init_gain), X, Y)


def sgd(problem, learning_rate=0.05, **params):
    return SGD(problem.theta.size, problem.theta.dtype, learning_rate, **params)


def run(problem, optimizer, progress=None, seed=0, **options):
    """``train_minibatch`` on ``problem`` with defaults for every option."""
    options = {
        "batch_size": 10,
        "max_iter": 30,
        "shuffle": True,
        "tol": 1e-4,
        "n_iter_no_change": 10,
        **options,
    }
    progress = Progress(optimizer) if progress is None else progress
    objective, theta, X, Y = problem
    result = train_minibatch(
        objective,
        theta,
        X,
        Y,
        None,
        progress=progress,
        rng=np.random.RandomState(seed),
        **options,
    )
    return result, progress


@pytest.mark.parametrize("optimizer_class", [SGD, Adam])
def test_train_minibatch_decreases_the_loss(optimizer_class):
    problem = make_problem()
    optimizer = optimizer_class(problem.theta.size, problem.theta.dtype, 0.05)
    result, progress = run(problem, optimizer)
    assert result.loss_curve is progress.loss_curve
    assert result.loss_curve[-1] < 0.5 * result.loss_curve[0]
    assert result.theta is problem.theta
    assert progress.n_seen == 40 * result.n_iter


def test_train_minibatch_is_deterministic_given_the_rng():
    first, second = make_problem(), make_problem()
    first_result, _ = run(first, sgd(first))
    second_result, _ = run(second, sgd(second))
    assert_array_equal(first.theta, second.theta)
    assert first_result.loss_curve == second_result.loss_curve


def test_shuffling_with_another_seed_changes_the_trajectory():
    first, second = make_problem(), make_problem()
    run(first, sgd(first), seed=0)
    run(second, sgd(second), seed=1)
    assert not np.array_equal(first.theta, second.theta)


def test_stopping_rule_counts_epochs_without_improvement():
    """A tol larger than any loss means no epoch after the first improves."""
    problem = make_problem()
    result, progress = run(problem, sgd(problem), tol=1e6, n_iter_no_change=3)
    # The first epoch sets the best loss; four more fail to improve on it by
    # tol, and the rule fires once the count exceeds n_iter_no_change.
    assert result.n_iter == 5
    assert not result.hit_max_iter
    assert "did not improve more than tol" in result.message
    assert progress.best_loss == min(progress.loss_curve)


def test_infinite_patience_runs_every_epoch():
    problem = make_problem()
    result, _ = run(
        problem, sgd(problem), tol=1e6, n_iter_no_change=np.inf, max_iter=12
    )
    assert result.n_iter == 12
    assert result.hit_max_iter


def test_adaptive_schedule_lowers_the_rate_instead_of_stopping():
    problem = make_problem()
    optimizer = sgd(problem, schedule="adaptive")
    result, _ = run(problem, optimizer, tol=1e6, n_iter_no_change=2, max_iter=100)
    # After the first epoch every plateau lasts three epochs. Seven plateaus
    # divide 0.05 by 5 until it is <= 1e-6 (6.4e-7); the eighth stops training.
    assert optimizer.learning_rate == pytest.approx(0.05 / 5**7)
    assert result.n_iter == 1 + 3 * 8
    assert not result.hit_max_iter


def test_incremental_training_runs_exactly_one_epoch():
    problem = make_problem()
    progress = Progress(sgd(problem))
    for epoch in range(1, 4):
        result, _ = run(problem, None, progress=progress, incremental=True)
        assert result.n_iter == 1
        assert len(progress.loss_curve) == epoch
    assert progress.n_seen == 3 * 40


def test_validation_score_keeps_the_best_weights():
    problem = make_problem()
    scores = iter([0.1, 0.5, 0.3, 0.2, 0.4, 0.45])
    snapshots = []

    def validation_score(current):
        snapshots.append(current.copy())
        return next(scores)

    progress = Progress(
        sgd(problem),
        validation_scores=[],
        best_loss=None,
        best_validation_score=-np.inf,
        best_theta=problem.theta.copy(),
    )
    result, _ = run(
        problem,
        None,
        progress=progress,
        tol=0.0,
        n_iter_no_change=3,
        validation_score=validation_score,
    )
    # Four epochs in a row fail to beat 0.5, one more than n_iter_no_change.
    assert result.n_iter == 6
    assert "Validation score did not improve" in result.message
    assert progress.validation_scores == [0.1, 0.5, 0.3, 0.2, 0.4, 0.45]
    assert progress.best_validation_score == 0.5
    assert_array_equal(progress.best_theta, snapshots[1])
    assert not np.array_equal(progress.best_theta, problem.theta)


def test_log_reports_the_loss_of_every_epoch():
    problem = make_problem()
    lines = []
    result, _ = run(problem, sgd(problem), max_iter=4, log=lines.append)
    assert lines == [
        f"Iteration {i}, loss = {loss:.8f}"
        for i, loss in enumerate(result.loss_curve, start=1)
    ]


def test_non_finite_loss_raises_naming_the_epoch():
    objective, theta, X, Y = make_problem(activation="relu")
    problem = Problem(objective, theta, 1e3 * X, 1e6 * Y)
    with (
        np.errstate(all="ignore"),
        pytest.raises(TrainingDiverged, match=r"epoch \d+.*learning_rate") as info,
    ):
        run(problem, sgd(problem, learning_rate=1e6))
    assert isinstance(info.value, ValueError)
    assert info.value.epoch >= 1


def test_exploding_but_finite_loss_counts_as_divergence():
    """Full-batch GD with too large a step on a linear model grows geometrically."""
    rng = np.random.RandomState(0)
    X = rng.randn(20, 2)
    Y = (X @ np.array([1.0, 2.0]))[:, np.newaxis]
    layout = Layout([2, 1])
    objective = Objective(layout, ACTIVATIONS["identity"], LOSSES["squared_error"], 0)
    problem = Problem(objective, np.zeros(layout.size), X, Y)
    optimizer = sgd(problem, learning_rate=3.0, momentum=0.0)
    with pytest.raises(TrainingDiverged, match="epoch") as info:
        run(problem, optimizer, batch_size=20, max_iter=100, n_iter_no_change=100)
    initial = 0.5 * np.mean(Y**2)
    assert np.isfinite(info.value.loss)
    assert info.value.loss > DIVERGENCE_FACTOR * initial


def test_gen_batches_covers_every_row_once():
    assert list(gen_batches(10, 4)) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert list(gen_batches(3, 5)) == [slice(0, 3)]


def lbfgs(problem, dtype=np.float64, **options):
    objective, theta, X, Y = problem
    options = {"max_iter": 60, "max_fun": 15000, "tol": 1e-6, **options}
    return train_lbfgs(
        objective,
        theta.astype(dtype),
        X.astype(dtype),
        Y.astype(dtype),
        None,
        **options,
    )


def test_train_lbfgs_decreases_monotonically_and_reports_its_loss():
    problem = make_problem()
    result = lbfgs(problem)
    curve = np.array(result.loss_curve)
    assert len(curve) == result.n_iter
    assert np.all(np.diff(curve) <= 0)
    assert curve[-1] < 0.1 * curve[0]
    grad = np.empty_like(problem.theta)
    objective, _, X, Y = problem
    assert result.loss == pytest.approx(objective(result.theta, X, Y, None, grad))
    assert result.loss == pytest.approx(curve[-1])


def test_train_lbfgs_reports_when_it_runs_out_of_iterations():
    result = lbfgs(make_problem(), max_iter=3, tol=1e-12)
    assert result.n_iter == 3
    assert result.message


def test_train_lbfgs_keeps_float32():
    result = lbfgs(make_problem(), dtype=np.float32, max_iter=20)
    assert result.theta.dtype == np.float32
    assert result.loss_curve[-1] < result.loss_curve[0]


def test_training_diverged_survives_pickling():
    """A divergence raised in a joblib worker reaches the caller intact."""
    error = pickle.loads(pickle.dumps(TrainingDiverged(3, 1e20)))
    assert (error.epoch, error.loss) == (3, 1e20)
    assert str(error) == str(TrainingDiverged(3, 1e20))


@pytest.mark.parametrize("weighted", [False, True])
def test_threaded_row_blocks_match_one_block(weighted):
    """Splitting a large batch across threads changes only the rounding."""
    rng = np.random.RandomState(0)
    X, Y = rng.randn(2000, 10), rng.randn(2000, 1)
    sample_weight = rng.uniform(0.5, 2.0, 2000) if weighted else None
    layout = Layout([10, 64, 64, 1])
    theta = init_params(layout, rng, 6.0)
    objective = Objective(layout, ACTIVATIONS["tanh"], LOSSES["squared_error"], 0.3)
    assert len(objective._blocks(2000)) == 1

    grad_one, grad_split = np.empty_like(theta), np.empty_like(theta)
    value_one = objective(theta, X, Y, sample_weight, grad_one)
    with objective.threads(2):
        assert len(objective._blocks(2000)) == 2
        value_split = objective(theta, X, Y, sample_weight, grad_split)
    assert value_split == pytest.approx(value_one, rel=1e-12)
    np.testing.assert_allclose(grad_split, grad_one, rtol=1e-10, atol=1e-14)
