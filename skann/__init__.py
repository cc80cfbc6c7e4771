"""scikit-learn compatible neural-network estimators on one NumPy backprop core."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from skann._classifier import ANNClassifier
from skann._regressor import ANNRegressor
from skann._tabular import make_tabular_classifier, make_tabular_regressor

__version__ = "0.3.0.dev0"

__all__ = [
    "ANNClassifier",
    "ANNRegressor",
    "__version__",
    "make_tabular_classifier",
    "make_tabular_regressor",
]
