"""scikit-learn's estimator checks on both estimators, with no expected failures."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from skann import ANNClassifier, ANNRegressor

# The checks fit tiny datasets with the default max_iter; stopping there is fine.
pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)


@parametrize_with_checks(
    [
        ANNClassifier(random_state=0),
        ANNRegressor(random_state=0),
        # One activation per hidden layer (the default has one hidden layer).
        ANNClassifier(random_state=0, activation=("tanh",)),
        ANNRegressor(random_state=0, activation=("tanh",)),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
