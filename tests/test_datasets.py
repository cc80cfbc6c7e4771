"""Tests of skann.datasets: loading, caching, (mocked) downloading, and errors."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import hashlib
import pickle
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import WINE_SAMPLES, find_full_wine_data_home, load_wine_sample
from sklearn.utils._param_validation import InvalidParameterError

from skann.datasets import (
    DataFilesUnavailable,
    _wine,
    fetch_wine_quality,
    fetch_wine_quality_files,
    get_data_home,
)
from skann.datasets._wine import WINE_QUALITY_FILES, RemoteFile

FEATURE_NAMES = [
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
]

HEADER = ";".join(f'"{name}"' for name in [*FEATURE_NAMES, "quality"])
TINY_CSV = (
    HEADER
    + "\n7.4;0.7;0;1.9;0.076;11;34;0.9978;3.51;0.56;9.4;5"
    + "\n7.8;0.88;0;2.6;0.098;25;67;0.9968;3.2;0.68;9.8;6\n"
).encode("ascii")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that would download."""

    def refuse(url, timeout=60):
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(_wine, "_fetch_bytes", refuse)


@pytest.fixture
def tiny_remote(monkeypatch):
    """Make the red file a two-row CSV, so a fake download can serve it."""
    remote = RemoteFile(
        "winequality-red.csv",
        WINE_QUALITY_FILES["red"].url,
        hashlib.sha256(TINY_CSV).hexdigest(),
    )
    monkeypatch.setitem(WINE_QUALITY_FILES, "red", remote)
    return remote


@pytest.fixture
def offline(monkeypatch):
    """Make every download fail as it does without a network."""

    def fail(url, timeout=60):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(_wine, "_fetch_bytes", fail)


def serve(monkeypatch, content):
    """Replace the download by one returning ``content``; return the URLs asked."""
    urls = []

    def fetch(url, timeout=60):
        urls.append(url)
        return content

    monkeypatch.setattr(_wine, "_fetch_bytes", fetch)
    return urls


# The full files, from SKANN_DATA_HOME; skipped without them.


@pytest.mark.parametrize(
    "color, n_samples, qualities",
    [("red", 1599, {3, 4, 5, 6, 7, 8}), ("white", 4898, {3, 4, 5, 6, 7, 8, 9})],
)
def test_fetch_wine_quality_loads_the_full_files(
    wine_data_home, color, n_samples, qualities
):
    bunch = fetch_wine_quality(color, data_home=wine_data_home)
    assert bunch.data.shape == (n_samples, 11)
    assert bunch.data.dtype == np.float64
    assert bunch.target.shape == (n_samples,)
    assert np.issubdtype(bunch.target.dtype, np.integer)
    assert set(np.unique(bunch.target)) == qualities
    assert bunch.feature_names == FEATURE_NAMES
    assert bunch.target_names == ["quality"]
    assert bunch.frame is None
    assert f"({color} wine)" in bunch.DESCR
    assert "Cortez" in bunch.DESCR and "CC BY 4.0" in bunch.DESCR


@pytest.mark.parametrize("color, step", [("red", 6), ("white", 16)])
def test_samples_are_rows_of_the_full_files(wine_data_home, color, step):
    """The committed samples are what tests/data/README.md says they are."""
    X, y = fetch_wine_quality(color, data_home=wine_data_home, return_X_y=True)
    X_sample, y_sample = load_wine_sample(color)
    np.testing.assert_array_equal(X_sample, X[::step])
    np.testing.assert_array_equal(y_sample, y[::step])


# The committed samples, served under the UCI names: no SKANN_DATA_HOME needed.


@pytest.mark.parametrize("color", ["red", "white"])
def test_fetch_wine_quality_reads_the_sample(wine_sample_data_home, color):
    bunch = fetch_wine_quality(color, data_home=wine_sample_data_home)
    X_sample, y_sample = load_wine_sample(color)
    assert bunch.data.shape == X_sample.shape
    assert 250 <= len(bunch.data) <= 400
    assert bunch.data.dtype == np.float64
    assert np.issubdtype(bunch.target.dtype, np.integer)
    np.testing.assert_array_equal(bunch.data, X_sample)
    np.testing.assert_array_equal(bunch.target, y_sample)
    assert bunch.feature_names == FEATURE_NAMES
    assert bunch.target_names == ["quality"]
    assert f"({color} wine)" in bunch.DESCR


def test_fetch_wine_quality_first_rows_match_the_file(wine_sample_data_home):
    X, y = fetch_wine_quality("red", data_home=wine_sample_data_home, return_X_y=True)
    assert X[0].tolist() == [7.4, 0.7, 0.0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4]
    assert y[:3].tolist() == [5, 5, 5]


def test_fetch_wine_quality_as_frame(wine_sample_data_home):
    import pandas as pd

    bunch = fetch_wine_quality("white", data_home=wine_sample_data_home, as_frame=True)
    assert isinstance(bunch.data, pd.DataFrame)
    assert isinstance(bunch.target, pd.Series)
    assert list(bunch.data.columns) == FEATURE_NAMES
    assert bunch.target.name == "quality"
    assert bunch.frame.shape == (len(bunch.data), 12)
    X, y = fetch_wine_quality("white", data_home=wine_sample_data_home, return_X_y=True)
    np.testing.assert_array_equal(bunch.data.to_numpy(), X)
    np.testing.assert_array_equal(bunch.target.to_numpy(), y)


def test_data_home_comes_from_the_environment(wine_sample_data_home, monkeypatch):
    monkeypatch.setenv("SKANN_DATA_HOME", str(wine_sample_data_home))
    assert get_data_home() == wine_sample_data_home
    X, _ = fetch_wine_quality("red", return_X_y=True)
    assert X.shape == load_wine_sample("red")[0].shape


def test_fetch_wine_quality_files_returns_every_path(wine_sample_data_home):
    paths = fetch_wine_quality_files(
        ["white", "red", "white"], data_home=wine_sample_data_home
    )
    assert paths == {
        "white": wine_sample_data_home / "winequality-white.csv",
        "red": wine_sample_data_home / "winequality-red.csv",
    }


def test_wine_fixtures_work_without_data_home(monkeypatch, tmp_path):
    """A clone alone runs the tests: the sample needs no SKANN_DATA_HOME.

    Without SKANN_DATA_HOME and an empty home directory the full files are
    reported missing with a reason to skip, not an error, and nothing is created.
    """
    monkeypatch.delenv("SKANN_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    directory, reason = find_full_wine_data_home()
    assert directory is None
    assert reason.startswith("needs the full UCI wine-quality files")
    for color, path in WINE_SAMPLES.items():
        assert path.is_file() and (path.parent / "README.md").is_file()
        X, y = load_wine_sample(color)
        assert X.shape[1] == 11 and len(y) == len(X) <= 400
    assert list(tmp_path.iterdir()) == []


def test_wrong_data_home_in_the_environment_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("SKANN_DATA_HOME", str(tmp_path))
    (tmp_path / "winequality-red.csv").write_bytes(TINY_CSV)
    directory, reason = find_full_wine_data_home()
    assert directory is None
    assert reason.startswith(f"SKANN_DATA_HOME={tmp_path}")
    assert "winequality-red.csv is not the original UCI file" in reason
    assert "winequality-white.csv is missing" in reason


# The cache: downloads (mocked), and the errors when they fail.


def test_data_home_defaults_to_skann_data_in_home(monkeypatch, tmp_path):
    monkeypatch.delenv("SKANN_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home() == tmp_path / "skann_data"
    assert (tmp_path / "skann_data").is_dir()
    assert get_data_home("~/elsewhere") == tmp_path / "elsewhere"


def test_missing_file_without_download_names_url_and_path(tmp_path):
    remote = WINE_QUALITY_FILES["white"]
    with pytest.raises(OSError, match="download_if_missing=False") as excinfo:
        fetch_wine_quality("white", data_home=tmp_path, download_if_missing=False)
    assert remote.url in str(excinfo.value)
    assert str(tmp_path / remote.filename) in str(excinfo.value)


def test_download_writes_the_verified_file_once(tmp_path, monkeypatch, tiny_remote):
    data_home = tmp_path / "new" / "cache"
    urls = serve(monkeypatch, TINY_CSV)
    X, y = fetch_wine_quality("red", data_home=data_home, return_X_y=True)
    assert urls == [tiny_remote.url]
    assert (data_home / "winequality-red.csv").read_bytes() == TINY_CSV
    assert sorted(p.name for p in data_home.iterdir()) == ["winequality-red.csv"]
    assert X.shape == (2, 11) and y.tolist() == [5, 6]

    fetch_wine_quality("red", data_home=data_home, download_if_missing=False)
    assert urls == [tiny_remote.url], "the cached file must be reused"


def test_download_with_wrong_checksum_leaves_no_file(tmp_path, monkeypatch):
    remote = WINE_QUALITY_FILES["red"]
    serve(monkeypatch, b"<html>Service unavailable</html>")
    with pytest.raises(DataFilesUnavailable, match="SHA-256") as excinfo:
        fetch_wine_quality("red", data_home=tmp_path / "cache")
    assert remote.url in str(excinfo.value) and remote.sha256 in str(excinfo.value)
    assert "not saved" in str(excinfo.value)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch, tiny_remote):
    """Not even the directories that were made for the file are left behind."""
    serve(monkeypatch, TINY_CSV)

    def disk_full(src, dst):
        raise OSError("No space left on device")

    monkeypatch.setattr(_wine.os, "replace", disk_full)
    with pytest.raises(DataFilesUnavailable, match="No space left"):
        fetch_wine_quality("red", data_home=tmp_path / "new" / "cache")
    assert list(tmp_path.iterdir()) == []


def test_offline_error_names_url_and_where_to_put_the_file(tmp_path, offline):
    remote = WINE_QUALITY_FILES["white"]
    with pytest.raises(DataFilesUnavailable, match="downloading it from") as excinfo:
        fetch_wine_quality("white", data_home=tmp_path)
    message = str(excinfo.value)
    assert f"{tmp_path / remote.filename}: not found" in message
    assert remote.url in message and "Temporary failure" in message
    assert "save the file at the path shown" in message
    assert "winequality-red.csv" not in message
    assert list(tmp_path.iterdir()) == []


def test_offline_error_names_every_missing_file(tmp_path, offline):
    """Non-regression: the offline error named only the first missing file."""
    data_home = tmp_path / "cache"
    with pytest.raises(DataFilesUnavailable) as excinfo:
        fetch_wine_quality_files(["red", "white"], data_home=data_home)
    error = excinfo.value
    assert isinstance(error, OSError)
    assert [f.filename for f in error.files] == [
        "winequality-red.csv",
        "winequality-white.csv",
    ]
    message = str(error)
    assert message.startswith(f"2 wine-quality files are not available in {data_home}")
    for remote in WINE_QUALITY_FILES.values():
        assert f"{data_home / remote.filename}: not found" in message
        assert remote.url in message
    assert "download each URL above" in message


def test_offline_error_names_the_option_of_the_caller(tmp_path, offline, monkeypatch):
    """Non-regression: the skann compare error said data_home, not --data-home."""
    with pytest.raises(DataFilesUnavailable) as excinfo:
        fetch_wine_quality("red", data_home=tmp_path)
    error = excinfo.value
    assert "(given by data_home)" in str(error)
    assert "or point data_home at a directory" in str(error)
    message = error.message(data_home_option="--data-home")
    assert "(given by --data-home)" in message
    assert "or point --data-home at a directory" in message
    assert "data_home" not in message
    # Only without an explicit directory does SKANN_DATA_HOME matter.
    monkeypatch.setenv("SKANN_DATA_HOME", str(tmp_path))
    with pytest.raises(DataFilesUnavailable) as excinfo:
        fetch_wine_quality("red")
    message = excinfo.value.message(data_home_option="--data-home")
    assert "(from the SKANN_DATA_HOME environment variable)" in message
    assert "point --data-home or the SKANN_DATA_HOME environment variable" in message


def test_failure_creates_no_data_home(tmp_path, offline, monkeypatch):
    """Non-regression: a failed fetch left an empty ~/skann_data behind."""
    monkeypatch.delenv("SKANN_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DataFilesUnavailable) as excinfo:
        fetch_wine_quality_files()
    assert "(the default data directory)" in str(excinfo.value)
    with pytest.raises(DataFilesUnavailable):
        fetch_wine_quality("red", data_home=tmp_path / "a" / "b")
    with pytest.raises(DataFilesUnavailable):
        fetch_wine_quality("red", download_if_missing=False)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_cached_file_offline_says_corrupt_and_how_to_fix(
    tmp_path, offline, tiny_remote
):
    """Non-regression: a corrupt file gave a warning blamed on scikit-learn and an
    error that said to put the file where it already was."""
    path = tmp_path / tiny_remote.filename
    path.write_bytes(TINY_CSV.replace(b"9.4;5", b"9.4;7"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataFilesUnavailable) as excinfo:
            fetch_wine_quality("red", data_home=tmp_path)
    message = str(excinfo.value)
    assert f"{path}: corrupt: its SHA-256 is " in message
    assert f"not {tiny_remote.sha256}" in message
    assert f"downloading a fresh copy from {tiny_remote.url} failed" in message
    assert "replacing the corrupt copy" in message
    assert excinfo.value.files[0].corrupt

    with pytest.raises(DataFilesUnavailable, match="corrupt") as excinfo:
        fetch_wine_quality("red", data_home=tmp_path, download_if_missing=False)
    assert "download_if_missing=False" in str(excinfo.value)
    assert "replacing the corrupt copy" in str(excinfo.value)


def test_corrupt_cached_file_is_replaced_with_a_warning_at_the_caller(
    tmp_path, monkeypatch, tiny_remote
):
    path = tmp_path / tiny_remote.filename
    path.write_bytes(TINY_CSV.replace(b"9.4;5", b"9.4;7"))
    serve(monkeypatch, TINY_CSV)
    with pytest.warns(
        UserWarning, match="corrupt.*replaced by a fresh download"
    ) as record:
        _, y = fetch_wine_quality("red", data_home=tmp_path, return_X_y=True)
    assert y.tolist() == [5, 6]
    assert path.read_bytes() == TINY_CSV
    # Attributed to this file, the caller, not to scikit-learn's validate_params.
    assert [Path(w.filename) for w in record] == [Path(__file__)]


def test_error_survives_pickling(tmp_path, offline):
    with pytest.raises(DataFilesUnavailable) as excinfo:
        fetch_wine_quality_files(["white"], data_home=tmp_path)
    restored = pickle.loads(pickle.dumps(excinfo.value))
    assert str(restored) == str(excinfo.value)
    assert restored.files == excinfo.value.files
    assert restored.message("--data-home") == excinfo.value.message("--data-home")


def test_invalid_color_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="'color' parameter"):
        fetch_wine_quality("rose", data_home=tmp_path)
    with pytest.raises(ValueError, match=r"colors must be 'red' or 'white'"):
        fetch_wine_quality_files(["red", "rose"], data_home=tmp_path)
    with pytest.raises(InvalidParameterError, match="'colors' parameter"):
        fetch_wine_quality_files("red", data_home=tmp_path)
    assert list(tmp_path.iterdir()) == []
