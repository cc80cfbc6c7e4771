"""Output losses on the raw network output, each paired with its link."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np
from scipy.special import xlogy

from skann._core._math import log1pexp, row_max, row_sums, sigmoid, softmax

__all__ = ["LOSSES", "REGRESSION_LOSSES", "Loss", "make_loss"]


class Loss(NamedTuple):
    """A loss on the network's raw output and the link that turns raw into a
    prediction.

    ``value_and_delta(Y, raw, sample_weight, total)`` returns the weighted
    mean loss ``sum_i w_i l(Y_i, raw_i) / total`` and its gradient with respect
    to ``raw``, an array of shape (n_samples, n_outputs) already divided by
    ``total``. ``total`` defaults to ``sum_i w_i`` (the number of rows without
    weights); a row block of a larger batch passes the batch's total. The
    gradient is taken with respect to ``raw`` itself, so no output-activation
    derivative is ever needed: for the canonical pairs (squared error,
    Poisson deviance, binary and multiclass log loss) it is
    ``w_i (link(raw_i) - Y_i) / total``; the robust regression losses
    (absolute error, Huber, quantile) have the identity link and a bounded
    gradient. The gradient may be written into ``raw``'s memory: the caller
    must not read ``raw`` again.
    """

    link: Callable
    value_and_delta: Callable
    out_activation: str


def _total(n_samples, sample_weight, total):
    if total is not None:
        return total
    return n_samples if sample_weight is None else float(np.sum(sample_weight))


def _weighted_mean(per_sample, sample_weight, total):
    if sample_weight is None:
        # np.add.reduce is np.sum without its dispatch (0.6 against 1.6 us).
        return float(np.add.reduce(per_sample)) / total
    return float(np.dot(sample_weight, per_sample)) / total


def _scale_delta(delta, sample_weight, total):
    """Apply the weights and the 1 / total normalisation to delta in place."""
    if sample_weight is None:
        delta *= 1.0 / total
    else:
        delta *= (sample_weight / total)[:, np.newaxis]
    return delta


def _identity(raw):
    return raw


def _squared_error(Y, raw, sample_weight=None, total=None):
    # 1/2 ||raw - y||^2 summed over outputs: with one output this is
    # MLPRegressor's loss, and with several its gradient is the one it steps on.
    total = _total(raw.shape[0], sample_weight, total)
    # raw is the forward pass's buffer and is not read again.
    delta = np.subtract(raw, Y, out=raw)
    if sample_weight is None:
        flat = delta.ravel()
        value = 0.5 * float(np.dot(flat, flat)) / total
    else:
        per_sample = np.einsum("ij,ij->i", delta, delta)
        value = 0.5 * _weighted_mean(per_sample, sample_weight, total)
    return value, _scale_delta(delta, sample_weight, total)


def _binary_log_loss(Y, raw, sample_weight=None, total=None):
    # -y log sigma(r) - (1 - y) log(1 - sigma(r)) = log(1 + e^r) - y r
    total = _total(raw.shape[0], sample_weight, total)
    per_sample = row_sums(log1pexp(raw) - Y * raw)
    delta = sigmoid(raw) - Y
    return (
        _weighted_mean(per_sample, sample_weight, total),
        _scale_delta(delta, sample_weight, total),
    )


def _log_loss(Y, raw, sample_weight=None, total=None):
    # -sum_k y_k log softmax(r)_k = logsumexp(r) - sum_k y_k r_k for one-hot y
    total = _total(raw.shape[0], sample_weight, total)
    # One shifted exponential serves the loss and softmax, in raw's buffer.
    delta = np.subtract(raw, row_max(raw)[:, np.newaxis], out=raw)
    # The weighted sum of y_i . r_i over the rows: one product without weights.
    if sample_weight is None:
        picked = np.vdot(Y, delta)
    else:
        picked = np.dot(sample_weight, np.einsum("ij,ij->i", Y, delta))
    np.exp(delta, out=delta)
    sums = row_sums(delta)
    value = _weighted_mean(np.log(sums), sample_weight, total) - float(picked) / total
    delta /= sums[:, np.newaxis]
    delta -= Y
    return value, _scale_delta(delta, sample_weight, total)


def _elementwise_mean(per_element, sample_weight, total):
    """sum_ij w_i l_ij / total, overwriting the scratch array ``per_element``."""
    # One pass over the whole array: a sum along rows of 1 to 3 outputs costs
    # several times more than the elementwise work.
    if sample_weight is not None:
        per_element *= sample_weight[:, np.newaxis]
    return float(np.add.reduce(per_element, axis=None)) / total


def _poisson(Y, raw, sample_weight=None, total=None):
    # Half the Poisson deviance of the prediction e^r, with the log link:
    # y log(y / e^r) - y + e^r = y log y - y - y r + e^r, and 0 log 0 = 0.
    # The term y log y - y does not depend on r. It is kept, as scikit-learn's
    # poisson_loss keeps it, so that a perfect fit has loss 0 and loss_ is
    # MLPRegressor's. Canonical link: d loss / d r = e^r - y.
    total = _total(raw.shape[0], sample_weight, total)
    # e^r overflows only where the prediction itself does: the inf (or nan)
    # loss that follows is the training loop's divergence signal.
    with np.errstate(over="ignore", invalid="ignore"):
        per_element = xlogy(Y, Y)
        per_element -= Y
        per_element -= Y * raw
        mean = np.exp(raw, out=raw)
        per_element += mean
        delta = np.subtract(mean, Y, out=mean)
        return (
            _elementwise_mean(per_element, sample_weight, total),
            _scale_delta(delta, sample_weight, total),
        )


def _absolute_error(Y, raw, sample_weight=None, total=None):
    # |r - y|, with the subgradient sign(r - y), 0 at r = y.
    total = _total(raw.shape[0], sample_weight, total)
    diff = np.subtract(raw, Y, out=raw)
    value = _elementwise_mean(np.abs(diff), sample_weight, total)
    delta = np.sign(diff, out=diff)
    return value, _scale_delta(delta, sample_weight, total)


def _huber(Y, raw, sample_weight=None, total=None, *, huber_delta=1.0):
    # (1/2) d^2 for |d| <= delta, delta (|d| - delta / 2) beyond, d = r - y:
    # both are c (|d| - c / 2) with c = min(|d|, delta), which never squares
    # a large residual. The gradient is d clipped to [-delta, delta].
    total = _total(raw.shape[0], sample_weight, total)
    # A delta beyond the dtype's range clips nothing; capping it keeps a
    # float32 batch from overflowing when the Python float is cast.
    huber_delta = min(float(huber_delta), float(np.finfo(raw.dtype).max))
    diff = np.subtract(raw, Y, out=raw)
    size = np.abs(diff)
    clipped = np.minimum(size, huber_delta)
    size -= 0.5 * clipped
    size *= clipped
    value = _elementwise_mean(size, sample_weight, total)
    delta = np.clip(diff, -huber_delta, huber_delta, out=diff)
    return value, _scale_delta(delta, sample_weight, total)


def _quantile(Y, raw, sample_weight=None, total=None, *, quantile=0.5):
    # Pinball loss max(q (y - r), (q - 1)(y - r)) = (r - y) s, where the slope
    # s = d loss / d r is 1 - q above the target, -q below it and 0 on it.
    # With q = 0.5, s is exactly half of sign(r - y), so the loss and its
    # gradient are exactly half of the absolute error's.
    total = _total(raw.shape[0], sample_weight, total)
    quantile = float(quantile)
    diff = np.subtract(raw, Y, out=raw)
    slope = np.empty_like(diff)
    np.greater(diff, 0.0, out=slope)
    np.subtract(slope, quantile, out=slope, where=diff != 0.0)
    value = _elementwise_mean(np.multiply(diff, slope, out=diff), sample_weight, total)
    return value, _scale_delta(slope, sample_weight, total)


# Every loss by its public name, the parameterised ones with their defaults.
LOSSES = {
    "squared_error": Loss(_identity, _squared_error, "identity"),
    "poisson": Loss(np.exp, _poisson, "exp"),
    "absolute_error": Loss(_identity, _absolute_error, "identity"),
    "huber": Loss(_identity, _huber, "identity"),
    "quantile": Loss(_identity, _quantile, "identity"),
    "binary_log_loss": Loss(sigmoid, _binary_log_loss, "logistic"),
    "log_loss": Loss(softmax, _log_loss, "softmax"),
}

# The regressor's ``loss`` options; the others are the classifier's.
REGRESSION_LOSSES = ("squared_error", "poisson", "absolute_error", "huber", "quantile")


def make_loss(name, huber_delta=1.0, quantile=0.5):
    """The loss ``name``, with Huber's ``huber_delta`` or the ``quantile`` bound.

    ``huber_delta`` (positive) is where the Huber loss turns from quadratic
    to linear; ``quantile`` (in (0, 1)) is the level the quantile loss
    estimates. Each parameter is ignored by every other loss.
    """
    if name not in LOSSES:
        raise ValueError(f"Unknown loss {name!r}; expected one of {sorted(LOSSES)}.")
    loss = LOSSES[name]
    if name == "huber":
        huber_delta = float(huber_delta)
        if not huber_delta > 0:
            raise ValueError(f"huber_delta must be positive, got {huber_delta!r}.")
        return loss._replace(value_and_delta=partial(_huber, huber_delta=huber_delta))
    if name == "quantile":
        quantile = float(quantile)
        if not 0 < quantile < 1:
            raise ValueError(f"quantile must be in (0, 1), got {quantile!r}.")
        return loss._replace(value_and_delta=partial(_quantile, quantile=quantile))
    return loss
