"""Small deterministic datasets shared by the test modules."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import os
from pathlib import Path

import numpy as np
import pytest

from skann import ANNClassifier

N_SAMPLES, N_FEATURES = 60, 4
WINE_FILES = ("winequality-red.csv", "winequality-white.csv")


@pytest.fixture(scope="session")
def wine_data_home():
    """The directory named by SKANN_DATA_HOME; the tests never download."""
    data_home = os.environ.get("SKANN_DATA_HOME")
    if not data_home or not all((Path(data_home) / f).is_file() for f in WINE_FILES):
        pytest.fail(
            "Set SKANN_DATA_HOME to a directory holding winequality-red.csv and "
            "winequality-white.csv (CI uses ../shared/data).",
            pytrace=False,
        )
    return data_home


@pytest.fixture
def regression_data():
    """A noisy linear target: X of shape (60, 4), y of shape (60,)."""
    rng = np.random.RandomState(0)
    X = rng.randn(N_SAMPLES, N_FEATURES)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.randn(N_SAMPLES)
    return X, y


@pytest.fixture
def multioutput_data():
    """Three smooth targets: X of shape (60, 4), Y of shape (60, 3)."""
    rng = np.random.RandomState(0)
    X = rng.randn(N_SAMPLES, N_FEATURES)
    Y = np.column_stack([X[:, 0] - X[:, 1], np.tanh(X[:, 2]), X[:, 3] ** 2])
    return X, Y


@pytest.fixture
def binary_data():
    """Two linearly separable integer classes, 0 and 1."""
    rng = np.random.RandomState(0)
    X = rng.randn(N_SAMPLES, N_FEATURES)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


@pytest.fixture
def multiclass_data():
    """Three string classes from the argmax of a linear map."""
    rng = np.random.RandomState(0)
    X = rng.randn(N_SAMPLES, N_FEATURES)
    scores = X @ rng.randn(N_FEATURES, 3)
    y = np.array(["ant", "bee", "cat"])[np.argmax(scores, axis=1)]
    return X, y


@pytest.fixture
def multilabel_data():
    """A label-indicator matrix of shape (60, 3)."""
    rng = np.random.RandomState(0)
    X = rng.randn(N_SAMPLES, N_FEATURES)
    Y = (X[:, :3] > 0).astype(int)
    return X, Y


@pytest.fixture
def data(Estimator, regression_data, multiclass_data):
    """The dataset suited to the ``Estimator`` a shared test is parametrized by."""
    return multiclass_data if Estimator is ANNClassifier else regression_data
