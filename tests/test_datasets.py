"""Tests of skann.datasets: loading, caching and (mocked) downloading of the data."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import hashlib
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from skann.datasets import _wine, fetch_wine_quality, get_data_home
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
def shared_data_home(wine_data_home):
    return wine_data_home


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


def serve(monkeypatch, content):
    """Replace the download by one returning ``content``; return the URLs asked."""
    urls = []

    def fetch(url, timeout=60):
        urls.append(url)
        return content

    monkeypatch.setattr(_wine, "_fetch_bytes", fetch)
    return urls


@pytest.mark.parametrize(
    "color, n_samples, qualities",
    [("red", 1599, {3, 4, 5, 6, 7, 8}), ("white", 4898, {3, 4, 5, 6, 7, 8, 9})],
)
def test_fetch_wine_quality_loads_the_shared_files(
    shared_data_home, color, n_samples, qualities
):
    bunch = fetch_wine_quality(color, data_home=shared_data_home)
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


def test_fetch_wine_quality_first_rows_match_the_file(shared_data_home):
    X, y = fetch_wine_quality("red", data_home=shared_data_home, return_X_y=True)
    assert X[0].tolist() == [7.4, 0.7, 0.0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4]
    assert y[:3].tolist() == [5, 5, 5]


def test_fetch_wine_quality_as_frame(shared_data_home):
    import pandas as pd

    bunch = fetch_wine_quality("white", data_home=shared_data_home, as_frame=True)
    assert isinstance(bunch.data, pd.DataFrame)
    assert isinstance(bunch.target, pd.Series)
    assert list(bunch.data.columns) == FEATURE_NAMES
    assert bunch.target.name == "quality"
    assert bunch.frame.shape == (4898, 12)
    X, y = fetch_wine_quality("white", data_home=shared_data_home, return_X_y=True)
    np.testing.assert_array_equal(bunch.data.to_numpy(), X)
    np.testing.assert_array_equal(bunch.target.to_numpy(), y)


def test_data_home_comes_from_the_environment(shared_data_home, monkeypatch):
    monkeypatch.setenv("SKANN_DATA_HOME", shared_data_home)
    assert get_data_home() == Path(shared_data_home)
    X, _ = fetch_wine_quality("red", return_X_y=True)
    assert X.shape == (1599, 11)


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
    urls = serve(monkeypatch, TINY_CSV)
    X, y = fetch_wine_quality("red", data_home=tmp_path, return_X_y=True)
    assert urls == [tiny_remote.url]
    assert (tmp_path / "winequality-red.csv").read_bytes() == TINY_CSV
    assert sorted(p.name for p in tmp_path.iterdir()) == ["winequality-red.csv"]
    assert X.shape == (2, 11) and y.tolist() == [5, 6]

    fetch_wine_quality("red", data_home=tmp_path, download_if_missing=False)
    assert urls == [tiny_remote.url], "the cached file must be reused"


def test_download_with_wrong_checksum_leaves_no_file(tmp_path, monkeypatch):
    remote = WINE_QUALITY_FILES["red"]
    serve(monkeypatch, b"<html>Service unavailable</html>")
    with pytest.raises(OSError, match="SHA-256") as excinfo:
        fetch_wine_quality("red", data_home=tmp_path)
    assert remote.url in str(excinfo.value) and remote.sha256 in str(excinfo.value)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch, tiny_remote):
    serve(monkeypatch, TINY_CSV)

    def disk_full(src, dst):
        raise OSError("No space left on device")

    monkeypatch.setattr(_wine.os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        fetch_wine_quality("red", data_home=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_offline_error_names_url_and_where_to_put_the_file(tmp_path, monkeypatch):
    def offline(url, timeout=60):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(_wine, "_fetch_bytes", offline)
    remote = WINE_QUALITY_FILES["white"]
    with pytest.raises(OSError, match="Could not download") as excinfo:
        fetch_wine_quality("white", data_home=tmp_path)
    message = str(excinfo.value)
    assert remote.url in message
    assert f"put the file at {tmp_path / remote.filename}" in message
    assert "SKANN_DATA_HOME" in message
    assert list(tmp_path.iterdir()) == []


def test_corrupted_cached_file_is_refused_or_replaced(
    tmp_path, monkeypatch, tiny_remote
):
    path = tmp_path / tiny_remote.filename
    path.write_bytes(TINY_CSV.replace(b"9.4;5", b"9.4;7"))
    with pytest.raises(OSError, match=r"SHA-256.*Delete it"):
        fetch_wine_quality("red", data_home=tmp_path, download_if_missing=False)

    serve(monkeypatch, TINY_CSV)
    with pytest.warns(UserWarning, match="Downloading it again"):
        _, y = fetch_wine_quality("red", data_home=tmp_path, return_X_y=True)
    assert y.tolist() == [5, 6]
    assert path.read_bytes() == TINY_CSV


def test_invalid_color_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="'color' parameter"):
        fetch_wine_quality("rose", data_home=tmp_path)
