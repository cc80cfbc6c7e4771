"""Exceptions that skann raises beyond scikit-learn's."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from skann._core.training import TrainingDiverged

__all__ = ["TrainingDiverged"]
