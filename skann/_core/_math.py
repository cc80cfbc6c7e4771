"""Overflow-free elementwise primitives shared by activations and losses."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import functools

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
    # Along the last axis, on the rows of a 2-d view: the row helpers below
    # are several times faster than NumPy's reductions on many short rows.
    last = Z.ndim >= 2 and axis in (-1, Z.ndim - 1)
    if last:
        rows = Z.reshape(-1, Z.shape[-1])
        shift = row_max(rows).reshape(*Z.shape[:-1], 1)
    else:
        shift = np.max(Z, axis=axis, keepdims=True)
    shift[~np.isfinite(shift)] = 0.0
    exp = np.exp(Z - shift)
    if last:
        sums = row_sums(exp.reshape(rows.shape)).reshape(shift.shape)
    else:
        sums = np.sum(exp, axis=axis, keepdims=True)
    out = np.log(sums) + shift
    return out if keepdims else np.squeeze(out, axis=axis)


# NumPy reduces each row of an (n, k) array along axis 1 in its own inner
# loop call, about 20-30 ns a row whatever k: 320-540 us for the maxima of
# 10000 x 10. Column by column, k - 1 elementwise np.maximum calls over n
# strided rows take 31-44 us. Below about 8 rows a column, or past 32
# columns, the row-wise reduction is the faster.
_MAX_COLUMNS = 32


def row_max(Z):
    """Maximum of each row of the 2-d array Z, exactly ``Z.max(axis=1)``."""
    n, k = Z.shape
    if not 2 <= k <= _MAX_COLUMNS or n < 8 * (k - 1):
        return np.maximum.reduce(Z, axis=1)
    out = np.maximum(Z[:, 0], Z[:, 1])
    for j in range(2, k):
        np.maximum(out, Z[:, j], out=out)
    return out


def row_sums(Z):
    """Sum of each row of the 2-d float array Z.

    A matrix-vector product with a ones vector: 0.8 against 3.8 us for
    200 x 10 and 22 against 160 us for 10000 x 10, from the per-row cost of
    ``Z.sum(axis=1)``. The sums are BLAS's, so the last bit may differ from
    NumPy's pairwise sums.
    """
    return np.dot(Z, _ones(Z.shape[1], Z.dtype))


@functools.lru_cache(maxsize=64)
def _ones(k, dtype):
    ones = np.ones(k, dtype)
    ones.flags.writeable = False
    return ones


def softmax(Z, out=None):
    """Row-wise softmax of Z of shape (n_samples, n_classes)."""
    out = np.subtract(Z, row_max(Z)[:, np.newaxis], out=out)
    np.exp(out, out=out)
    out /= row_sums(out)[:, np.newaxis]
    return out
