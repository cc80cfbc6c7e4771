"""The fitted model's store: its arrays, spec and training record, written once."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from skann._core.losses import LOSSES
from skann._core.network import FITTED_ARRAYS, NetworkSpec
from skann._core.training import history_columns, history_records


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

    def _fitted_vectors(self, network, dtype):
        """The flat parameter and state vectors of the fitted network."""
        arrays = {
            name: getattr(self, f"{name}_")
            for name in FITTED_ARRAYS
            if getattr(self, f"{name}_", None) is not None
        }
        return network.pack(arrays, dtype)

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
