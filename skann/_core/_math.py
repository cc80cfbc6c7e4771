"""Overflow-free elementwise primitives shared by activations and losses."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy.special import expit


def sigmoid(z, out=None):
    """Logistic function 1 / (1 + exp(-z)), overflow-free for any finite z."""
    # scipy's expit evaluates the branch that cannot overflow for each sign of z,
    # in one pass and with ``out=`` support, which a NumPy expression cannot match.
    return expit(z, out=out)


def log1pexp(z):
    """Softplus log(1 + exp(z)), overflow-free for any finite z."""
    # log(1 + e^z) = log(e^0 + e^z): logaddexp shifts by max(0, z) internally.
    return np.logaddexp(0.0, z)


def logsumexp(Z, axis=1, keepdims=False):
    """log(sum(exp(Z), axis)), computed after shifting by the maximum."""
    # Not scipy.special.logsumexp: its array-API dispatch costs tens of
    # microseconds a call, more than the arithmetic on a few rows.
    shift = np.max(Z, axis=axis, keepdims=True)
    shift[~np.isfinite(shift)] = 0.0
    out = np.log(np.sum(np.exp(Z - shift), axis=axis, keepdims=True)) + shift
    return out if keepdims else np.squeeze(out, axis=axis)


def softmax(Z, out=None):
    """Row-wise softmax of Z of shape (n_samples, n_classes)."""
    out = np.subtract(Z, Z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out
