"""The tabular recipe: what make_tabular_regressor and make_tabular_classifier give."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skann import (
    ANNClassifier,
    ANNRegressor,
    make_tabular_classifier,
    make_tabular_regressor,
)
from skann._tabular import ALPHAS, RECIPE
from skann.model_selection import ValidationSearch
from skann.preprocessing import RobustSmoothClipScaler


@pytest.mark.parametrize(
    "make, Estimator",
    [(make_tabular_regressor, ANNRegressor), (make_tabular_classifier, ANNClassifier)],
)
def test_recipe_is_an_unfitted_search_with_the_recipe_s_settings(make, Estimator):
    search = make(random_state=3, max_iter=7)
    assert isinstance(search, ValidationSearch)
    assert search.param_grid == {"network__alpha": list(ALPHAS)}
    assert make(alpha=0.5).param_grid == {"network__alpha": [0.5]}
    model = search.estimator
    assert isinstance(model, Pipeline)
    assert isinstance(model[0], RobustSmoothClipScaler)
    network = model[-1]
    assert type(network) is Estimator
    assert not hasattr(network, "coefs_")
    params = network.get_params()
    assert params["random_state"] == 3 and params["max_iter"] == 7
    for name, value in RECIPE.items():
        if name != "max_iter":
            assert params[name] == value, name
    assert make(n_neighbors=None).estimator[-1].n_neighbors is None


def test_regression_recipe_clones_searches_and_pickles():
    X, y = make_regression(300, 5, noise=10.0, random_state=0)
    model = make_tabular_regressor(random_state=0, max_iter=20)
    assert clone(model).get_params()["estimator__network__n_neighbors"] == 16
    search = GridSearchCV(model, {"estimator__network__batch_size": [32, 64]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    best = search.best_estimator_
    assert best.best_estimator_[-1].target_scaling == "standard"
    assert len(best.validation_scores_) == len(ALPHAS)
    assert (
        best.best_params_["network__alpha"]
        == ALPHAS[int(np.argmax(best.validation_scores_))]
    )
    restored = pickle.loads(pickle.dumps(best))
    assert_array_equal(restored.predict(X), best.predict(X))


def test_classification_recipe_fits_and_predicts_probabilities():
    X, y = make_classification(300, 6, n_classes=3, n_informative=4, random_state=0)
    model = make_tabular_classifier(random_state=0, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_validation_search_keeps_the_candidate_with_the_best_validation_score():
    X, y = make_regression(300, 5, noise=10.0, random_state=0)
    base = ANNRegressor((8,), early_stopping=True, max_iter=30, random_state=0)
    search = ValidationSearch(base, {"alpha": [1e-4, 10.0, 1e3]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    best = int(np.argmax(search.validation_scores_))
    assert search.best_params_ == {"alpha": [1e-4, 10.0, 1e3][best]}
    assert search.best_estimator_.best_validation_score_ == max(
        search.validation_scores_
    )
    assert_array_equal(search.predict(X), search.best_estimator_.predict(X))
    assert not hasattr(search, "predict_proba")


def test_validation_search_needs_early_stopping():
    X, y = make_regression(50, 3, random_state=0)
    with pytest.raises(ValueError, match="early_stopping=True"):
        ValidationSearch(ANNRegressor(), {"alpha": [0.1]}).fit(X, y)
