"""The toolbox page's protocol, shared by the scripts that measure its options.

For each seed, ``train_test_split(X, y, test_size=0.15, random_state=seed)``
on the whole file, and the reference network of docs/user_guide/
tabular_toolbox.rst (StandardScaler, then ANNRegressor((128, 64),
early_stopping=True, target_scaling='standard')) with the option of a row,
fitted on the training rows.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skann import ANNRegressor
from skann.datasets import fetch_wine_quality

SEEDS = (0, 1, 2)


def load(name):
    """``(X, y)`` of 'red', 'white' (the wine files) or 'diabetes'."""
    if name == "diabetes":
        return load_diabetes(return_X_y=True)
    return fetch_wine_quality(name, return_X_y=True)


def fit_reference(name, seed, dtype=np.float64, **params):
    """The fitted reference pipeline with ``params`` set, and the test rows."""
    X, y = load(name)
    X_train, X_test, y_train, y_test = train_test_split(
        X.astype(dtype), y, test_size=0.15, random_state=seed
    )
    model = make_pipeline(
        StandardScaler(),
        ANNRegressor(
            (128, 64), early_stopping=True, target_scaling="standard",
            random_state=seed, **params,
        ),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    return model, X_test, y_test
