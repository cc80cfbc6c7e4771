"""Layer options of both estimators: activations per layer, dropout, batch_norm."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError
from threadpoolctl import threadpool_limits

from skann import ANNClassifier, ANNRegressor
from skann._core.activations import ACTIVATIONS
from skann._core.layers import Context, Dropout, Workspace
from skann._core.network import Network, NetworkSpec

ESTIMATORS = [ANNClassifier, ANNRegressor]

BATCH_NORM_ATTRIBUTES = [
    "batch_norm_scales_",
    "batch_norm_offsets_",
    "batch_norm_means_",
    "batch_norm_vars_",
]

# Every new option at once: what a fitted model must carry through pickling.
ALL_OPTIONS = {
    "hidden_layer_sizes": (8, 5),
    "activation": ["gelu", "elu"],
    "dropout": [0.2, 0.1],
    "batch_norm": True,
}

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

shared = pytest.mark.parametrize("Estimator", ESTIMATORS)


def small(Estimator, **params):
    """A small, seeded network; ``params`` override the defaults."""
    defaults = {"hidden_layer_sizes": (8,), "random_state": 0, "max_iter": 50}
    return Estimator(**{**defaults, **params})


def outputs(estimator, X):
    """Every prediction the estimator makes for X."""
    results = [estimator.predict(X)]
    if hasattr(estimator, "predict_proba"):
        results += [estimator.predict_proba(X), estimator.predict_log_proba(X)]
    return results


def fitted_parameters(estimator):
    """Weights, biases and batch-norm arrays, flattened into one list."""
    arrays = estimator.coefs_ + estimator.intercepts_
    for name in BATCH_NORM_ATTRIBUTES:
        arrays += getattr(estimator, name) or []
    return arrays


def assert_same_parameters(first, second):
    pairs = zip(fitted_parameters(first), fitted_parameters(second), strict=True)
    for a, b in pairs:
        assert_array_equal(a, b)


def same_parameters(first, second):
    pairs = zip(fitted_parameters(first), fitted_parameters(second), strict=True)
    return all(np.array_equal(a, b) for a, b in pairs)


@shared
def test_activation_list_is_recorded_per_hidden_layer(Estimator, data):
    X, y = data
    estimator = small(Estimator, hidden_layer_sizes=(8, 5), activation=["tanh", "gelu"])
    estimator.fit(X, y)
    assert estimator.hidden_activations_ == ["tanh", "gelu"]
    assert estimator.loss_curve_[-1] < estimator.loss_curve_[0]

    estimator = small(Estimator, hidden_layer_sizes=(8, 5), activation="silu")
    assert estimator.fit(X, y).hidden_activations_ == ["silu", "silu"]


@shared
@pytest.mark.parametrize(
    "activation, hidden, match",
    [
        (
            ["tanh"],
            (8, 5),
            "activation has 1 entry but hidden_layer_sizes has 2 layers",
        ),
        (
            ("tanh",) * 3,
            (8, 5),
            "activation has 3 entries but hidden_layer_sizes has 2",
        ),
        (["tanh", "relu"], (), "activation has 2 entries but hidden_layer_sizes has 0"),
    ],
)
def test_activation_list_of_another_length_raises(
    Estimator, data, activation, hidden, match
):
    X, y = data
    estimator = small(Estimator, hidden_layer_sizes=hidden, activation=activation)
    with pytest.raises(ValueError, match=match):
        estimator.fit(X, y)
    assert not hasattr(estimator, "coefs_")


@shared
@pytest.mark.parametrize(
    "activation, bad",
    [("bogus", "bogus"), (["tanh", "bogus"], "bogus"), (["tanh", 1], "1")],
)
def test_unknown_activation_raises(Estimator, data, activation, bad):
    X, y = data
    estimator = small(Estimator, hidden_layer_sizes=(8, 5), activation=activation)
    with pytest.raises(InvalidParameterError, match=f"'activation' parameter.*{bad}"):
        estimator.fit(X, y)


@shared
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize(
    "options",
    [{}, {"batch_norm": True}, {"dropout": 0.1}],
    ids=["plain", "batch-norm", "dropout"],
)
def test_every_activation_learns(Estimator, data, activation, options):
    X, y = data
    estimator = small(
        Estimator, activation=activation, learning_rate=0.01, max_iter=100, **options
    )
    estimator.fit(X, y)
    assert estimator.loss_curve_[-1] < 0.5 * estimator.loss_curve_[0]


@shared
@pytest.mark.parametrize("fitted_with", [{}, ALL_OPTIONS], ids=["plain", "options"])
@pytest.mark.parametrize(
    "changed",
    [
        {"activation": "tanh"},
        {"activation": "bogus"},
        {"activation": ["logistic", "relu", "tanh"]},
        {"dropout": 0.5},
        {"batch_norm": True},
        {"batch_norm": False},
        {"hidden_layer_sizes": (3,)},
    ],
)
def test_set_params_after_fit_leaves_predictions_unchanged(
    Estimator, data, fitted_with, changed
):
    """Predict uses the network recorded at fit, never the current parameters."""
    X, y = data
    estimator = small(Estimator, **fitted_with).fit(X, y)
    before = outputs(estimator, X)
    estimator.set_params(**changed)
    for got, expected in zip(outputs(estimator, X), before, strict=True):
        assert_array_equal(got, expected)


@shared
def test_default_fit_equals_explicit_per_layer_lists(Estimator, data):
    """A name and a rate for all layers mean the same as one per layer."""
    X, y = data
    default = small(Estimator, hidden_layer_sizes=(8, 5)).fit(X, y)
    explicit = small(
        Estimator,
        hidden_layer_sizes=(8, 5),
        activation=["relu", "relu"],
        dropout=[0.0, 0.0],
    ).fit(X, y)
    assert_same_parameters(default, explicit)
    assert default.loss_curve_ == explicit.loss_curve_
    assert default.batch_norm_scales_ is explicit.batch_norm_scales_ is None


@shared
@pytest.mark.parametrize("dropout", [0.3, [0.3, 0.0], [0.0, 0.3]])
def test_dropout_is_reproducible_and_random(Estimator, data, dropout):
    X, y = data
    params = {"hidden_layer_sizes": (8, 5), "max_iter": 10, "dropout": dropout}
    first = small(Estimator, **params).fit(X, y)
    again = small(Estimator, **params).fit(X, y)
    assert_same_parameters(first, again)
    assert first.loss_curve_ == again.loss_curve_

    # Masks change the weights: against no dropout, and against another seed.
    without = small(Estimator, **{**params, "dropout": 0.0}).fit(X, y)
    reseeded = small(Estimator, **params, random_state=1).fit(X, y)
    assert not same_parameters(first, without)
    assert not same_parameters(first, reseeded)


@shared
def test_predict_with_dropout_is_deterministic(Estimator, data):
    X, y = data
    estimator = small(Estimator, dropout=0.5).fit(X, y)
    for first, second in zip(outputs(estimator, X), outputs(estimator, X), strict=True):
        assert_array_equal(first, second)


@shared
def test_dropout_list_of_another_length_raises(Estimator, data):
    X, y = data
    estimator = small(Estimator, hidden_layer_sizes=(8, 5), dropout=[0.1, 0.1, 0.1])
    with pytest.raises(
        ValueError, match="dropout has 3 entries but hidden_layer_sizes has 2"
    ):
        estimator.fit(X, y)


@shared
@pytest.mark.parametrize(
    "dropout", [1.0, -0.1, 1.5, [0.1, 1.0], [-0.1, 0.1], [0.1, "a"]]
)
def test_dropout_outside_zero_one_raises(Estimator, data, dropout):
    X, y = data
    estimator = small(Estimator, hidden_layer_sizes=(8, 5), dropout=dropout)
    with pytest.raises(InvalidParameterError, match="'dropout' parameter"):
        estimator.fit(X, y)


def test_dropout_layer_keeps_units_at_one_minus_the_rate_and_scales_them():
    rate, n, width = 0.3, 40, 25
    A = np.random.RandomState(0).uniform(0.5, 2.0, (n, width))
    forward = compile_dropout(rate, n, width, np.random.RandomState(0))
    dropped = forward(A)
    kept = dropped != 0
    assert_allclose(dropped[kept], A[kept] / (1 - rate), rtol=1e-15)
    # 1000 Bernoulli draws: the kept share is within 4 standard errors of 0.7.
    standard_error = np.sqrt(rate * (1 - rate) / A.size)
    assert abs(kept.mean() - (1 - rate)) < 4 * standard_error
    assert not np.array_equal(forward(A) != 0, kept)


def compile_dropout(rate, n, width, rng):
    """The training-mode forward closure of one dropout layer."""
    empty = np.empty(0)
    ctx = Context(n, True, empty, empty, empty, Workspace(n, np.float64), rng, False)
    forward, _ = Dropout(rate, 0, width).compile(ctx)
    return lambda A: forward(A).copy()


def test_dropout_in_training_averages_to_prediction():
    """Inverted dropout is unbiased: over many masks, the mean training output
    of a network whose dropout feeds the linear output layer is its prediction.
    """
    n_draws = 2000
    rng = np.random.RandomState(0)
    network = Network(NetworkSpec.build([3, 10, 2], "tanh", dropout=0.4))
    theta, state = network.init(rng)
    X = rng.randn(5, 3)
    training = network.compile(5, True, theta, np.empty_like(theta), state, rng=rng)
    draws = np.array([training.forward(X).copy() for _ in range(n_draws)])
    mean = draws.mean(axis=0)
    standard_error = draws.std(axis=0, ddof=1) / np.sqrt(n_draws)
    predicted = network.predict(theta, state, X)
    assert np.all(standard_error > 0)
    assert np.all(np.abs(mean - predicted) < 4 * standard_error)


@shared
@pytest.mark.parametrize("hidden", [(8,), (8, 5)])
def test_batch_norm_sets_its_fitted_attributes(Estimator, data, hidden):
    X, y = data
    estimator = small(Estimator, hidden_layer_sizes=hidden, batch_norm=True).fit(X, y)
    for name in BATCH_NORM_ATTRIBUTES:
        arrays = getattr(estimator, name)
        assert isinstance(arrays, list)
        assert [a.shape for a in arrays] == [(n,) for n in hidden]
        assert all(a.dtype == np.float64 for a in arrays)
    assert all(np.all(v > 0) for v in estimator.batch_norm_vars_)
    # Training moved every array away from its start (1, 0, 0, 1).
    for name, start in zip(BATCH_NORM_ATTRIBUTES, [1, 0, 0, 1], strict=True):
        assert not any(np.all(a == start) for a in getattr(estimator, name))

    plain = small(Estimator, hidden_layer_sizes=hidden).fit(X, y)
    for name in BATCH_NORM_ATTRIBUTES:
        assert getattr(plain, name) is None


@shared
def test_float32_input_keeps_every_fitted_array_float32(Estimator, data):
    X, y = data
    estimator = small(Estimator, **ALL_OPTIONS).fit(X.astype(np.float32), y)
    arrays = fitted_parameters(estimator)
    assert len(arrays) == 3 + 3 + 4 * 2
    assert all(a.dtype == np.float32 for a in arrays)
    raw = outputs(estimator, X.astype(np.float32))
    assert raw[-1].dtype == np.float32


@shared
@pytest.mark.parametrize(
    "options", [{"batch_norm": True}, ALL_OPTIONS], ids=["batch-norm", "all"]
)
def test_predict_one_row_equals_that_row_in_a_batch(Estimator, data, options):
    """Prediction uses running statistics: rows never see each other.

    The tolerance is the rounding of BLAS kernels for one row against many.
    """
    X, y = data
    estimator = small(Estimator, **options).fit(X, y)
    batch = outputs(estimator, X)
    for i in range(0, X.shape[0], 11):
        for row, rows in zip(outputs(estimator, X[i : i + 1]), batch, strict=True):
            if row.dtype.kind == "f":
                assert_allclose(row[0], rows[i], rtol=1e-13, atol=1e-15)
            else:
                assert row[0] == rows[i]


@shared
@pytest.mark.parametrize(
    "options", [{"batch_norm": True}, {"dropout": 0.2}, {"dropout": [0.0, 0.2]}]
)
def test_lbfgs_rejects_batch_norm_and_dropout(Estimator, data, options):
    X, y = data
    estimator = small(Estimator, hidden_layer_sizes=(8, 5), solver="lbfgs", **options)
    with pytest.raises(ValueError, match="solver='lbfgs' needs a deterministic"):
        estimator.fit(X, y)


@shared
def test_lbfgs_accepts_zero_dropout_rates(Estimator, data):
    X, y = data
    estimator = small(
        Estimator, hidden_layer_sizes=(8, 5), solver="lbfgs", dropout=[0.0, 0.0]
    )
    assert estimator.fit(X, y).n_iter_ > 0


@shared
@pytest.mark.parametrize("first", [False, True])
@pytest.mark.parametrize("continuation", ["warm_start", "partial_fit"])
def test_continued_training_rejects_toggling_batch_norm(
    Estimator, data, first, continuation
):
    X, y = data
    estimator = small(Estimator, batch_norm=first, warm_start=True).fit(X, y)
    coefs = [W.copy() for W in estimator.coefs_]
    estimator.set_params(batch_norm=not first)
    match = f"trained with batch_norm={first}.*ask for batch_norm={not first}"
    with pytest.raises(ValueError, match=match):
        if continuation == "warm_start":
            estimator.fit(X, y)
        else:
            estimator.partial_fit(X, y)
    for W, W_before in zip(estimator.coefs_, coefs, strict=True):
        assert_array_equal(W, W_before)


@shared
def test_continued_training_with_batch_norm_moves_the_running_statistics(
    Estimator, data
):
    X, y = data
    estimator = small(Estimator, **ALL_OPTIONS, max_iter=5, warm_start=True)
    estimator.fit(X, y)
    means = [m.copy() for m in estimator.batch_norm_means_]
    estimator.fit(X, y)
    assert len(estimator.loss_curve_) == 10
    assert not any(
        np.array_equal(a, b)
        for a, b in zip(estimator.batch_norm_means_, means, strict=True)
    )


@shared
def test_pickle_round_trip_keeps_every_option(Estimator, data):
    X, y = data
    estimator = small(Estimator, **ALL_OPTIONS).fit(X, y)
    restored = pickle.loads(pickle.dumps(estimator))
    # Fitted attributes, those derived from the stored record included.
    fitted = [n for n in dir(estimator) if n.endswith("_") and not n.startswith("_")]
    assert set(BATCH_NORM_ATTRIBUTES) | {"hidden_activations_", "history_"} <= set(
        fitted
    )
    for name in fitted:
        assert_equal_nested(getattr(restored, name), getattr(estimator, name))
    for got, expected in zip(outputs(restored, X), outputs(estimator, X), strict=True):
        assert_array_equal(got, expected)


def assert_equal_nested(got, expected):
    """Equality of arrays, lists of them and plain values, to the bit."""
    if isinstance(expected, list | tuple):
        assert type(got) is type(expected) and len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            assert_equal_nested(a, b)
    elif isinstance(expected, np.ndarray):
        assert got.dtype == expected.dtype
        assert_array_equal(got, expected)
    else:
        assert got == expected


def test_batch_norm_statistics_do_not_depend_on_blas_threads():
    """Batch statistics are of the whole batch: 1 or 2 BLAS threads agree."""
    rng = np.random.RandomState(0)
    X = rng.randn(3000, 32)
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    params = {"hidden_layer_sizes": (64, 64), "batch_size": 1500, "max_iter": 3}
    fits = []
    for n_threads in (1, 2):
        with threadpool_limits(n_threads, user_api="blas"):
            model = ANNRegressor(batch_norm=True, random_state=0, **params)
            fits.append(model.fit(X, y))
    one, two = fits
    # OpenBLAS may round a product differently with more threads: equal to
    # rounding, not to the bit (row-separable networks are bit-identical).
    for a, b in zip(
        one.coefs_ + one.batch_norm_means_,
        two.coefs_ + two.batch_norm_means_,
        strict=True,
    ):
        assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_batch_norm_statistics_are_weighted_like_repeated_rows(regression_data):
    """Integer sample weights equal repeated rows, batch statistics included."""
    X, y = regression_data
    counts = np.random.RandomState(1).randint(1, 4, len(y))
    params = {"hidden_layer_sizes": (6,), "batch_size": 1000, "max_iter": 3}
    params.update(batch_norm=True, shuffle=False, random_state=0)
    weighted = ANNRegressor(**params).fit(X, y, sample_weight=counts)
    index = np.repeat(np.arange(len(y)), counts)
    repeated = ANNRegressor(**params).fit(X[index], y[index])
    for a, b in zip(
        weighted.coefs_ + weighted.batch_norm_vars_,
        repeated.coefs_ + repeated.batch_norm_vars_,
        strict=True,
    ):
        assert_allclose(a, b, rtol=1e-10)
