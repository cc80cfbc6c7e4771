"""The prediction cache: the fitted network built once, never stale, never saved."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import copy
import gc
import pickle
import threading
import warnings
import weakref

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn import config_context
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import skann._core.network as network_module
import skann._fitted as fitted_module
from skann import ANNClassifier, ANNRegressor
from skann._core._math import log1pexp, logsumexp
from skann._core.losses import LOSSES
from skann._core.network import _PREDICT_CHUNK_BYTES, Network
from skann._fitted import _PREDICTION_CACHES, _PlanStore

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

SMALL = {"hidden_layer_sizes": (7, 5), "max_iter": 15, "random_state": 0}


def _data(n=80, n_features=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, n_features)
    return X, X[:, 0] - 2 * X[:, 1] + np.sin(X[:, 2])


def _fresh_raw(model, X):
    """The raw output the way predict computed it before the cache existed.

    A network built from the fitted spec, the fitted arrays packed into new
    vectors, and Network.predict without kept plans.
    """
    network = Network(model._spec_of_fitted())
    dtype = np.result_type(X.dtype, model.coefs_[0].dtype)
    theta, state = model._fitted_vectors(network, dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        return network.predict(theta, state, X)


def _expected(model, X, method):
    """What ``method`` returned before the cache, from a freshly built network."""
    raw = _fresh_raw(model, X)
    if method == "predict":
        return model._decode(raw)
    if method == "predict_proba":
        proba = LOSSES[model._loss_name].link(raw)
        return np.hstack([1 - proba, proba]) if model._is_binary() else proba
    if model._loss_name == "log_loss":
        return raw - logsumexp(raw, axis=1)[:, np.newaxis]
    log_proba = -log1pexp(-raw)
    if model._is_binary():
        return np.hstack([-log1pexp(raw), log_proba])
    return log_proba


def _assert_same(actual, expected):
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    assert_array_equal(actual, expected, strict=True)


def _classes(kind, X):
    if kind == "binary":
        return np.where(X[:, 0] > 0, "yes", "no")
    if kind == "multiclass":
        return np.array([3, 7, 11])[np.abs(X[:, :3]).argmax(axis=1)]
    return (X[:, :3] > 0).astype(int)  # multilabel


MODELS = {
    "plain": lambda X, y: ANNRegressor(**SMALL).fit(X, y),
    "lbfgs-tanh": lambda X, y: ANNRegressor(
        solver="lbfgs", activation="tanh", **SMALL
    ).fit(X, y),
    "batch_norm": lambda X, y: ANNRegressor(batch_norm=True, **SMALL).fit(X, y),
    "dropout": lambda X, y: ANNRegressor(dropout=(0.1, 0.3), **SMALL).fit(X, y),
    "target_scaling": lambda X, y: ANNRegressor(target_scaling="standard", **SMALL).fit(
        X, np.column_stack([100 * y + 5, y**2])
    ),
    "poisson": lambda X, y: ANNRegressor(loss="poisson", **SMALL).fit(
        X, np.exp(0.3 * y)
    ),
    "no_hidden_layer": lambda X, y: ANNRegressor(
        **{**SMALL, "hidden_layer_sizes": ()}
    ).fit(X, y),
    "binary": lambda X, y: ANNClassifier(**SMALL).fit(X, _classes("binary", X)),
    "multiclass": lambda X, y: ANNClassifier(batch_norm=True, **SMALL).fit(
        X, _classes("multiclass", X)
    ),
    "multilabel": lambda X, y: ANNClassifier(**SMALL).fit(X, _classes("multilabel", X)),
}


def _methods(model):
    if isinstance(model, ANNClassifier):
        return ("predict", "predict_proba", "predict_log_proba")
    return ("predict",)


@pytest.mark.parametrize("fit_dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", MODELS)
def test_predictions_are_those_of_a_freshly_built_network(name, fit_dtype):
    X, y = _data()
    model = MODELS[name](X.astype(fit_dtype), y)
    X_test, _ = _data(n=37, seed=1)
    inputs = {
        "float64": X_test,
        "float32": X_test.astype(np.float32),
        "one row": X_test[:1],
        "one row float32": X_test[:1].astype(np.float32),
        "strided": X_test[::3],
        "fortran": np.asfortranarray(X_test),
        "csr": sp.csr_matrix(np.where(np.abs(X_test) > 1, X_test, 0)),
        "csc": sp.csc_matrix(np.where(np.abs(X_test) > 1, X_test, 0)),
    }
    for _ in range(2):  # the second round runs from the cache
        for X_in in inputs.values():
            X_check = X_in if sp.issparse(X_in) else np.asarray(X_in)
            for method in _methods(model):
                expected = _expected(model, X_check, method)
                _assert_same(getattr(model, method)(X_in), expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matrix_products_are_those_of_np_dot(dtype):
    """Prediction's np.matmul gives np.dot's bits: the same GEMM, called alike."""
    X, y = _data(n_features=20)
    model = ANNRegressor(hidden_layer_sizes=(64, 32), max_iter=5, random_state=0)
    model.fit(X.astype(dtype), y)
    for n in (2, 37, 1000):
        X_test = np.random.RandomState(n).randn(n, 20).astype(dtype)
        A = X_test
        for k, (W, b) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
            out = np.empty((n, W.shape[1]), dtype)
            np.dot(A, W, out=out)
            np.add(out, b, out=out)
            if k < len(model.coefs_) - 1:
                np.maximum(out, 0, out=out)
            A = out
        _assert_same(model.predict(X_test), A.ravel())


def test_predictions_in_several_chunks(monkeypatch):
    """Kept plans give the chunked output too, the last chunk shorter."""
    X, y = _data()
    model = ANNRegressor(**SMALL).fit(X, y)
    row_bytes = sum(model._spec_of_fitted().layer_sizes[1:]) * 8
    monkeypatch.setattr(network_module, "_PREDICT_CHUNK_BYTES", 4 * row_bytes)
    X_test, _ = _data(n=23, seed=1)
    for _ in range(2):
        for n in (23, 4, 9, 1):
            _assert_same(
                model.predict(X_test[:n]), model._decode(_fresh_raw(model, X_test[:n]))
            )


def test_the_cache_is_built_once_and_reused():
    X, y = _data()
    model = ANNRegressor(**SMALL).fit(X, y)
    assert _PREDICTION_CACHES.get(model) is None
    model.predict(X)
    cache = _PREDICTION_CACHES[model]
    model.predict(X[:3])
    model.predict(X.astype(np.float32))
    assert _PREDICTION_CACHES[model] is cache


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba"])
def test_predict_leaves_the_estimator_as_it_was(method):
    """scikit-learn's rule: predict changes nothing in the estimator's __dict__."""
    X, _ = _data()
    model = ANNClassifier(**SMALL).fit(X, _classes("multiclass", X))
    before = dict(vars(model))
    getattr(model, method)(X)
    getattr(model, method)(X[:1])
    assert vars(model).keys() == before.keys()
    assert all(vars(model)[name] is value for name, value in before.items())


def test_the_cache_goes_with_its_estimator():
    X, y = _data()
    model = ANNRegressor(**SMALL).fit(X, y)
    model.predict(X)
    cache = weakref.ref(_PREDICTION_CACHES[model])
    del model
    gc.collect()
    assert cache() is None


def test_set_params_changes_no_prediction():
    X, y = _data()
    model = ANNRegressor(**SMALL).fit(X, y)
    before = model.predict(X)
    model.set_params(
        hidden_layer_sizes=(3,), activation="tanh", batch_norm=True, dropout=0.5
    )
    _assert_same(model.predict(X), before)
    _assert_same(model.predict(X), model._decode(_fresh_raw(model, X)))


@pytest.mark.parametrize("how", ["warm_start", "partial_fit", "fit"])
def test_predictions_follow_a_new_fit(how):
    X, y = _data()
    model = ANNRegressor(**SMALL).fit(X, y)
    before = model.predict(X)
    if how == "warm_start":
        model.set_params(warm_start=True, max_iter=3).fit(X, y)
    elif how == "partial_fit":
        model.partial_fit(X, y)
    else:
        model.set_params(random_state=1).fit(X, y)
    after = model.predict(X)
    assert not np.array_equal(after, before)
    _assert_same(after, model._decode(_fresh_raw(model, X)))


def test_classifier_partial_fit_predictions_follow():
    X, _ = _data()
    y = _classes("multiclass", X)
    model = ANNClassifier(**SMALL)
    model.partial_fit(X, y, classes=np.unique(y))
    before = model.predict_proba(X)
    model.partial_fit(X, y)
    after = model.predict_proba(X)
    assert not np.array_equal(after, before)
    _assert_same(after, _expected(model, X, "predict_proba"))


def test_weights_assigned_by_hand_are_used():
    X, y = _data()
    model = ANNRegressor(batch_norm=True, **SMALL).fit(X, y)
    before = model.predict(X)
    # A new list.
    model.coefs_ = [2 * W for W in model.coefs_]
    changed = model.predict(X)
    assert not np.array_equal(changed, before)
    _assert_same(changed, model._decode(_fresh_raw(model, X)))
    # One array of a list replaced.
    model.intercepts_[-1] = model.intercepts_[-1] + 1.0
    shifted = model.predict(X)
    assert not np.array_equal(shifted, changed)
    _assert_same(shifted, model._decode(_fresh_raw(model, X)))
    # The state of batch normalisation.
    model.batch_norm_means_[0] = model.batch_norm_means_[0] + 0.5
    _assert_same(model.predict(X), model._decode(_fresh_raw(model, X)))
    # An array changed in place is seen once its list is assigned again.
    model.coefs_[1] *= 0.5
    model.coefs_ = list(model.coefs_)
    _assert_same(model.predict(X), model._decode(_fresh_raw(model, X)))


def test_weights_given_by_hand_follow_the_activation_parameter():
    """Without a fit, the spec comes from the parameters: set_params counts."""
    rng = np.random.RandomState(0)
    model = ANNRegressor(hidden_layer_sizes=(4,), activation="relu")
    model.coefs_ = [rng.randn(3, 4), rng.randn(4, 1)]
    model.intercepts_ = [rng.randn(4), rng.randn(1)]
    X = rng.randn(6, 3)
    relu = model._raw_predict(X)
    _assert_same(relu, _fresh_raw(model, X))
    model.set_params(activation="tanh")
    tanh = model._raw_predict(X)
    assert not np.array_equal(tanh, relu)
    _assert_same(tanh, _fresh_raw(model, X))


def _pickled_size(model):
    return len(pickle.dumps(model))


def test_pickle_leaves_the_cache_out():
    X, _ = _data()
    model = ANNClassifier(**SMALL).fit(X, _classes("multiclass", X))
    size = _pickled_size(model)
    expected = model.predict_proba(X)
    assert _PREDICTION_CACHES.get(model) is not None
    assert _pickled_size(model) == size
    loaded = pickle.loads(pickle.dumps(model))
    assert _PREDICTION_CACHES.get(loaded) is None
    _assert_same(loaded.predict_proba(X), expected)
    # The original's cache still works after pickling.
    _assert_same(model.predict_proba(X), expected)


def test_skops_leaves_the_cache_out():
    sio = pytest.importorskip("skops.io")
    X, y = _data()
    model = ANNRegressor(**SMALL).fit(X.astype(np.float32), y)
    size = len(sio.dumps(model))
    expected = model.predict(X)
    assert _PREDICTION_CACHES.get(model) is not None
    data = sio.dumps(model)
    assert len(data) == size
    loaded = sio.loads(data, trusted=["skann._regressor.ANNRegressor"])
    assert _PREDICTION_CACHES.get(loaded) is None
    _assert_same(loaded.predict(X), expected)
    _assert_same(
        loaded.predict(X.astype(np.float32)), model.predict(X.astype(np.float32))
    )


@pytest.mark.parametrize("how", ["copy", "deepcopy", "clone"])
def test_copies_start_without_the_cache(how):
    X, y = _data()
    model = ANNRegressor(**SMALL).fit(X, y)
    expected = model.predict(X)
    if how == "clone":
        other = clone(model).fit(X, y)
    else:
        other = getattr(copy, how)(model)
    assert _PREDICTION_CACHES.get(other) is None
    _assert_same(other.predict(X), expected)
    other.coefs_ = [W + 1 for W in other.coefs_]
    assert not np.array_equal(other.predict(X), expected)
    _assert_same(model.predict(X), expected)


@pytest.fixture
def plans(monkeypatch):
    """An empty store of plans for the test, of the usual budget."""
    store = _PlanStore(_PREDICT_CHUNK_BYTES, max_entries=64)
    monkeypatch.setattr(fitted_module, "_PLANS", store)
    return store


def _kept(store):
    """The rows of the plans kept, least recently used first."""
    assert store.nbytes <= store.budget
    assert store.nbytes == sum(entry[2] for entry in store._entries.values())
    return [rows for _, rows, _, _ in store._entries]


def test_work_arrays_kept_are_bounded(plans):
    """The plans kept hold at most the work arrays one call may use."""
    X, y = _data()
    model = ANNRegressor(**SMALL).fit(X, y)
    row_bytes = sum(model._spec_of_fitted().layer_sizes[1:]) * 8
    most = _PREDICT_CHUNK_BYTES // row_bytes
    rng = np.random.RandomState(0)
    for n in (1, most // 2, 7, most // 3):
        model.predict(rng.randn(n, X.shape[1]))
    assert _kept(plans) == [1, most // 2, 7, most // 3]
    # Beyond the budget, the least recently used go first.
    model.predict(rng.randn(most // 2 + 1, X.shape[1]))
    assert _kept(plans) == [7, most // 3, most // 2 + 1]
    model.predict(rng.randn(most // 3, X.shape[1]))
    model.predict(rng.randn(most // 2, X.shape[1]))
    assert _kept(plans) == [most // 3, most // 2]
    # Another model shares the same budget.
    other = ANNRegressor(**SMALL).fit(X, y)
    other.predict(rng.randn(most // 3 + 2, X.shape[1]))
    assert _kept(plans) == [most // 2, most // 3 + 2]


def test_number_of_plans_kept_is_bounded(monkeypatch):
    store = _PlanStore(_PREDICT_CHUNK_BYTES, max_entries=3)
    monkeypatch.setattr(fitted_module, "_PLANS", store)
    X, y = _data()
    model = ANNRegressor(**SMALL).fit(X, y)
    for n in (1, 2, 3, 4, 2):
        model.predict(X[:n])
    assert _kept(store) == [3, 4, 2]


def test_plans_of_a_collected_estimator_go(plans):
    X, y = _data()
    model = ANNRegressor(**SMALL).fit(X, y)
    model.predict(X[:3])
    other = ANNRegressor(**SMALL).fit(X, y)
    other.predict(X[:5])
    assert _kept(plans) == [3, 5]
    del model
    gc.collect()
    other.predict(X[:5])
    assert _kept(plans) == [5]
    # A new fit builds a new cache: the old one's plans go too.
    other.fit(X, y)
    gc.collect()
    other.predict(X[:4])
    assert _kept(plans) == [4]


def test_concurrent_predictions_are_right():
    X, _ = _data()
    model = ANNClassifier(**SMALL).fit(X, _classes("multiclass", X))
    rng = np.random.RandomState(0)
    batches = [rng.randn(16, X.shape[1]) for _ in range(8)]
    expected = [_expected(model, batch, "predict_proba") for batch in batches]
    failures = []

    def work(k):
        for j in range(200):
            i = (k + j) % len(batches)
            if not np.array_equal(model.predict_proba(batches[i]), expected[i]):
                failures.append(i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


# -- input validation: the short path gives the errors validate_data gives ---


@pytest.fixture
def fitted():
    X, y = _data()
    return ANNRegressor(**SMALL).fit(X, y), X


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "value, message",
    [(np.nan, "Input X contains NaN"), (np.inf, "Input X contains infinity")],
)
def test_non_finite_input_is_refused(fitted, dtype, value, message):
    model, X = fitted
    model.predict(X)  # the cache is built
    bad = X[:3].astype(dtype)
    bad[1, 2] = value
    with pytest.raises(ValueError, match=message):
        model.predict(bad)


def test_non_finite_input_with_assume_finite(fitted):
    model, X = fitted
    bad = X[:2].copy()
    bad[0, 0] = np.nan
    with (
        config_context(assume_finite=True),
        pytest.raises(ValueError, match="The network's output is not finite"),
    ):
        model.predict(bad)


def test_finite_input_whose_sum_overflows_is_accepted(fitted):
    model, X = fitted
    big = np.full((2, X.shape[1]), np.finfo(np.float32).max / 2, np.float32)
    big[1] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prediction = model.predict(big)
    _assert_same(prediction, model._decode(_fresh_raw(model, big)))


def test_wrong_number_of_features_is_refused(fitted):
    model, X = fitted
    with pytest.raises(ValueError, match="X has 4 features, but ANNRegressor is"):
        model.predict(X[:2, :4])


def test_empty_input_is_refused(fitted):
    model, X = fitted
    with pytest.raises(ValueError, match="Found array with 0 sample"):
        model.predict(X[:0])


def test_unfitted_model_is_refused():
    with pytest.raises(NotFittedError):
        ANNRegressor().predict(np.zeros((1, 3)))


def test_feature_names_are_still_checked():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    model = ANNRegressor(**SMALL).fit(frame, y)
    expected = model.predict(frame)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        _assert_same(model.predict(X), expected)
    with pytest.raises(ValueError, match="The feature names should match"):
        model.predict(frame.iloc[:, ::-1])
    plain = ANNRegressor(**SMALL).fit(X, y)
    with pytest.warns(UserWarning, match="X has feature names"):
        plain.predict(frame)
