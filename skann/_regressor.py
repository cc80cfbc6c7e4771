"""ANNRegressor: identity output and squared error on the shared network."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import column_or_1d

from skann._base import BaseANN


def _is_stochastic(estimator):
    return estimator.solver != "lbfgs"


class ANNRegressor(RegressorMixin, BaseANN):
    """Multi-layer perceptron regressor trained by backpropagation.

    PLACEHOLDER
    """

    def _encode_target(self, y, reset, incremental):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return Y, "squared_error"

    def _decode(self, raw):
        return raw.ravel() if raw.shape[1] == 1 else raw

    def _score_function(self, y, y_pred, sample_weight=None):
        return r2_score(y, y_pred, sample_weight=sample_weight)

    @available_if(_is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the network with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
