"""scikit-learn's estimator checks on both estimators and their 0.2 options."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from skann import ANNClassifier, ANNRegressor

# The checks fit tiny datasets with the default max_iter; stopping there is fine.
pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

_DROPOUT_WEIGHTS = (
    "dropout draws one mask per row, so a row repeated k times gets k masks "
    "while a row of weight k gets one: the two fits agree only in expectation"
)
_BALANCED_PARTIAL_FIT = (
    "class_weight='balanced' needs the whole training set, so partial_fit "
    "rejects it by design (as SGDClassifier's does); this check calls partial_fit"
)
_MULTILABEL_CLASS_WEIGHT = (
    "a multilabel row has no single class to weigh, so class_weight with a "
    "multilabel y raises by design; this check fits multilabel targets"
)
_BALANCED_COUNTS_BUG = (
    "known bug: class_weight='balanced' counts the classes without "
    "sample_weight (LogisticRegression weighs the counts), so a row of weight "
    "k and a row repeated k times give different class weights"
)
_COLUMN_Y_BUG = (
    "known bug: class_weight with a column-vector y of shape (n, 1) fails in "
    "the loss (shapes (n, 1) and (n,) not aligned)"
)
_TARGET_SCALING_WEIGHTS_BUG = (
    "known bug: target_scaling='standard' takes the targets' mean and standard "
    "deviation without sample_weight, so a row of weight k and a row repeated "
    "k times scale the targets differently"
)
_POISSON_TAG_BUG = (
    "known bug: ANNRegressor does not set target_tags.positive_only for "
    "loss='poisson', so this check fits negative targets, which it rejects"
)
_POISSON_MULTIOUTPUT = (
    "check_regressor_multioutput fits make_regression's targets without "
    "applying target_tags.positive_only; loss='poisson' rejects negative y"
)


def expected_failed_checks(estimator):
    """Checks an option fails by design, each with its reason; and known bugs.

    The known-bug entries go once skann is fixed (the strict xfail tests in
    test_training_options.py fail then, as a reminder).
    """
    failed = {}
    if estimator.dropout:
        failed["check_sample_weight_equivalence_on_dense_data"] = _DROPOUT_WEIGHTS
        failed["check_sample_weight_equivalence_on_sparse_data"] = _DROPOUT_WEIGHTS
    if getattr(estimator, "class_weight", None) is not None:
        for check in [
            "check_classifiers_multilabel_representation_invariance",
            "check_classifiers_multilabel_output_format_predict",
            "check_classifiers_multilabel_output_format_predict_proba",
            "check_classifiers_multilabel_output_format_decision_function",
        ]:
            failed[check] = _MULTILABEL_CLASS_WEIGHT
        failed["check_supervised_y_2d"] = _COLUMN_Y_BUG
    if getattr(estimator, "class_weight", None) == "balanced":
        for check in [
            "check_fit_score_takes_y",
            "check_n_features_in_after_fitting",
            "check_estimators_partial_fit_n_features",
        ]:
            failed[check] = _BALANCED_PARTIAL_FIT
        failed["check_sample_weight_equivalence_on_dense_data"] = _BALANCED_COUNTS_BUG
        failed["check_sample_weight_equivalence_on_sparse_data"] = _BALANCED_COUNTS_BUG
    if getattr(estimator, "target_scaling", None) is not None:
        for check in [
            "check_sample_weight_equivalence_on_dense_data",
            "check_sample_weight_equivalence_on_sparse_data",
        ]:
            failed[check] = _TARGET_SCALING_WEIGHTS_BUG
    if getattr(estimator, "loss", None) == "poisson":
        failed["check_regressor_multioutput"] = _POISSON_MULTIOUTPUT
        if not get_tags(estimator).target_tags.positive_only:
            for check in [
                "check_fit_check_is_fitted",
                "check_fit_idempotent",
                "check_n_features_in",
                "check_n_features_in_after_fitting",
                "check_regressor_data_not_an_array",
                "check_regressors_no_decision_function",
                "check_regressors_train",
            ]:
                failed[check] = _POISSON_TAG_BUG
    return failed


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
        # The 0.2 training options, several at once.
        ANNRegressor(
            random_state=0,
            loss="huber",
            target_scaling="standard",
            max_grad_norm=1.0,
            weight_averaging="ema",
            learning_rate_schedule="cosine",
            warmup_epochs=2,
            early_stopping_metric="loss",
        ),
        ANNClassifier(
            random_state=0,
            class_weight="balanced",
            max_grad_norm=1.0,
            weight_averaging="swa",
            on_divergence="restart",
        ),
        # A larger step: with the default one 200 epochs fit the checks'
        # data poorly (R^2 0.38 where check_regressors_train asks for 0.5).
        ANNRegressor(random_state=0, loss="poisson", learning_rate=0.01),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
