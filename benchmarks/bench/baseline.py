"""The baseline: the skann of another source tree, imported beside this one."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import importlib.util
import inspect
import os
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

import skann
from bench.libraries import SKANN, Library
from bench.machine import git_revision
from bench.workloads import WORKLOADS
from skann import ANNRegressor


def _skann_modules():
    return {
        name: module
        for name, module in sys.modules.items()
        if name == "skann" or name.startswith("skann.")
    }


def _is_under(path, directory):
    path = os.path.realpath(path)
    try:
        return os.path.commonpath([path, directory]) == directory
    except ValueError:
        return False


def load_baseline(tree):
    """The baseline Library: the skann package of the source tree ``tree``.

    The current skann modules are taken out of ``sys.modules``, the tree's
    ``skann`` is imported from its files, and the current modules are put back.
    The baseline's classes keep their own module globals, and skann imports
    its own modules absolutely at import time, so the two copies never mix
    (``verify_sources`` checks this on real fits).
    """
    package_dir = os.path.realpath(os.path.join(tree, "skann"))
    init = os.path.join(package_dir, "__init__.py")
    if not os.path.isfile(init):
        raise SystemExit(f"--baseline: {tree} has no skann/__init__.py")
    if package_dir == SKANN.package_dir:
        raise SystemExit(f"--baseline: {tree} is the tree being benchmarked")
    current = _skann_modules()
    for name in current:
        del sys.modules[name]
    try:
        spec = importlib.util.spec_from_file_location(
            "skann", init, submodule_search_locations=[package_dir]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["skann"] = module
        spec.loader.exec_module(module)
        classifier, regressor = module.ANNClassifier, module.ANNRegressor
        version = getattr(module, "__version__", "unknown")
        # The files the classes and their (unwrapped) fit were defined in.
        sources = [
            sys.modules[cls.__module__].__file__ for cls in (classifier, regressor)
        ]
        sources += [
            inspect.unwrap(cls.fit).__code__.co_filename
            for cls in (classifier, regressor)
        ]
    finally:
        for name in _skann_modules():
            del sys.modules[name]
        sys.modules.update(current)
    if not all(_is_under(source, package_dir) for source in sources):
        raise SystemExit(f"--baseline: the estimators were not loaded from {tree}")
    if sys.modules["skann"] is not skann or regressor is ANNRegressor:
        raise SystemExit("--baseline: the current skann modules were not restored")
    return Library(
        "baseline",
        "baseline",
        classifier,
        regressor,
        package_dir=package_dir,
        source=f"skann {version} (git {git_revision(package_dir)})",
    )


def _files_run(estimator, X, y):
    """The source files of every Python function that fitting ``estimator`` calls."""
    files = set()

    def profile(frame, event, arg):
        if event == "call":
            files.add(frame.f_code.co_filename)

    sys.setprofile(profile)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y)
    finally:
        sys.setprofile(None)
    return files


def verify_sources(baseline):
    """Check on small fits that each skann runs only its own tree's code."""
    for w in (WORKLOADS["W2"], WORKLOADS["W5"]):
        small = w.scaled(True)
        small.n_samples, small.epochs = 200, 1
        X, y = small.make_data(np.float64)
        for lib, other in ((SKANN, baseline), (baseline, SKANN)):
            files = _files_run(lib.make(small, small.epochs), X, y)
            if not any(_is_under(f, lib.package_dir) for f in files) or any(
                _is_under(f, other.package_dir) for f in files
            ):
                raise SystemExit(
                    f"--baseline: a {lib.name} fit ran code from the other tree"
                )
