"""Collection rules for the whole repository: modules whose extra is absent."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import importlib.util


def _installed(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


# The doctests collect every module of skann; skann.onnx needs the onnx extra
# and raises ImportError without it (tests/test_onnx.py skips then).
collect_ignore = [] if _installed("skl2onnx") else ["skann/onnx.py"]
