"""BaseANN: the hyperparameters, fit and predict shared by both estimators."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import copy
import inspect
import warnings
from abc import ABCMeta, abstractmethod
from itertools import pairwise
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
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

from skann._callbacks import CallbackSupportMixin, fit_task
from skann._core.activations import ACTIVATIONS
from skann._core.losses import LOSSES
from skann._core.network import Network, NetworkSpec
from skann._core.optimizers import OPTIMIZERS, SGD, Adam
from skann._core.schedules import SCHEDULES, Schedule
from skann._core.training import (
    Objective,
    PlateauRule,
    Progress,
    WeightAverage,
    train_lbfgs,
    train_minibatch,
)


def _is_stochastic(estimator):
    """Whether the estimator trains by minibatches (``partial_fit`` exists)."""
    return estimator.solver != "lbfgs"


# Constructor arguments of scikit-learn's MLP estimators that skann names
# differently, with the skann parameter to use instead.
_RENAMED = {
    "learning_rate_init": "learning_rate",
}


class _ANNMeta(ABCMeta):
    """Points users of scikit-learn's parameter names at skann's."""

    @property
    def __signature__(cls):
        # The constructor's own signature, not this ``__call__``'s.
        signature = inspect.signature(cls.__init__)
        return signature.replace(parameters=list(signature.parameters.values())[1:])

    def __call__(cls, *args, **kwargs):
        message = _renamed_parameter(cls, kwargs)
        if message:
            raise TypeError(message)
        return super().__call__(*args, **kwargs)


def _renamed_parameter(cls, params):
    """What to say when ``params`` uses a name scikit-learn has and skann renamed."""
    for name in sorted(set(params) & set(_RENAMED)):
        new, value = _RENAMED[name], params[name]
        return (
            f"{cls.__name__} has no parameter {name!r}: skann calls it {new!r} "
            f"({name}={value!r} in scikit-learn's MLP estimators is "
            f"{new}={value!r} here)."
        )
    return None


class BaseANN(CallbackSupportMixin, BaseEstimator, metaclass=_ANNMeta):
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

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(ACTIVATIONS)), list, tuple],
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
        "dropout": [Interval(Real, 0, 1, closed="left"), list, tuple],
        "batch_norm": ["boolean"],
        "lr_decay": [Interval(Real, 0, 1, closed="right")],
        "lr_step": [Interval(Integral, 1, None, closed="left")],
        "min_learning_rate": [Interval(Real, 0, None, closed="left")],
        "warmup_epochs": [Interval(Integral, 0, None, closed="left")],
        "max_grad_norm": [None, Interval(Real, 0, None, closed="neither")],
        "weight_averaging": [None, StrOptions({"ema", "swa"})],
        "ema_decay": [Interval(Real, 0, 1, closed="neither")],
        "swa_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping_metric": [StrOptions({"score", "loss"})],
        "on_divergence": [StrOptions({"raise", "restart"})],
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
        dropout=0.0,
        batch_norm=False,
        lr_decay=0.5,
        lr_step=10,
        min_learning_rate=0.0,
        warmup_epochs=0,
        max_grad_norm=None,
        weight_averaging=None,
        ema_decay=0.999,
        swa_epochs=10,
        early_stopping_metric="score",
        on_divergence="raise",
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
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.lr_decay = lr_decay
        self.lr_step = lr_step
        self.min_learning_rate = min_learning_rate
        self.warmup_epochs = warmup_epochs
        self.max_grad_norm = max_grad_norm
        self.weight_averaging = weight_averaging
        self.ema_decay = ema_decay
        self.swa_epochs = swa_epochs
        self.early_stopping_metric = early_stopping_metric
        self.on_divergence = on_divergence

    def _validate_params(self):
        # Values scikit-learn's MLP estimators accept for a parameter skann
        # uses differently get a pointer before the generic message.
        self._check_renamed_values()
        super()._validate_params()

    def set_params(self, **params):
        message = _renamed_parameter(type(self), params)
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
        if incremental and hasattr(self, "coefs_"):
            # scikit-learn skips validation in partial_fit once fitted; a
            # parameter set since then must still be checked before training.
            self._validate_params()
        # A fit that raises, for any reason (Ctrl-C included), leaves the
        # estimator as it was before the call: training works on copies.
        snapshot = dict(vars(self))
        try:
            # Overflow on the way to a divergence is reported as one clear error.
            with np.errstate(over="ignore", invalid="ignore"):
                return self._fit_checked(X, y, sample_weight, incremental)
        except BaseException:
            vars(self).clear()
            vars(self).update(snapshot)
            raise

    def _fit_checked(self, X, y, sample_weight, incremental):
        continuing = hasattr(self, "coefs_") and (self.warm_start or incremental)
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
            total = np.sum(sample_weight, dtype=np.float64)
            if not np.isfinite(total):
                raise ValueError(
                    "sample_weight is so large that its sum overflows; divide the "
                    "weights by a common factor (only their ratios matter)."
                )
            if not total > 0:
                raise ValueError("sample_weight must have a positive sum.")
        Y, loss_name = self._encode_target(
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
        self._loss_name = loss_name
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True.")
        if (
            self.early_stopping
            and self.solver != "lbfgs"
            and not self.validation_fraction
        ):
            raise ValueError(
                "early_stopping=True needs a validation share: set "
                "validation_fraction above 0, or early_stopping=False."
            )

        spec = self._network_spec(X.shape[1], Y.shape[1])
        network = Network(spec)
        rng = check_random_state(self.random_state)
        if continuing:
            self._check_warm_start_shapes(spec)
            theta, state = self._fitted_vectors(network, X.dtype)
        else:
            theta, state = network.init(rng, X.dtype)
            self._progress = None

        objective = Objective(
            network, self._make_loss(loss_name), self.alpha, state, rng
        )
        max_subtasks = 1 if incremental else self.max_iter
        with (
            fit_task(
                self, X, y, max_subtasks, network, theta, state, sample_weight
            ) as callback_hooks,
            objective.threads(),
        ):
            if self.solver == "lbfgs":
                result = self._fit_lbfgs(
                    objective, theta, X, y, Y, sample_weight, callback_hooks
                )
            else:
                result = self._fit_minibatch(
                    objective, network, theta, X, y, Y, sample_weight, rng,
                    incremental, continuing, callback_hooks,
                )  # fmt: skip
            # The fit task ends on the fitted estimator: callbacks may score it.
            self._set_fitted_network(network, result.theta, result.state, Y.shape[1])

        if result.message and self.solver == "lbfgs":
            warnings.warn(
                f"lbfgs failed to converge after {result.n_iter} iteration(s): "
                f"{result.message}. Increase max_iter or max_fun, or scale the "
                "inputs, for example with StandardScaler.",
                ConvergenceWarning,
                stacklevel=4,
            )
        if result.hit_max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                "reached and the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )
        return self

    def _network_spec(self, n_features, n_outputs):
        """The network the current parameters describe, checked."""
        hidden = self._hidden_sizes()
        activation = self.activation
        if not isinstance(activation, str):
            activation = tuple(activation)
            bad = [
                a for a in activation if not isinstance(a, str) or a not in ACTIVATIONS
            ]
            if bad:
                raise InvalidParameterError(
                    f"The 'activation' parameter of {type(self).__name__} must be a "
                    f"str among {sorted(ACTIVATIONS)} or a list of them, one per "
                    f"hidden layer; got {bad[0]!r}."
                )
            if len(activation) != len(hidden):
                raise ValueError(
                    f"activation has {len(activation)} entries but "
                    f"hidden_layer_sizes has {len(hidden)} layers: give one "
                    "activation per hidden layer, or a single name for all."
                )
        dropout = self.dropout
        if not isinstance(dropout, Real):
            dropout = tuple(dropout)
            if not all(isinstance(r, Real) and 0 <= r < 1 for r in dropout):
                raise InvalidParameterError(
                    f"The 'dropout' parameter of {type(self).__name__} must be a "
                    "float in [0, 1) or a list of them, one per hidden layer; "
                    f"got {self.dropout!r}."
                )
            if len(dropout) != len(hidden):
                raise ValueError(
                    f"dropout has {len(dropout)} entries but hidden_layer_sizes "
                    f"has {len(hidden)} layers: give one rate per hidden layer, "
                    "or a single rate for all."
                )
        if self.batch_norm and self.batch_size == 1 and self.solver != "lbfgs":
            raise ValueError(
                "batch_norm=True needs minibatches of at least 2 rows: the "
                "statistics of a single row have no variance. Use a larger "
                "batch_size, or batch_norm=False for per-sample SGD."
            )
        stochastic = any(np.atleast_1d(dropout)) or self.batch_norm
        if self.solver == "lbfgs" and stochastic:
            raise ValueError(
                "solver='lbfgs' needs a deterministic full-batch objective: it "
                "cannot train with dropout or batch_norm. Use solver='adam' or "
                "'sgd', or set dropout=0 and batch_norm=False."
            )
        return NetworkSpec.build(
            [n_features, *hidden, n_outputs], activation, dropout, self.batch_norm
        )

    def _fitted_vectors(self, network, dtype):
        """The flat parameter and state vectors of the fitted network."""
        norm = getattr(self, "batch_norm_scales_", None) is not None
        theta = network.pack(
            self.coefs_,
            self.intercepts_,
            dtype,
            self.batch_norm_scales_ if norm else (),
            self.batch_norm_offsets_ if norm else (),
        )
        state = network.pack_state(
            self.batch_norm_means_ if norm else (),
            self.batch_norm_vars_ if norm else (),
            dtype,
        )
        return theta, state

    def _set_fitted_network(self, network, theta, state, n_outputs):
        self.coefs_ = [W.copy() for W in network.coefs(theta)]
        self.intercepts_ = [b.copy() for b in network.intercepts(theta)]
        if network.batch_norms:
            scales, offsets, means, variances = network.batch_norm_params(theta, state)
            self.batch_norm_scales_ = [a.copy() for a in scales]
            self.batch_norm_offsets_ = [a.copy() for a in offsets]
            self.batch_norm_means_ = [a.copy() for a in means]
            self.batch_norm_vars_ = [a.copy() for a in variances]
        else:
            self.batch_norm_scales_ = self.batch_norm_offsets_ = None
            self.batch_norm_means_ = self.batch_norm_vars_ = None
        # Predict builds the network from this record of the fitted one, never
        # from the current parameters, which set_params may have changed.
        spec = network.spec
        self.hidden_activations_ = list(spec.activations)
        self._fitted_spec = {
            "layer_sizes": list(spec.layer_sizes),
            "activations": list(spec.activations),
            "dropout": list(spec.dropout),
            "batch_norm": spec.batch_norm,
            "init_gains": list(spec.init_gains),
        }
        self.n_layers_ = len(spec.layer_sizes)
        self.n_outputs_ = n_outputs
        self.out_activation_ = LOSSES[self._loss_name].out_activation

    def _fit_lbfgs(self, objective, theta, X, y, Y, sample_weight, callback_hooks):
        (sample_weight,) = self._with_class_weight(y, [(y, sample_weight)])
        hooks = [_VerbosePrinter()] if self.verbose else []
        hooks += callback_hooks
        history = []
        result = train_lbfgs(
            objective, theta, X, Y, sample_weight, max_iter=self.max_iter,
            max_fun=self.max_fun, tol=self.tol, hooks=hooks, history=history,
        )  # fmt: skip
        result.state = objective.state
        self._progress = None
        self.n_iter_ = result.n_iter
        self.t_ = 0
        self.loss_ = result.loss
        self.loss_curve_ = result.loss_curve
        self.history_ = history
        self.best_loss_ = result.loss
        self.validation_scores_ = None
        self.validation_loss_curve_ = None
        self.best_validation_score_ = None
        return result

    def _fit_minibatch(
        self, objective, network, theta, X, y, Y, sample_weight, rng, incremental,
        continuing, callback_hooks,
    ):  # fmt: skip
        """Run sgd or adam, with early stopping on a held-out share if asked."""
        X_train, y_train, Y_train, sw_train = X, y, Y, sample_weight
        hooks = []
        if self.early_stopping:
            stratify = Y if is_classifier(self) and Y.shape[1] == 1 else None
            arrays = [X, Y, y] + ([] if sample_weight is None else [sample_weight])
            split = train_test_split(
                *arrays,
                random_state=rng,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            X_train, X_val, Y_train, Y_val, y_train, y_val = split[:6]
            sw_train, sw_val = split[6:] if sample_weight is not None else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            if sw_train is not None and not np.any(sw_train):
                raise ValueError(
                    "Every sample of the training share has weight 0 after "
                    "early stopping held out validation_fraction of the data; "
                    "give more samples a positive weight or set "
                    "early_stopping=False."
                )
            if sw_val is not None and not np.any(sw_val):
                raise ValueError(
                    "Every sample of the early-stopping validation share has "
                    "weight 0, so it cannot be scored; give more samples a "
                    "positive weight, change validation_fraction, or set "
                    "early_stopping=False."
                )
            sw_train, sw_val = self._with_class_weight(
                y_train, [(y_train, sw_train), (y_val, sw_val)]
            )
            hooks.append(
                _ValidationHook(self, network, objective, X_val, Y_val, y_val, sw_val)
            )
        else:
            (sw_train,) = self._with_class_weight(y, [(y, sample_weight)])
        if self.verbose:
            hooks.append(_VerbosePrinter())

        n_samples = X_train.shape[0]
        batch_size = min(
            200 if self.batch_size == "auto" else self.batch_size, n_samples
        )
        progress = self._progress_for(theta, objective, incremental, continuing)
        if incremental and progress.live_theta is not None:
            # Averaged weights are the fit; the optimizer goes on from its own.
            theta[...] = progress.live_theta
        if self.early_stopping:
            hooks[0].progress = progress
        hooks += callback_hooks
        monitor = "loss"
        if self.early_stopping:
            monitor = f"validation_{self.early_stopping_metric}"
        hooks.append(
            PlateauRule(
                progress, self.tol, self.n_iter_no_change, monitor=monitor,
                log=print if self.verbose else None,
            )
        )  # fmt: skip

        result = train_minibatch(
            objective, theta, X_train, Y_train, sw_train, progress=progress,
            batch_size=batch_size, max_iter=self.max_iter, shuffle=self.shuffle,
            rng=rng, hooks=hooks, incremental=incremental,
            max_grad_norm=self.max_grad_norm,
            max_restarts=_MAX_RESTARTS if self.on_divergence == "restart" else 0,
            warn=_warn_restart,
        )  # fmt: skip
        result.state = objective.state
        if self.early_stopping:
            result.theta, result.state = progress.best_theta, progress.best_state
        self._progress = progress.to_dict()
        self.n_iter_ = result.n_iter
        self.t_ = progress.n_seen
        self.loss_ = result.loss
        self.loss_curve_ = progress.loss_curve
        self.history_ = progress.history
        self.best_loss_ = progress.best_loss
        self.validation_scores_ = progress.validation_scores
        self.validation_loss_curve_ = progress.validation_losses
        self.best_validation_score_ = progress.best_validation_score
        return result

    def _progress_for(self, theta, objective, incremental, continuing):
        """A fresh ``Progress``, or the one a continued fit goes on from."""
        size, dtype = theta.size, theta.dtype
        optimizer = self._make_optimizer(size, dtype)
        schedule = Schedule(
            self.learning_rate_schedule, self.learning_rate, power_t=self.power_t,
            max_iter=self.max_iter, lr_decay=self.lr_decay, lr_step=self.lr_step,
            min_learning_rate=self.min_learning_rate,
            warmup_epochs=self.warmup_epochs,
        )  # fmt: skip
        averager = None
        if self.weight_averaging is not None:
            averager = WeightAverage(
                self.weight_averaging, size, dtype, self.ema_decay, self.swa_epochs
            )
        saved = getattr(self, "_progress", None) if continuing else None
        if saved is None:
            progress = Progress(optimizer, schedule, averager)
        else:
            saved = copy.deepcopy(saved)
            if not incremental:
                # A warm start restarts the optimizer, as scikit-learn's does;
                # partial_fit goes on with its state.
                saved.update(optimizer=None, schedule=None, averager=None)
                saved.update(live_theta=None, n_restarts=0)
            if averager is None or saved.get("averager") is None:
                saved["averager"] = None
            progress = Progress.from_dict(saved, optimizer, schedule, averager)
        if self.early_stopping and progress.validation_scores is None:
            # First fit with early stopping (possibly after one without).
            progress.validation_scores, progress.validation_losses = [], []
            progress.best_validation_score = -np.inf
            progress.best_validation_loss = np.inf
            progress.best_loss = None
            progress.best_theta = theta.copy()
            progress.best_state = objective.state.copy()
        elif not self.early_stopping and progress.validation_scores is not None:
            progress.validation_scores = progress.validation_losses = None
            progress.best_validation_score = progress.best_validation_loss = None
            progress.best_theta = progress.best_state = None
            progress.best_loss = min(progress.loss_curve, default=np.inf)
        return progress

    def _with_class_weight(self, y_fit, parts):
        """Sample weights of each ``(y, sample_weight)`` part times class weights.

        Class weights apply to classifiers only; ``'balanced'`` ones are
        computed from ``y_fit``, the targets training sees.
        """
        return [sample_weight for _, sample_weight in parts]

    def _make_optimizer(self, size, dtype):
        if self.solver == "sgd":
            return SGD(
                size, dtype, self.learning_rate, self.momentum,
                self.nesterovs_momentum,
            )  # fmt: skip
        return Adam(
            size, dtype, self.learning_rate, self.beta_1, self.beta_2, self.epsilon
        )

    def _check_renamed_values(self):
        if isinstance(self.learning_rate, str):
            raise InvalidParameterError(
                f"The 'learning_rate' parameter of {type(self).__name__} must be a "
                f"float (the step size), got {self.learning_rate!r}. skann names "
                "the schedule `learning_rate_schedule`: use "
                f"learning_rate_schedule={self.learning_rate!r}, and give the "
                "initial step size as learning_rate (scikit-learn's "
                "learning_rate_init)."
            )
        if isinstance(self.batch_size, bool):
            raise InvalidParameterError(
                f"The 'batch_size' parameter of {type(self).__name__} must be an "
                f"int in the range [1, inf) or 'auto', got {self.batch_size!r}."
            )

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if not all(
            isinstance(n, Integral) and not isinstance(n, bool) and n > 0 for n in sizes
        ):
            raise InvalidParameterError(
                "The 'hidden_layer_sizes' parameter of "
                f"{type(self).__name__} must be positive integers, got {sizes!r}."
            )
        return sizes

    def _check_warm_start_shapes(self, spec):
        expected = [W.shape for W in self.coefs_]
        got = list(pairwise(spec.layer_sizes))
        if expected != got:
            raise ValueError(
                f"Cannot continue training: the fitted network has layer shapes "
                f"{expected}, but the current parameters and data give {got}. "
                "Set warm_start=False to train a new network."
            )
        fitted_norm = getattr(self, "batch_norm_scales_", None) is not None
        if fitted_norm != spec.batch_norm:
            raise ValueError(
                f"Cannot continue training: the fitted network was trained with "
                f"batch_norm={fitted_norm}, the current parameters ask for "
                f"batch_norm={spec.batch_norm}. Set warm_start=False to train a "
                "new network."
            )

    def _fitted_network(self):
        """The fitted network and its parameter and state vectors."""
        if hasattr(self, "_fitted_spec"):
            spec = NetworkSpec(**{k: tuple(v) if isinstance(v, list) else v
                                  for k, v in self._fitted_spec.items()})  # fmt: skip
        else:
            # Weights given by hand to an unfitted estimator.
            sizes = [self.coefs_[0].shape[0], *(b.size for b in self.intercepts_)]
            spec = NetworkSpec.build(sizes, self.activation)
        return Network(spec)

    def _raw_predict(self, X):
        """Raw network output of shape (n_samples, n_outputs) for validated X."""
        network = self._fitted_network()
        dtype = np.result_type(X.dtype, self.coefs_[0].dtype)
        theta, state = self._fitted_vectors(network, dtype)
        return network.predict(theta, state, X)

    def _validated_raw(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        with np.errstate(over="ignore", invalid="ignore"):
            raw = self._raw_predict(X)
        n_bad = np.count_nonzero(~np.isfinite(raw).all(axis=1))
        if n_bad:
            raise ValueError(
                f"The network's output is not finite for {n_bad} of {raw.shape[0]} "
                "samples: their features are so large that the hidden activations "
                "overflowed. Scale the inputs, for example with StandardScaler."
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


# Restarts after a divergence that on_divergence='restart' allows in one fit.
_MAX_RESTARTS = 3


def _warn_restart(message):
    warnings.warn(message, ConvergenceWarning, stacklevel=2)


class _ValidationHook:
    """Epoch-end hook: the held-out share's loss and score, for early stopping.

    The loss is the training objective (mean loss plus L2 penalty) at
    prediction (running statistics, no dropout); the score is the
    estimator's ``score`` function (R² or accuracy) on the original targets.
    """

    def __init__(self, estimator, network, objective, X, Y, y, sample_weight):
        self.estimator, self.network, self.objective = estimator, network, objective
        self.X, self.Y, self.y, self.sample_weight = X, Y, y, sample_weight
        self.total = len(y) if sample_weight is None else float(np.sum(sample_weight))
        self.progress = None

    def __call__(self, record, theta, state):
        raw = self.network.predict(theta, state, self.X)
        with np.errstate(over="ignore"):
            prediction = self.estimator._decode(raw)
        finite = np.isfinite(raw).all() and (
            prediction.dtype.kind not in "fc" or np.isfinite(prediction).all()
        )
        if finite:
            score = self.estimator._score_function(
                self.y, prediction, sample_weight=self.sample_weight
            )
            loss, _ = self.objective.loss.value_and_delta(
                self.Y, raw, self.sample_weight
            )
            W = self.network.weights(theta)
            loss += 0.5 * self.objective.alpha * float(np.dot(W, W)) / self.total
        else:
            score = loss = np.nan
        record["validation_score"], record["validation_loss"] = score, loss
        self.progress.validation_scores.append(score)
        self.progress.validation_losses.append(loss)


class _VerbosePrinter:
    """Epoch-end hook printing what ``verbose=True`` shows, as scikit-learn does."""

    def __call__(self, record, theta, state):
        print(f"Iteration {record['epoch']}, loss = {record['loss']:.8f}")
        if record.get("validation_score") is not None:
            print(f"Validation score: {record['validation_score']:f}")
        return False
