"""Regression tests for what a fuzz and scikit-learn's MLP tests found (issue 11).

Each test names the item of the hardening issue it guards.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import threading
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_info, threadpool_limits

from skann import ANNClassifier, ANNRegressor
from skann._core import optimizers
from skann.exceptions import TrainingDiverged

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)


@pytest.fixture(params=[ANNClassifier, ANNRegressor])
def Estimator(request):
    return request.param


def small(Estimator, **params):
    return Estimator(**{"hidden_layer_sizes": (5,), "random_state": 0, **params})


def fitted_state(estimator):
    """Every fitted attribute, copied, to compare before and after a call."""
    return {
        k: [np.copy(a) for a in v] if isinstance(v, list) else np.copy(v)
        for k, v in vars(estimator).items()
        if k.endswith("_") and not k.startswith("_") and v is not None
    }


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], list):
            for x, y in zip(a[key], b[key], strict=True):
                assert_array_equal(x, y)
        else:
            assert_array_equal(a[key], b[key])


# -- 5. scikit-learn's names and values point to skann's ----------------------


def test_learning_rate_init_names_the_skann_parameter(Estimator):
    """Item 5: a TypeError without a pointer for learning_rate_init."""
    with pytest.raises(TypeError, match="skann calls it 'learning_rate'"):
        Estimator(learning_rate_init=0.01)
    with pytest.raises(ValueError, match="skann calls it 'learning_rate'"):
        Estimator().set_params(learning_rate_init=0.01)


def test_schedule_name_as_learning_rate_names_the_schedule_parameter(Estimator, data):
    """Item 5: learning_rate='adaptive' said only 'must be a float'."""
    X, y = data
    with pytest.raises(InvalidParameterError, match="learning_rate_schedule"):
        small(Estimator, learning_rate="adaptive").fit(X, y)


# -- 6. weights given by hand ---------------------------------------------------


def test_partial_fit_continues_from_weights_set_by_hand(regression_data):
    """Item 6: AttributeError '_progress' when coefs_ were set on an unfitted model."""
    X, y = regression_data
    rng = np.random.RandomState(0)
    model = ANNRegressor(hidden_layer_sizes=(4,), solver="sgd", random_state=0)
    model.coefs_ = [rng.randn(4, 4), rng.randn(4, 1)]
    model.intercepts_ = [np.zeros(4), np.zeros(1)]
    start = [W.copy() for W in model.coefs_]
    model.partial_fit(X, y)
    assert model.n_iter_ == 1
    assert model.coefs_[0].shape == (4, 4)
    assert not np.array_equal(model.coefs_[0], start[0])


# -- 7. warning texts -----------------------------------------------------------


def test_convergence_warning_has_scikit_learns_text(Estimator, data):
    """Item 7: pytest.warns(match=...) written for MLPRegressor must match."""
    X, y = data
    with pytest.warns(
        ConvergenceWarning,
        match=r"Stochastic Optimizer: Maximum iterations \(2\) reached and the "
        r"optimization hasn't converged yet\.",
    ):
        small(Estimator, max_iter=2).fit(X, y)


# -- 10. zero-weight batches ----------------------------------------------------


def test_zero_weight_batch_of_one_is_skipped(regression_data):
    """Item 10: ZeroDivisionError with batch_size=1 and a zero weight."""
    X, y = regression_data
    weights = np.r_[0.0, np.ones(len(y) - 1)]
    model = ANNRegressor((5,), batch_size=1, max_iter=3, shuffle=False, random_state=0)
    model.fit(X, y, sample_weight=weights)
    assert np.isfinite(model.loss_curve_).all()


def test_zero_weight_batch_contributes_nothing(binary_data):
    """Item 10: a classifier's all-zero first minibatch divided by zero."""
    X, y = binary_data
    weights = np.r_[np.zeros(10), np.ones(len(y) - 10)]
    params = {"batch_size": 10, "max_iter": 3, "shuffle": False, "solver": "sgd"}
    skipped = small(ANNClassifier, **params).fit(X, y, sample_weight=weights)
    # Without shuffling, the first batch holds exactly the zero-weight rows:
    # dropping them must give the same steps (the epoch loss is averaged
    # over all rows, so only the weights are compared).
    dropped = small(ANNClassifier, **params).fit(X[10:], y[10:])
    for a, b in zip(skipped.coefs_, dropped.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


# -- 11. validation on every call that trains ---------------------------------


def test_partial_fit_validates_parameters_after_fit(regression_data):
    """Item 11: partial_fit on a fitted model skipped parameter validation."""
    X, y = regression_data
    model = small(ANNRegressor, max_iter=2).fit(X, y)
    with pytest.raises(InvalidParameterError, match="batch_size"):
        model.set_params(batch_size=0).partial_fit(X, y)
    with pytest.raises(InvalidParameterError, match="alpha"):
        model.set_params(batch_size="auto", alpha=-1).partial_fit(X, y)


def test_predict_uses_the_fitted_network_not_current_parameters(Estimator, data):
    """Item 11: set_params(activation='bogus') then predict raised KeyError."""
    X, y = data
    model = small(Estimator, max_iter=5).fit(X, y)
    expected = model.predict(X)
    for activation in ("bogus", "tanh", ["relu", "relu"]):
        model.set_params(activation=activation, batch_norm=True, dropout=0.5)
        assert_array_equal(model.predict(X), expected)


# -- 12. inputs that raised the wrong error ------------------------------------


def test_boolean_batch_size_is_refused(Estimator, data):
    """Item 12: batch_size=True raised a TypeError deep inside training."""
    X, y = data
    with pytest.raises(InvalidParameterError, match="batch_size"):
        small(Estimator, batch_size=True).fit(X, y)


def test_sparse_multioutput_target_is_fitted_as_dense(multioutput_data):
    """Item 12: a 2-column sparse y raised UFuncTypeError."""
    X, Y = multioutput_data
    sparse = small(ANNRegressor, max_iter=5).fit(X, sp.csr_matrix(Y))
    dense = small(ANNRegressor, max_iter=5).fit(X, Y)
    assert_array_equal(sparse.predict(X), dense.predict(X))


def test_partial_fit_with_targets_of_another_kind_is_refused(binary_data):
    """Item 12: multilabel y after a binary fit raised a matmul shape error."""
    X, y = binary_data
    model = small(ANNClassifier, max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="targets of the same kind"):
        model.partial_fit(X, np.column_stack([y, 1 - y]))


def test_categorical_dataframe_predicts(regression_data):
    """Item 12: numeric categorical columns raised TypeError at predict."""
    pd = pytest.importorskip("pandas")
    X, y = regression_data
    frame = pd.DataFrame(X, columns=list("abcd"))
    frame["a"] = pd.Categorical(np.arange(len(y)) % 3)
    model = small(ANNRegressor, max_iter=5).fit(frame, y)
    assert model.predict(frame).shape == y.shape


def test_early_stopping_without_validation_share_names_the_parameter(Estimator, data):
    """Item 12: validation_fraction=0 with early stopping named test_size."""
    X, y = data
    with pytest.raises(ValueError, match="validation_fraction"):
        small(Estimator, early_stopping=True, validation_fraction=0.0).fit(X, y)


# -- 13, 14. targets and weights checked before training ----------------------


def test_missing_targets_are_named_not_called_divergence(regression_data):
    """Item 13: y with None was reported as 'Training diverged'."""
    X, y = regression_data
    y = y.astype(object)
    y[3] = None
    with pytest.raises(ValueError, match="missing or infinite values in 1 of"):
        small(ANNRegressor).fit(X, y)


def test_overflowing_sample_weights_are_named(Estimator, data):
    """Item 13: weights of 1e308 were reported as 'Training diverged'."""
    X, y = data
    with pytest.raises(ValueError, match="sum overflows"):
        small(Estimator).fit(X, y, sample_weight=np.full(len(y), 1e308))


# -- 15. a fitted model never returns NaN or inf ------------------------------


def test_predictions_that_overflow_raise(regression_data):
    """Item 15: inputs near the float limit gave inf or NaN predictions."""
    X, y = regression_data
    model = small(ANNRegressor, activation="relu", max_iter=5).fit(X, y)
    # Opposite signs make the first layer's sums inf - inf for some units.
    huge = np.tile([1.7e308, -1.7e308, 1.7e308, -1.7e308], (3, 1))
    with pytest.raises(ValueError, match="Scale the inputs"):
        model.predict(huge)


def test_float32_predictions_that_overflow_raise(regression_data):
    """Item 15: a float32 model given 3e38 returned inf."""
    X, y = regression_data
    model = small(ANNRegressor, max_iter=5).fit(X.astype(np.float32), y)
    with pytest.raises(ValueError, match="Scale the inputs"):
        model.predict(np.full((2, 4), 3e38, dtype=np.float32))


# -- 16-18. state integrity -----------------------------------------------------


def test_rejected_refit_keeps_the_previous_model(multiclass_data):
    """Item 16: a refit on one class left a model predicting class 0 everywhere."""
    X, y = multiclass_data
    model = small(ANNClassifier, max_iter=5).fit(X, y)
    before, state = model.predict(X), fitted_state(model)
    with pytest.raises(ValueError, match="only one class"):
        model.fit(X, np.zeros(len(y)))
    assert_array_equal(model.predict(X), before)
    assert_same_state(fitted_state(model), state)


def test_rejected_fresh_fit_leaves_the_model_unfitted(Estimator, data):
    """Item 16: check_is_fitted must fail after a fresh fit that raised."""
    X, y = data
    model = small(Estimator)
    with pytest.raises(ValueError):
        model.fit(X[:, :0], y)
    with pytest.raises(Exception, match="not fitted"):
        check_is_fitted(model)


@pytest.mark.parametrize("warm_start", [False, True])
def test_keyboard_interrupt_leaves_the_previous_state(
    Estimator, data, monkeypatch, warm_start
):
    """Item 17: Ctrl-C left half-fitted attributes (loss_curve_ grown, no coefs_)."""
    X, y = data
    model = small(Estimator, max_iter=3, warm_start=warm_start)
    if warm_start:
        model.fit(X, y)
    state = fitted_state(model)
    calls = []
    original = optimizers.Adam.step

    def interrupted(self, theta, grad, learning_rate):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, theta, grad, learning_rate)

    monkeypatch.setattr(optimizers.Adam, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y)
    assert_same_state(fitted_state(model), state)
    if not warm_start:
        with pytest.raises(Exception, match="not fitted"):
            check_is_fitted(model)


def test_switching_early_stopping_between_warm_fits(Estimator, data):
    """Item 18: toggling early_stopping under warm_start raised AttributeError."""
    X, y = data
    model = small(Estimator, max_iter=4, warm_start=True).fit(X, y)
    model.set_params(early_stopping=True).fit(X, y)
    assert len(model.validation_scores_) == model.n_iter_
    model.set_params(early_stopping=False).fit(X, y)
    assert model.validation_scores_ is None
    assert len(model.loss_curve_) == 3 * 4


def test_diverged_warm_start_after_lbfgs_keeps_the_lbfgs_model(regression_data):
    """Item 18: a diverged sgd warm start after lbfgs later predicted 3e99."""
    X, y = regression_data
    model = small(ANNRegressor, solver="lbfgs", max_iter=50, warm_start=True)
    model.fit(X, y)
    before = model.predict(X)
    model.set_params(solver="sgd", learning_rate=1e6, momentum=0.0)
    with pytest.raises(TrainingDiverged):
        model.fit(X, y)
    assert_array_equal(model.predict(X), before)


# -- 19, 20. threads ----------------------------------------------------------


def _blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_fits_in_two_threads_restore_blas_threads(regression_data):
    """Item 19: two concurrent fits left BLAS limited to one thread."""
    X, y = regression_data
    X = np.tile(X, (50, 1))
    y = np.tile(y, 50)
    before = _blas_threads()
    barrier = threading.Barrier(2)
    errors = []

    def fit():
        try:
            barrier.wait()
            small(ANNRegressor, max_iter=20).fit(X, y)
        except (ValueError, RuntimeError) as exc:
            errors.append(exc)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            threads = [threading.Thread(target=fit) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    assert not errors
    assert _blas_threads() == before


def test_weights_do_not_depend_on_blas_threads():
    """Item 20: 1 and 2 BLAS threads gave weights 1.5e-16 apart."""
    rng = np.random.RandomState(0)
    # Full batches large enough to be split into row groups.
    X = rng.randn(6000, 20)
    y = np.sin(X[:, 0]) + X[:, 1]
    params = {"hidden_layer_sizes": (64, 64), "batch_size": 6000, "max_iter": 3}
    with threadpool_limits(1, user_api="blas"):
        one = small(ANNRegressor, **params).fit(X, y)
    with threadpool_limits(2, user_api="blas"):
        two = small(ANNRegressor, **params).fit(X, y)
    for a, b in zip(
        one.coefs_ + one.intercepts_, two.coefs_ + two.intercepts_, strict=True
    ):
        assert_array_equal(a, b)


# -- 21. memory of predict ------------------------------------------------------


def test_predict_memory_is_bounded():
    """Item 21: predict held two full n x 256 arrays (26 times the input)."""
    rng = np.random.RandomState(0)
    X_fit = rng.randn(50, 20)
    model = ANNRegressor((256, 256), max_iter=1, random_state=0)
    model.fit(X_fit, X_fit[:, 0])
    X = rng.randn(200_000, 20)
    expected_head = model.predict(X[:1000])
    tracemalloc.start()
    try:
        y = model.predict(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Without chunks: two arrays of 200,000 x 256 doubles, 800 MiB.
    assert peak - y.nbytes <= 64 * 2**20
    assert_array_equal(y[:1000], expected_head)
