"""The hyperparameters of both estimators: constraints, renamed names, checks."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import difflib
import inspect
import warnings
from abc import ABCMeta
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
)

from skann._core.activations import ACTIVATIONS
from skann._core.embeddings import EMBEDDINGS, PERIODIC, PIECEWISE_LINEAR
from skann._core.optimizers import OPTIMIZERS
from skann._core.scaled_affine import PARAMETRIZATIONS
from skann._core.schedules import SCHEDULES

PARAMETER_CONSTRAINTS = {
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
    "n_neighbors": [None, Interval(Integral, 1, None, closed="left")],
    "lr_cycles": [Interval(Integral, 1, None, closed="left")],
    "output_init": [StrOptions({"glorot", "zeros"})],
    "ensemble_size": [Interval(Integral, 1, None, closed="left")],
    "ensemble_style": [StrOptions({"full", "mini"})],
    "numeric_embedding": [None, StrOptions(set(EMBEDDINGS))],
    "embedding_dim": [Interval(Integral, 1, None, closed="left")],
    "embedding_scale": [Interval(Real, 0, None, closed="neither")],
    "embedding_bins": [Interval(Integral, 1, None, closed="left")],
    "front_scaling": ["boolean"],
    "front_scaling_lr_factor": [Interval(Real, 0, None, closed="neither")],
    "parametrization": [StrOptions(set(PARAMETRIZATIONS))],
}

# The parameters of the numeric embeddings, with their defaults, and the
# embeddings each one is read by.
EMBEDDING_PARAMS = {
    "embedding_dim": (24, EMBEDDINGS),
    "embedding_scale": (0.01, (PERIODIC,)),
    "embedding_bins": (48, (PIECEWISE_LINEAR,)),
}

# The estimator parameters each solver's optimizer is built from, in the
# order of its constructor's arguments after size and dtype.
OPTIMIZER_PARAMS = {
    "sgd": ("momentum", "nesterovs_momentum"),
    "adam": ("beta_1", "beta_2", "epsilon"),
}

# The parameter of each weight average, as its constructor's argument.
AVERAGING_PARAMS = {"ema": "ema_decay", "swa": "swa_epochs"}

# Constructor arguments of scikit-learn's MLP estimators that skann names
# differently, with the skann parameter to use instead.
_RENAMED = {
    "learning_rate_init": "learning_rate",
}


class ANNMeta(ABCMeta):
    """Points users of scikit-learn's parameter names at skann's."""

    @property
    def __signature__(cls):
        # The constructor's own signature, not this ``__call__``'s.
        signature = inspect.signature(cls.__init__)
        return signature.replace(parameters=list(signature.parameters.values())[1:])

    def __call__(cls, *args, **kwargs):
        message = renamed_parameter(cls, kwargs)
        if message:
            raise TypeError(message)
        return super().__call__(*args, **kwargs)


def renamed_parameter(cls, params):
    """What to say when ``params`` uses a name scikit-learn has and skann renamed."""
    for name in sorted(set(params) & set(_RENAMED)):
        new, value = _RENAMED[name], params[name]
        return (
            f"{cls.__name__} has no parameter {name!r}: skann calls it {new!r} "
            f"({name}={value!r} in scikit-learn's MLP estimators is "
            f"{new}={value!r} here)."
        )
    return None


def check_renamed_values(estimator):
    """Values scikit-learn's MLP estimators accept that skann reads differently."""
    name = type(estimator).__name__
    if isinstance(estimator.learning_rate, str):
        raise InvalidParameterError(
            f"The 'learning_rate' parameter of {name} must be a float (the step "
            f"size), got {estimator.learning_rate!r}. skann names the schedule "
            "`learning_rate_schedule`: use "
            f"learning_rate_schedule={estimator.learning_rate!r}, and give the "
            "initial step size as learning_rate (scikit-learn's learning_rate_init)."
        )
    if isinstance(estimator.batch_size, bool):
        raise InvalidParameterError(
            f"The 'batch_size' parameter of {name} must be an int in the range "
            f"[1, inf) or 'auto', got {estimator.batch_size!r}."
        )


def check_activation_name(estimator):
    """A single unknown activation name: the sorted names and the closest one."""
    value = estimator.activation
    if isinstance(value, str) and value not in ACTIVATIONS:
        raise InvalidParameterError(
            f"The 'activation' parameter of {type(estimator).__name__} must be a "
            f"str among {sorted(ACTIVATIONS)} or a list of them, one per hidden "
            f"layer; got {value!r}." + _closest(value, "activation")
        )


def hidden_sizes(estimator):
    """``hidden_layer_sizes`` as a list of positive ints."""
    sizes = estimator.hidden_layer_sizes
    sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
    if not all(
        isinstance(n, Integral) and not isinstance(n, bool) and n > 0 for n in sizes
    ):
        raise InvalidParameterError(
            "The 'hidden_layer_sizes' parameter of "
            f"{type(estimator).__name__} must be positive integers, got {sizes!r}."
        )
    return sizes


def _plural(n, word, words=None):
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def per_layer(estimator, name, n_hidden, valid, what, unit):
    """Parameter ``name`` as one value per hidden layer.

    A single value is repeated for every hidden layer; a list must have one
    entry per hidden layer, each one ``valid``. ``what`` describes an entry
    for the error message, ``unit`` names one entry.
    """
    value = getattr(estimator, name)
    if isinstance(value, (list, tuple)):
        bad = [v for v in value if not valid(v)]
        if bad:
            raise InvalidParameterError(
                f"The {name!r} parameter of {type(estimator).__name__} must be "
                f"{what} or a list of them, one per hidden layer; got {bad[0]!r}."
                + _closest(bad[0], name)
            )
        if len(value) != n_hidden:
            raise ValueError(
                f"{name} has {_plural(len(value), 'entry', 'entries')}"
                f" but hidden_layer_sizes has {_plural(n_hidden, 'layer')}: give one "
                f"{unit} per hidden layer, or a single {unit} for all."
            )
        return tuple(value)
    return (value,) * n_hidden


def _closest(value, name):
    """' Did you mean ...?' for a misspelt activation name."""
    if name != "activation" or not isinstance(value, str):
        return ""
    match = difflib.get_close_matches(value, sorted(ACTIVATIONS), n=1)
    return f" Did you mean {match[0]!r}?" if match else ""


def is_activation(value):
    return isinstance(value, str) and value in ACTIVATIONS


def is_rate(value):
    return isinstance(value, Real) and 0 <= value < 1


def check_training_params(estimator, incremental):
    """Checks across parameters, once per training call; warnings for no-ops."""
    est = estimator
    stochastic = est._is_stochastic()
    if est.early_stopping and incremental:
        raise ValueError("partial_fit does not support early_stopping=True.")
    if est.early_stopping and stochastic and not est.validation_fraction:
        raise ValueError(
            "early_stopping=True needs a validation share: set "
            "validation_fraction above 0, or early_stopping=False."
        )
    if est.batch_norm and est.batch_size == 1 and stochastic:
        raise ValueError(
            "batch_norm=True needs minibatches of at least 2 rows: the "
            "statistics of a single row have no variance. Use a larger "
            "batch_size, or batch_norm=False for per-sample SGD."
        )
    _check_ensemble(est)
    dropout = np.atleast_1d(np.asarray(est.dropout, dtype=object))
    if not stochastic and (any(r for r in dropout) or est.batch_norm):
        raise ValueError(
            "solver='lbfgs' needs a deterministic full-batch objective: it "
            "cannot train with dropout or batch_norm. Use solver='adam' or "
            "'sgd', or set dropout=0 and batch_norm=False."
        )
    ignored = []
    if not stochastic:
        defaults = {
            "learning_rate_schedule": "constant",
            "max_grad_norm": None,
            "weight_averaging": None,
            "on_divergence": "raise",
        }
        ignored += [
            f"{name}={getattr(est, name)!r} (solver='lbfgs' takes no steps of a "
            "set size)"
            for name, default in defaults.items()
            if getattr(est, name) != default
        ]
    if est.early_stopping_metric != "score" and not est.early_stopping:
        ignored.append(
            f"early_stopping_metric={est.early_stopping_metric!r} (it chooses "
            "what early_stopping=True monitors)"
        )
    if est.ensemble_size == 1 and est.ensemble_style != "full":
        ignored.append(
            f"ensemble_style={est.ensemble_style!r} (it chooses the member "
            "parameters of an ensemble, ensemble_size > 1)"
        )
    if stochastic and not incremental and est.warmup_epochs >= est.max_iter:
        ignored.append(
            f"warmup_epochs={est.warmup_epochs} with max_iter={est.max_iter} "
            "(the whole fit would run in the warm-up, below the full step)"
        )
    ignored += _ignored_embedding_params(est)
    for what in ignored:
        warnings.warn(
            f"{type(est).__name__} ignores {what}.", UserWarning, stacklevel=2
        )


def _check_ensemble(est):
    """Refuse the options an ensemble (``ensemble_size > 1``) cannot combine with."""
    if est.ensemble_size == 1:
        return
    clash = None
    if est.batch_norm:
        clash = "batch_norm=True (batch statistics would mix the members)"
    elif est.n_neighbors:
        clash = f"n_neighbors={est.n_neighbors} (retrieval mixes one output per row)"
    elif est.front_scaling or est.parametrization != "standard":
        clash = (
            f"front_scaling={est.front_scaling}, "
            f"parametrization={est.parametrization!r} (the members' layers "
            "have their own scalings)"
        )
    elif not hidden_sizes(est):
        clash = "a network without hidden layers (the members would share nothing)"
    if clash is not None:
        raise ValueError(
            f"ensemble_size={est.ensemble_size} cannot be combined with {clash}. "
            "Set ensemble_size=1, or change the other option."
        )


def _ignored_embedding_params(est):
    """Embedding parameters set away from their defaults that nothing reads."""
    embedding = est.numeric_embedding
    return [
        f"{name}={getattr(est, name)!r} ("
        + (
            "numeric_embedding is None"
            if embedding is None
            else f"numeric_embedding={embedding!r} does not use it"
        )
        + ")"
        for name, (default, readers) in EMBEDDING_PARAMS.items()
        if embedding not in readers and getattr(est, name) != default
    ]
