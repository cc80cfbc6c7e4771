"""scikit-learn's callback protocol (``sklearn.callback``), where it exists."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from contextlib import contextmanager

try:
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # scikit-learn < 1.9 has no callbacks

    class CallbackSupportMixin:
        """Stand-in base for scikit-learn versions without ``sklearn.callback``."""


@contextmanager
def fit_task(
    estimator, X, y, max_subtasks, network=None, theta=None, state=None,
    sample_weight=None,
):  # fmt: skip
    """The fit task of ``estimator``: yields the epoch-end hooks of its callbacks."""
    yield []
