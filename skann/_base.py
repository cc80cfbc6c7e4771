"""BaseANN: the hyperparameters, fit and predict shared by both estimators."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings
from abc import abstractmethod
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from skann._callbacks import CallbackSupportMixin, fit_task
from skann._core.activations import ACTIVATIONS
from skann._core.embeddings import PIECEWISE_LINEAR, quantile_edges
from skann._core.losses import LOSSES
from skann._core.network import Network, NetworkSpec
from skann._core.objective import Objective
from skann._fitted import FittedNetworkMixin
from skann._params import (
    PARAMETER_CONSTRAINTS,
    ANNMeta,
    check_activation_name,
    check_renamed_values,
    check_training_params,
    hidden_sizes,
    is_activation,
    is_rate,
    per_layer,
    renamed_parameter,
)
from skann._retrieval import RetrievalMixin
from skann._training import TrainingMixin


def _is_stochastic(estimator):
    """Whether the estimator trains by minibatches (``partial_fit`` exists)."""
    return estimator._is_stochastic()


# The input dtypes prediction takes as they are (validate_data converts any
# other to float64), in the machine's byte order.
_AS_IS_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


class BaseANN(
    TrainingMixin,
    FittedNetworkMixin,
    RetrievalMixin,
    CallbackSupportMixin,
    BaseEstimator,
    metaclass=ANNMeta,
):
    """Shared base of ANNRegressor and ANNClassifier; not for direct use.

    Subclasses encode the target (``_encode_target``), decode the raw network
    output into predictions (``_decode``) and name their score function
    (``_score_function``); everything else lives here.
    """

    # The HTML repr links each estimator to its page of the API reference,
    # generated/skann.<class name>.html in the built documentation. skann's
    # documentation has no fixed address, so the link is relative to a page
    # one folder below the documentation's root, such as the gallery's pages
    # where the reprs are shown; to link a hosted copy instead, set this
    # template (with the keys estimator_module and estimator_name) on BaseANN.
    _doc_link_module = "skann"
    _doc_link_template = "../generated/{estimator_module}.{estimator_name}.html"

    _parameter_constraints: dict = dict(PARAMETER_CONSTRAINTS)

    def _store_init_arguments(self, arguments):
        """Store each ``__init__`` argument, unchanged, under its own name.

        scikit-learn's convention for ``__init__``: no logic, every parameter
        an attribute of the same name. The subclasses' signatures are the
        parameter lists; this saves repeating each name twice more.
        """
        for name in self._get_param_names():
            setattr(self, name, arguments[name])

    def _validate_params(self):
        # Values scikit-learn's MLP estimators accept for a parameter skann
        # uses differently get a pointer before the generic message.
        check_renamed_values(self)
        check_activation_name(self)
        super()._validate_params()

    def set_params(self, **params):
        message = renamed_parameter(type(self), params)
        if message:
            raise ValueError(message)
        return super().set_params(**params)

    @abstractmethod
    def _encode_target(self, y, reset, incremental, sample_weight=None):
        """Validate ``y`` and return ``(Y, loss_name)``.

        ``Y`` is an array of shape (n_samples, n_outputs). With ``reset`` the
        target-derived fitted attributes (``classes_``) are set anew; otherwise
        ``y`` is checked against them (``incremental`` for ``partial_fit``).
        """

    def _make_loss(self, loss_name):
        """The loss object training uses (bound to its parameters, if any)."""
        return LOSSES[loss_name]

    @abstractmethod
    def _decode(self, raw):
        """Turn raw network output of shape (n_samples, n_outputs) into predictions."""

    @abstractmethod
    def _score_function(self, y, y_pred, sample_weight=None):
        """The score used for early stopping (higher is better)."""

    @abstractmethod
    def _constant_prediction(self, y, sample_weight):
        """The best constant prediction of ``y``: what a collapsed fit predicts."""

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in
            regression).

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights. The loss and the L2 penalty are divided by their
            sum instead of by the number of samples.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental, prepare=None):
        if incremental and hasattr(self, "coefs_"):
            # scikit-learn skips validation in partial_fit once fitted; a
            # parameter set since then must still be checked before training.
            self._validate_params()
        # A fit that raises, for any reason (Ctrl-C included), leaves the
        # estimator as it was before the call: training works on copies.
        snapshot = dict(vars(self))
        try:
            if prepare is not None:
                prepare()
            # Overflow on the way to a divergence is reported as one clear error.
            with np.errstate(over="ignore", invalid="ignore"):
                return self._fit_checked(X, y, sample_weight, incremental)
        except BaseException:
            vars(self).clear()
            vars(self).update(snapshot)
            raise

    def _fit_checked(self, X, y, sample_weight, incremental):
        continuing = hasattr(self, "coefs_") and (self.warm_start or incremental)
        check_training_params(self, incremental)
        X, y, Y, sample_weight = self._validate_training_data(
            X, y, sample_weight, continuing, incremental
        )
        network = Network(self._network_spec(X.shape[1], Y.shape[1]))
        rng = check_random_state(self.random_state)
        if continuing:
            self._check_continuation(network.spec)
        # The network's input: the features, then any retrieval context.
        X_net = self._augment_training(X, Y, sample_weight, incremental, continuing)
        if continuing:
            theta, state = self._fitted_vectors(network, X.dtype)
        else:
            theta, state = network.init(
                rng, X.dtype, zero_output=self.output_init == "zeros"
            )
            self._init_retrieval(network, theta, state, X_net)
            _init_embedding(network, theta, state, X, sample_weight)
        progress = self._progress(
            theta, incremental, continuing,
            network.rate_factors(theta.dtype, self.front_scaling_lr_factor),
        )  # fmt: skip
        objective = Objective(
            network, self._make_loss(self._loss_name), self.alpha, state, rng
        )
        max_subtasks = 1 if incremental else self.max_iter
        with (
            fit_task(
                self, X, y, max_subtasks, network, theta, state, sample_weight,
                progress,
            ) as callback_hooks,
            objective.threads(),
        ):  # fmt: skip
            if _is_stochastic(self):
                result, monitor, rule = self._train_minibatch(
                    objective, theta, X_net, y, Y, sample_weight, rng, progress,
                    incremental, continuing, callback_hooks,
                )  # fmt: skip
            else:
                result, monitor, rule = self._train_lbfgs(
                    objective, theta, X_net, y, Y, sample_weight, progress,
                    callback_hooks,
                )  # fmt: skip
            # The fit task ends on the fitted estimator: callbacks may score it.
            self._store_fit(network, result, objective.state, progress, monitor, rule)
        self._warn_after_fit(result, progress, X, y, sample_weight, continuing)
        return self

    def _validate_training_data(self, X, y, sample_weight, continuing, incremental):
        """Checked ``X``, ``y``, the encoded target ``Y`` and ``sample_weight``."""
        if not is_classifier(self):
            _reject_string_targets(y)
            if sp.issparse(y):
                # A sparse multi-output target is fitted as the dense matrix.
                y = y.toarray()
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            y_numeric=not is_classifier(self),
            reset=not continuing,
        )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
            _check_weight_sum(sample_weight, "sample_weight")
        Y, self._loss_name = self._encode_target(
            y,
            reset=not continuing and not incremental,
            incremental=incremental,
            sample_weight=sample_weight,
        )
        if Y.dtype != bool:
            # Class indicators stay boolean (an eighth of the memory); targets
            # take the dtype the network computes in.
            Y = Y.astype(X.dtype, copy=False)
            n_bad = np.count_nonzero(~np.isfinite(Y).all(axis=1))
            if n_bad:
                raise ValueError(
                    f"y has missing or infinite values in {n_bad} of "
                    f"{Y.shape[0]} samples (None, NaN or inf, or a value beyond "
                    f"the range of {X.dtype}); drop or impute them before fitting."
                )
        return X, y, Y, sample_weight

    def _network_spec(self, n_features, n_outputs):
        """The network the current parameters describe."""
        hidden = hidden_sizes(self)
        n_hidden = len(hidden)
        activations = per_layer(
            self, "activation", n_hidden, is_activation, "a str among "
            f"{sorted(ACTIVATIONS)}", "activation",
        )  # fmt: skip
        dropout = per_layer(
            self, "dropout", n_hidden, is_rate, "a float in [0, 1)", "rate"
        )
        if not n_hidden:
            # No hidden layer: the output layer's gain is that of the one name.
            activations = self.activation if isinstance(self.activation, str) else ()
        embedding = (self.numeric_embedding, self.embedding_dim)
        embedding += (self.embedding_bins, self.embedding_scale)
        return NetworkSpec.build(
            [n_features, *hidden, n_outputs], activations, dropout, self.batch_norm,
            self.n_neighbors or 0, self._retrieval_link(), embedding,
            self.ensemble_size, self.ensemble_style,
            LOSSES[self._loss_name].out_activation, self.front_scaling,
            self.parametrization,
        )  # fmt: skip

    def _check_continuation(self, spec):
        """Refuse to continue training a network other than the fitted one."""
        fitted = self._spec_of_fitted()
        expected, got = (
            list(pairwise(fitted.layer_sizes)),
            list(pairwise(spec.layer_sizes)),
        )
        if expected != got:
            raise ValueError(
                f"Cannot continue training: the fitted network has layer shapes "
                f"{expected}, but the current parameters and data give {got}. "
                "Set warm_start=False to train a new network."
            )
        if fitted.n_neighbors != spec.n_neighbors:
            raise ValueError(
                "Cannot continue training: the fitted network was trained with "
                f"n_neighbors={fitted.n_neighbors or None}, the current "
                f"parameters ask for n_neighbors={spec.n_neighbors or None}. Set "
                "warm_start=False to train a new network."
            )
        for names, note in (
            (("numeric_embedding", "embedding_dim", "embedding_bins"),
             " (embedding_bins 0: not used)"),
            (("ensemble_size", "ensemble_style"), ""),
        ):  # fmt: skip
            if any(getattr(fitted, a) != getattr(spec, a) for a in names):
                raise ValueError(
                    "Cannot continue training: the fitted network was trained "
                    "with "
                    + ", ".join(f"{a}={getattr(fitted, a)!r}" for a in names)
                    + ", the current parameters ask for "
                    + ", ".join(f"{a}={getattr(spec, a)!r}" for a in names)
                    + f"{note}. Set warm_start=False to train a new network."
                )
        for name in ("batch_norm", "front_scaling", "parametrization"):
            was, asked = getattr(fitted, name), getattr(spec, name)
            if was != asked:
                raise ValueError(
                    f"Cannot continue training: the fitted network was trained "
                    f"with {name}={was!r}, the current parameters ask for "
                    f"{name}={asked!r}. Set warm_start=False to train a new "
                    "network."
                )

    def _warn_after_fit(self, result, progress, X, y, sample_weight, continuing):
        if result.message and not _is_stochastic(self):
            warnings.warn(
                f"lbfgs failed to converge after {result.n_iter} iteration(s): "
                f"{result.message}. Increase max_iter or max_fun, or scale the "
                "inputs, for example with StandardScaler.",
                ConvergenceWarning,
                stacklevel=1,
            )
        if result.hit_max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                "reached and the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=1,
            )
        if progress.n_restarts and not continuing:
            # A restarted fit may have rescued nothing: compare it with the
            # best constant prediction on its own training rows.
            fitted = self._score_function(y, self.predict(X), sample_weight)
            constant = self._constant_prediction(y, sample_weight)
            if fitted <= self._score_function(y, constant, sample_weight):
                warnings.warn(
                    f"Training restarted {progress.n_restarts} time(s) after "
                    "diverging and ended no better than a constant prediction "
                    f"on its own training data (score {fitted:.3g}). Try "
                    "target_scaling='standard' (regression), max_grad_norm=1.0 "
                    "or a lower learning_rate.",
                    ConvergenceWarning,
                    stacklevel=1,
                )

    def _raw_predict(self, X):
        """Raw network output of shape (n_samples, n_outputs) for validated X."""
        network = self._prediction_network()
        if not getattr(self, "_fitted_spec", {}).get("n_neighbors"):
            return network.predict(X)
        # A retrieving network's input is the features and their context.
        return self._predict_with_context(network.predict, X)

    def _validated_input(self, X):
        """``X`` checked and converted as ``validate_data`` does at prediction.

        A fitted model's usual input, a NumPy array of float64 or float32 of
        shape (n_samples, n_features_in_) with finite values, for a model
        fitted without feature names, passes every check of
        ``check_is_fitted`` and ``validate_data``, which returns it
        unchanged: it is returned at once, for a small part of their time.
        Anything else goes through both, which raise and warn as they always
        have.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        X : {ndarray, sparse matrix} of shape (n_samples, n_features)
            The input as the network takes it, float64 or float32.
        """
        attributes = self.__dict__
        if (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in _AS_IS_DTYPES
            and X.shape[0] > 0
            and X.shape[1] == attributes.get("n_features_in_")
            and "coefs_" in attributes
            and "feature_names_in_" not in attributes
        ):
            # The check validate_data makes first: a finite sum means finite
            # values; one that is not goes the long way to the exact error.
            with np.errstate(over="ignore", invalid="ignore"):
                if np.isfinite(np.add.reduce(X, axis=None)):
                    return X
        check_is_fitted(self)
        return validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            dtype=(np.float64, np.float32),
            reset=False,
        )

    def _validated_raw(self, X):
        X = self._validated_input(X)
        with np.errstate(over="ignore", invalid="ignore"):
            raw = self._raw_predict(X)
            # A finite sum means finite values; count the rows only if not.
            finite = np.isfinite(np.add.reduce(raw, axis=None))
        if not finite:
            n_bad = np.count_nonzero(~np.isfinite(raw).all(axis=1))
            if n_bad:
                raise ValueError(
                    f"The network's output is not finite for {n_bad} of "
                    f"{raw.shape[0]} samples: their features are so large that the "
                    "hidden activations overflowed. Scale the inputs, for example "
                    "with StandardScaler."
                )
        return raw

    def predict(self, X):
        """Predict using the fitted network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values or class labels.
        """
        return self._decode(self._validated_raw(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _init_embedding(network, theta, state, X, sample_weight):
    """A piecewise-linear embedding's bin edges, from the rows given to fit.

    The edges are weighted quantiles of each feature over every row given to
    the first fit (those early stopping holds out included, as for a scaler
    in front of the network); warm starts and ``partial_fit`` keep them.
    """
    if network.spec.numeric_embedding != PIECEWISE_LINEAR:
        return
    edges = network.arrays(theta, state)["embedding_bin_edges"][0]
    edges[...] = quantile_edges(X, network.spec.embedding_bins, sample_weight)


def _check_weight_sum(sample_weight, name):
    """Weights must have a finite, positive sum."""
    total = np.sum(sample_weight, dtype=np.float64)
    if not np.isfinite(total):
        raise ValueError(
            f"{name} is so large that its sum overflows; divide the weights by "
            "a common factor (only their ratios matter)."
        )
    if not total > 0:
        raise ValueError(f"{name} must have a positive sum.")


def _reject_string_targets(y):
    """Regression targets must be numbers, not text that looks like them."""
    values = np.asarray(y) if not hasattr(y, "dtype") or y.dtype.kind == "O" else y
    kind = getattr(values, "dtype", np.dtype(float)).kind
    if kind in "USO" and (
        kind != "O" or any(isinstance(v, (str, bytes)) for v in np.ravel(values))
    ):
        raise ValueError(
            "y holds strings; a regressor needs numbers. If they are numbers "
            "written as text, convert them first, for example y.astype(float)."
        )
