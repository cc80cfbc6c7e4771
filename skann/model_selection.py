"""Choosing settings on the rows a network holds out for early stopping."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone
from sklearn.model_selection import ParameterGrid
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

__all__ = ["ValidationSearch"]


def _network(estimator):
    """The early-stopping network: the estimator, or a pipeline's last step."""
    return estimator[-1] if hasattr(estimator, "steps") else estimator


def _best_has(method):
    def check(self):
        return hasattr(self.best_estimator_ if hasattr(self, "best_estimator_")
                       else self.estimator, method)  # fmt: skip

    return check


class ValidationSearch(MetaEstimatorMixin, BaseEstimator):
    """Fit one network per setting and keep the best on its validation rows.

    Each candidate of ``param_grid`` is fitted once on all the training rows
    with early stopping, which holds out ``validation_fraction`` of them;
    the candidate whose network scored best on those held-out rows
    (``best_validation_score_``) is kept. With the same ``random_state``
    every candidate holds out the same rows, so the comparison is fair, and
    no refit is needed: the kept candidate is already trained. It costs one
    fit per candidate, where a cross-validated search costs one per
    candidate and fold, plus a refit.

    Parameters
    ----------
    estimator : estimator object
        A skann estimator with ``early_stopping=True``, or a Pipeline ending
        in one.
    param_grid : dict or list of dicts
        Candidate settings, as for :class:`~sklearn.model_selection.GridSearchCV`.

    Attributes
    ----------
    best_estimator_ : estimator
        The fitted candidate with the best validation score.
    best_params_ : dict
        Its settings.
    validation_scores_ : list of float
        The best validation score of each candidate, in the grid's order.
    n_features_in_ : int
        Number of features seen during fit.
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"])],
        "param_grid": [dict, list],
    }

    def __init__(self, estimator, param_grid):
        self.estimator = estimator
        self.param_grid = param_grid

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit every candidate and keep the best on its validation rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        **fit_params : dict
            Passed to each candidate's ``fit``.

        Returns
        -------
        self : object
            The fitted search.
        """
        if not getattr(_network(self.estimator), "early_stopping", False):
            raise ValueError(
                "ValidationSearch compares the candidates on their early-stopping "
                "validation rows: give it an estimator with early_stopping=True."
            )
        candidates = list(ParameterGrid(self.param_grid))
        scores, fitted = [], []
        for params in candidates:
            candidate = clone(self.estimator).set_params(**params)
            candidate.fit(X, y, **fit_params)
            scores.append(float(_network(candidate).best_validation_score_))
            fitted.append(candidate)
        best = int(np.nanargmax(scores))
        self.best_estimator_ = fitted[best]
        self.best_params_ = candidates[best]
        self.validation_scores_ = scores
        if hasattr(self.best_estimator_, "n_features_in_"):
            self.n_features_in_ = self.best_estimator_.n_features_in_
        if hasattr(self.best_estimator_, "classes_"):
            self.classes_ = self.best_estimator_.classes_
        return self

    def predict(self, X):
        """Predict with the best candidate.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The best candidate's predictions.
        """
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    @available_if(_best_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the best candidate.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The best candidate's probabilities.
        """
        check_is_fitted(self)
        return self.best_estimator_.predict_proba(X)

    def score(self, X, y, sample_weight=None):
        """The best candidate's score (R² or accuracy) on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The true targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            The score.
        """
        check_is_fitted(self)
        return self.best_estimator_.score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self.estimator.__sklearn_tags__()
        tags.estimator_type = inner.estimator_type
        tags.target_tags = inner.target_tags
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.input_tags = inner.input_tags
        return tags
