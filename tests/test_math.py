"""Stable primitives and losses against scipy.special and exact references."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from decimal import Decimal, localcontext

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import special

from skann._core._math import log1pexp, logsumexp, row_max, row_sums, sigmoid, softmax
from skann._core.losses import LOSSES

Z = np.array([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0])
ROWS = np.array(
    [
        [1000.0, 1000.0, -1000.0],
        [-1000.0, -1000.0, -1000.0],
        [1000.0, 0.0, -1000.0],
        [-1000.0, 40.0, 0.0],
        [0.0, 1.0, 2.0],
        [-np.inf, 0.0, 1.0],
    ]
)


def raise_on_overflow():
    """Raise on overflow, invalid operations and division by zero.

    Underflow to zero is exact rounding of exp(-1000), not an error, and
    scipy's own logsumexp and softmax underflow on these inputs too.
    """
    return np.errstate(all="raise", under="ignore")


def test_sigmoid_matches_expit():
    with raise_on_overflow():
        out = sigmoid(Z)
        into = np.empty_like(Z)
        returned = sigmoid(Z, out=into)
    assert_allclose(out, special.expit(Z), rtol=1e-15, atol=0)
    assert returned is into
    assert_array_equal(into, out)
    assert out[0] == 0.0 and out[-1] == 1.0


def test_log1pexp_matches_minus_log_expit():
    with raise_on_overflow():
        out = log1pexp(Z)
    assert_allclose(out, -special.log_expit(-Z), rtol=1e-15, atol=0)
    assert out[-1] == 1000.0


@pytest.mark.parametrize("axis", [0, 1])
def test_logsumexp_matches_scipy(axis):
    with raise_on_overflow():
        out = logsumexp(ROWS, axis=axis)
        expected = special.logsumexp(ROWS, axis=axis)
    assert_allclose(out, expected, rtol=1e-15, atol=0)
    assert out[0] == pytest.approx(1000.0 + np.log(2.0), rel=1e-15)


def test_softmax_matches_scipy():
    with raise_on_overflow():
        out = softmax(ROWS)
        expected = special.softmax(ROWS, axis=1)
        into = np.empty_like(ROWS)
        returned = softmax(ROWS, out=into)
    assert_allclose(out, expected, rtol=1e-15, atol=1e-300)
    assert_allclose(out.sum(axis=1), 1.0, rtol=1e-15)
    assert_array_equal(out[0], [0.5, 0.5, 0.0])
    assert returned is into
    assert_array_equal(into, out)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 10), (9, 2), (200, 10), (300, 33), (50, 3)]
)
def test_row_max_is_numpys_and_row_sums_are_close(shape, dtype):
    # Both ways of row_max (column by column, and NumPy's row reduction for
    # few rows or many columns) give NumPy's maxima exactly, NaN included.
    Z = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    Z[0, -1] = -np.inf
    if shape[0] > 2:
        Z[2, 0] = np.nan
    assert_array_equal(row_max(Z), Z.max(axis=1))
    assert row_max(Z).dtype == dtype
    finite = np.isfinite(Z).all(axis=1)
    sums = row_sums(Z[finite])
    assert sums.dtype == dtype
    assert_allclose(
        sums,
        Z[finite].sum(axis=1),
        rtol=1e-5 if dtype == np.float32 else 1e-13,
        atol=1e-5,
    )


def test_softmax_log_loss_and_logsumexp_are_exact_on_many_rows():
    # The column-by-column maxima and the product row sums on 1000 rows of
    # 10 classes against scipy's softmax and a direct log loss.
    rng = np.random.default_rng(1)
    raw = rng.standard_normal((1000, 10)) * 30
    Y = np.eye(10)[rng.integers(0, 10, 1000)]
    with raise_on_overflow():
        proba = softmax(raw)
        value, delta = LOSSES["log_loss"].value_and_delta(Y, raw.copy())
    assert_allclose(proba, special.softmax(raw, axis=1), rtol=1e-13, atol=1e-300)
    expected = np.mean(special.logsumexp(raw, axis=1) - (Y * raw).sum(axis=1))
    assert value == pytest.approx(expected, rel=1e-13)
    assert_allclose(delta, (proba - Y) / 1000, rtol=1e-12, atol=1e-18)
    raw[0] = -np.inf
    raw[1, 3] = np.inf
    # The row of -inf has log(0) = -inf, as in scipy.
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = special.logsumexp(raw, axis=1)
        out = logsumexp(raw, axis=1)
        kept = logsumexp(raw, axis=-1, keepdims=True)
    assert expected[0] == -np.inf and expected[1] == np.inf
    assert_allclose(out, expected, rtol=1e-14)
    assert_allclose(kept[:, 0], expected, rtol=1e-14)
    # The last axis of 3-d members' outputs (an ensemble's classifier).
    members = rng.standard_normal((4, 250, 6)) * 30
    for axis in (2, -1):
        assert_allclose(
            logsumexp(members, axis=axis, keepdims=True),
            special.logsumexp(members, axis=2, keepdims=True),
            rtol=1e-14,
        )
    assert_allclose(logsumexp(members, axis=0), special.logsumexp(members, axis=0))


def _sign(d):
    return (d > 0) - (d < 0)


# Each elementwise loss and its derivative in r, in exact arithmetic; the
# parameterised ones at LOSSES' defaults (Huber's delta 1, quantile 0.5).
_EXACT_ELEMENTWISE = {
    "squared_error": (lambda y, r: (r - y) ** 2 / 2, lambda y, r: r - y),
    "poisson": (
        lambda y, r: (y * y.ln() if y else 0) - y * r - y + r.exp(),
        lambda y, r: r.exp() - y,
    ),
    "absolute_error": (lambda y, r: abs(r - y), lambda y, r: _sign(r - y)),
    "huber": (
        lambda y, r: (
            (r - y) ** 2 / 2 if abs(r - y) <= 1 else abs(r - y) - 1 / Decimal(2)
        ),
        lambda y, r: max(-1, min(1, r - y)),
    ),
    "quantile": (
        lambda y, r: max((y - r) / 2, -(y - r) / 2),
        lambda y, r: Decimal(_sign(r - y)) / 2,
    ),
    "binary_log_loss": (
        lambda y, r: (1 + r.exp()).ln() - y * r,
        lambda y, r: 1 / (1 + (-r).exp()) - y,
    ),
}


def _exact_rows(loss_name, Y, raw):
    """Each row's loss and its derivative in raw, with 60 significant digits."""
    with localcontext() as ctx:
        ctx.prec = 60
        for y_row, r_row in zip(Y.tolist(), raw.tolist(), strict=True):
            pairs = [
                (Decimal(y), Decimal(r)) for y, r in zip(y_row, r_row, strict=True)
            ]
            if loss_name == "log_loss":
                norm = sum(r.exp() for _, r in pairs)
                loss = norm.ln() - sum(y * r for y, r in pairs)
                derivative = [r.exp() / norm - y for y, r in pairs]
            else:
                value, slope = _EXACT_ELEMENTWISE[loss_name]
                loss = sum(value(y, r) for y, r in pairs)
                derivative = [slope(y, r) for y, r in pairs]
            yield loss, derivative


def _exact_loss(loss_name, Y, raw):
    """The mean loss computed with 60 significant digits."""
    with localcontext() as ctx:
        ctx.prec = 60
        rows = [loss for loss, _ in _exact_rows(loss_name, Y, raw)]
        return float(sum(rows) / len(raw))


def _exact_delta(loss_name, Y, raw):
    """d mean loss / d raw computed with 60 significant digits."""
    with localcontext() as ctx:
        ctx.prec = 60
        rows = [derivative for _, derivative in _exact_rows(loss_name, Y, raw)]
        return np.array([[float(d / len(raw)) for d in row] for row in rows])


def _extreme_case(loss_name):
    if loss_name == "log_loss":
        raw = ROWS[:-1]
        Y = np.eye(3)[[1, 2, 0, 0, 2]]
    else:
        # Poisson's prediction exp(raw) overflows beyond raw = 709.78.
        z = np.clip(Z, -700.0, 700.0) if loss_name == "poisson" else Z
        raw = np.column_stack([z, z[::-1]])
        Y = np.column_stack([np.arange(7) % 2, np.arange(7) // 4]).astype(float)
    return Y, raw


# link(raw) - Y cancels: sigmoid(40) rounds to 1, so delta loses entries below
# machine epsilon times its own scale (about 0.1 here), and no more.
DELTA_ATOL = 1e-16


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_loss_at_extreme_logits_matches_exact_value(loss_name):
    Y, raw = _extreme_case(loss_name)
    with raise_on_overflow():
        value, delta = LOSSES[loss_name].value_and_delta(Y, raw.copy())
    assert np.isfinite(value)
    assert np.all(np.isfinite(delta))
    assert value == pytest.approx(_exact_loss(loss_name, Y, raw), rel=1e-14)
    assert_allclose(delta, _exact_delta(loss_name, Y, raw), rtol=1e-14, atol=DELTA_ATOL)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_loss_weights_match_exact_weighted_mean(loss_name):
    Y, raw = _extreme_case(loss_name)
    sample_weight = np.arange(1.0, len(raw) + 1)
    with raise_on_overflow():
        value, delta = LOSSES[loss_name].value_and_delta(Y, raw.copy(), sample_weight)
    per_sample = [
        _exact_loss(loss_name, Y[i : i + 1], raw[i : i + 1]) for i in range(len(raw))
    ]
    expected = np.dot(sample_weight, per_sample) / sample_weight.sum()
    assert value == pytest.approx(expected, rel=1e-14)
    unweighted = _exact_delta(loss_name, Y, raw) * len(raw)
    expected_delta = unweighted * (sample_weight / sample_weight.sum())[:, None]
    assert_allclose(delta, expected_delta, rtol=1e-14, atol=DELTA_ATOL)
