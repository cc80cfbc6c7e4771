"""scikit-learn's estimator checks on both estimators and their 0.2 options."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from skann import ANNClassifier, ANNRegressor

# The checks fit tiny datasets with the default max_iter; stopping there is fine.
pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

_DROPOUT_WEIGHTS = (
    "dropout draws one mask per row, so a row repeated k times gets k masks "
    "while a row of weight k gets one: the two fits agree only in expectation"
)


def expected_failed_checks(estimator):
    """Only dropout's sample-weight equivalence, which holds in expectation."""
    if not estimator.dropout:
        return {}
    return {
        "check_sample_weight_equivalence_on_dense_data": _DROPOUT_WEIGHTS,
        "check_sample_weight_equivalence_on_sparse_data": _DROPOUT_WEIGHTS,
    }


@parametrize_with_checks(
    [
        ANNClassifier(random_state=0),
        ANNRegressor(random_state=0),
        # One activation per hidden layer (the default has one hidden layer).
        ANNClassifier(random_state=0, activation=("relu",)),
        ANNRegressor(random_state=0, activation=("relu",)),
        ANNClassifier(random_state=0, batch_norm=True),
        ANNRegressor(random_state=0, batch_norm=True),
        ANNClassifier(random_state=0, dropout=0.1, batch_norm=True),
        ANNRegressor(random_state=0, dropout=0.1, batch_norm=True),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
