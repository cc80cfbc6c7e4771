"""The articles' 15-row hyperparameter table as a GridSearchCV on the red wine."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from pathlib import Path

import numpy as np
import pytest
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
def red_wine(wine_data_home):
    """X of shape (1599, 11) and the quality scores, from SKANN_DATA_HOME."""
    data = np.loadtxt(
        Path(wine_data_home) / "winequality-red.csv", delimiter=";", skiprows=1
    )
    return data[:, :-1], data[:, -1]


@pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
def test_grid_search_over_the_articles_table_gives_finite_scores(red_wine):
    X, y = red_wine
    assert X.shape == (1599, 11)
    # The articles train with plain SGD, W <- W - lr (dL/dW + lambda W): no momentum.
    pipeline = make_pipeline(
        StandardScaler(),
        ANNRegressor(
            solver="sgd", momentum=0.0, alpha=0.1, max_iter=20, random_state=0
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
    # The best rows explain a real share of the variance of the quality score.
    assert search.best_score_ > 0.2
    assert np.all(np.isfinite(search.predict(X)))
