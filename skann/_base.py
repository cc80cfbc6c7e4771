"""BaseANN: the hyperparameters, fit and predict shared by both estimators."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import copy
import warnings
from abc import ABCMeta, abstractmethod
from itertools import pairwise
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from skann._core.activations import ACTIVATIONS
from skann._core.losses import LOSSES
from skann._core.network import Layout, init_params, predict_raw
from skann._core.optimizers import OPTIMIZERS, SCHEDULES, SGD, Adam
from skann._core.training import (
    Objective,
    Progress,
    TrainingDiverged,
    train_lbfgs,
    train_minibatch,
)


class BaseANN(BaseEstimator, metaclass=ABCMeta):
    """Shared base of ANNRegressor and ANNClassifier; not for direct use.

    Subclasses encode the target (``_encode_target``), decode the raw network
    output into predictions (``_decode``) and name their score function
    (``_score_function``); everything else lives here.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions({*OPTIMIZERS, "lbfgs"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_schedule": [StrOptions(set(SCHEDULES))],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        activation="relu",
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate=1e-3,
        learning_rate_schedule="constant",
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    @abstractmethod
    def _encode_target(self, y, reset, incremental):
        """Validate ``y`` and return ``(Y, loss_name)``.

        ``Y`` is an array of shape (n_samples, n_outputs). With ``reset`` the
        target-derived fitted attributes (``classes_``) are set anew; otherwise
        ``y`` is checked against them (``incremental`` for ``partial_fit``).
        """

    @abstractmethod
    def _decode(self, raw):
        """Turn raw network output of shape (n_samples, n_outputs) into predictions."""

    @abstractmethod
    def _score_function(self, y, y_pred, sample_weight=None):
        """The score used for early stopping (higher is better)."""

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

    def _fit(self, X, y, sample_weight, incremental):
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        # A continued fit that diverges restores what it continued from.
        saved = None if first_pass else copy.deepcopy(getattr(self, "_progress", None))
        try:
            # Overflow on the way to a divergence is reported as one clear error.
            with np.errstate(over="ignore", invalid="ignore"):
                return self._fit_checked(X, y, sample_weight, incremental, first_pass)
        except TrainingDiverged:
            if first_pass:
                # A fresh fit that failed leaves no half-fitted state behind.
                for name in [k for k in vars(self) if k.endswith("_")]:
                    delattr(self, name)
            elif saved is not None:
                self._progress = saved
                self.loss_curve_ = saved.loss_curve
                self.validation_scores_ = saved.validation_scores
            raise

    def _fit_checked(self, X, y, sample_weight, incremental, first_pass):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            y_numeric=not is_classifier(self),
            reset=first_pass,
        )
        Y, loss_name = self._encode_target(
            y, reset=first_pass and not incremental, incremental=incremental
        )
        if Y.dtype != bool:
            # Class indicators stay boolean (an eighth of the memory); targets
            # take the dtype the network computes in.
            Y = Y.astype(X.dtype, copy=False)
        self._loss_name = loss_name
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
            if not np.sum(sample_weight) > 0:
                raise ValueError("sample_weight must have a positive sum.")
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True.")

        layout = Layout([X.shape[1], *self._hidden_sizes(), Y.shape[1]])
        activation = ACTIVATIONS[self.activation]
        rng = check_random_state(self.random_state)
        if first_pass:
            theta = init_params(layout, rng, activation.init_gain, X.dtype)
            self._progress = None
        else:
            self._check_warm_start_shapes(layout)
            theta = layout.pack(self.coefs_, self.intercepts_, X.dtype)

        objective = Objective(layout, activation, LOSSES[loss_name], self.alpha)
        log = print if self.verbose else None
        with objective.threads():
            result = self._train(
                objective, layout, theta, X, y, Y, sample_weight, rng, incremental, log
            )

        if result.message and self.solver == "lbfgs":
            warnings.warn(
                f"lbfgs failed to converge after {result.n_iter} iteration(s): "
                f"{result.message}. Increase max_iter or max_fun, or scale the data.",
                ConvergenceWarning,
                stacklevel=4,
            )
        if result.hit_max_iter:
            warnings.warn(
                f"Stochastic optimizer: maximum iterations ({self.max_iter}) reached "
                "and the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )

        params = layout.unpack(result.theta)
        self.coefs_ = [W.copy() for W, _ in params]
        self.intercepts_ = [b.copy() for _, b in params]
        self.n_layers_ = len(layout.layer_sizes)
        self.n_outputs_ = Y.shape[1]
        self.out_activation_ = LOSSES[loss_name].out_activation
        return self

    def _train(
        self, objective, layout, theta, X, y, Y, sample_weight, rng, incremental, log
    ):
        if self.solver == "lbfgs":
            result = train_lbfgs(
                objective, theta, X, Y, sample_weight, max_iter=self.max_iter,
                max_fun=self.max_fun, tol=self.tol, log=log,
            )  # fmt: skip
            self._set_lbfgs_history(result)
        else:
            result = self._fit_minibatch(
                objective, layout, theta, X, y, Y, sample_weight, rng, incremental, log
            )
        return result

    def _fit_minibatch(
        self, objective, layout, theta, X, y, Y, sample_weight, rng, incremental, log
    ):
        """Run sgd or adam, with early stopping on a held-out share if asked."""
        X_train, Y_train, sw_train = X, Y, sample_weight
        validation_score = None
        if self.early_stopping:
            stratify = Y if is_classifier(self) and Y.shape[1] == 1 else None
            arrays = [X, Y, y] + ([] if sample_weight is None else [sample_weight])
            split = train_test_split(
                *arrays,
                random_state=rng,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            X_train, X_val, Y_train, _, _, y_val = split[:6]
            sw_train, sw_val = split[6:] if sample_weight is not None else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )

            def validation_score(theta):
                return self._score_params(layout.unpack(theta), X_val, y_val, sw_val)

        n_samples = X_train.shape[0]
        batch_size = min(
            200 if self.batch_size == "auto" else self.batch_size, n_samples
        )
        if self._progress is None or not incremental:
            optimizer = self._make_optimizer(theta.size, theta.dtype)
            if self._progress is None:
                self._progress = Progress(
                    optimizer,
                    validation_scores=[] if self.early_stopping else None,
                    best_loss=None if self.early_stopping else np.inf,
                    best_validation_score=-np.inf if self.early_stopping else None,
                    best_theta=theta.copy() if self.early_stopping else None,
                )
            else:
                self._progress.optimizer = optimizer

        progress = self._progress
        result = train_minibatch(
            objective, theta, X_train, Y_train, sw_train, progress=progress,
            batch_size=batch_size, max_iter=self.max_iter, shuffle=self.shuffle,
            rng=rng, tol=self.tol, n_iter_no_change=self.n_iter_no_change,
            validation_score=validation_score, incremental=incremental, log=log,
        )  # fmt: skip
        if self.early_stopping:
            result.theta = progress.best_theta
        self.n_iter_ = result.n_iter
        self.t_ = progress.n_seen
        self.loss_ = result.loss
        self.loss_curve_ = progress.loss_curve
        self.best_loss_ = progress.best_loss
        self.validation_scores_ = progress.validation_scores
        self.best_validation_score_ = progress.best_validation_score
        return result

    def _set_lbfgs_history(self, result):
        self.n_iter_ = result.n_iter
        self.t_ = 0
        self.loss_ = result.loss
        self.loss_curve_ = result.loss_curve
        self.best_loss_ = result.loss
        self.validation_scores_ = None
        self.best_validation_score_ = None

    def _make_optimizer(self, size, dtype):
        if self.solver == "sgd":
            return SGD(
                size, dtype, self.learning_rate, self.momentum,
                self.nesterovs_momentum, self.learning_rate_schedule, self.power_t,
            )  # fmt: skip
        return Adam(
            size, dtype, self.learning_rate, self.beta_1, self.beta_2, self.epsilon
        )

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if not all(isinstance(n, Integral) and n > 0 for n in sizes):
            raise InvalidParameterError(
                "The 'hidden_layer_sizes' parameter of "
                f"{type(self).__name__} must be positive integers, got {sizes!r}."
            )
        return sizes

    def _check_warm_start_shapes(self, layout):
        expected = [W.shape for W in self.coefs_]
        got = list(pairwise(layout.layer_sizes))
        if expected != got:
            raise ValueError(
                f"Cannot continue training: the fitted network has layer shapes "
                f"{expected}, but the current parameters and data give {got}. "
                "Set warm_start=False to train a new network."
            )

    def _raw_predict(self, X):
        """Raw network output of shape (n_samples, n_outputs) for validated X."""
        params = list(zip(self.coefs_, self.intercepts_, strict=True))
        return predict_raw(params, X, ACTIVATIONS[self.activation])

    def _validated_raw(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        with np.errstate(over="ignore", invalid="ignore"):
            raw = self._raw_predict(X)
        n_nan = np.count_nonzero(np.isnan(raw).any(axis=1))
        if n_nan:
            raise ValueError(
                f"The network's output is NaN for {n_nan} of {raw.shape[0]} samples: "
                "their features are so large that the hidden activations overflowed. "
                "Scale the inputs, for example with StandardScaler."
            )
        return raw

    def _score_params(self, params, X, y, sample_weight):
        raw = predict_raw(params, X, ACTIVATIONS[self.activation])
        if not np.isfinite(raw).all():
            return np.nan
        return self._score_function(y, self._decode(raw), sample_weight=sample_weight)

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
