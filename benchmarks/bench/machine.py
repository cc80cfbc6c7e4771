"""The machine a run is on: CPU, BLAS, versions, load and git revisions."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import datetime
import os
import platform
import subprocess

import numpy as np
import scipy
import sklearn
from threadpoolctl import threadpool_info

import skann

# Set in some environments, they make OpenBLAS pick a slower kernel.
BLAS_ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def blas_lines():
    """threadpoolctl's view of the loaded BLAS and OpenMP libraries.

    Only the name of the package directory the library ships in is kept (for
    example ``numpy.libs``), never a full path.
    """
    lines = []
    for info in threadpool_info():
        where = os.path.basename(os.path.dirname(info.get("filepath", "")))
        parts = [
            f"{info.get('user_api')}: {info.get('internal_api')}",
            f"version {info.get('version')}",
        ]
        if info.get("architecture"):
            parts.append(f"kernel {info['architecture']}")
        if info.get("threading_layer"):
            parts.append(f"threading {info['threading_layer']}")
        parts.append(f"num_threads {info.get('num_threads')}")
        parts.append(f"from {where}")
        lines.append(", ".join(parts))
    return lines


def load_average():
    """The 1, 5 and 15 minute load averages, or NaNs where unavailable."""
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return (float("nan"),) * 3


def skann_revision():
    """The git commit skann was imported from, marked when its files differ."""
    return git_revision(os.path.dirname(os.path.abspath(skann.__file__)))


def git_revision(where):
    """The git commit of the skann package directory ``where``, marked when dirty."""

    def git(*cmd):
        return subprocess.run(
            ["git", *cmd],
            check=False,
            cwd=where,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown (not a git checkout)"
    return commit + (" with uncommitted changes to skann" if dirty else "")


def machine_info():
    env = {
        name: (f"set ({os.environ[name]})" if name in os.environ else "unset")
        for name in BLAS_ENV_VARS
    }
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "machine": f"{platform.platform()}, {platform.machine()}",
        "cpu": cpu_model(),
        "cores": f"{usable_cores()} usable of {os.cpu_count()} logical",
        "python": platform.python_version(),
        "versions": (
            f"numpy {np.__version__}, scipy {scipy.__version__}, "
            f"scikit-learn {sklearn.__version__}, skann {skann.__version__} "
            f"(git {skann_revision()})"
        ),
        "blas": blas_lines(),
        "env": env,
        "load": load_average(),
    }
