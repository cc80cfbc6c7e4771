"""The articles' 15-row hyperparameter table as a GridSearchCV on the red wine.

It runs on the committed sample of the red wine (tests/data), which holds every
sixth row of the file, so that it needs nothing beyond the clone.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pytest
from conftest import load_wine_sample
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skann import ANNRegressor

# hidden_layer_sizes, activation, learning_rate: the rows of the articles' table,
# all with regularisation 0.1.
ARTICLE_TABLE = [
    ((50, 30, 20, 10, 5), "sigmoid", 0.1),
    ((50, 30, 20, 10, 5), "relu", 0.1),
    ((50, 30, 20, 10, 5), "tanh", 0.1),
    ((50, 30, 20, 10, 5), "tanh", 0.01),
    ((50, 30, 10, 5), "tanh", 0.01),
    ((50, 10, 5), "relu", 0.01),
    ((10,), "relu", 0.01),
    ((10,), "tanh", 0.01),
    ((10,), "sigmoid", 0.01),
    ((50, 100, 60, 30, 20, 10), "tanh", 0.01),
    ((50, 100, 60, 30, 20, 10), "relu", 0.01),
    ((50, 100, 60, 30, 20, 10), "sigmoid", 0.01),
    ((10, 30, 5), "relu", 0.001),
    ((10, 30, 5), "sigmoid", 0.001),
    ((10, 30, 5), "tanh", 0.001),
]


@pytest.fixture(scope="module")
def red_wine():
    """X of shape (267, 11) and the quality scores of the red-wine sample."""
    return load_wine_sample("red")


@pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
def test_grid_search_over_the_articles_table_gives_finite_scores(red_wine):
    X, y = red_wine
    assert X.shape == (267, 11)
    # The articles train with plain SGD, W <- W - lr (dL/dW + lambda W): no momentum.
    # A fold of the sample fits in one batch of 200, so an epoch is one step.
    pipeline = make_pipeline(
        StandardScaler(),
        ANNRegressor(
            solver="sgd", momentum=0.0, alpha=0.1, max_iter=60, random_state=0
        ),
    )
    param_grid = [
        {
            "annregressor__hidden_layer_sizes": [hidden_layer_sizes],
            "annregressor__activation": [activation],
            "annregressor__learning_rate": [learning_rate],
        }
        for hidden_layer_sizes, activation, learning_rate in ARTICLE_TABLE
    ]
    search = GridSearchCV(
        pipeline, param_grid, cv=KFold(3), n_jobs=2, error_score="raise"
    ).fit(X, y)

    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 15
    assert np.all(np.isfinite(scores))
    # The best rows explain a real share of the variance of the quality score
    # (0.26 here; cross-validation on 267 wines is noisy, hence the margin).
    assert search.best_score_ > 0.15
    assert np.all(np.isfinite(search.predict(X)))
