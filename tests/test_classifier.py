"""ANNClassifier-only behaviour; what both estimators share is in test_estimators.py."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from skann import ANNClassifier

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

TARGETS = ["binary_data", "multiclass_data", "multilabel_data"]


def small(**params):
    defaults = {"hidden_layer_sizes": (8,), "random_state": 0, "max_iter": 50}
    return ANNClassifier(**{**defaults, **params})


@pytest.mark.parametrize("target", ["binary_data", "multiclass_data"])
def test_predict_proba_rows_are_distributions_over_classes(target, request):
    X, y = request.getfixturevalue(target)
    classifier = small().fit(X, y)
    assert_array_equal(classifier.classes_, np.unique(y))
    proba = classifier.predict_proba(X)
    assert proba.shape == (X.shape[0], len(classifier.classes_))
    assert np.all((proba >= 0) & (proba <= 1))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    predicted = classifier.predict(X)
    assert_array_equal(predicted, classifier.classes_[np.argmax(proba, axis=1)])
    assert predicted.dtype == y.dtype


@pytest.mark.parametrize(
    "target, out_activation, n_outputs",
    [
        ("binary_data", "logistic", 1),
        ("multiclass_data", "softmax", 3),
        ("multilabel_data", "logistic", 3),
    ],
)
def test_output_layer_follows_the_target(target, out_activation, n_outputs, request):
    X, y = request.getfixturevalue(target)
    classifier = small(max_iter=3).fit(X, y)
    assert classifier.out_activation_ == out_activation
    assert classifier.n_outputs_ == n_outputs
    assert classifier.coefs_[-1].shape == (8, n_outputs)


def test_multilabel_predictions_are_indicator_matrices(multilabel_data):
    X, Y = multilabel_data
    classifier = small(max_iter=200, learning_rate=0.01).fit(X, Y)
    assert_array_equal(classifier.classes_, [0, 1, 2])
    predicted = classifier.predict(X)
    proba = classifier.predict_proba(X)
    assert predicted.shape == proba.shape == Y.shape
    assert set(np.unique(predicted)) <= {0, 1}
    assert_array_equal(predicted, (proba > 0.5).astype(int))
    assert classifier.score(X, Y) > 0.8


@pytest.mark.parametrize("target", TARGETS)
def test_predict_log_proba_is_the_log_of_predict_proba(target, request):
    X, y = request.getfixturevalue(target)
    classifier = small().fit(X, y)
    log_proba = classifier.predict_log_proba(X)
    assert log_proba.shape == classifier.predict_proba(X).shape
    assert_allclose(
        log_proba, np.log(classifier.predict_proba(X)), rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize("target", TARGETS)
def test_predict_log_proba_stays_finite_where_proba_underflows(target, request):
    X, y = request.getfixturevalue(target)
    classifier = small(activation="identity").fit(X, y)
    X_far = 1e3 * X
    with np.errstate(divide="ignore"):
        assert np.any(np.log(classifier.predict_proba(X_far)) == -np.inf)
    log_proba = classifier.predict_log_proba(X_far)
    assert np.all(np.isfinite(log_proba))
    assert np.all(log_proba <= 0)


def test_binary_proba_columns_are_complementary(binary_data):
    X, y = binary_data
    classifier = small().fit(X, y)
    proba = classifier.predict_proba(X)
    assert proba.shape == (X.shape[0], 2)
    assert_allclose(proba[:, 0], 1 - proba[:, 1], rtol=0, atol=1e-15)


def test_one_class_raises(binary_data):
    X, _ = binary_data
    with pytest.raises(ValueError, match="only one class"):
        small().fit(X, np.full(X.shape[0], "wine"))


def test_continuous_target_raises(regression_data):
    X, y = regression_data
    with pytest.raises(ValueError, match="Unknown label type"):
        small().fit(X, y)


def test_partial_fit_needs_classes_on_the_first_call(multiclass_data):
    X, y = multiclass_data
    classifier = small()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        classifier.partial_fit(X, y)

    # A first batch may miss classes that appear later.
    first = y != "cat"
    classifier.partial_fit(X[first], y[first], classes=["ant", "bee", "cat"])
    assert_array_equal(classifier.classes_, ["ant", "bee", "cat"])
    assert classifier.predict_proba(X).shape == (X.shape[0], 3)
    classifier.partial_fit(X, y)
    assert classifier.t_ == first.sum() + X.shape[0]

    with pytest.raises(ValueError, match="classes not in"):
        classifier.partial_fit(X, np.where(first, y, "dog"))


def test_multilabel_partial_fit(multilabel_data):
    X, Y = multilabel_data
    classifier = small()
    classifier.partial_fit(X, Y, classes=[0, 1, 2])
    classifier.partial_fit(X, Y)
    assert classifier.predict(X).shape == Y.shape
    assert classifier.out_activation_ == "logistic"


def test_warm_start_with_other_classes_raises(multiclass_data):
    X, y = multiclass_data
    classifier = small(max_iter=2, warm_start=True).fit(X, y)
    keep = y != "cat"
    with pytest.raises(ValueError, match="same classes"):
        classifier.fit(X[keep], y[keep])


def test_predict_proba_is_float32_for_float32_input(multiclass_data):
    X, y = multiclass_data
    classifier = small().fit(X.astype(np.float32), y)
    X32 = X.astype(np.float32)
    assert classifier.predict_proba(X32).dtype == np.float32
    assert classifier.predict_log_proba(X32).dtype == np.float32
