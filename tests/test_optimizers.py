"""Each optimizer step and schedule equals the update computed by hand."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skann._core.optimizers import OPTIMIZERS, SCHEDULES, SGD, Adam

SIZE = 6


def gradients(n_steps):
    rng = np.random.RandomState(0)
    return rng.randn(SIZE), [rng.randn(SIZE) for _ in range(n_steps)]


def test_registries_hold_the_public_names():
    assert OPTIMIZERS == {"sgd": SGD, "adam": Adam}
    assert set(SCHEDULES) == {"constant", "invscaling", "adaptive"}


def test_sgd_without_momentum_is_plain_gradient_descent():
    theta, grads = gradients(3)
    expected = theta.copy()
    optimizer = SGD(SIZE, np.float64, learning_rate=0.1, momentum=0.0, nesterov=False)
    for grad in grads:
        optimizer.step(theta, grad)
        expected = expected - 0.1 * grad
        assert_allclose(theta, expected, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_matches_hand_computed_update(nesterov):
    theta, grads = gradients(3)
    lr, momentum = 0.1, 0.9
    expected, velocity = theta.copy(), np.zeros(SIZE)
    optimizer = SGD(SIZE, np.float64, lr, momentum=momentum, nesterov=nesterov)
    for grad in grads:
        optimizer.step(theta, grad)
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
    optimizer = Adam(SIZE, np.float64, lr, beta_1, beta_2, epsilon)
    for t, grad in enumerate(grads, start=1):
        optimizer.step(theta, grad)
        m = beta_1 * m + (1 - beta_1) * grad
        v = beta_2 * v + (1 - beta_2) * grad**2
        step_size = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        expected = expected - step_size * m / (np.sqrt(v) + epsilon)
        assert_allclose(theta, expected, rtol=1e-14, atol=1e-15)
        assert optimizer.t == t


def test_adam_first_step_moves_each_entry_by_the_learning_rate():
    theta, (grad,) = gradients(1)
    start = theta.copy()
    Adam(SIZE, np.float64, 0.01).step(theta, grad)
    assert_allclose(start - theta, 0.01 * np.sign(grad), rtol=1e-5)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_step_keeps_float32(name):
    theta = np.ones(SIZE, dtype=np.float32)
    optimizer = OPTIMIZERS[name](SIZE, np.float32, 0.1)
    optimizer.step(theta, np.full(SIZE, 0.5, dtype=np.float32))
    assert theta.dtype == np.float32
    assert np.all(theta < 1)


def test_invscaling_schedule_decays_with_samples_seen():
    optimizer = SGD(SIZE, np.float64, 0.1, schedule="invscaling", power_t=0.5)
    optimizer.end_epoch(n_seen=99)
    assert optimizer.learning_rate == pytest.approx(0.1 / 100**0.5, rel=1e-15)
    optimizer.end_epoch(n_seen=399)
    assert optimizer.learning_rate == pytest.approx(0.1 / 400**0.5, rel=1e-15)


@pytest.mark.parametrize("schedule", ["constant", "adaptive"])
def test_end_epoch_keeps_the_rate_of_other_schedules(schedule):
    optimizer = SGD(SIZE, np.float64, 0.1, schedule=schedule)
    optimizer.end_epoch(n_seen=1000)
    assert optimizer.learning_rate == 0.1


def test_adaptive_schedule_divides_by_five_then_gives_up():
    optimizer = SGD(SIZE, np.float64, 1e-3, schedule="adaptive")
    rates = []
    while not optimizer.on_plateau():
        rates.append(optimizer.learning_rate)
    assert_allclose(rates, 1e-3 / 5.0 ** np.arange(1, 6), rtol=1e-15)
    assert optimizer.learning_rate <= 1e-6


@pytest.mark.parametrize(
    "optimizer",
    [
        SGD(SIZE, np.float64, 0.1, schedule="constant"),
        SGD(SIZE, np.float64, 0.1, schedule="invscaling"),
        Adam(SIZE, np.float64, 0.1),
    ],
    ids=["sgd-constant", "sgd-invscaling", "adam"],
)
def test_plateau_stops_other_optimizers(optimizer):
    assert optimizer.on_plateau() is True
    assert optimizer.learning_rate == 0.1
