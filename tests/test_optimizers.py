"""Each optimizer step equals the update computed by hand."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pytest
from numpy.testing import assert_allclose

import skann._core.optimizers
from skann._core.optimizers import OPTIMIZERS, SGD, Adam

SIZE = 6


def gradients(n_steps):
    rng = np.random.RandomState(0)
    return rng.randn(SIZE), [rng.randn(SIZE) for _ in range(n_steps)]


def test_registries_hold_the_public_names():
    assert OPTIMIZERS == {"sgd": SGD, "adam": Adam}


def test_sgd_without_momentum_is_plain_gradient_descent():
    theta, grads = gradients(3)
    expected = theta.copy()
    optimizer = SGD(SIZE, np.float64, momentum=0.0, nesterov=False)
    for grad in grads:
        optimizer.step(theta, grad, 0.1)
        expected = expected - 0.1 * grad
        assert_allclose(theta, expected, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_matches_hand_computed_update(nesterov):
    theta, grads = gradients(3)
    lr, momentum = 0.1, 0.9
    expected, velocity = theta.copy(), np.zeros(SIZE)
    optimizer = SGD(SIZE, np.float64, momentum=momentum, nesterov=nesterov)
    for grad in grads:
        optimizer.step(theta, grad, lr)
        velocity = momentum * velocity - lr * grad
        if nesterov:
            expected = expected + momentum * velocity - lr * grad
        else:
            expected = expected + velocity
        assert_allclose(theta, expected, rtol=1e-14, atol=1e-15)


def test_adam_matches_hand_computed_update():
    theta, grads = gradients(3)
    lr, beta_1, beta_2, epsilon = 0.01, 0.9, 0.999, 1e-8
    expected, m, v = theta.copy(), np.zeros(SIZE), np.zeros(SIZE)
    optimizer = Adam(SIZE, np.float64, beta_1, beta_2, epsilon)
    for t, grad in enumerate(grads, start=1):
        optimizer.step(theta, grad, lr)
        m = beta_1 * m + (1 - beta_1) * grad
        v = beta_2 * v + (1 - beta_2) * grad**2
        step_size = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        expected = expected - step_size * m / (np.sqrt(v) + epsilon)
        assert_allclose(theta, expected, rtol=1e-14, atol=1e-15)
        assert optimizer.t == t


def test_adam_first_step_moves_each_entry_by_the_learning_rate():
    theta, (grad,) = gradients(1)
    start = theta.copy()
    Adam(SIZE, np.float64).step(theta, grad, 0.01)
    assert_allclose(start - theta, 0.01 * np.sign(grad), rtol=1e-5)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_step_keeps_float32(name):
    theta = np.ones(SIZE, dtype=np.float32)
    optimizer = OPTIMIZERS[name](SIZE, np.float32)
    optimizer.step(theta, np.full(SIZE, 0.5, dtype=np.float32), 0.1)
    assert theta.dtype == np.float32
    assert np.all(theta < 1)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_dict_round_trip_continues_identically(name):
    theta, grads = gradients(4)
    first = OPTIMIZERS[name](SIZE, np.float64)
    for grad in grads[:2]:
        first.step(theta, grad, 0.1)
    second = OPTIMIZERS[name](SIZE, np.float64)
    second.load_state_dict(first.state_dict())
    theta_first, theta_second = theta.copy(), theta.copy()
    for grad in grads[2:]:
        first.step(theta_first, grad, 0.1)
        second.step(theta_second, grad, 0.1)
    np.testing.assert_array_equal(theta_first, theta_second)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_rate_factors_scale_each_entry_s_step(name):
    """Each entry moves as it would under its own rate, lr times its factor.

    Both update rules are entrywise, so an optimizer with factors equals one
    scalar-rate optimizer per entry; with Adam, scaling the gradient instead
    would change nothing.
    """
    theta, grads = gradients(3)
    factors = np.array([1.0, 6.0, 0.1, 1.0, 2.5, 0.0])
    scaled = OPTIMIZERS[name](SIZE, np.float64, rate_factors=factors)
    expected = theta.copy()
    per_entry = [OPTIMIZERS[name](SIZE, np.float64) for _ in range(SIZE)]
    for grad in grads:
        scaled.step(theta, grad, 0.01)
        for i, optimizer in enumerate(per_entry):
            entry = expected.copy()
            optimizer.step(entry, grad, 0.01 * factors[i])
            expected[i] = entry[i]
    assert_allclose(theta, expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_rate_factors_keep_float32_and_span_blocks(name, monkeypatch):
    """Factors follow the blocks of the update: entries past the first block."""
    monkeypatch.setattr(skann._core.optimizers, "_BLOCK", 4)
    theta = np.ones(SIZE, dtype=np.float32)
    factors = np.array([1, 1, 1, 1, 0, 2], dtype=np.float32)
    optimizer = OPTIMIZERS[name](SIZE, np.float32, rate_factors=factors)
    optimizer.step(theta, np.full(SIZE, 0.5, dtype=np.float32), 0.1)
    assert theta.dtype == np.float32
    assert theta[4] == 1 and theta[5] < theta[0] < 1
