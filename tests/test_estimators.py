"""Behaviour shared by ANNClassifier and ANNRegressor, tested on both."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import inspect
import pickle
import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import InvalidParameterError

from skann import ANNClassifier, ANNRegressor

ESTIMATORS = [ANNClassifier, ANNRegressor]

pytestmark = [
    pytest.mark.parametrize("Estimator", ESTIMATORS),
    pytest.mark.filterwarnings("ignore", category=ConvergenceWarning),
]


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


def first_call(estimator, y):
    """The extra arguments a first ``partial_fit`` call needs."""
    return {"classes": np.unique(y)} if isinstance(estimator, ANNClassifier) else {}


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_fit_learns_an_easy_problem(Estimator, data, solver):
    X, y = data
    estimator = small(Estimator, solver=solver, learning_rate=0.01, max_iter=100)
    estimator.fit(X, y)
    assert estimator.loss_curve_[-1] < 0.5 * estimator.loss_curve_[0]
    assert estimator.loss_ == estimator.loss_curve_[-1]
    assert estimator.score(X, y) > 0.8


def test_fitted_attributes_describe_the_network(Estimator, data):
    X, y = data
    estimator = small(Estimator, hidden_layer_sizes=(8, 5), max_iter=3).fit(X, y)
    n_outputs = 3 if Estimator is ANNClassifier else 1
    assert [W.shape for W in estimator.coefs_] == [(4, 8), (8, 5), (5, n_outputs)]
    assert [b.shape for b in estimator.intercepts_] == [
        (W.shape[1],) for W in estimator.coefs_
    ]
    assert estimator.n_layers_ == 4
    assert estimator.n_outputs_ == n_outputs
    assert estimator.n_features_in_ == 4
    assert estimator.n_iter_ == len(estimator.loss_curve_) == 3
    assert estimator.t_ == 3 * X.shape[0]


def test_same_random_state_gives_identical_coefs(Estimator, data):
    X, y = data
    first = small(Estimator, random_state=0).fit(X, y)
    second = small(Estimator, random_state=0).fit(X, y)
    other = small(Estimator, random_state=1).fit(X, y)
    for W, W_again, W_other in zip(
        first.coefs_, second.coefs_, other.coefs_, strict=True
    ):
        assert_array_equal(W, W_again)
        assert not np.array_equal(W, W_other)
    assert first.loss_curve_ == second.loss_curve_


def test_sigmoid_is_an_alias_of_logistic(Estimator, data):
    X, y = data
    sigmoid = small(Estimator, activation="sigmoid").fit(X, y)
    logistic = small(Estimator, activation="logistic").fit(X, y)
    for W_sigmoid, W_logistic in zip(sigmoid.coefs_, logistic.coefs_, strict=True):
        assert_array_equal(W_sigmoid, W_logistic)
    for got, expected in zip(outputs(sigmoid, X), outputs(logistic, X), strict=True):
        assert_array_equal(got, expected)


def test_pickle_round_trip_predicts_identically(Estimator, data):
    X, y = data
    estimator = small(Estimator).fit(X, y)
    loaded = pickle.loads(pickle.dumps(estimator))
    assert loaded.get_params() == estimator.get_params()
    for got, expected in zip(outputs(loaded, X), outputs(estimator, X), strict=True):
        assert_array_equal(got, expected)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_X_raises(Estimator, data, value):
    X, y = data
    X_bad = X.copy()
    X_bad[3, 1] = value
    with pytest.raises(ValueError, match=r"Input X contains (NaN|infinity)"):
        small(Estimator).fit(X_bad, y)
    estimator = small(Estimator).fit(X, y)
    with pytest.raises(ValueError, match=r"Input X contains (NaN|infinity)"):
        estimator.predict(X_bad)


def test_empty_X_raises(Estimator, data):
    X, y = data
    with pytest.raises(ValueError, match="0 sample"):
        small(Estimator).fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="0 feature"):
        small(Estimator).fit(X[:, :0], y)


def test_inconsistent_numbers_of_samples_raise(Estimator, data):
    X, y = data
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        small(Estimator).fit(X, y[:-1])


def test_wrong_number_of_features_at_predict_raises(Estimator, data):
    X, y = data
    estimator = small(Estimator).fit(X, y)
    with pytest.raises(ValueError, match=r"X has 3 features, but .* is expecting 4"):
        estimator.predict(X[:, :3])


@pytest.mark.parametrize(
    "param, value",
    [
        ("activation", "nope"),
        ("hidden_layer_sizes", (0,)),
        ("hidden_layer_sizes", (5, -1)),
        ("hidden_layer_sizes", 0),
        ("hidden_layer_sizes", (2.5,)),
        ("learning_rate", 0),
        ("learning_rate", "constant"),
        ("learning_rate_schedule", "annealing"),
        ("solver", "x"),
        ("alpha", -1.0),
        ("batch_size", 0),
        ("max_iter", 0),
        ("momentum", 1.5),
        ("validation_fraction", 1.0),
        ("beta_1", 1.0),
        ("beta_2", -0.1),
        ("epsilon", 0.0),
        ("tol", -1.0),
        ("n_iter_no_change", 0),
        ("max_fun", 0),
        ("shuffle", "yes"),
    ],
)
def test_invalid_hyperparameter_raises_naming_it(Estimator, data, param, value):
    X, y = data
    estimator = small(Estimator, **{param: value})
    match = f"The '{param}' parameter of {Estimator.__name__} must be"
    with pytest.raises(InvalidParameterError, match=match):
        estimator.fit(X, y)


@pytest.mark.parametrize(
    "kind, match",
    [
        ("negative", "Negative values in data passed to `sample_weight`"),
        ("zero", "(at least one non-zero|positive sum)"),
        ("short", r"sample_weight.shape == \(\d+,\), expected \(\d+,\)"),
    ],
)
def test_invalid_sample_weight_raises(Estimator, data, kind, match):
    X, y = data
    sample_weight = {
        "negative": -np.ones(len(X)),
        "zero": np.zeros(len(X)),
        "short": np.ones(len(X) - 1),
    }[kind]
    with pytest.raises(ValueError, match=match):
        small(Estimator).fit(X, y, sample_weight=sample_weight)


# Overflow warnings are expected on the way to the divergence error.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_diverging_fit_raises_naming_epoch_and_learning_rate(Estimator, data):
    X, y = data
    y = 1e6 * y if Estimator is ANNRegressor else y
    estimator = small(Estimator, solver="sgd", learning_rate=1e3)
    with pytest.raises(ValueError, match=r"(?s)epoch \d+.*learning_rate"):
        estimator.fit(1e3 * X, y)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_diverged_fit_leaves_the_estimator_unfitted(Estimator, data):
    """Nothing half-trained is left behind to predict from."""
    X, y = data
    y = 1e6 * y if Estimator is ANNRegressor else y
    estimator = small(Estimator, solver="sgd", learning_rate=1e3)
    with pytest.raises(ValueError, match="epoch"):
        estimator.fit(1e3 * X, y)
    with pytest.raises(NotFittedError):
        estimator.predict(X)


def extreme_inputs(n_features, scale, rng):
    """100 rows of magnitude ``scale`` times 0.5 to 1.7, with random signs."""
    signs = rng.choice([-1.0, 1.0], size=(100, n_features))
    return scale * signs * rng.uniform(0.5, 1.7, size=(100, n_features))


@pytest.mark.parametrize("activation", ["identity", "relu", "tanh", "logistic"])
def test_predictions_for_large_inputs_are_finite(Estimator, data, activation):
    X, y = data
    estimator = small(Estimator, activation=activation).fit(X, y)
    rng = np.random.RandomState(0)
    X_large = np.vstack([extreme_inputs(4, scale, rng) for scale in (1e3, 1e100)])
    for prediction in outputs(estimator, X_large):
        if prediction.dtype.kind == "f":
            assert np.all(np.isfinite(prediction))


@pytest.mark.parametrize("activation", ["identity", "relu", "tanh", "logistic"])
def test_predictions_never_silently_nan_at_the_float_limit(Estimator, data, activation):
    """Inputs near the largest float overflow the network: the estimator may
    refuse them with a ValueError, but must not answer NaN."""
    X, y = data
    estimator = small(Estimator, activation=activation).fit(X, y)
    X_edge = extreme_inputs(4, 1e308, np.random.RandomState(0))
    try:
        with np.errstate(all="ignore"):
            predictions = outputs(estimator, X_edge)
    except ValueError:
        return
    for prediction in predictions:
        if prediction.dtype.kind == "f":
            is_nan = np.isnan(prediction).reshape(len(X_edge), -1).any(axis=1)
            assert not is_nan.any(), f"NaN predicted for inputs {X_edge[is_nan][:2]}"


def test_float32_input_trains_and_predicts_in_float32(Estimator, data):
    X, y = data
    X32 = X.astype(np.float32)
    estimator = small(Estimator).fit(X32, y)
    assert all(W.dtype == np.float32 for W in estimator.coefs_)
    assert all(b.dtype == np.float32 for b in estimator.intercepts_)
    numeric = [out for out in outputs(estimator, X32) if out.dtype.kind == "f"]
    assert numeric
    assert all(out.dtype == np.float32 for out in numeric)

    estimator64 = small(Estimator).fit(X, y)
    assert estimator64.coefs_[0].dtype == np.float64
    assert_allclose(estimator.coefs_[0], estimator64.coefs_[0], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("sparse_format", [sp.csr_matrix, sp.csc_matrix])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_input_gives_the_same_result_as_dense(
    Estimator, data, sparse_format, solver
):
    X, y = data
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    dense = small(Estimator, solver=solver, max_iter=20).fit(X, y)
    sparse = small(Estimator, solver=solver, max_iter=20).fit(sparse_format(X), y)
    for W_sparse, W_dense in zip(sparse.coefs_, dense.coefs_, strict=True):
        assert_allclose(W_sparse, W_dense, rtol=1e-9, atol=1e-12)
    for got, expected in zip(
        outputs(dense, sparse_format(X)), outputs(dense, X), strict=True
    ):
        if got.dtype.kind == "f":
            assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
        else:
            assert_array_equal(got, expected)


def test_dataframe_sets_feature_names_in(Estimator, data):
    X, y = data
    columns = ["alcohol", "pH", "sulphates", "density"]
    frame = pd.DataFrame(X, columns=columns)
    estimator = small(Estimator).fit(frame, y)
    assert_array_equal(estimator.feature_names_in_, columns)
    assert estimator.n_features_in_ == 4
    for got, expected in zip(
        outputs(estimator, frame), outputs(estimator, X), strict=True
    ):
        assert_array_equal(got, expected)

    plain = small(Estimator).fit(X, y)
    assert not hasattr(plain, "feature_names_in_")


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_calls_equal_fit_epochs(Estimator, data, solver):
    """Without shuffling, n partial_fit calls are n epochs of fit."""
    X, y = data
    params = {
        "solver": solver,
        "shuffle": False,
        "batch_size": 16,
        "learning_rate": 0.01,
    }
    fitted = small(Estimator, max_iter=3, **params).fit(X, y)
    incremental = small(Estimator, **params)
    incremental.partial_fit(X, y, **first_call(incremental, y))
    for _ in range(2):
        incremental.partial_fit(X, y)
    assert incremental.n_iter_ == 1
    assert incremental.t_ == fitted.t_ == 3 * X.shape[0]
    assert_allclose(incremental.loss_curve_, fitted.loss_curve_, rtol=1e-12)
    for W_incremental, W_fitted in zip(incremental.coefs_, fitted.coefs_, strict=True):
        assert_allclose(W_incremental, W_fitted, rtol=1e-12, atol=1e-15)


def test_partial_fit_is_unavailable_for_lbfgs(Estimator):
    assert not hasattr(small(Estimator, solver="lbfgs"), "partial_fit")
    assert hasattr(small(Estimator, solver="adam"), "partial_fit")


def test_partial_fit_rejects_early_stopping(Estimator, data):
    X, y = data
    estimator = small(Estimator, early_stopping=True)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        estimator.partial_fit(X, y, **first_call(estimator, y))


def test_warm_start_continues_training(Estimator, data):
    X, y = data
    estimator = small(Estimator, max_iter=5, learning_rate=0.01).fit(X, y)
    first_curve = list(estimator.loss_curve_)
    estimator.set_params(warm_start=True)
    estimator.fit(X, y)
    curve = estimator.loss_curve_
    assert len(curve) == 10
    assert curve[:5] == first_curve
    # The continuation starts where the first fit ended, not from scratch.
    assert abs(curve[5] - curve[4]) < abs(curve[5] - curve[0])
    assert curve[-1] < first_curve[-1]

    estimator.set_params(warm_start=False)
    estimator.fit(X, y)
    assert estimator.loss_curve_ == first_curve


def test_warm_start_rejects_a_different_architecture(Estimator, data):
    X, y = data
    estimator = small(Estimator, max_iter=2, warm_start=True).fit(X, y)
    estimator.set_params(hidden_layer_sizes=(3,))
    with pytest.raises(ValueError, match="Cannot continue training"):
        estimator.fit(X, y)


def test_early_stopping_restores_the_best_weights(Estimator, data):
    X, y = data
    estimator = small(
        Estimator,
        activation="tanh",
        learning_rate=0.05,
        max_iter=200,
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=5,
    ).fit(X, y)
    scores = estimator.validation_scores_
    assert len(scores) == estimator.n_iter_ == len(estimator.loss_curve_)
    assert estimator.best_validation_score_ == max(scores)
    assert estimator.best_loss_ is None
    # Training went past the best epoch, so restoring it matters.
    assert scores[-1] < estimator.best_validation_score_

    # Fitting draws the initial weights from the seed, then splits off the
    # validation set; multiclass targets are not stratified, as in scikit-learn.
    rng = np.random.RandomState(0)
    rng.uniform(size=sum(W.size for W in estimator.coefs_ + estimator.intercepts_))
    _, X_val, _, y_val = train_test_split(X, y, test_size=0.25, random_state=rng)
    assert estimator.score(X_val, y_val) == pytest.approx(
        estimator.best_validation_score_, rel=1e-12
    )


def test_verbose_prints_the_loss_every_epoch(Estimator, data, capsys):
    X, y = data
    estimator = small(Estimator, max_iter=4, verbose=True).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    loss_lines = [line for line in lines if "loss" in line]
    assert len(loss_lines) == estimator.n_iter_ == 4
    for epoch, (line, loss) in enumerate(
        zip(loss_lines, estimator.loss_curve_, strict=True), 1
    ):
        assert line == f"Iteration {epoch}, loss = {loss:.8f}"

    small(Estimator, max_iter=4).fit(X, y)
    assert capsys.readouterr().out == ""


def test_lbfgs_loss_curve_does_not_increase(Estimator, data):
    X, y = data
    estimator = small(Estimator, solver="lbfgs", max_iter=50).fit(X, y)
    curve = np.array(estimator.loss_curve_)
    assert len(curve) == estimator.n_iter_ > 1
    assert np.all(np.diff(curve) <= 1e-12 * np.abs(curve[:-1]))
    assert curve[-1] < 0.5 * curve[0]


def test_per_sample_sgd_works(Estimator, data):
    X, y = data
    estimator = small(
        Estimator, solver="sgd", batch_size=1, learning_rate=0.01, max_iter=5
    ).fit(X, y)
    assert estimator.t_ == 5 * X.shape[0]
    assert estimator.loss_curve_[-1] < 0.5 * estimator.loss_curve_[0]


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_batch_size_at_least_n_samples_is_full_batch(Estimator, data, solver):
    X, y = data
    n_samples = X.shape[0]
    params = {"solver": solver, "max_iter": 10}
    exact = small(Estimator, batch_size=n_samples, shuffle=False, **params).fit(X, y)
    # Shuffling cannot change a step taken on the whole set at once.
    large = small(Estimator, batch_size=10 * n_samples, **params).fit(X, y)
    for W_large, W_exact in zip(large.coefs_, exact.coefs_, strict=True):
        assert_allclose(W_large, W_exact, rtol=1e-12, atol=1e-15)
    assert large.t_ == 10 * n_samples


def test_hitting_max_iter_warns(Estimator, data):
    X, y = data
    with pytest.warns(
        ConvergenceWarning,
        match=r"Stochastic Optimizer: Maximum iterations \(2\) reached",
    ):
        small(Estimator, max_iter=2).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        small(Estimator, solver="lbfgs", max_iter=2).fit(X, y)


def test_unfitted_estimator_raises_not_fitted(Estimator, data):
    X, _ = data
    with pytest.raises(NotFittedError):
        small(Estimator).predict(X)


def _parameters_section(docstring):
    """The text between the Parameters and Attributes headings."""
    text = inspect.cleandoc(docstring)
    match = re.search(r"Parameters\n-{10}\n(.*?)\nAttributes\n-{10}\n", text, re.DOTALL)
    assert match, "no Parameters section followed by an Attributes section"
    return match.group(1)


def _entries(section):
    """Each parameter's entry (its line and description), by name."""
    parts = re.split(r"^(?=\w+ : )", section, flags=re.MULTILINE)
    return {part.split(" : ")[0]: part.strip() for part in parts if " : " in part}


def test_parameters_sections_of_both_docstrings_are_equal(Estimator):
    """Each class carries its full Parameters section; the shared entries agree.

    Parameters of one estimator only (the regressor's loss, the classifier's
    class_weight) come after the shared ones.
    """
    own = _entries(_parameters_section(Estimator.__doc__))
    regressor = _entries(_parameters_section(ANNRegressor.__doc__))
    classifier = _entries(_parameters_section(ANNClassifier.__doc__))
    shared = [name for name in regressor if name in classifier]
    assert shared == [name for name in classifier if name in regressor]
    for name in shared:
        assert regressor[name] == classifier[name], name
    assert set(own) == set(inspect.signature(Estimator).parameters)
    for name in inspect.signature(Estimator).parameters:
        assert name in own, f"{name} is not documented"
