"""Retrieval, estimator side: the memory of training rows, each row's context."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import weakref

import numpy as np
import scipy.sparse as sp

from skann._core.neighbors import context, memory_norms, nearest

# Query rows per chunk at prediction: a chunk's context and distance blocks
# stay bounded whatever the number of rows predicted.
_PREDICT_CHUNK_ROWS = 16384

# The squared norms of each estimator's memory rows, with the memory array
# they belong to: a predicted row costs one pass over the memory less. Kept
# outside the estimator, so nothing is added to a saved model; a new memory
# (a fit, partial_fit) is a new array, whose norms are computed again.
_NORMS = weakref.WeakKeyDictionary()


class RetrievalMixin:
    """The training rows a retrieving network (``n_neighbors``) looks up.

    The memory is the rows the network was trained on (the inputs as the
    estimator receives them, so after any transform in front of it in a
    Pipeline), with their encoded targets (the standardised target under
    ``target_scaling``, class indicators for a classifier) and the logs of
    their sample weights; rows of weight zero are left out. A training row
    never finds itself; a row with the same features elsewhere in the data is
    found like any other. ``partial_fit`` adds its rows to the memory.
    """

    def _retrieval_link(self):
        """How the neighbours' vote maps onto the raw output (see RetrievalHead)."""
        return "identity"

    def _augment_training(self, X, Y, sample_weight, incremental, continuing):
        """``X`` with each row's retrieval context, and the memory updated."""
        if not self.n_neighbors:
            self._memory = None
            return X
        if sp.issparse(X):
            # The memory holds dense rows, and so does the network's input.
            X = X.toarray()
        targets = Y.astype(X.dtype, copy=False)
        keep = np.ones(len(X), bool) if sample_weight is None else sample_weight > 0
        log_weights = None if sample_weight is None else np.log(sample_weight[keep])
        old = getattr(self, "_memory", None) if incremental and continuing else None
        if old is None:
            memory = {"X": X[keep], "Y": targets[keep], "log_weights": log_weights}
            offset = 0
        else:
            offset = len(old["X"])
            if (old["log_weights"] is None) != (log_weights is None):
                # One side weighted: the other's rows weigh 1.
                old_w = old["log_weights"]
                if old_w is None:
                    old_w = np.zeros(offset, X.dtype)
                if log_weights is None:
                    log_weights = np.zeros(int(keep.sum()), X.dtype)
                old = {**old, "log_weights": old_w}
            memory = {
                "X": np.vstack([old["X"], X[keep]]),
                "Y": np.vstack([old["Y"], targets[keep]]),
                "log_weights": None
                if log_weights is None
                else np.concatenate([old["log_weights"], log_weights]),
            }
        if len(memory["X"]) < 2:
            raise ValueError(
                "n_neighbors needs at least 2 training samples of positive "
                f"weight; got {len(memory['X'])} sample."
            )
        # Each kept row is memory row offset + its rank among the kept rows.
        exclude = np.full(len(X), -1, dtype=np.intp)
        exclude[keep] = offset + np.arange(int(keep.sum()))
        self._memory = memory
        return self._with_context(X, exclude)

    def _with_context(self, X, exclude=None):
        """``X`` followed by the retrieval context of each of its rows."""
        memory = self._memory
        k = min(self.n_neighbors, len(memory["X"]) - (exclude is not None))
        cached = _NORMS.get(self)
        if cached is None or cached[0] is not memory["X"]:
            cached = _NORMS[self] = (memory["X"], memory_norms(memory["X"]))
        index, d2 = nearest(X, memory["X"], k, exclude, mm=cached[1])
        if k < self.n_neighbors:
            raise ValueError(
                f"n_neighbors={self.n_neighbors} needs more than {k} training "
                "rows of positive weight; lower n_neighbors."
            )
        return context(index, d2, X.shape[1], memory["Y"], memory["log_weights"], X)

    def _init_retrieval(self, network, theta, state, X_context):
        """Start the head's temperature and trust statistics from the training rows."""
        if network.retrieval is None:
            return
        k = self.n_neighbors
        p = network.spec.layer_sizes[0]
        d = X_context[:, p : p + k]
        trust = X_context[:, p + 2 * k : p + 2 * k + 2]
        arrays = network.arrays(theta, state)
        # Attention starts at exp(-d / median d): the typical neighbour counts.
        arrays["retrieval_temperature"][0][...] = -np.log(np.median(d) + 1e-12)
        arrays["retrieval_trust_means"][0][...] = trust.mean(axis=0)
        scales = trust.std(axis=0)
        arrays["retrieval_trust_scales"][0][...] = np.where(scales > 0, scales, 1.0)

    def _predict_with_context(self, predict, X):
        """``predict`` of validated ``X`` with context rows built chunk by chunk.

        ``predict`` maps the network's input (features, then context) to its
        raw output; the chunks bound the memory of the context and search.
        """
        if sp.issparse(X):
            X = X.toarray()
        parts = [
            predict(self._with_context(X[start : start + _PREDICT_CHUNK_ROWS]))
            for start in range(0, X.shape[0], _PREDICT_CHUNK_ROWS)
        ]
        return parts[0] if len(parts) == 1 else np.vstack(parts)
