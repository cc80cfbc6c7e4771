"""The UCI Wine Quality data: download once, verify, cache and load."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import hashlib
import os
import sys
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


class UnavailableFile(NamedTuple):
    """A data file that could not be had: where it belongs and what went wrong."""

    filename: str
    path: Path
    url: str
    problem: str
    corrupt: bool


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


class DataFilesUnavailable(OSError):
    """Data files that are neither in the data directory nor downloadable.

    Raised by :func:`fetch_wine_quality` and :func:`fetch_wine_quality_files`
    once every requested file has been tried, so that it names all the files
    that are missing or corrupt, not only the first. Nothing is created on the
    way: no directory, no partial file.

    Parameters
    ----------
    files : list of UnavailableFile
        For each file: its name, the path it belongs at, its download URL,
        what went wrong, and whether a corrupt copy is in the way.
    data_home : pathlib.Path
        The data directory that was searched.
    data_home_source : {'argument', 'environment', 'default'}
        Where ``data_home`` came from: the caller's argument, the
        ``SKANN_DATA_HOME`` environment variable, or the default
        ``~/skann_data``. It chooses the advice in the message.

    Attributes
    ----------
    files, data_home, data_home_source
        As given.

    Notes
    -----
    ``str(error)`` calls the directory option ``data_home``, the argument of
    the Python functions. A program with its own name for that option builds
    the message with :meth:`message`, for example
    ``error.message(data_home_option="--data-home")``.
    """

    def __init__(self, files, data_home, data_home_source):
        self.files = list(files)
        self.data_home = Path(data_home)
        self.data_home_source = data_home_source
        super().__init__(self.message())

    def message(self, data_home_option="data_home"):
        """Describe every unavailable file and how to fix it.

        Parameters
        ----------
        data_home_option : str, default='data_home'
            The name under which the caller's user sets the data directory,
            such as ``"--data-home"`` for a command-line option.

        Returns
        -------
        message : str
            One line per file with its path, the problem and its URL, then
            what to do.
        """
        where = {
            "argument": f"given by {data_home_option}",
            "environment": "from the SKANN_DATA_HOME environment variable",
            "default": "the default data directory",
        }[self.data_home_source]
        n_files = len(self.files)
        are = "files are" if n_files > 1 else "file is"
        lines = [
            f"{n_files} wine-quality {are} not available in {self.data_home} ({where}):"
        ]
        lines += [f"  {f.path}: {f.problem}" for f in self.files]
        them = "them" if n_files > 1 else "it"
        fix = (
            f"To fix this, download {'each URL' if n_files > 1 else 'the URL'} "
            "above (on another machine if this one is offline) and save "
            f"{'each file' if n_files > 1 else 'the file'} at the path shown"
        )
        if any(f.corrupt for f in self.files):
            fix += ", replacing the corrupt copy"
        if self.data_home_source == "argument":
            fix += f", or point {data_home_option} at a directory that holds {them}."
        else:
            fix += (
                f", or point {data_home_option} or the SKANN_DATA_HOME environment "
                f"variable at a directory that holds {them}."
            )
        return "\n".join([*lines, fix])

    def __reduce__(self):
        # Rebuilt from its fields, so the error survives joblib's worker processes.
        return type(self), (self.files, self.data_home, self.data_home_source)


def _resolve_data_home(data_home):
    """The data directory and where it came from; nothing is created."""
    if data_home is not None:
        source = "argument"
    elif os.environ.get("SKANN_DATA_HOME"):
        data_home, source = os.environ["SKANN_DATA_HOME"], "environment"
    else:
        data_home, source = os.path.join("~", "skann_data"), "default"
    return Path(data_home).expanduser(), source


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
    data_home, _ = _resolve_data_home(data_home)
    data_home.mkdir(parents=True, exist_ok=True)
    return data_home


def _sha256(content):
    return hashlib.sha256(content).hexdigest()


def _fetch_bytes(url, timeout=60):
    """Return the body of ``url``; the one place that touches the network."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _warn(message):
    """Warn, attributing the warning to the first caller outside this package."""
    # validate_params wraps the public functions, so a fixed stacklevel would
    # point into scikit-learn's _param_validation module instead of the caller.
    here = str(Path(__file__).parent)
    frame, stacklevel = sys._getframe(0), 1
    while frame.f_back is not None and (
        frame.f_code.co_filename.startswith(here)
        or frame.f_code.co_filename.endswith("_param_validation.py")
    ):
        frame, stacklevel = frame.f_back, stacklevel + 1
    warnings.warn(message, UserWarning, stacklevel=stacklevel)


def _missing_parents(directory):
    """The directories that creating ``directory`` would create, deepest first."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    return missing


def _atomic_write(path, content):
    """Write ``content`` to ``path`` so that no partial file is ever visible."""
    created = _missing_parents(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
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
        # The directories made for this file go too, so a failure leaves nothing.
        for directory in created:
            try:
                directory.rmdir()
            except OSError:
                break
        raise


def _local_copy(remote, path, download_if_missing):
    """Make ``path`` a verified copy of ``remote``; None, or what went wrong."""
    corrupt = path.exists()
    if corrupt:
        checksum = _sha256(path.read_bytes())
        if checksum == remote.sha256:
            return None
        state = (
            f"corrupt: its SHA-256 is {checksum}, not {remote.sha256} (a damaged "
            "or truncated copy, or not the original UCI file)"
        )
    else:
        state = "not found"

    def unavailable(reason):
        problem = f"{state}, and {reason}"
        return UnavailableFile(remote.filename, path, remote.url, problem, corrupt)

    if not download_if_missing:
        return unavailable(f"download_if_missing=False; its URL is {remote.url}")
    copy = "a fresh copy" if corrupt else "it"
    try:
        content = _fetch_bytes(remote.url)
    except OSError as exc:
        return unavailable(f"downloading {copy} from {remote.url} failed ({exc})")
    checksum = _sha256(content)
    if checksum != remote.sha256:
        return unavailable(
            f"the copy downloaded from {remote.url} has SHA-256 {checksum}, not "
            f"{remote.sha256}, so it was not saved (a damaged download, or the "
            "file changed upstream)"
        )
    try:
        _atomic_write(path, content)
    except OSError as exc:
        return unavailable(
            f"saving {copy}, downloaded from {remote.url}, failed ({exc})"
        )
    if corrupt:
        _warn(f"{path} was {state}; it was replaced by a fresh download.")
    return None


@validate_params(
    {
        "colors": ["array-like"],
        "data_home": [str, os.PathLike, None],
        "download_if_missing": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def fetch_wine_quality_files(
    colors=("red", "white"), *, data_home=None, download_if_missing=True
):
    """Make sure the UCI Wine Quality files are cached, and return their paths.

    Each file that is missing or corrupt in ``data_home`` is downloaded and
    checked against its known SHA-256 digest. Every file is tried before any
    error is raised, so that the error names all the files that are
    unavailable. :func:`fetch_wine_quality` loads one file through this
    function; a program that needs several calls this first.

    Parameters
    ----------
    colors : list of {'red', 'white'}, default=('red', 'white')
        The files to make available.

    data_home : str or path-like, default=None
        Directory where the files are cached. If None, the ``SKANN_DATA_HOME``
        environment variable, and otherwise ``~/skann_data``. It is created
        only when a verified download is saved into it.

    download_if_missing : bool, default=True
        If False, a missing or corrupt file is an error instead of a download.

    Returns
    -------
    paths : dict
        The path of the verified file of each colour.

    Raises
    ------
    DataFilesUnavailable
        If any file is missing or corrupt and cannot be downloaded. Its message
        names every such file, its URL and where to put it; nothing is created
        on the way. Its ``message(data_home_option=...)`` rewords the advice
        for a program that sets the directory with an option of its own.

    Warns
    -----
    UserWarning
        When a corrupt cached file was replaced by a fresh download.

    Examples
    --------
    >>> from skann.datasets import fetch_wine_quality_files
    >>> paths = fetch_wine_quality_files(["red", "white"])  # doctest: +SKIP
    >>> paths["red"].name  # doctest: +SKIP
    'winequality-red.csv'
    """
    colors = list(dict.fromkeys(colors))
    unknown = [c for c in colors if c not in WINE_QUALITY_FILES]
    if unknown:
        raise ValueError(f"colors must be 'red' or 'white', got {unknown}.")
    home, source = _resolve_data_home(data_home)
    paths, unavailable = {}, []
    for color in colors:
        remote = WINE_QUALITY_FILES[color]
        path = home / remote.filename
        problem = _local_copy(remote, path, download_if_missing)
        if problem is None:
            paths[color] = path
        else:
            unavailable.append(problem)
    if unavailable:
        raise DataFilesUnavailable(unavailable, home, source)
    return paths


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
        The directory is created only when a download is saved into it.

    download_if_missing : bool, default=True
        If False, raise an error when the file is not cached (or is corrupt)
        instead of downloading it.

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
    DataFilesUnavailable
        An ``OSError``, if the file is missing or corrupt and cannot be
        downloaded. The message says which, names the URL and where to put
        the file. Nothing is created on the way.

    Warns
    -----
    UserWarning
        When a corrupt cached file was replaced by a fresh download.

    See Also
    --------
    fetch_wine_quality_files : Make sure several files are cached at once.

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
    path = fetch_wine_quality_files(
        [color], data_home=data_home, download_if_missing=download_if_missing
    )[color]
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
