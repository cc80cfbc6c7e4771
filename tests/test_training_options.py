"""The 0.2 training options, tested at the estimator level.

Learning-rate schedules, gradient clipping, weight averaging, the early-stopping
metric, restarts after a divergence, the training history, class weights,
regression losses and target scaling. The schedules and the losses themselves
are unit-tested in test_schedules.py and test_losses.py; here each option is
checked through ``fit``, ``partial_fit`` and pickling, against a hand-computed
or independently fitted reference. Shared tests run on both estimators.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math
import pickle
import warnings

import numpy as np
import pytest
from conftest import load_wine_sample
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import BaggingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight

from skann import ANNClassifier, ANNRegressor
from skann._core.network import Network, NetworkSpec, n_init_draws
from skann.datasets import fetch_wine_quality
from skann.exceptions import TrainingDiverged

ESTIMATORS = [ANNClassifier, ANNRegressor]

# Most fits here stop at a small max_iter on purpose.
pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

HISTORY_KEYS = {
    "epoch",
    "loss",
    "validation_loss",
    "validation_score",
    "learning_rate",
    "gradient_norm",
    "seconds",
    "restart",
}

# Every option added in 0.2, at its default.
NEW_DEFAULTS = {
    "learning_rate_schedule": "constant",
    "lr_decay": 0.5,
    "lr_step": 10,
    "min_learning_rate": 0.0,
    "warmup_epochs": 0,
    "max_grad_norm": None,
    "weight_averaging": None,
    "ema_decay": 0.999,
    "swa_epochs": 10,
    "early_stopping_metric": "score",
    "on_divergence": "raise",
}
NEW_DEFAULTS_OF = {
    ANNClassifier: {**NEW_DEFAULTS, "class_weight": None},
    ANNRegressor: {
        **NEW_DEFAULTS,
        "loss": "squared_error",
        "huber_delta": 1.0,
        "quantile": 0.5,
        "target_scaling": None,
    },
}


def small(Estimator, **params):
    """A small, seeded network; ``params`` override the defaults."""
    defaults = {"hidden_layer_sizes": (8,), "random_state": 0, "max_iter": 20}
    return Estimator(**{**defaults, **params})


def one_step(Estimator, X, **params):
    """Plain full-batch gradient descent, one step per epoch, unshuffled."""
    return small(
        Estimator,
        solver="sgd",
        momentum=0.0,
        batch_size=X.shape[0],
        shuffle=False,
        **params,
    )


def first_call(estimator, y):
    """The extra arguments a first ``partial_fit`` call needs."""
    return {"classes": np.unique(y)} if isinstance(estimator, ANNClassifier) else {}


def outputs(estimator, X):
    """Every prediction the estimator makes for X."""
    results = [estimator.predict(X)]
    if hasattr(estimator, "predict_proba"):
        results += [estimator.predict_proba(X), estimator.predict_log_proba(X)]
    return results


def flat(estimator):
    """All weights and biases of a fitted estimator as one vector."""
    return np.concatenate(
        [W.ravel() for W in estimator.coefs_] + list(estimator.intercepts_)
    )


def assert_same_weights(got, expected):
    for W, W_expected in zip(got.coefs_, expected.coefs_, strict=True):
        assert_array_equal(W, W_expected)
    for b, b_expected in zip(got.intercepts_, expected.intercepts_, strict=True):
        assert_array_equal(b, b_expected)


def assert_identical(got, expected, where="estimator", ignore=()):
    """Recursive, bit-for-bit equality of fitted state (NaN equals NaN).

    Dict entries named in ``ignore`` (wall-clock times) are not compared.
    """
    if isinstance(expected, np.ndarray):
        assert isinstance(got, np.ndarray), where
        assert got.dtype == expected.dtype, where
        assert_array_equal(got, expected, err_msg=where)
    elif isinstance(expected, dict):
        assert set(got) == set(expected), where
        for key in set(expected) - set(ignore):
            assert_identical(got[key], expected[key], f"{where}[{key!r}]", ignore)
    elif isinstance(expected, (list, tuple)):
        assert type(got) is type(expected), where
        assert len(got) == len(expected), where
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            assert_identical(a, b, f"{where}[{i}]", ignore)
    elif isinstance(expected, float):
        assert got == expected or (math.isnan(got) and math.isnan(expected)), where
    elif hasattr(expected, "__dict__") and not isinstance(expected, type):
        assert type(got) is type(expected), where
        assert_identical(vars(got), vars(expected), f"{where}.", ignore)
    else:
        assert got == expected, where


def validation_split(estimator, X, n_outputs):
    """Positions of the training and validation shares early stopping uses.

    A fresh fit draws the initial weights and biases from ``random_state``
    (one uniform draw each), then splits with the same stream, as
    scikit-learn's MLP estimators do. Valid where the split is not
    stratified: regression and multiclass targets.
    """
    sizes = [X.shape[1], *estimator.hidden_layer_sizes, n_outputs]
    rng = np.random.RandomState(estimator.random_state)
    rng.random_sample(n_init_draws(sizes))
    return train_test_split(
        np.arange(X.shape[0]),
        test_size=estimator.validation_fraction,
        random_state=rng,
    )


def validation_objective(estimator, X_val, y_val):
    """The training objective of the fitted model on a held-out share, by hand."""
    penalty = 0.5 * estimator.alpha * sum(np.sum(W**2) for W in estimator.coefs_)
    n = X_val.shape[0]
    if isinstance(estimator, ANNClassifier):
        log_proba = estimator.predict_log_proba(X_val)
        true = np.searchsorted(estimator.classes_, y_val)
        return -np.mean(log_proba[np.arange(n), true]) + penalty / n
    assert estimator.loss == "absolute_error"
    return np.mean(np.abs(estimator.predict(X_val) - y_val)) + penalty / n


# Gradient clipping


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_max_grad_norm_caps_the_step_norm(Estimator, data):
    """One plain gradient step moves the weights by exactly lr * max_grad_norm.

    The learning rate is huge so that the step dominates the weights; the
    unclipped step's length checks that ``gradient_norm`` in ``history_`` is
    the norm of the gradient before clipping.
    """
    X, y = data
    learning_rate, max_grad_norm = 1e4, 0.5
    clipped = one_step(
        Estimator, X, learning_rate=learning_rate, max_grad_norm=max_grad_norm,
        max_iter=1,
    ).fit(X, y)  # fmt: skip
    plain = one_step(Estimator, X, learning_rate=learning_rate, max_iter=1).fit(X, y)

    n_outputs = clipped.n_outputs_
    network = Network(NetworkSpec.build([X.shape[1], 8, n_outputs], "relu"))
    # scikit-learn's flat order: all weight matrices, then all biases.
    initial, _ = network.init(np.random.RandomState(0))
    gradient_norm = clipped.history_[0]["gradient_norm"]
    assert gradient_norm > max_grad_norm
    assert gradient_norm == plain.history_[0]["gradient_norm"]
    step = np.linalg.norm(flat(clipped) - initial)
    assert step == pytest.approx(learning_rate * max_grad_norm, rel=1e-12)
    plain_step = np.linalg.norm(flat(plain) - initial)
    assert plain_step == pytest.approx(learning_rate * gradient_norm, rel=1e-12)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_max_grad_norm_above_every_gradient_changes_nothing(Estimator, data, solver):
    """A bound no gradient reaches, and None, both give the unclipped fit."""
    X, y = data
    default = small(Estimator, solver=solver, batch_size=16).fit(X, y)
    for max_grad_norm in [None, 1e300]:
        clipped = small(
            Estimator, solver=solver, batch_size=16, max_grad_norm=max_grad_norm
        ).fit(X, y)
        assert_same_weights(clipped, default)
        assert clipped.loss_curve_ == default.loss_curve_


# Weight averaging


@pytest.mark.parametrize(
    "averaging",
    [
        {"weight_averaging": "ema", "ema_decay": 0.5},
        {"weight_averaging": "swa", "swa_epochs": 2},
        {"weight_averaging": "swa", "swa_epochs": 5},
    ],
    ids=["ema", "swa-last-2", "swa-window-longer-than-fit"],
)
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_weight_averaging_equals_the_average_by_hand(Estimator, data, averaging):
    """Three steps of full-batch gradient descent, averaged by hand.

    The weights after step k are those of the same fit stopped at max_iter=k.
    EMA starts at the first step's weights, then takes step t's (t = 1, 2)
    with decay min(d, (1 + t) / (10 + t)); SWA is the mean of the last
    ``swa_epochs`` (or all) end-of-epoch weights.
    """
    X, y = data
    params = {"learning_rate": 0.1, "n_iter_no_change": 100}
    live = [
        flat(one_step(Estimator, X, max_iter=k, **params).fit(X, y)) for k in (1, 2, 3)
    ]
    if averaging["weight_averaging"] == "ema":
        expected = live[0]
        for t, theta in enumerate(live[1:], start=1):
            decay = min(averaging["ema_decay"], (1 + t) / (10 + t))
            expected = decay * expected + (1 - decay) * theta
    else:
        expected = np.mean(live[-averaging["swa_epochs"] :], axis=0)

    averaged = one_step(Estimator, X, max_iter=3, **params, **averaging).fit(X, y)
    assert_allclose(flat(averaged), expected, rtol=1e-12, atol=1e-15)
    # The average is not the last weights, so the test tells them apart.
    assert np.max(np.abs(expected - live[-1])) > 1e-3
    # Training itself (the loss curve) is that of the live weights.
    plain = one_step(Estimator, X, max_iter=3, **params).fit(X, y)
    assert averaged.loss_curve_ == plain.loss_curve_


@pytest.mark.parametrize("kind", ["ema", "swa"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_weight_averaging_partial_fit_calls_equal_fit_epochs(Estimator, data, kind):
    """partial_fit reports the average but trains on from the live weights."""
    X, y = data
    params = {
        "solver": "sgd",
        "shuffle": False,
        "batch_size": 16,
        "learning_rate": 0.05,
        "weight_averaging": kind,
        "ema_decay": 0.8,
        "swa_epochs": 2,
    }
    fitted = small(Estimator, max_iter=3, **params).fit(X, y)
    incremental = small(Estimator, **params)
    incremental.partial_fit(X, y, **first_call(incremental, y))
    for _ in range(2):
        incremental.partial_fit(X, y)
    assert_allclose(incremental.loss_curve_, fitted.loss_curve_, rtol=1e-12)
    assert_allclose(flat(incremental), flat(fitted), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", ["ema", "swa"])
@pytest.mark.parametrize(
    "Estimator, data_name",
    [(ANNClassifier, "multiclass_data"), (ANNRegressor, "regression_data")],
)
def test_early_stopping_scores_and_keeps_the_averaged_weights(
    Estimator, data_name, kind, request
):
    """Each validation score is that of the averaged weights, and the best is kept.

    Reference: the same averaged fit, without early stopping, on the
    training share alone (recovered from the seed) and stopped after k
    epochs, for every k. With full batches and no shuffling the random
    stream after the split is unused, so its k-epoch weights are the
    averaged weights the early-stopping fit scores at epoch k.
    """
    X, y = request.getfixturevalue(data_name)
    params = {
        "hidden_layer_sizes": (32,),
        "learning_rate": 0.5,
        "weight_averaging": kind,
        "ema_decay": 0.7,
        "swa_epochs": 3,
        "validation_fraction": 0.3,
    }
    stopped = one_step(
        Estimator, X, max_iter=40, early_stopping=True, n_iter_no_change=2, tol=0.0,
        **params,
    ).fit(X, y)  # fmt: skip
    best = int(np.argmax(stopped.validation_scores_))
    # Training went on past the best epoch, so keeping it matters.
    assert best < stopped.n_iter_ - 1 < 39

    train, val = validation_split(stopped, X, stopped.n_outputs_)
    scores = []
    for k in range(1, stopped.n_iter_ + 1):
        reference = one_step(Estimator, X, max_iter=k, **params)
        reference.fit(X[train], y[train])
        scores.append(reference.score(X[val], y[val]))
        if k == best + 1:
            kept = reference
    assert_allclose(stopped.validation_scores_, scores, rtol=1e-12)
    assert stopped.best_validation_score_ == max(stopped.validation_scores_)
    assert stopped.score(X[val], y[val]) == pytest.approx(
        stopped.best_validation_score_, rel=1e-12
    )
    assert_allclose(flat(stopped), flat(kept), rtol=1e-12, atol=1e-15)


# Early stopping on the validation loss


@pytest.mark.parametrize(
    "Estimator, data_name, params",
    [
        (ANNClassifier, "multiclass_data", {"learning_rate": 0.1}),
        (
            ANNRegressor,
            "regression_data",
            {"hidden_layer_sizes": (16,), "learning_rate": 0.03, "alpha": 1.0,
             "loss": "absolute_error"},
        ),
    ],
)  # fmt: skip
def test_early_stopping_on_the_loss_keeps_the_lowest_validation_loss(
    Estimator, data_name, params, request
):
    """The fit stops n_iter_no_change + 1 epochs after its lowest validation loss.

    The cases are chosen so that the best score comes at another epoch, so
    stopping on the score would differ. The returned model's objective on
    the validation share (recovered from the seed, computed by hand) is the
    lowest of ``validation_loss_curve_``.
    """
    X, y = request.getfixturevalue(data_name)
    n_iter_no_change = 3
    estimator = small(
        Estimator, early_stopping=True, early_stopping_metric="loss",
        validation_fraction=0.2, tol=0.0, n_iter_no_change=n_iter_no_change,
        max_iter=200, **params,
    ).fit(X, y)  # fmt: skip
    losses = estimator.validation_loss_curve_
    best = int(np.argmin(losses))
    assert estimator.n_iter_ < 200
    assert estimator.n_iter_ == best + 1 + n_iter_no_change + 1
    assert best != int(np.argmax(estimator.validation_scores_))
    assert len(losses) == len(estimator.validation_scores_) == estimator.n_iter_

    _, val = validation_split(estimator, X, estimator.n_outputs_)
    assert validation_objective(estimator, X[val], y[val]) == pytest.approx(
        min(losses), rel=1e-12
    )


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_early_stopping_on_the_loss_reports_the_kept_weights_score(Estimator, data):
    """best_validation_score_ is documented as the score of the kept weights."""
    X, y = data
    estimator = small(
        Estimator, early_stopping=True, early_stopping_metric="loss",
        learning_rate=0.1, n_iter_no_change=3, tol=0.0, max_iter=100,
    ).fit(X, y)  # fmt: skip
    best = int(np.argmin(estimator.validation_loss_curve_))
    assert estimator.best_validation_score_ == estimator.validation_scores_[best]


# Class weights


def balanced_factors(y, sample_weight=None):
    """Per-sample 'balanced' class weights, as LogisticRegression computes them."""
    classes = np.unique(y)
    weights = compute_class_weight(
        "balanced", classes=classes, y=y, sample_weight=sample_weight
    )
    return weights[np.searchsorted(classes, y)]


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("target", ["binary_data", "multiclass_data"])
def test_class_weight_dict_equals_the_sample_weight_it_implies(target, solver, request):
    X, y = request.getfixturevalue(target)
    classes = np.unique(y)
    class_weight = {classes[0]: 3.0, classes[-1]: 0.25}
    factors = np.array([class_weight.get(label, 1.0) for label in y])
    sample_weight = np.random.RandomState(1).uniform(0.5, 2.0, size=len(y))
    params = {"solver": solver, "max_iter": 10}

    weighted = small(ANNClassifier, class_weight=class_weight, **params).fit(X, y)
    by_hand = small(ANNClassifier, **params).fit(X, y, sample_weight=factors)
    assert_same_weights(weighted, by_hand)

    weighted.fit(X, y, sample_weight=sample_weight)
    by_hand.fit(X, y, sample_weight=factors * sample_weight)
    assert_same_weights(weighted, by_hand)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("target", ["binary_data", "multiclass_data"])
def test_balanced_class_weight_equals_the_sample_weight_it_implies(
    target, solver, request
):
    X, y = request.getfixturevalue(target)
    params = {"solver": solver, "max_iter": 10}
    factors = balanced_factors(y)
    assert len(np.unique(factors)) > 1

    weighted = small(ANNClassifier, class_weight="balanced", **params).fit(X, y)
    by_hand = small(ANNClassifier, **params).fit(X, y, sample_weight=factors)
    assert_same_weights(weighted, by_hand)


def test_balanced_class_weight_counts_classes_by_sample_weight(multiclass_data):
    """Balanced weights from weighted class counts, times the sample weights.

    This is LogisticRegression's rule, and what makes a weight-2 row equal
    to a repeated row.
    """
    X, y = multiclass_data
    sample_weight = np.random.RandomState(1).randint(1, 4, size=len(y)).astype(float)
    factors = balanced_factors(y, sample_weight) * sample_weight
    weighted = small(ANNClassifier, class_weight="balanced", solver="lbfgs")
    weighted.fit(X, y, sample_weight=sample_weight)
    by_hand = small(ANNClassifier, solver="lbfgs").fit(X, y, sample_weight=factors)
    for W, W_by_hand in zip(weighted.coefs_, by_hand.coefs_, strict=True):
        assert_allclose(W, W_by_hand, rtol=1e-12, atol=1e-15)


def test_balanced_class_weight_with_early_stopping_counts_the_training_share(
    multiclass_data,
):
    """'balanced' is computed on the training share and applied to both shares.

    The reference passes those weights by hand as sample_weight; the split
    carries them along. The full-data weights differ here, and give another fit.
    """
    X, y = multiclass_data
    params = {"early_stopping": True, "validation_fraction": 0.3, "max_iter": 10}
    weighted = small(ANNClassifier, class_weight="balanced", **params).fit(X, y)
    train, _ = validation_split(weighted, X, weighted.n_outputs_)
    classes = np.unique(y)
    train_weights = compute_class_weight("balanced", classes=classes, y=y[train])
    full_weights = compute_class_weight("balanced", classes=classes, y=y)
    assert not np.allclose(train_weights, full_weights, rtol=0.05)

    index = np.searchsorted(classes, y)
    by_hand = small(ANNClassifier, **params)
    by_hand.fit(X, y, sample_weight=train_weights[index])
    assert_same_weights(weighted, by_hand)
    assert weighted.validation_scores_ == by_hand.validation_scores_

    full = small(ANNClassifier, **params).fit(X, y, sample_weight=full_weights[index])
    assert not np.array_equal(full.coefs_[0], weighted.coefs_[0])


@pytest.mark.parametrize("class_weight", ["balanced", {0: 2.0}])
def test_class_weight_rejects_multilabel_targets(multilabel_data, class_weight):
    X, Y = multilabel_data
    estimator = small(ANNClassifier, class_weight=class_weight)
    with pytest.raises(
        ValueError, match="class_weight is not supported for multilabel"
    ):
        estimator.fit(X, Y)


def test_balanced_class_weight_is_not_available_in_partial_fit(multiclass_data):
    X, y = multiclass_data
    estimator = small(ANNClassifier, class_weight="balanced")
    with pytest.raises(ValueError, match=r"'balanced'.*not supported by partial_fit"):
        estimator.partial_fit(X, y, classes=np.unique(y))
    # A dict is: it does not depend on the data.
    estimator.set_params(class_weight={"ant": 2.0})
    estimator.partial_fit(X, y, classes=np.unique(y))


def test_class_weight_accepts_a_column_vector_target(binary_data):
    """As for any classifier: y of shape (n, 1) is raveled, with a warning."""
    X, y = binary_data
    estimator = small(ANNClassifier, class_weight={0: 2.0})
    with pytest.warns(UserWarning, match="column-vector y"):
        estimator.fit(X, y.reshape(-1, 1))
    assert_same_weights(
        estimator, small(ANNClassifier, class_weight={0: 2.0}).fit(X, y)
    )


# Target scaling


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("data_name", ["regression_data", "multioutput_data"])
def test_target_scaling_matches_transformed_target_regressor(
    data_name, solver, early_stopping, request
):
    X, y = request.getfixturevalue(data_name)
    # Targets far from standard, so that scaling matters.
    y = 50.0 + 20.0 * y
    params = {
        "solver": solver,
        "learning_rate": 0.01,
        "early_stopping": early_stopping,
        "max_iter": 15,
    }
    scaled = small(ANNRegressor, target_scaling="standard", **params).fit(X, y)
    reference = TransformedTargetRegressor(
        regressor=small(ANNRegressor, **params), transformer=StandardScaler()
    ).fit(X, y)
    assert_allclose(scaled.predict(X), reference.predict(X), rtol=1e-12)
    assert_allclose(scaled.target_mean_, reference.transformer_.mean_, rtol=1e-14)
    assert_allclose(scaled.target_scale_, reference.transformer_.scale_, rtol=1e-14)
    assert scaled.n_iter_ == reference.regressor_.n_iter_
    unscaled = small(ANNRegressor, **params).fit(X, y)
    assert not np.allclose(unscaled.predict(X), scaled.predict(X), rtol=1e-3)


def test_target_scaling_gives_a_constant_output_scale_one(multioutput_data):
    X, Y = multioutput_data
    Y = Y.copy()
    Y[:, 1] = 7.0
    estimator = small(ANNRegressor, target_scaling="standard").fit(X, Y)
    assert estimator.target_scale_[1] == 1.0
    assert estimator.target_mean_[1] == 7.0
    assert_allclose(estimator.target_scale_, StandardScaler().fit(Y).scale_, rtol=1e-14)


def test_target_scaling_weighs_the_statistics_by_sample_weight(regression_data):
    """Integer weights act as repeated rows, for the target's statistics too."""
    X, y = regression_data
    counts = np.random.RandomState(1).randint(0, 3, size=len(y))
    weighted = small(ANNRegressor, target_scaling="standard", solver="lbfgs")
    weighted.fit(X, y, sample_weight=counts)
    repeated = small(ANNRegressor, target_scaling="standard", solver="lbfgs")
    repeated.fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    assert_allclose(weighted.target_mean_, repeated.target_mean_, rtol=1e-12)
    assert_allclose(weighted.target_scale_, repeated.target_scale_, rtol=1e-12)


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_target_scaling_keeps_the_first_statistics(regression_data, how):
    X, y = regression_data
    estimator = small(ANNRegressor, target_scaling="standard", max_iter=3)
    if how == "partial_fit":
        estimator.partial_fit(X, y)
    else:
        estimator.set_params(warm_start=True).fit(X, y)
    mean, scale = estimator.target_mean_.copy(), estimator.target_scale_.copy()
    assert_allclose(mean, [np.mean(y)], rtol=1e-14)
    assert_allclose(scale, [np.std(y)], rtol=1e-14)
    if how == "partial_fit":
        estimator.partial_fit(X, 3.0 * y + 10.0)
    else:
        estimator.fit(X, 3.0 * y + 10.0)
    assert_array_equal(estimator.target_mean_, mean)
    assert_array_equal(estimator.target_scale_, scale)


def test_poisson_loss_rejects_target_scaling(regression_data):
    X, y = regression_data
    estimator = small(ANNRegressor, loss="poisson", target_scaling="standard")
    with pytest.raises(ValueError, match=r"loss='poisson'.*target_scaling=None"):
        estimator.fit(X, np.abs(y))


def test_poisson_loss_rejects_negative_targets(regression_data):
    X, y = regression_data
    with pytest.raises(ValueError, match=r"loss='poisson' needs y >= 0"):
        small(ANNRegressor, loss="poisson").fit(X, y)


# The training history


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_history_has_one_record_per_epoch_with_the_same_keys(Estimator, data, solver):
    X, y = data
    estimator = small(Estimator, solver=solver, max_iter=6).fit(X, y)
    history = estimator.history_
    assert len(history) == estimator.n_iter_
    for epoch, record in enumerate(history, 1):
        assert set(record) == HISTORY_KEYS
        assert record["epoch"] == epoch
        assert record["validation_loss"] is record["validation_score"] is None
        assert record["restart"] is False
        assert record["seconds"] >= 0
        assert np.isfinite(record["gradient_norm"]) and record["gradient_norm"] > 0
        if solver == "lbfgs":
            assert record["learning_rate"] is None
        else:
            assert record["learning_rate"] == estimator.learning_rate
    assert [record["loss"] for record in history] == estimator.loss_curve_


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_history_holds_the_validation_curves(Estimator, data, solver):
    X, y = data
    estimator = small(
        Estimator, solver=solver, early_stopping=True, learning_rate=0.01
    ).fit(X, y)
    history = estimator.history_
    assert len(history) == estimator.n_iter_
    assert [r["loss"] for r in history] == estimator.loss_curve_
    assert [r["validation_score"] for r in history] == estimator.validation_scores_
    assert [r["validation_loss"] for r in history] == estimator.validation_loss_curve_


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_history_learning_rate_follows_the_schedule(regression_data, solver):
    X, y = regression_data
    common = {"solver": solver, "learning_rate": 0.1, "n_iter_no_change": 100}
    step = small(
        ANNRegressor, learning_rate_schedule="step", lr_step=2, lr_decay=0.5,
        max_iter=7, **common,
    ).fit(X, y)  # fmt: skip
    rates = [record["learning_rate"] for record in step.history_]
    assert rates == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]

    warmup, max_iter, floor = 2, 8, 0.01
    cosine = small(
        ANNRegressor, learning_rate_schedule="cosine", warmup_epochs=warmup,
        min_learning_rate=floor, max_iter=max_iter, **common,
    ).fit(X, y)  # fmt: skip
    expected = [0.1 * (k + 1) / (warmup + 1) for k in range(warmup)]
    expected += [
        floor + (0.1 - floor) * 0.5 * (1 + math.cos(math.pi * k / (max_iter - warmup)))
        for k in range(max_iter - warmup)
    ]
    rates = [record["learning_rate"] for record in cosine.history_]
    assert_allclose(rates, expected, rtol=1e-14)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_adaptive_schedule_lowers_adams_rate_on_plateaus(Estimator, data):
    """Each plateau divides Adam's step by 5, until it would fall below 1e-6.

    A tolerance no epoch can meet makes every epoch after the first a
    non-improvement, so with n_iter_no_change=2 the step drops after epoch 4,
    then after every third epoch; at 6.4e-7 the next plateau stops the fit.
    """
    X, y = data
    params = {"solver": "adam", "learning_rate": 0.01, "tol": 1e3, "max_iter": 30}
    params["n_iter_no_change"] = 2
    adaptive = small(Estimator, learning_rate_schedule="adaptive", **params).fit(X, y)
    rates = [record["learning_rate"] for record in adaptive.history_]
    expected = [0.01] + [0.01 / 5**k for k in range(7) for _ in range(3)]
    assert_allclose(rates, expected, rtol=1e-14)
    assert adaptive.n_iter_ == 22

    # The constant schedule stops at the first plateau instead.
    assert small(Estimator, **params).fit(X, y).n_iter_ == 4
    constant = small(Estimator, **{**params, "tol": 0.0}).fit(X, y)
    # Full batches: epoch k's loss is taken before step k, so the curves agree
    # until the first step at the lowered rate, the fifth.
    assert adaptive.loss_curve_[:5] == constant.loss_curve_[:5]
    assert adaptive.loss_curve_[5] != constant.loss_curve_[5]


# Restarts after a divergence


def article_network(**params):
    """The articles' deep relu row that diverges at learning rate 0.1."""
    return ANNRegressor(
        **{
            "hidden_layer_sizes": (50, 30, 20, 10, 5), "activation": "relu",
            "solver": "sgd", "learning_rate": 0.1, "alpha": 0.1, "max_iter": 10,
            **params,
        }
    )  # fmt: skip


@pytest.fixture
def red_wine_sample():
    X, y = load_wine_sample("red")
    return StandardScaler().fit_transform(X), y


def _restart_warnings(caught):
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, ConvergenceWarning)
        and "Training diverged" in str(w.message)
    ]


def test_on_divergence_restart_finishes_a_diverging_fit(red_wine_sample):
    """Seed 7 diverges at epoch 3; one restart at lr / 10 from the best epoch
    so far trains it (the issue's relu lr 0.1 row)."""
    X, y = red_wine_sample
    with pytest.raises(TrainingDiverged, match="epoch 3"):
        article_network(random_state=7).fit(X, y)

    estimator = article_network(random_state=7, on_divergence="restart")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(X, y)
    messages = _restart_warnings(caught)
    records = [r for r in estimator.history_ if r["restart"]]
    assert len(records) == len(messages) == 1
    assert records[0]["epoch"] == 3
    assert records[0]["learning_rate"] == pytest.approx(0.1)
    assert "restart 1 of 3" in messages[0]
    assert len(estimator.history_) == estimator.n_iter_ + 1
    assert estimator.n_iter_ == estimator.max_iter
    # Every epoch after the restart runs at a tenth of the rate.
    normal = [r for r in estimator.history_ if not r["restart"]]
    assert [r["learning_rate"] for r in normal[2:]] == pytest.approx([0.01] * 8)
    assert np.isfinite(estimator.predict(X)).all()
    assert estimator.score(X, y) > 0.1


def test_on_divergence_restart_raises_on_the_fourth_divergence(red_wine_sample):
    """At learning rate 1e3, a tenth, a hundredth and a thousandth of it still
    diverge: after three restarts the fourth divergence raises."""
    X, y = red_wine_sample
    estimator = article_network(
        random_state=7, on_divergence="restart", learning_rate=1e3
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TrainingDiverged):
            estimator.fit(X, y)
    messages = _restart_warnings(caught)
    assert [m.split("(restart ")[1] for m in messages] == [
        "1 of 3).",
        "2 of 3).",
        "3 of 3).",
    ]
    assert not hasattr(estimator, "coefs_")


# Pickling


PICKLE_CASES = [
    (ANNClassifier, {"max_grad_norm": 0.5}),
    (ANNRegressor, {"max_grad_norm": 0.5}),
    (ANNClassifier, {"weight_averaging": "ema", "ema_decay": 0.9}),
    (ANNRegressor, {"weight_averaging": "swa", "swa_epochs": 3}),
    (ANNClassifier, {"learning_rate_schedule": "cosine", "warmup_epochs": 2}),
    (ANNRegressor, {"learning_rate_schedule": "adaptive", "tol": 1e3,
                    "n_iter_no_change": 2}),
    (ANNRegressor, {"learning_rate_schedule": "exponential", "lr_step": 3,
                    "min_learning_rate": 1e-4}),
    (ANNClassifier, {"early_stopping": True, "early_stopping_metric": "loss",
                     "weight_averaging": "swa", "swa_epochs": 2}),
    (ANNRegressor, {"early_stopping": True, "weight_averaging": "ema"}),
    (ANNClassifier, {"on_divergence": "restart"}),
    (ANNClassifier, {"class_weight": {"ant": 2.0, "cat": 0.5}}),
    (ANNClassifier, {"class_weight": "balanced"}),
    (ANNRegressor, {"loss": "huber", "huber_delta": 0.5}),
    (ANNRegressor, {"loss": "quantile", "quantile": 0.8}),
    (ANNRegressor, {"loss": "absolute_error"}),
    (ANNRegressor, {"loss": "poisson"}),
    (ANNRegressor, {"target_scaling": "standard", "weight_averaging": "ema"}),
]  # fmt: skip


@pytest.mark.parametrize(
    "Estimator, params",
    PICKLE_CASES,
    ids=[
        f"{E.__name__}-" + ",".join(f"{k}={v}" for k, v in p.items())
        for E, p in PICKLE_CASES
    ],
)
def test_pickle_round_trip_keeps_every_option(Estimator, params, request):
    """Unpickled, a model equals the original and continues training the same.

    The continuation is a partial_fit, or a warm-started fit where
    partial_fit is not available (early stopping, 'balanced').
    """
    X, y = request.getfixturevalue(
        "multiclass_data" if Estimator is ANNClassifier else "regression_data"
    )
    if params.get("loss") == "poisson":
        y = np.exp(y / 3)
    estimator = small(Estimator, max_iter=8, learning_rate=0.01, **params)
    estimator.fit(X, y)
    loaded = pickle.loads(pickle.dumps(estimator))
    assert_identical(vars(loaded), vars(estimator))
    for got, expected in zip(outputs(loaded, X), outputs(estimator, X), strict=True):
        assert_array_equal(got, expected)

    for model in (estimator, loaded):
        if params.get("early_stopping") or params.get("class_weight") == "balanced":
            model.set_params(warm_start=True, max_iter=3).fit(X, y)
        else:
            model.partial_fit(X, y)
            model.partial_fit(X[::2], y[::2])
    # Only the epochs' durations differ.
    assert_identical(vars(loaded), vars(estimator), ignore=("seconds",))
    for got, expected in zip(outputs(loaded, X), outputs(estimator, X), strict=True):
        assert_array_equal(got, expected)


# Bagging: bootstrap counts as sample weights


def bagged_ann():
    return BaggingRegressor(
        ANNRegressor(early_stopping=True, batch_size=32, max_iter=20, random_state=0),
        n_estimators=3,
        random_state=0,
    )


def assert_bagging_fits(X, y):
    with warnings.catch_warnings():
        # A division by zero would warn (NumPy) or raise (Python floats).
        warnings.simplefilter("error", RuntimeWarning)
        bagging = bagged_ann().fit(X, y)
    assert len(bagging.estimators_) == 3
    for member in bagging.estimators_:
        assert np.all(np.isfinite(member.loss_curve_))
        assert np.isfinite(member.best_validation_score_)
    assert np.isfinite(bagging.predict(X)).all()


def test_bagging_fits_the_white_wine_sample():
    """Bootstrap counts arrive as sample weights, zeros included."""
    assert_bagging_fits(*load_wine_sample("white"))


def test_bagging_fits_the_white_wine_data(wine_data_home):
    X, y = fetch_wine_quality("white", data_home=wine_data_home, return_X_y=True)
    assert_bagging_fits(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_zero_weight_minibatch_is_skipped(Estimator, data):
    """A batch whose weights are all zero takes no step (and divides by nothing).

    Without shuffling, zero-weight rows appended as whole batches leave the
    weights of the fit on the other rows unchanged.
    """
    X, y = data
    X_padded = np.vstack([X, X[:20]])
    y_padded = np.concatenate([y, y[:20]])
    weights = np.r_[np.ones(len(y)), np.zeros(20)]
    params = {"solver": "sgd", "batch_size": 20, "shuffle": False, "max_iter": 5}
    params["n_iter_no_change"] = 100
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        padded = small(Estimator, **params).fit(X_padded, y_padded, weights)
    plain = small(Estimator, **params).fit(X, y)
    assert_same_weights(padded, plain)


# Defaults


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_new_options_at_their_defaults_change_nothing(Estimator, data, solver):
    """Every 0.2 option at its default, explicit or not, gives the same fit."""
    X, y = data
    defaults = NEW_DEFAULTS_OF[Estimator]
    params = Estimator().get_params()
    assert {name: params[name] for name in defaults} == defaults
    implicit = small(Estimator, solver=solver, max_iter=10).fit(X, y)
    explicit = small(Estimator, solver=solver, max_iter=10, **defaults).fit(X, y)
    assert_same_weights(explicit, implicit)
    assert explicit.loss_curve_ == implicit.loss_curve_
