"""ANNRegressor-only behaviour; what both estimators share is in test_estimators.py."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from skann import ANNRegressor
from skann.exceptions import TrainingDiverged

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)


def small(**params):
    defaults = {"hidden_layer_sizes": (8,), "random_state": 0, "max_iter": 50}
    return ANNRegressor(**{**defaults, **params})


def test_one_dimensional_target_gives_one_dimensional_predictions(regression_data):
    X, y = regression_data
    for target in (y, y.reshape(-1, 1)):
        with warnings.catch_warnings():
            # A column vector y may warn that it is raveled, as scikit-learn does.
            warnings.simplefilter("ignore")
            regressor = small().fit(X, target)
        assert regressor.predict(X).shape == (X.shape[0],)
        assert regressor.n_outputs_ == 1
        assert regressor.out_activation_ == "identity"


def test_multi_output_predictions_have_one_column_per_target(multioutput_data):
    X, Y = multioutput_data
    regressor = small(max_iter=300, learning_rate=0.01).fit(X, Y)
    assert regressor.predict(X).shape == Y.shape
    assert regressor.n_outputs_ == 3
    assert regressor.coefs_[-1].shape == (8, 3)
    assert regressor.score(X, Y) > 0.8


@pytest.mark.parametrize("dtype", [str, object])
@pytest.mark.parametrize("words", [["good", "bad"], ["1.5", "2"]])
def test_string_targets_raise(regression_data, dtype, words):
    """Numeric strings were parsed silently; PRODUCT.md lists strings as invalid."""
    X, _ = regression_data
    y = np.array(words * (X.shape[0] // 2), dtype=dtype)
    with pytest.raises(ValueError, match="y holds strings"):
        small().fit(X, y)


def test_integer_targets_give_float_predictions(regression_data):
    X, y = regression_data
    regressor = small().fit(X, np.round(y).astype(int))
    assert regressor.predict(X).dtype == np.float64


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_multi_output_loss_is_summed_over_outputs(multioutput_data, solver):
    """Both libraries take the same steps; MLPRegressor reports the mean over
    outputs (its issue #8349), skann the sum that the steps descend."""
    X, Y = multioutput_data
    params = {
        "hidden_layer_sizes": (8,),
        "solver": solver,
        "alpha": 0.0,
        "batch_size": 16,
        "max_iter": 10,
        "random_state": 0,
    }
    ann = ANNRegressor(learning_rate=0.01, **params).fit(X, Y)
    mlp = MLPRegressor(learning_rate_init=0.01, **params).fit(X, Y)
    n_outputs = Y.shape[1]
    assert_allclose(ann.loss_curve_, n_outputs * np.array(mlp.loss_curve_), rtol=1e-9)
    assert ann.loss_ == pytest.approx(n_outputs * mlp.loss_, rel=1e-9)
    for W_ann, W_mlp in zip(ann.coefs_, mlp.coefs_, strict=True):
        assert_allclose(W_ann, W_mlp, rtol=1e-9, atol=1e-12)


def test_lbfgs_loss_is_the_summed_objective(multioutput_data):
    X, Y = multioutput_data
    alpha = 0.1
    regressor = small(solver="lbfgs", alpha=alpha, max_iter=60).fit(X, Y)
    residual = regressor.predict(X) - Y
    penalty = 0.5 * alpha * sum(np.sum(W**2) for W in regressor.coefs_)
    expected = (0.5 * np.sum(residual**2) + penalty) / X.shape[0]
    assert regressor.loss_ == pytest.approx(expected, rel=1e-10)
    assert regressor.score(X, Y) > 0.9


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_diverged_continuation_keeps_the_previous_state(how, regression_data):
    """A continued fit that diverges leaves the history it continued from.

    Shared code; tested on the regressor, whose squared error can explode
    (the classifier's cross-entropy grows only linearly in the logits).
    """
    X, y = regression_data
    est = ANNRegressor(
        hidden_layer_sizes=(8,), solver="sgd", learning_rate=1e-4, max_iter=5,
        random_state=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    est.set_params(learning_rate=1e8, warm_start=True)
    with pytest.raises(TrainingDiverged, match="epoch"):
        # partial_fit runs one epoch a call, so it may take a few to blow up.
        for _ in range(10):
            before = (
                list(est.loss_curve_),
                est.n_iter_,
                [W.copy() for W in est.coefs_],
            )
            if how == "warm_start":
                est.fit(1e3 * X, y)
            else:
                est.partial_fit(1e3 * X, y)
    assert est.loss_curve_ == before[0]
    assert est.n_iter_ == before[1]
    for W, W_before in zip(est.coefs_, before[2], strict=True):
        assert_array_equal(W, W_before)
