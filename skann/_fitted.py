"""The fitted model's store: its arrays, spec and training record, written once."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import itertools
import operator
import os
import threading
import weakref

import numpy as np

from skann._core.losses import LOSSES
from skann._core.network import (
    _PREDICT_CHUNK_BYTES,
    FITTED_ARRAYS,
    Network,
    NetworkSpec,
)
from skann._core.training import history_columns, history_records

# Each estimator's prediction cache, kept beside the estimator rather than in
# it: predict leaves the estimator's __dict__ as it was (scikit-learn's rule),
# and pickle, skops and copies never see the cache. An entry goes with its
# estimator.
_PREDICTION_CACHES = weakref.WeakKeyDictionary()


class FittedNetworkMixin:
    """Writes every fitted attribute from one training call, and reads them back.

    The per-layer arrays are public attributes named after the layers' own
    names for them (``coefs_``, ``batch_norm_scales_``, ...); the history is
    stored once, one array per record entry, and the curves scikit-learn's
    MLP estimators expose are read from it. The private ``_training_state``
    holds only what a continued fit needs and no attribute shows.
    """

    def _is_stochastic(self):
        return self.solver != "lbfgs"

    def _store_fit(self, network, result, state, progress, monitor, rule):
        """Write every fitted attribute from one training call's record."""
        theta = result.theta
        if monitor is not None:
            theta, state = monitor.best_theta, monitor.best_state
        self._set_fitted_network(network, theta, state)
        self.n_iter_ = result.n_iter
        self.loss_ = result.loss
        self._history = history_columns(progress.history)
        if not self._is_stochastic():
            self.t_, self.best_loss_, self.best_validation_score_ = 0, result.loss, None
            self._training_state = None
            return
        self.t_ = progress.n_seen
        self.best_loss_ = None if monitor is not None else rule.best
        self.best_validation_score_ = None if monitor is None else monitor.best_score
        self._training_state = {
            "optimizer": progress.optimizer.state_dict(),
            "schedule": progress.schedule.state_dict(),
            "averager": None
            if progress.averager is None
            else progress.averager.state_dict(),
            "live_theta": progress.live_theta,
            "no_improvement_count": rule.count,
            "best_validation_loss": None if monitor is None else monitor.best_loss,
            "reference_loss": progress.reference_loss,
            "n_restarts": progress.n_restarts,
        }

    def _set_fitted_network(self, network, theta, state):
        """The fitted arrays, by their public names, and the fitted spec."""
        _PREDICTION_CACHES.pop(self, None)
        arrays = network.arrays(theta, state)
        for name in FITTED_ARRAYS:
            views = arrays.get(name)
            setattr(
                self, f"{name}_", None if views is None else [a.copy() for a in views]
            )
        # Predict builds the network from this record of the fitted one, never
        # from the current parameters, which set_params may have changed.
        self._fitted_spec = {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in network.spec._asdict().items()
        }
        self.n_layers_ = len(network.spec.layer_sizes)
        self.n_outputs_ = network.spec.layer_sizes[-1]
        self.out_activation_ = LOSSES[self._loss_name].out_activation

    def _spec_of_fitted(self):
        """The spec of the fitted network."""
        if hasattr(self, "_fitted_spec"):
            return NetworkSpec(
                **{
                    name: tuple(value) if isinstance(value, list) else value
                    for name, value in self._fitted_spec.items()
                }
            )
        # Weights given by hand to an unfitted estimator.
        sizes = [self.coefs_[0].shape[0], *(b.size for b in self.intercepts_)]
        return NetworkSpec.build(sizes, self.activation)

    def _fitted_arrays(self):
        """The lists of fitted per-layer arrays by name, those the model has."""
        return {
            name: getattr(self, f"{name}_")
            for name in FITTED_ARRAYS
            if getattr(self, f"{name}_", None) is not None
        }

    def _fitted_vectors(self, network, dtype):
        """The flat parameter and state vectors of the fitted network."""
        return network.pack(self._fitted_arrays(), dtype)

    def _fitted_sources(self):
        """What prediction reads: the fitted spec and the per-layer arrays.

        Returns
        -------
        sources : list
            The objects themselves, which the prediction cache compares by
            identity: the spec record, then for each name of
            ``FITTED_ARRAYS`` the list of arrays (None where absent)
            followed by its arrays.
        """
        attributes = self.__dict__
        spec = attributes.get("_fitted_spec")
        # Weights given by hand to an unfitted estimator: the spec follows the
        # activation parameter.
        sources = [self._spec_of_fitted() if spec is None else spec]
        for name in FITTED_ARRAYS:
            arrays = attributes.get(f"{name}_")
            sources.append(arrays)
            if arrays is not None:
                sources.extend(arrays)
        return sources

    def _prediction_network(self):
        """The fitted network ready to predict, built at most once per fit.

        Returns
        -------
        cache : PredictionCache
            Kept for this estimator object outside it, and built anew when a
            fitted list or array has been replaced since (by a fit, or by
            hand). A copy or a loaded model builds its own.
        """
        sources = self._fitted_sources()
        cache = _PREDICTION_CACHES.get(self)
        if cache is None or not cache.built_from(sources):
            cache = PredictionCache(self, sources)
            _PREDICTION_CACHES[self] = cache
        return cache

    @property
    def history_(self):
        """One record per epoch (per L-BFGS iteration), as a list of dicts."""
        return history_records(self._history)

    @property
    def loss_curve_(self):
        """The training loss after each epoch (each L-BFGS iteration)."""
        return [r["loss"] for r in self.history_ if not r["restart"]]

    @property
    def validation_scores_(self):
        """The validation score after each epoch (None without early stopping)."""
        return self._validation_curve("validation_score")

    @property
    def validation_loss_curve_(self):
        """The validation loss after each epoch (None without early stopping)."""
        return self._validation_curve("validation_loss")

    def _validation_curve(self, key):
        if self.best_validation_score_ is None:
            return None
        return [r[key] for r in self.history_ if r[key] is not None]

    @property
    def hidden_activations_(self):
        """The activation of each hidden layer of the fitted network."""
        return list(self._fitted_spec["activations"])


class PredictionCache:
    """The fitted network, its packed vectors and its compiled plans.

    Building the network, packing the fitted arrays into flat vectors and
    compiling a plan took longer than the forward pass itself on small
    batches; this keeps them between predict calls. The vectors are packed
    once per dtype. Plans, with their work arrays, go to the process-wide
    store ``_PLANS``, which keeps those of the most recently used batch sizes
    of all estimators within ``_PREDICT_CHUNK_BYTES`` of work arrays: no more
    than a single call may use.

    The cache stays valid while the estimator holds the very objects it was
    built from (``sources``): a fit, or an assignment to a fitted attribute
    or to an item of its list, replaces one of them. Values changed in place
    inside a fitted array are not seen.

    Concurrent calls are safe: the vectors are only read, and a call that
    finds this cache's plans in use by another thread compiles its own, as
    every call did before the cache existed.

    Parameters
    ----------
    estimator : BaseANN
        The fitted estimator (or one given weights by hand). Only its fitted
        spec and arrays are kept, not the estimator itself.
    sources : list
        What ``FittedNetworkMixin._fitted_sources`` returned for it.
    """

    def __init__(self, estimator, sources):
        self.sources = sources
        self.network = Network(estimator._spec_of_fitted())
        self.coefs_dtype = estimator.coefs_[0].dtype
        self._arrays = estimator._fitted_arrays()
        self._vectors = {}
        self._lock = threading.Lock()
        self._owner = _PLANS.register(self)

    def built_from(self, sources):
        """Whether the cache was built from these very objects.

        Parameters
        ----------
        sources : list
            What ``FittedNetworkMixin._fitted_sources`` returns now.

        Returns
        -------
        valid : bool
            True when every fitted list and array is the one the cache was
            built from, and the spec is the same.
        """
        own = self.sources
        if len(own) != len(sources):
            return False
        # A spec built anew on each call (weights given by hand) is compared
        # by value.
        if own[0] is not sources[0] and own[0] != sources[0]:
            return False
        return all(map(operator.is_, own[1:], sources[1:]))

    def predict(self, X, members=False):
        """Raw network output, as a network built afresh computes it.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_inputs)
            The network's input, validated.
        members : bool, default=False
            For an ensemble, each member's raw output (see
            ``Network.predict``).

        Returns
        -------
        raw : ndarray of shape (n_samples, n_outputs)
            A new array, in the dtype ``X`` and the fitted arrays promote to;
            ``n_samples * ensemble_size`` rows with ``members``.
        """
        dtype = np.result_type(X.dtype, self.coefs_dtype)
        vectors = self._vectors.get(dtype)
        if vectors is None:
            vectors = self.network.pack(self._arrays, dtype)
            self._vectors[dtype] = vectors
        if not self._lock.acquire(blocking=False):
            return self.network.predict(*vectors, X, members=members)
        try:
            # This cache is the mapping of plans Network.predict reads.
            return self.network.predict(*vectors, X, plans=self, members=members)
        finally:
            self._lock.release()

    def get(self, key):
        """The plan kept for ``key``, or None."""
        return _PLANS.get((self._owner, *key))

    def __setitem__(self, key, entry):
        _PLANS.put((self._owner, *key), entry)


class _PlanStore:
    """Compiled plans of every cache, the least recently used dropped first.

    Entries are ``(plan, workspace, nbytes)`` as ``Network.predict`` stores
    them, under ``(owner, rows, sparse, dtype)``. An entry that would take
    the store beyond ``budget`` bytes of work arrays, or beyond
    ``max_entries`` entries, pushes out the least recently used ones; the
    entries of a cache that has been garbage collected go at the next call.

    Parameters
    ----------
    budget : int
        The most bytes of work arrays kept, in all.
    max_entries : int
        The most plans kept, in all.
    """

    def __init__(self, budget, max_entries):
        self.budget, self.max_entries = budget, max_entries
        self.nbytes = 0
        self._entries = {}
        self._lock = threading.Lock()
        self._owners = itertools.count()
        # Owners whose cache is gone. The collector may run anywhere, even
        # inside this store's lock: it only appends here.
        self._gone = []

    def register(self, cache):
        """A new owner number for ``cache``; its entries go when it does."""
        owner = next(self._owners)
        weakref.finalize(cache, self._gone.append, owner)
        return owner

    def get(self, key):
        """The entry under ``key`` (now the most recently used), or None."""
        with self._lock:
            self._drop_gone()
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._entries[key] = entry
            return entry

    def put(self, key, entry):
        """Keep ``entry`` under ``key``, pushing out the least recently used."""
        if entry[2] > self.budget:
            return
        with self._lock:
            self._drop_gone()
            self._remove(key)
            while self._entries and (
                self.nbytes + entry[2] > self.budget
                or len(self._entries) >= self.max_entries
            ):
                self._remove(next(iter(self._entries)))
            self._entries[key] = entry
            self.nbytes += entry[2]

    def after_fork(self):
        """A new lock in a child process: the parent's may have been held."""
        self._lock = threading.Lock()

    def _remove(self, key):
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.nbytes -= entry[2]

    def _drop_gone(self):
        if not self._gone:
            return
        gone = set()
        while self._gone:
            gone.add(self._gone.pop())
        for key in [key for key in self._entries if key[0] in gone]:
            self._remove(key)


# The plans of every estimator's prediction cache: the work arrays they keep
# take at most what a single predict call may use.
_PLANS = _PlanStore(_PREDICT_CHUNK_BYTES, max_entries=64)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_PLANS.after_fork)
