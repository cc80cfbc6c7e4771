"""ANNClassifier: label encoding, logistic or softmax output, probabilities."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import column_or_1d

from skann._base import BaseANN
from skann._core._math import log1pexp, logsumexp
from skann._core.losses import LOSSES
from skann._regressor import _is_stochastic


class ANNClassifier(ClassifierMixin, BaseANN):
    """Multi-layer perceptron classifier trained by backpropagation.

    PLACEHOLDER
    """

    def _encode_target(self, y, reset, incremental):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if reset:
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if not incremental and set(classes) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes "
                    f"as in the previous call to fit. Previously got "
                    f"{self.classes_}, `y` has {classes}."
                )
            if len(np.setdiff1d(classes, self.classes_)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. `y` has {classes}."
                )
        if len(self.classes_) < 2:
            raise ValueError(
                "ANNClassifier needs samples of at least 2 classes in the data, but "
                f"the data contains only one class: {self.classes_[0]!r}."
            )
        Y = self._label_binarizer.transform(y)
        loss_name = (
            "log_loss"
            if self._label_binarizer.y_type_ == "multiclass"
            else ("binary_log_loss")
        )
        return Y, loss_name

    def _decode(self, raw):
        proba = LOSSES[self._loss_name].link(raw)
        return self._label_binarizer.inverse_transform(
            proba.ravel() if proba.shape[1] == 1 else proba
        )

    def _score_function(self, y, y_pred, sample_weight=None):
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The probability of each class (of each label, for multilabel
            targets), in the order of ``classes_``.
        """
        raw = self._validated_raw(X)
        proba = LOSSES[self._loss_name].link(raw)
        if self._is_binary():
            return np.hstack([1 - proba, proba])
        return proba

    def predict_log_proba(self, X):
        """Logarithm of the probability estimates, computed from the logits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            The log-probability of each class, in the order of ``classes_``.
        """
        raw = self._validated_raw(X)
        if self._loss_name == "log_loss":
            return raw - logsumexp(raw, axis=1)[:, np.newaxis]
        # log sigma(r) = -log(1 + e^-r); log(1 - sigma(r)) = -log(1 + e^r)
        log_proba = -log1pexp(-raw)
        if self._is_binary():
            return np.hstack([-log1pexp(raw), log_proba])
        return log_proba

    def _is_binary(self):
        return self.n_outputs_ == 1

    @available_if(_is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the network with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            The target class labels, or a label indicator matrix.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        classes : array-like of shape (n_classes,), default=None
            All the classes that can appear in the calls to ``partial_fit``.
            Required on the first call, ignored on later ones.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
