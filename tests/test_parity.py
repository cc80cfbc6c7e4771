"""Parity with scikit-learn's MLPRegressor and MLPClassifier, step by step."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from skann import ANNClassifier, ANNRegressor

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

RTOL = 1e-9
N_SAMPLES = 12
HIDDEN = (5, 4)
ACTIVATIONS = ["identity", "logistic", "tanh", "relu", "sigmoid"]
TARGETS = ["regression", "multi-output", "binary", "multiclass", "multilabel"]
SOLVERS = {
    "sgd": {"solver": "sgd", "momentum": 0.0},
    "sgd-momentum": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": False},
    "sgd-nesterov": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": True},
    "adam": {"solver": "adam"},
}


def make_data(target):
    """X of shape (12, 3) and a target of the given kind, every class present."""
    rng = np.random.RandomState(0)
    X = rng.randn(N_SAMPLES, 3)
    if target == "regression":
        y = rng.randn(N_SAMPLES)
    elif target == "multi-output":
        y = rng.randn(N_SAMPLES, 2)
    elif target == "binary":
        y = rng.permutation(np.arange(N_SAMPLES) % 2)
    elif target == "multiclass":
        y = rng.permutation(np.arange(N_SAMPLES) % 3)
    else:
        y = np.column_stack([rng.permutation(np.arange(N_SAMPLES) % 2) for _ in "abc"])
    sample_weight = rng.uniform(0.5, 2.0, N_SAMPLES)
    return X, y, sample_weight


def make_pair(target, activation, learning_rate=0.1, **params):
    """An ANN estimator and the MLP estimator configured identically."""
    is_regression = target in ("regression", "multi-output")
    ann_class = ANNRegressor if is_regression else ANNClassifier
    mlp_class = MLPRegressor if is_regression else MLPClassifier
    common = dict(hidden_layer_sizes=HIDDEN, alpha=0.1, random_state=0, **params)
    ann = ann_class(activation=activation, learning_rate=learning_rate, **common)
    # "sigmoid" is skann's alias of scikit-learn's "logistic".
    mlp_activation = "logistic" if activation == "sigmoid" else activation
    mlp = mlp_class(
        activation=mlp_activation, learning_rate_init=learning_rate, **common
    )
    return ann, mlp


def one_full_batch_epoch(**params):
    return dict(max_iter=1, batch_size=N_SAMPLES, shuffle=False, tol=0.0, **params)


def relative_difference(ann, mlp):
    """max |a - b| / max |b| over every weight and bias of the two networks."""
    assert [W.shape for W in ann.coefs_] == [W.shape for W in mlp.coefs_]
    a = np.concatenate([p.ravel() for p in ann.coefs_ + ann.intercepts_])
    b = np.concatenate([p.ravel() for p in mlp.coefs_ + mlp.intercepts_])
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def assert_same_network(ann, mlp, record_property):
    # The difference is kept as a test property, e.g. for --junitxml reports.
    difference = relative_difference(ann, mlp)
    record_property("max_relative_difference", difference)
    assert difference <= RTOL


def given_weights(ann):
    """Weights unrelated to any initialisation, in the shapes of ``ann``."""
    rng = np.random.RandomState(1)
    coefs = [0.5 * rng.randn(*W.shape) for W in ann.coefs_]
    intercepts = [0.5 * rng.randn(*b.shape) for b in ann.intercepts_]
    return coefs, intercepts


def set_weights(estimator, coefs, intercepts):
    # scikit-learn updates its arrays in place, so each estimator gets copies.
    estimator.coefs_ = [W.copy() for W in coefs]
    estimator.intercepts_ = [b.copy() for b in intercepts]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("solver", sorted(SOLVERS))
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_one_step_matches_sklearn(
    activation, target, solver, weighted, record_property
):
    X, y, sample_weight = make_data(target)
    sample_weight = sample_weight if weighted else None
    ann, mlp = make_pair(target, activation, **one_full_batch_epoch(**SOLVERS[solver]))
    ann.fit(X, y, sample_weight=sample_weight)
    mlp.fit(X, y, sample_weight=sample_weight)
    assert ann.n_iter_ == mlp.n_iter_ == 1
    assert ann.t_ == mlp.t_ == N_SAMPLES
    assert ann.out_activation_ == mlp.out_activation_
    assert_same_network(ann, mlp, record_property)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_initial_weights_match_sklearn_and_glorot(activation, target):
    """A step of 1e-300 leaves the initial weights exactly as they were drawn."""
    X, y, _ = make_data(target)
    epoch = one_full_batch_epoch(solver="sgd", momentum=0.0)
    ann, mlp = make_pair(target, activation, learning_rate=1e-300, **epoch)
    ann.fit(X, y)
    mlp.fit(X, y)

    rng = np.random.RandomState(0)
    gain = 2.0 if activation in ("logistic", "sigmoid") else 6.0
    for estimator in (ann, mlp):
        assert len(estimator.coefs_) == len(HIDDEN) + 1
    for W_ann, b_ann, W_mlp, b_mlp in zip(
        ann.coefs_, ann.intercepts_, mlp.coefs_, mlp.intercepts_, strict=True
    ):
        fan_in, fan_out = W_ann.shape
        bound = np.sqrt(gain / (fan_in + fan_out))
        W_expected = rng.uniform(-bound, bound, (fan_in, fan_out))
        b_expected = rng.uniform(-bound, bound, fan_out)
        assert_array_equal(W_ann, W_expected)
        assert_array_equal(b_ann, b_expected)
        assert_array_equal(W_mlp, W_expected)
        assert_array_equal(b_mlp, b_expected)


@pytest.mark.parametrize("solver", sorted(SOLVERS))
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_warm_start_step_from_given_weights_matches_sklearn(
    activation, target, solver, record_property
):
    """Independent of initialisation: both networks start from the same arrays."""
    X, y, sample_weight = make_data(target)
    ann, mlp = make_pair(target, activation, **one_full_batch_epoch(**SOLVERS[solver]))
    ann.fit(X, y)
    mlp.fit(X, y)
    coefs, intercepts = given_weights(ann)
    for estimator in (ann, mlp):
        set_weights(estimator, coefs, intercepts)
        # A warm-started fit builds a fresh optimizer in both libraries.
        estimator.set_params(warm_start=True)
        estimator.fit(X, y, sample_weight=sample_weight)
    assert not np.allclose(ann.coefs_[0], coefs[0])
    assert_same_network(ann, mlp, record_property)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_partial_fit_step_from_given_weights_matches_sklearn(
    activation, target, weighted, record_property
):
    """Plain SGD keeps no state between steps, so the first call only sets up."""
    X, y, sample_weight = make_data(target)
    sample_weight = sample_weight if weighted else None
    ann, mlp = make_pair(target, activation, solver="sgd", momentum=0.0, shuffle=False)
    ann.set_params(batch_size=N_SAMPLES)
    mlp.set_params(batch_size=N_SAMPLES)
    if target in ("binary", "multiclass"):
        first_call = {"classes": np.unique(y)}
    elif target == "multilabel":
        first_call = {"classes": np.arange(y.shape[1])}
    else:
        first_call = {}
    for estimator in (ann, mlp):
        estimator.partial_fit(X, y, **first_call)
    coefs, intercepts = given_weights(ann)
    for estimator in (ann, mlp):
        set_weights(estimator, coefs, intercepts)
        estimator.partial_fit(X, y, sample_weight=sample_weight)
    assert ann.t_ == mlp.t_ == 2 * N_SAMPLES
    assert_same_network(ann, mlp, record_property)


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("schedule", ["constant", "invscaling", "adaptive"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("target", ["regression", "multiclass"])
def test_shuffled_minibatch_trajectory_matches_sklearn(
    target, solver, schedule, early_stopping, record_property
):
    """Same seed, same batches, same stopping decisions, same weights.

    scikit-learn applies a schedule to 'sgd' only; skann applies it to every
    minibatch solver, so Adam with scikit-learn's schedule is Adam with
    skann's constant one.
    """
    rng = np.random.RandomState(0)
    X = rng.randn(50, 3)
    if target == "regression":
        y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.randn(50)
    else:
        y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    sample_weight = rng.uniform(0.5, 2.0, 50)
    params = {
        "solver": solver,
        "max_iter": 30,
        "batch_size": 8,
        "early_stopping": early_stopping,
        "n_iter_no_change": 3,
        "shuffle": True,
    }
    ann, mlp = make_pair(target, "tanh", learning_rate=0.05, **params)
    ann.set_params(learning_rate_schedule=schedule if solver == "sgd" else "constant")
    mlp.set_params(learning_rate=schedule)
    ann.fit(X, y, sample_weight=sample_weight)
    mlp.fit(X, y, sample_weight=sample_weight)

    assert ann.n_iter_ == mlp.n_iter_
    np.testing.assert_allclose(ann.loss_curve_, mlp.loss_curve_, rtol=RTOL)
    if early_stopping:
        np.testing.assert_allclose(
            ann.validation_scores_, mlp.validation_scores_, rtol=RTOL
        )
        assert ann.best_validation_score_ == pytest.approx(
            mlp.best_validation_score_, rel=RTOL
        )
    assert_same_network(ann, mlp, record_property)


@pytest.mark.parametrize("target", ["regression", "binary", "multiclass"])
def test_lbfgs_matches_sklearn(target, record_property):
    X, y, _ = make_data(target)
    ann, mlp = make_pair(target, "tanh", solver="lbfgs", max_iter=15)
    ann.fit(X, y)
    mlp.fit(X, y)
    assert ann.n_iter_ == mlp.n_iter_
    assert ann.loss_ == pytest.approx(mlp.loss_, rel=RTOL)
    assert_same_network(ann, mlp, record_property)
