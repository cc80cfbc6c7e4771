"""Output losses on logits, each paired with its canonical link."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from skann._core._math import log1pexp, sigmoid, softmax


class Loss(NamedTuple):
    """A loss on the network's raw output and the link that turns raw into a
    prediction.

    ``value_and_delta(Y, raw, sample_weight, total)`` returns the weighted
    mean loss ``sum_i w_i l(Y_i, raw_i) / total`` and its gradient with respect
    to ``raw``, an array of shape (n_samples, n_outputs) already divided by
    ``total``. ``total`` defaults to ``sum_i w_i`` (the number of rows without
    weights); a row block of a larger batch passes the batch's total. Every
    pair is canonical, so that gradient is ``w_i (link(raw_i) - Y_i) / total``
    and no output-activation derivative is ever needed. The gradient may be
    written into ``raw``'s memory: the caller must not read ``raw`` again.
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
        return float(np.sum(per_sample)) / total
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
    per_sample = np.sum(log1pexp(raw) - Y * raw, axis=1)
    delta = sigmoid(raw) - Y
    return (
        _weighted_mean(per_sample, sample_weight, total),
        _scale_delta(delta, sample_weight, total),
    )


def _log_loss(Y, raw, sample_weight=None, total=None):
    # -sum_k y_k log softmax(r)_k = logsumexp(r) - sum_k y_k r_k for one-hot y
    total = _total(raw.shape[0], sample_weight, total)
    # One shifted exponential serves the loss and softmax, in raw's buffer.
    shift = np.maximum.reduce(raw, axis=1, keepdims=True)
    delta = np.subtract(raw, shift, out=raw)
    per_sample = -np.einsum("ij,ij->i", Y, delta)
    np.exp(delta, out=delta)
    row_sums = np.add.reduce(delta, axis=1, keepdims=True)
    per_sample += np.log(row_sums[:, 0])
    delta /= row_sums
    delta -= Y
    return (
        _weighted_mean(per_sample, sample_weight, total),
        _scale_delta(delta, sample_weight, total),
    )


LOSSES = {
    "squared_error": Loss(_identity, _squared_error, "identity"),
    "binary_log_loss": Loss(sigmoid, _binary_log_loss, "logistic"),
    "log_loss": Loss(softmax, _log_loss, "softmax"),
}
