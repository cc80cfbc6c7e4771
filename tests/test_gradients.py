"""Finite-difference checks of the core: backward, Objective, every loss pair."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy import special

from skann._core.activations import ACTIVATIONS
from skann._core.losses import LOSSES
from skann._core.network import Layout, backward, forward, init_params
from skann._core.training import Objective

N_SAMPLES, N_FEATURES, HIDDEN = 7, 4, (5, 3)

REFERENCE_ACTIVATIONS = {
    "identity": lambda Z: Z,
    "relu": lambda Z: np.maximum(Z, 0.0),
    "tanh": np.tanh,
    "logistic": special.expit,
    "sigmoid": special.expit,
}


def make_targets(loss_name, n_samples, rng):
    """Y of the shape and kind each loss expects, two or three columns."""
    if loss_name == "squared_error":
        return rng.randn(n_samples, 2)
    if loss_name == "binary_log_loss":
        return (rng.rand(n_samples, 2) > 0.5).astype(float)
    return np.eye(3)[rng.randint(3, size=n_samples)]


def make_problem(loss_name, rng):
    """X, Y, sample weights, a layout and weights large enough to bend."""
    X = rng.randn(N_SAMPLES, N_FEATURES)
    Y = make_targets(loss_name, N_SAMPLES, rng)
    sample_weight = rng.uniform(0.5, 2.0, N_SAMPLES)
    layout = Layout([N_FEATURES, *HIDDEN, Y.shape[1]])
    theta = rng.uniform(-1.0, 1.0, layout.size)
    return X, Y, sample_weight, layout, theta


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of ``f()`` with respect to each entry of ``x``."""
    grad = np.empty_like(x)
    for i in range(x.size):
        original = x.flat[i]
        x.flat[i] = original + eps
        plus = f()
        x.flat[i] = original - eps
        minus = f()
        x.flat[i] = original
        grad.flat[i] = (plus - minus) / (2 * eps)
    return grad


def reference_objective(params, X, Y, sample_weight, activation, loss_name, alpha):
    """PRODUCT.md's objective written out independently of the core."""
    A = X
    for k, (W, b) in enumerate(params):
        A = A @ W + b
        if k < len(params) - 1:
            A = REFERENCE_ACTIVATIONS[activation](A)
    if loss_name == "squared_error":
        per_sample = 0.5 * np.sum((A - Y) ** 2, axis=1)
    elif loss_name == "binary_log_loss":
        P = special.expit(A)
        per_sample = -np.sum(Y * np.log(P) + (1 - Y) * np.log1p(-P), axis=1)
    else:
        per_sample = -np.sum(Y * special.log_softmax(A, axis=1), axis=1)
    weights = np.ones(len(X)) if sample_weight is None else sample_weight
    penalty = 0.5 * alpha * sum(np.sum(W**2) for W, _ in params)
    return (np.dot(weights, per_sample) + penalty) / np.sum(weights)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_backward_matches_finite_differences(activation, loss_name):
    rng = np.random.RandomState(0)
    X, Y, sample_weight, layout, theta = make_problem(loss_name, rng)
    act, loss, alpha = ACTIVATIONS[activation], LOSSES[loss_name], 0.1
    params = layout.unpack(theta)
    l2 = alpha / np.sum(sample_weight)

    def objective():
        raw, _ = forward(params, X, act)
        value, _ = loss.value_and_delta(Y, raw, sample_weight)
        return value + 0.5 * l2 * sum(np.sum(W**2) for W, _ in params)

    raw, inputs = forward(params, X, act)
    _, delta = loss.value_and_delta(Y, raw, sample_weight)
    grads = backward(params, inputs, delta, act, l2)
    numerical = layout.unpack(numerical_gradient(objective, theta))
    assert len(grads) == len(params)
    for (dW, db), (num_dW, num_db) in zip(grads, numerical, strict=True):
        assert_allclose(dW, num_dW, rtol=1e-6, atol=1e-9)
        assert_allclose(db, num_db, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_objective_gradient_matches_finite_differences(activation, loss_name):
    rng = np.random.RandomState(0)
    X, Y, sample_weight, layout, theta = make_problem(loss_name, rng)
    objective = Objective(layout, ACTIVATIONS[activation], LOSSES[loss_name], 0.1)
    grad = np.empty_like(theta)
    objective(theta, X, Y, sample_weight, grad)

    scratch = np.empty_like(theta)
    numerical = numerical_gradient(
        lambda: objective(theta, X, Y, sample_weight, scratch), theta
    )
    assert_allclose(grad, numerical, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("alpha", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_objective_value_matches_reference(activation, loss_name, alpha, weighted):
    rng = np.random.RandomState(0)
    X, Y, sample_weight, layout, theta = make_problem(loss_name, rng)
    sample_weight = sample_weight if weighted else None
    objective = Objective(layout, ACTIVATIONS[activation], LOSSES[loss_name], alpha)
    value = objective(theta, X, Y, sample_weight, np.empty_like(theta))
    expected = reference_objective(
        layout.unpack(theta), X, Y, sample_weight, activation, loss_name, alpha
    )
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_objective_leaves_its_inputs_unchanged(loss_name):
    rng = np.random.RandomState(0)
    X, Y, sample_weight, layout, theta = make_problem(loss_name, rng)
    copies = [A.copy() for A in (X, Y, sample_weight, theta)]
    objective = Objective(layout, ACTIVATIONS["tanh"], LOSSES[loss_name], 0.1)
    objective(theta, X, Y, sample_weight, np.empty_like(theta))
    for original, copy in zip((X, Y, sample_weight, theta), copies, strict=True):
        assert_array_equal(original, copy)


def test_objective_unit_weights_equal_no_weights():
    rng = np.random.RandomState(0)
    X, Y, _, layout, theta = make_problem("log_loss", rng)
    objective = Objective(layout, ACTIVATIONS["relu"], LOSSES["log_loss"], 0.1)
    grad_none, grad_ones = np.empty_like(theta), np.empty_like(theta)
    value_none = objective(theta, X, Y, None, grad_none)
    value_ones = objective(theta, X, Y, np.ones(N_SAMPLES), grad_ones)
    assert value_none == pytest.approx(value_ones, rel=1e-14)
    assert_allclose(grad_none, grad_ones, rtol=1e-13, atol=1e-16)


def test_objective_integer_weights_equal_repeated_rows():
    rng = np.random.RandomState(0)
    X, Y, _, layout, theta = make_problem("binary_log_loss", rng)
    counts = np.array([1, 2, 3, 1, 1, 2, 1])
    objective = Objective(layout, ACTIVATIONS["tanh"], LOSSES["binary_log_loss"], 0.1)
    grad_weighted, grad_repeated = np.empty_like(theta), np.empty_like(theta)
    weighted = objective(theta, X, Y, counts.astype(float), grad_weighted)
    index = np.repeat(np.arange(N_SAMPLES), counts)
    repeated = objective(theta, X[index], Y[index], None, grad_repeated)
    assert weighted == pytest.approx(repeated, rel=1e-13)
    assert_allclose(grad_weighted, grad_repeated, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("sparse_format", [sp.csr_matrix, sp.csc_matrix])
def test_objective_on_sparse_input_matches_dense(sparse_format):
    rng = np.random.RandomState(0)
    X, Y, sample_weight, layout, theta = make_problem("squared_error", rng)
    X[np.abs(X) < 0.7] = 0.0
    objective = Objective(layout, ACTIVATIONS["relu"], LOSSES["squared_error"], 0.1)
    grad_dense, grad_sparse = np.empty_like(theta), np.empty_like(theta)
    dense = objective(theta, X, Y, sample_weight, grad_dense)
    sparse = objective(theta, sparse_format(X), Y, sample_weight, grad_sparse)
    assert sparse == pytest.approx(dense, rel=1e-14)
    assert_allclose(grad_sparse, grad_dense, rtol=1e-12, atol=1e-15)


def test_objective_is_consistent_across_batch_sizes():
    """Buffers cached for one batch size must not leak into another."""
    rng = np.random.RandomState(0)
    X, Y, sample_weight, layout, theta = make_problem("log_loss", rng)
    shared = Objective(layout, ACTIVATIONS["logistic"], LOSSES["log_loss"], 0.1)
    for rows in [slice(None), slice(0, 3), slice(2, 7), slice(None), slice(4, 7)]:
        fresh = Objective(layout, ACTIVATIONS["logistic"], LOSSES["log_loss"], 0.1)
        grad_shared, grad_fresh = np.empty_like(theta), np.empty_like(theta)
        args = X[rows], Y[rows], sample_weight[rows]
        assert shared(theta, *args, grad_shared) == fresh(theta, *args, grad_fresh)
        assert_array_equal(grad_shared, grad_fresh)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_objective_in_float32_matches_float64(loss_name):
    rng = np.random.RandomState(0)
    X, Y, sample_weight, layout, theta = make_problem(loss_name, rng)
    objective = Objective(layout, ACTIVATIONS["tanh"], LOSSES[loss_name], 0.1)
    grad64 = np.empty_like(theta)
    value64 = objective(theta, X, Y, sample_weight, grad64)
    theta32 = theta.astype(np.float32)
    grad32 = np.empty_like(theta32)
    value32 = objective(
        theta32,
        X.astype(np.float32),
        Y.astype(np.float32),
        sample_weight.astype(np.float32),
        grad32,
    )
    assert grad32.dtype == np.float32
    assert value32 == pytest.approx(value64, rel=1e-5)
    assert_allclose(grad32, grad64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_init_params_is_glorot_uniform_drawn_weights_then_biases(activation):
    act = ACTIVATIONS[activation]
    layout = Layout([4, 6, 3, 2])
    theta = init_params(layout, np.random.RandomState(0), act.init_gain)
    gain = 2.0 if activation in ("logistic", "sigmoid") else 6.0
    assert act.init_gain == gain

    rng = np.random.RandomState(0)
    params = layout.unpack(theta)
    for (W, b), (fan_in, fan_out) in zip(params, [(4, 6), (6, 3), (3, 2)], strict=True):
        bound = np.sqrt(gain / (fan_in + fan_out))
        assert_array_equal(W, rng.uniform(-bound, bound, (fan_in, fan_out)))
        assert_array_equal(b, rng.uniform(-bound, bound, fan_out))
    assert theta.shape == (layout.size,) == (4 * 6 + 6 * 3 + 3 * 2 + 6 + 3 + 2,)


def test_layout_pack_unpack_round_trip():
    layout = Layout([3, 4, 2])
    rng = np.random.RandomState(0)
    coefs = [rng.randn(3, 4), rng.randn(4, 2)]
    intercepts = [rng.randn(4), rng.randn(2)]
    theta = layout.pack(coefs, intercepts, np.float64)
    assert layout.n_layers == 2
    for (W, b), W0, b0 in zip(layout.unpack(theta), coefs, intercepts, strict=True):
        assert_array_equal(W, W0)
        assert_array_equal(b, b0)
    assert_array_equal(
        layout.weights(theta), np.concatenate([W.ravel() for W in coefs])
    )
