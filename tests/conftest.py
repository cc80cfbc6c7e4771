"""Datasets shared by the test modules: small synthetic ones and the wine data."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from skann import ANNClassifier
from skann.datasets import _wine

N_SAMPLES, N_FEATURES = 60, 4

# The full UCI files as skann.datasets knows them, read before any test
# patches that table.
FULL_WINE_FILES = dict(_wine.WINE_QUALITY_FILES)

# A few hundred rows of each file, committed with the tests; see data/README.md.
DATA_DIR = Path(__file__).resolve().parent / "data"
WINE_SAMPLES = {
    "red": DATA_DIR / "winequality-red-sample.csv",
    "white": DATA_DIR / "winequality-white-sample.csv",
}


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find_full_wine_data_home():
    """Where the full, verified UCI wine files are: ``(directory, None)``.

    Looks in SKANN_DATA_HOME, or when that is unset, in the default cache
    ``~/skann_data``, and only reads: it never downloads or creates anything.
    Without the files it returns ``(None, reason)``; the reason starts with
    "SKANN_DATA_HOME" when the variable is set but wrong, which is an error
    rather than a reason to skip.
    """
    data_home = os.environ.get("SKANN_DATA_HOME")
    directory = Path(data_home or "~/skann_data").expanduser()
    problems = []
    for remote in FULL_WINE_FILES.values():
        path = directory / remote.filename
        if not path.is_file():
            problems.append(f"{remote.filename} is missing")
        elif _sha256(path) != remote.sha256:
            problems.append(f"{remote.filename} is not the original UCI file")
    if not problems:
        return str(directory), None
    if data_home:
        return None, (
            f"SKANN_DATA_HOME={data_home} does not hold the full UCI wine-quality "
            f"files: {'; '.join(problems)}. Point it at a directory holding "
            "winequality-red.csv and winequality-white.csv (CI uses ../shared/data), "
            "or unset it to skip the tests that need them."
        )
    return None, (
        "needs the full UCI wine-quality files: set SKANN_DATA_HOME to a directory "
        "holding winequality-red.csv and winequality-white.csv (CI uses "
        "../shared/data)"
    )


def load_wine_sample(color):
    """X of shape (n, 11) and the quality scores of the committed sample."""
    values = np.loadtxt(WINE_SAMPLES[color], delimiter=";", skiprows=1)
    return values[:, :-1], values[:, -1]


@pytest.fixture(scope="session")
def wine_data_home():
    """The directory of the full wine files; the tests never download.

    Skips the test when the files are not available, and fails it when
    SKANN_DATA_HOME is set but does not hold them.
    """
    directory, reason = find_full_wine_data_home()
    if directory is None:
        if reason.startswith("SKANN_DATA_HOME"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return directory


@pytest.fixture
def wine_sample_data_home(tmp_path, monkeypatch):
    """A data directory holding the committed samples under the UCI names.

    skann.datasets is told the samples' digests, so ``fetch_wine_quality``
    reads them as it would read the full files, offline and without
    SKANN_DATA_HOME.
    """
    data_home = tmp_path / "wine-sample"
    data_home.mkdir()
    for color, sample in WINE_SAMPLES.items():
        remote = FULL_WINE_FILES[color]
        shutil.copyfile(sample, data_home / remote.filename)
        monkeypatch.setitem(
            _wine.WINE_QUALITY_FILES, color, remote._replace(sha256=_sha256(sample))
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


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of ``f()`` with respect to each entry of ``x``."""
    grad = np.empty_like(x)
    for i in range(x.size):
        original = x.flat[i]
        x.flat[i] = original + eps
        plus = f()
        x.flat[i] = original - eps
        minus = f()
        x.flat[i] = original
        grad.flat[i] = (plus - minus) / (2 * eps)
    return grad


@pytest.fixture
def matmul_choices(monkeypatch):
    """The training products' np.matmul choices, recorded as they are made.

    Returns the list the choices go into (True where np.matmul was chosen);
    ``monkeypatch`` can then raise ``_MIN_MATMUL_BYTES`` to turn it off.
    """
    from skann._core import layers

    chosen = []
    real = layers._worth_matmul

    def recorded(n, width, dtype):
        chosen.append(real(n, width, dtype))
        return chosen[-1]

    monkeypatch.setattr(layers, "_worth_matmul", recorded)
    return chosen
