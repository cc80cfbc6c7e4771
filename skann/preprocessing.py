"""Input transformers for tabular networks: robust scaling with smooth clipping."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["RobustSmoothClipScaler"]

# The interquartile range of the standard normal distribution,
# 2 * Phi^-1(0.75): dividing an IQR by it gives a normal feature unit scale.
NORMAL_IQR = 1.3489795003921634

# A scale this close to zero, relative to the feature's centre, is rounding
# noise rather than spread: the feature counts as constant.
_ZERO_SCALE_ULPS = 10


class RobustSmoothClipScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Centre on the median, scale by the interquartile range, clip smoothly.

    Each feature is first centred and scaled robustly, so that outliers do not
    set the scale, and then squashed smoothly into ``(-clip, clip)``, so that
    they do not reach the network with extreme values either:

    .. math::

        z = \\frac{x - \\operatorname{median}(x)}{s}, \\qquad
        \\tilde z = \\frac{z}{\\sqrt{1 + (z / c)^2}},

    with ``c = clip`` and ``s`` the interquartile range divided by 1.349, the
    interquartile range of the standard normal distribution, so that a normal
    feature gets unit scale, as with
    :class:`~sklearn.preprocessing.StandardScaler`. A feature whose
    interquartile range is zero (constant, or constant in more than half of
    the rows) is scaled by its standard deviation instead, and a constant
    feature by 1. This is the input preprocessing of RealMLP (Holzmüller et
    al., 2024). The smooth clip is close to the identity near zero
    (``z = 1`` becomes 0.95 with ``clip=3``) and tends to ``±clip``.

    Read more in the :doc:`user guide </user_guide/tabular_toolbox>`.

    Parameters
    ----------
    clip : float or None, default=3.0
        The bound ``c`` of the smooth clipping ``z / sqrt(1 + (z / c)^2)``,
        in units of the robust scale; None scales without clipping (the
        transform is then affine, like
        :class:`~sklearn.preprocessing.RobustScaler` with
        ``unit_variance=True``).

    Attributes
    ----------
    center_ : ndarray of shape (n_features,)
        The median of each feature in the training data, subtracted first.

    scale_ : ndarray of shape (n_features,)
        The robust scale of each feature: its interquartile range divided by
        1.349, else its standard deviation, else 1.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    sklearn.preprocessing.RobustScaler : Median and interquartile range
        scaling, without clipping.
    sklearn.preprocessing.StandardScaler : Mean and standard deviation
        scaling.

    Notes
    -----
    Missing values (NaN) are ignored by ``fit`` and kept as NaN by
    ``transform`` and ``inverse_transform``, as in
    :class:`~sklearn.preprocessing.StandardScaler`; a feature that is missing
    in every row gets centre 0 and scale 1. Infinite values are refused.

    The statistics are computed in double precision; ``transform`` returns the
    dtype of its input for ``float32`` and ``float64`` data.

    The smooth clip maps the real line one to one onto ``(-clip, clip)``, so
    ``inverse_transform`` undoes ``transform`` with
    ``z = t / sqrt(1 - (t / c)^2)``. Near ``±clip`` it is ill-conditioned:
    an input 1000 robust scales from the median comes back with about 10
    correct digits in double precision, and one so extreme that its clipped
    value rounds to ``±clip`` itself cannot be recovered and is refused.

    Sparse input is refused: centring would make it dense.

    References
    ----------
    :arxiv:`Holzmüller, David, Léo Grinsztajn, and Ingo Steinwart (2024).
    "Better by default: strong pre-tuned MLPs and boosted trees on tabular
    data." NeurIPS 2024. <2407.04491>`

    Examples
    --------
    >>> import numpy as np
    >>> from skann.preprocessing import RobustSmoothClipScaler
    >>> X = np.array([[1.0], [2.0], [3.0], [4.0], [10.0]])
    >>> scaler = RobustSmoothClipScaler().fit(X)
    >>> scaler.center_, scaler.scale_.round(3)
    (array([3.]), array([1.483]))
    >>> scaler.transform(X).ravel().round(2)
    array([-1.23, -0.66,  0.  ,  0.66,  2.53])
    >>> RobustSmoothClipScaler(clip=None).fit_transform(X).ravel().round(2)
    array([-1.35, -0.67,  0.  ,  0.67,  4.72])
    """

    _parameter_constraints: dict = {
        "clip": [None, Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, clip=3.0):
        self.clip = clip

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute the median and robust scale of each feature.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training data. NaN values are ignored.

        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted scaler.
        """
        X = validate_data(
            self,
            X,
            dtype=(np.float64, np.float32),
            ensure_all_finite="allow-nan",
        )
        X = X.astype(np.float64, copy=False)
        with warnings.catch_warnings():
            # A column missing in every row: its statistics are NaN, set below.
            warnings.simplefilter("ignore", RuntimeWarning)
            center = np.nanmedian(X, axis=0)
            q25, q75 = np.nanpercentile(X, [25.0, 75.0], axis=0)
            std = np.nanstd(X, axis=0)
        center = np.where(np.isnan(center), 0.0, center)
        tiny = _ZERO_SCALE_ULPS * np.finfo(np.float64).eps * np.abs(center)
        iqr_scale = (q75 - q25) / NORMAL_IQR
        scale = np.where(iqr_scale > tiny, iqr_scale, std)
        # Fall back to 1 for a constant (or all-missing) column.
        scale = np.where(scale > tiny, scale, 1.0)
        self.center_, self.scale_ = center, scale
        return self

    def transform(self, X):
        """Centre, scale and smoothly clip ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data to transform. NaN values stay NaN.

        Returns
        -------
        X_tr : ndarray of shape (n_samples, n_features)
            The transformed data, within ``(-clip, clip)``.
        """
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            dtype=(np.float64, np.float32),
            ensure_all_finite="allow-nan",
            reset=False,
        )
        Z = (X - self.center_.astype(X.dtype)) / self.scale_.astype(X.dtype)
        if self.clip is not None:
            # hypot(1, z / c) = sqrt(1 + (z / c)^2) without overflow for
            # huge z, so an extreme value goes to ±c instead of to 0.
            Z /= np.hypot(1, Z / X.dtype.type(self.clip))
        return Z

    def inverse_transform(self, X):
        """Map transformed data back to the original scale.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Transformed data, within ``(-clip, clip)``. NaN values stay NaN.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            The data ``transform`` maps to ``X``.
        """
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            dtype=(np.float64, np.float32),
            ensure_all_finite="allow-nan",
            reset=False,
        )
        Z = X.copy()
        if self.clip is not None:
            c = X.dtype.type(self.clip)
            with np.errstate(invalid="ignore"):
                n_out = np.count_nonzero(np.abs(Z) >= c)
            if n_out:
                raise ValueError(
                    f"{n_out} value(s) of X are outside (-clip, clip) = "
                    f"({-self.clip}, {self.clip}), the range of transform; "
                    "they have no original value. A value at ±clip comes from "
                    "an input so extreme that its clipping rounded to the "
                    "bound; use clip=None to keep such values invertible."
                )
            # z = t / sqrt(1 - (t/c)^2), the factors written apart so that
            # t near ±c keeps its precision.
            Z /= np.sqrt((1 - Z / c) * (1 + Z / c))
        return Z * self.scale_.astype(X.dtype) + self.center_.astype(X.dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
