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
from skann._tabular import RECIPE
from skann.preprocessing import RobustSmoothClipScaler


@pytest.mark.parametrize(
    "make, Estimator",
    [(make_tabular_regressor, ANNRegressor), (make_tabular_classifier, ANNClassifier)],
)
def test_recipe_is_an_unfitted_pipeline_with_the_recipe_s_settings(make, Estimator):
    model = make(random_state=3, max_iter=7)
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
    assert make(n_neighbors=None)[-1].n_neighbors is None


def test_regression_recipe_clones_searches_and_pickles():
    X, y = make_regression(300, 5, noise=10.0, random_state=0)
    model = make_tabular_regressor(random_state=0, max_iter=20)
    assert clone(model).get_params()["network__alpha"] == RECIPE["alpha"]
    search = GridSearchCV(model, {"network__alpha": [0.1, 0.3]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    best = search.best_estimator_
    assert best[-1].target_scaling == "standard"
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
