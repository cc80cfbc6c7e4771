"""RobustSmoothClipScaler: scikit-learn's checks, the formula, fallbacks, NaN."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import RobustScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import skann.preprocessing
from skann import ANNRegressor
from skann.preprocessing import NORMAL_IQR, RobustSmoothClipScaler


@parametrize_with_checks([RobustSmoothClipScaler(), RobustSmoothClipScaler(clip=None)])
def test_sklearn_compatible_transformer(estimator, check):
    check(estimator)


def test_public_name():
    assert skann.preprocessing.__all__ == ["RobustSmoothClipScaler"]


def test_normal_iqr_is_that_of_the_standard_normal():
    from scipy.stats import norm

    assert_allclose(NORMAL_IQR, norm.ppf(0.75) - norm.ppf(0.25), rtol=1e-15)


def test_transform_against_a_hand_computation():
    X = np.array([[1.0, -4.0], [2.0, 0.0], [3.0, 1.0], [4.0, 2.0], [10.0, 50.0]])
    scaler = RobustSmoothClipScaler(clip=2.0).fit(X)
    # Column 0: median 3, quartiles 2 and 4; column 1: median 1, quartiles 0, 2.
    assert_array_equal(scaler.center_, [3.0, 1.0])
    assert_allclose(scaler.scale_, [2.0 / NORMAL_IQR, 2.0 / NORMAL_IQR])
    Z = (X - [3.0, 1.0]) / (2.0 / NORMAL_IQR)
    assert_allclose(scaler.transform(X), Z / np.sqrt(1 + (Z / 2.0) ** 2))


def test_without_clip_it_is_robust_scaler_with_unit_variance():
    X = np.random.RandomState(0).standard_t(df=2, size=(200, 4))
    expected = RobustScaler(unit_variance=True).fit_transform(X)
    assert_allclose(RobustSmoothClipScaler(clip=None).fit_transform(X), expected)


def test_a_normal_feature_gets_unit_scale():
    X = np.random.RandomState(0).normal(5.0, 3.0, size=(100_000, 1))
    scaler = RobustSmoothClipScaler().fit(X)
    assert_allclose(scaler.center_, [5.0], atol=0.05)
    assert_allclose(scaler.scale_, [3.0], rtol=0.02)


def test_zero_iqr_falls_back_to_std_then_to_one():
    """A mostly-constant column is scaled by its std, a constant one by 1."""
    mostly = np.r_[np.zeros(90), np.arange(1.0, 11.0)]
    X = np.c_[mostly, np.full(100, 7.0)]
    scaler = RobustSmoothClipScaler().fit(X)
    assert_array_equal(scaler.center_, [0.0, 7.0])
    assert_allclose(scaler.scale_, [mostly.std(), 1.0])
    assert_array_equal(scaler.transform(X)[:, 1], 0.0)


def test_outputs_stay_within_the_clip_even_for_huge_values():
    X = np.r_[np.arange(10.0), 1e300, -1e300][:, None]
    scaler = RobustSmoothClipScaler(clip=3.0).fit(X[:10])
    Z = scaler.transform(X)
    assert np.all(np.abs(Z) <= 3.0)
    # The square of a huge z overflows; the clip must not turn it into 0.
    assert_allclose(Z[-2:, 0], [3.0, -3.0])


def test_nan_is_ignored_in_fit_and_kept_in_transform():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 3))
    X_nan = X.copy()
    X_nan[::5, 1] = np.nan
    X_nan[:, 2] = np.nan
    scaler = RobustSmoothClipScaler().fit(X_nan)
    full = RobustSmoothClipScaler().fit(X[:, :1])
    observed = RobustSmoothClipScaler().fit(X[~np.isnan(X_nan[:, 1])][:, 1:2])
    assert_allclose(scaler.center_[:2], [*full.center_, *observed.center_])
    assert_allclose(scaler.scale_[:2], [*full.scale_, *observed.scale_])
    # A column missing in every row gets centre 0 and scale 1.
    assert (scaler.center_[2], scaler.scale_[2]) == (0.0, 1.0)
    Z = scaler.transform(X_nan)
    assert_array_equal(np.isnan(Z), np.isnan(X_nan))
    back = scaler.inverse_transform(Z)
    assert_array_equal(np.isnan(back), np.isnan(X_nan))
    assert_allclose(back[~np.isnan(X_nan)], X_nan[~np.isnan(X_nan)])


def test_infinite_values_are_refused():
    X = np.array([[1.0], [np.inf], [3.0]])
    with pytest.raises(ValueError, match="infinity"):
        RobustSmoothClipScaler().fit(X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype):
    X = np.random.RandomState(0).normal(size=(20, 3)).astype(dtype)
    scaler = RobustSmoothClipScaler().fit(X)
    Z = scaler.transform(X)
    assert Z.dtype == dtype
    assert scaler.inverse_transform(Z).dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert_allclose(scaler.inverse_transform(Z), X, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("clip", [3.0, 0.5, None])
def test_inverse_transform_round_trip(clip):
    X = np.random.RandomState(0).standard_t(df=2, size=(200, 4)) * 10 + 3
    scaler = RobustSmoothClipScaler(clip=clip).fit(X)
    assert_allclose(scaler.inverse_transform(scaler.transform(X)), X, rtol=1e-8)


def test_inverse_transform_refuses_values_outside_the_range():
    scaler = RobustSmoothClipScaler(clip=3.0).fit(np.arange(10.0)[:, None])
    with pytest.raises(ValueError, match=r"2 value\(s\) of X are outside"):
        scaler.inverse_transform(np.array([[2.9], [3.0], [-4.0]]))


def test_feature_names_out_follow_the_input():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 5.0, 1.0]})
    scaler = RobustSmoothClipScaler().set_output(transform="pandas").fit(X)
    assert list(scaler.get_feature_names_out()) == ["a", "b"]
    assert list(scaler.transform(X).columns) == ["a", "b"]


def test_invalid_clip_is_refused():
    with pytest.raises(ValueError, match="'clip' parameter"):
        RobustSmoothClipScaler(clip=0.0).fit(np.ones((3, 1)))


def test_in_a_pipeline_before_a_network():
    rng = np.random.RandomState(0)
    X = rng.lognormal(size=(200, 3))
    y = np.log(X).sum(axis=1)
    model = make_pipeline(
        RobustSmoothClipScaler(),
        ANNRegressor((16,), solver="lbfgs", max_iter=300, random_state=0),
    ).fit(X, y)
    assert model.score(X, y) > 0.9
