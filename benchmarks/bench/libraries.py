"""The libraries a run alternates between: skann, scikit-learn and extras."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import os
from dataclasses import dataclass, field

from sklearn.neural_network import MLPClassifier, MLPRegressor

import skann
from skann import ANNClassifier, ANNRegressor

# The two libraries every workload times and the checks compare.
LIBS = ("skann", "sklearn")


@dataclass
class Library:
    """One entry of the alternation: estimator classes and extra parameters.

    ``kind`` is "skann" (the current tree), "sklearn", "baseline" (the skann of
    another tree) or "variant" (the current skann with ``params`` added).
    """

    name: str
    kind: str
    classifier: type
    regressor: type
    params: dict = field(default_factory=dict)
    package_dir: str = ""
    source: str = ""

    @property
    def optional(self):
        """Whether a workload it cannot run is reported rather than fatal."""
        return self.kind in ("baseline", "variant")

    def make(self, workload, epochs):
        cls = self.classifier if workload.is_classifier else self.regressor
        settings = workload.settings(epochs, sklearn=self.kind == "sklearn")
        return cls(**{**settings, **self.params})


SKANN = Library(
    "skann",
    "skann",
    ANNClassifier,
    ANNRegressor,
    package_dir=os.path.realpath(os.path.dirname(skann.__file__)),
)
SKLEARN = Library("sklearn", "sklearn", MLPClassifier, MLPRegressor)
