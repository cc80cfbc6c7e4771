"""The UCI Wine Quality data: download once, verify, cache and load."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import hashlib
import os
import tempfile
import urllib.request
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions, validate_params


class RemoteFile(NamedTuple):
    """Where a data file comes from and the SHA-256 digest it must have."""

    filename: str
    url: str
    sha256: str


_UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases/wine-quality/"

WINE_QUALITY_FILES = {
    "red": RemoteFile(
        "winequality-red.csv",
        _UCI + "winequality-red.csv",
        "4a402cf041b025d4566d954c3b9ba8635a3a8a01e039005d97d6a710278cf05e",
    ),
    "white": RemoteFile(
        "winequality-white.csv",
        _UCI + "winequality-white.csv",
        "76c3f809815c17c07212622f776311faeb31e87610d52c26d87d6e361b169836",
    ),
}

_N_SAMPLES = {"red": 1599, "white": 4898}

_DESCR = """\
Wine Quality data set ({color} wine)
{underline}

**Data Set Characteristics:**

:Number of Instances: {n_samples}
:Number of Attributes: 11 numeric physico-chemical measurements
:Target: ``quality``, a sensory score from 0 to 10 given by wine experts
    (the median of at least three assessments); observed values run from
    3 to {max_quality}
:Missing Attribute Values: None
:Source: UCI Machine Learning Repository, "Wine Quality"
:License: Creative Commons Attribution 4.0 International (CC BY 4.0)

The {color} variant of the Portuguese "Vinho Verde" wine (red and white
are two separate files of the same data set), measured in the laboratory
(acidity, residual sugar, chlorides, sulphur dioxide, density, pH, sulphates,
alcohol) and scored by tasters. Grape types, brands and prices are not part
of the data. The scores are ordered and unbalanced: most wines score 5 or 6,
few are excellent or poor. The file holds exact duplicate rows; they come
from the original data and are kept here.

The data can be treated as regression (as skann's comparison with the
articles' table does) or as ordinal classification.

**References**

  - P. Cortez, A. Cerdeira, F. Almeida, T. Matos and J. Reis (2009).
    Modeling wine preferences by data mining from physicochemical properties.
    Decision Support Systems 47(4):547-553.
    https://doi.org/10.1016/j.dss.2009.05.016
"""


def get_data_home(data_home=None):
    """Return the path of skann's data directory, creating it if needed.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The directory to use. If None, the ``SKANN_DATA_HOME`` environment
        variable is used, and if that is unset, ``~/skann_data``. A leading
        ``~`` is expanded to the user's home directory.

    Returns
    -------
    data_home : pathlib.Path
        The data directory.
    """
    if data_home is None:
        data_home = os.environ.get("SKANN_DATA_HOME", os.path.join("~", "skann_data"))
    data_home = Path(data_home).expanduser()
    data_home.mkdir(parents=True, exist_ok=True)
    return data_home


def _sha256(content):
    return hashlib.sha256(content).hexdigest()


def _fetch_bytes(url, timeout=60):
    """Return the body of ``url``; the one place that touches the network."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _atomic_write(path, content):
    """Write ``content`` to ``path`` so that no partial file is ever visible."""
    # A temporary file in the same directory, then a rename: os.replace is
    # atomic within one file system, so readers see the old state or the new one.
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".part"
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _download(remote, path):
    try:
        content = _fetch_bytes(remote.url)
    except OSError as exc:
        raise OSError(
            f"Could not download {remote.filename} from {remote.url} ({exc}). "
            f"Without network access, download that URL on another machine and "
            f"put the file at {path}, or point data_home or the SKANN_DATA_HOME "
            "environment variable to a directory that holds it."
        ) from exc
    checksum = _sha256(content)
    if checksum != remote.sha256:
        raise OSError(
            f"The file downloaded from {remote.url} has SHA-256 {checksum}, but "
            f"{remote.sha256} was expected, so it was not saved. The download may "
            "have been corrupted or the file changed upstream; try again, or put a "
            f"verified copy at {path}."
        )
    _atomic_write(path, content)


def _local_copy(remote, data_home, download_if_missing):
    """Path of a verified local copy of ``remote``, downloading it if allowed."""
    path = data_home / remote.filename
    if path.exists():
        checksum = _sha256(path.read_bytes())
        if checksum == remote.sha256:
            return path
        message = (
            f"{path} has SHA-256 {checksum}, but {remote.sha256} was expected: "
            "the file is corrupted or is not the original UCI file."
        )
        if not download_if_missing:
            raise OSError(
                f"{message} Delete it and download it again from {remote.url}."
            )
        warnings.warn(
            f"{message} Downloading it again from {remote.url}.", stacklevel=3
        )
    elif not download_if_missing:
        raise OSError(
            f"{remote.filename} was not found in {data_home} and "
            f"download_if_missing=False. Download it from {remote.url} and put "
            f"it at {path}, or point data_home or the SKANN_DATA_HOME environment "
            "variable to a directory that holds it."
        )
    _download(remote, path)
    return path


def _read_csv(path):
    """Column names and values of a semicolon-separated UCI wine file."""
    with open(path, encoding="ascii") as f:
        header = f.readline()
    columns = [name.strip().strip('"') for name in header.split(";")]
    values = np.loadtxt(path, delimiter=";", skiprows=1, dtype=np.float64, ndmin=2)
    if values.shape[1] != len(columns) or columns[-1] != "quality":
        raise ValueError(
            f"{path} does not have the layout of the UCI wine-quality files "
            f"(got columns {columns})."
        )
    return columns, values


@validate_params(
    {
        "color": [StrOptions({"red", "white"})],
        "data_home": [str, os.PathLike, None],
        "download_if_missing": ["boolean"],
        "return_X_y": ["boolean"],
        "as_frame": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def fetch_wine_quality(
    color="red",
    *,
    data_home=None,
    download_if_missing=True,
    return_X_y=False,
    as_frame=False,
):
    """Load the UCI Wine Quality data set (regression or classification).

    The file is downloaded from the UCI Machine Learning Repository on first
    use, checked against its known SHA-256 digest and cached in ``data_home``;
    later calls work offline.

    =================   ===========   ============
    color               red           white
    =================   ===========   ============
    Samples             1599          4898
    Features            11            11
    Target              quality 3-8   quality 3-9
    =================   ===========   ============

    Read more in the data set description, ``DESCR``.

    Parameters
    ----------
    color : {'red', 'white'}, default='red'
        Which variant of the wine to load.

    data_home : str or path-like, default=None
        Directory where the file is cached. If None, the ``SKANN_DATA_HOME``
        environment variable, and otherwise ``~/skann_data``. The file
        ``winequality-<color>.csv`` is looked for directly in that directory.

    download_if_missing : bool, default=True
        If False, raise an ``OSError`` when the file is not cached instead of
        downloading it.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame, ``target`` a pandas Series and
        the Bunch holds both in ``frame``. Requires pandas.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : {ndarray, DataFrame} of shape (n_samples, 11)
            The physico-chemical measurements.
        target : {ndarray, Series} of shape (n_samples,)
            The quality score, an integer.
        frame : DataFrame of shape (n_samples, 12) or None
            Data and target together, only when ``as_frame=True``.
        feature_names : list of str
            The names of the 11 measurements, as in the file's header.
        target_names : list of str
            ``['quality']``.
        DESCR : str
            A description of the data set, its source, citation and licence.

    (data, target) : tuple if ``return_X_y`` is True
        The two arrays (or DataFrame and Series) described above.

    Raises
    ------
    OSError
        If the file is missing and cannot be downloaded, or if its SHA-256
        digest is wrong. The message names the URL and where to put the file.

    Notes
    -----
    The data are by P. Cortez, A. Cerdeira, F. Almeida, T. Matos and J. Reis
    (2009), "Modeling wine preferences by data mining from physicochemical
    properties", Decision Support Systems 47(4):547-553, distributed by the
    UCI Machine Learning Repository under the CC BY 4.0 licence.

    Examples
    --------
    >>> from skann.datasets import fetch_wine_quality
    >>> X, y = fetch_wine_quality(color="white", return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (4898, 11)
    """
    remote = WINE_QUALITY_FILES[color]
    path = _local_copy(remote, get_data_home(data_home), download_if_missing)
    columns, values = _read_csv(path)
    feature_names = columns[:-1]
    data, target = values[:, :-1], values[:, -1].astype(np.int64)

    frame = None
    if as_frame:
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "fetch_wine_quality with as_frame=True requires pandas; "
                "install it with `pip install pandas`."
            ) from exc
        frame = pd.DataFrame(data, columns=feature_names)
        frame["quality"] = target
        data, target = frame[feature_names], frame["quality"]

    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=feature_names,
        target_names=["quality"],
        DESCR=_DESCR.format(
            color=color,
            underline="-" * len(f"Wine Quality data set ({color} wine)"),
            n_samples=_N_SAMPLES[color],
            max_quality=9 if color == "white" else 8,
        ),
    )
