"""The workloads: fixed-seed data and the settings every library fits with."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from dataclasses import dataclass, field

import numpy as np
from sklearn.datasets import make_classification

SEED = 0


def _standardize(A):
    return (A - A.mean(axis=0)) / A.std(axis=0)


def regression_data(n_samples, n_features, seed=SEED):
    """Gaussian inputs and a smooth nonlinear, standardised target with noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    w1, w2 = rng.standard_normal((2, n_features)) / np.sqrt(n_features)
    y = np.sin(X @ w1) + 0.5 * (X @ w2) ** 2 + 0.1 * X[:, 0]
    y += 0.1 * rng.standard_normal(n_samples)
    return X, _standardize(y)


def toy_function_data(n_samples, n_features=2, seed=SEED):
    """Article 4's f(x, y) = sin x + x cos y + y + 3^(x/3), x, y in [-10, 10].

    Inputs and target are standardised, as the article does.
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(-10, 10, (n_samples, n_features))
    x, y = X[:, 0], X[:, 1]
    target = np.sin(x) + x * np.cos(y) + y + 3 ** (x / 3)
    return _standardize(X), _standardize(target)


def classification_data(n_samples, n_features, n_classes, seed=SEED):
    """scikit-learn's make_classification, inputs standardised."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_features // 2,
        n_redundant=n_features // 4,
        n_classes=n_classes,
        n_clusters_per_class=2,
        class_sep=1.0,
        random_state=seed,
    )
    return _standardize(X), y


@dataclass
class Workload:
    """One benchmark: data shape, network and solver, and the time target.

    ``target`` is None for a workload that is measured but not judged.
    """

    name: str
    description: str
    n_samples: int
    n_features: int
    hidden: tuple
    activation: str
    solver: str
    learning_rate: float
    batch_size: int
    epochs: int
    target: float | None
    data: str = "regression"
    n_classes: int = 0
    alpha: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = True
    quick: dict = field(default_factory=dict)

    @property
    def is_classifier(self):
        return self.data == "classification"

    def scaled(self, quick, epochs_override=None):
        """A copy with the quick-mode sizes and any epoch override applied."""
        changes = dict(self.quick) if quick else {}
        if epochs_override is not None:
            changes["epochs"] = epochs_override
        params = {**self.__dict__, **changes}
        params["batch_size"] = min(params["batch_size"], params["n_samples"])
        return Workload(**params)

    def make_data(self, dtype):
        if self.data == "classification":
            X, y = classification_data(self.n_samples, self.n_features, self.n_classes)
        elif self.data == "toy":
            X, y = toy_function_data(self.n_samples, self.n_features)
        else:
            X, y = regression_data(self.n_samples, self.n_features)
        X = np.ascontiguousarray(X, dtype=dtype)
        if not self.is_classifier:
            y = y.astype(dtype)
        return X, y

    def settings(self, epochs, sklearn=False):
        """The constructor parameters every library gets for this workload."""
        common = {
            "hidden_layer_sizes": self.hidden,
            "activation": self.activation,
            "solver": self.solver,
            "alpha": self.alpha,
            "batch_size": self.batch_size,
            "max_iter": epochs,
            "shuffle": True,
            "random_state": SEED,
            "tol": 0.0,
            "n_iter_no_change": epochs,
            "early_stopping": False,
            "momentum": self.momentum,
            "nesterovs_momentum": self.nesterov,
        }
        # skann's learning_rate is the step size, scikit-learn's learning_rate_init.
        rate = "learning_rate_init" if sklearn else "learning_rate"
        return {rate: self.learning_rate, **common}

    def shape(self):
        out = f"{self.n_classes} classes" if self.is_classifier else "1"
        return f"{self.n_samples}x{self.n_features} -> {out}"


WORKLOADS = {
    w.name: w
    for w in [
        Workload(
            "W1", "the articles' deep net (red-wine size)", 1119, 11,
            (50, 30, 20, 10, 5), "tanh", "sgd", 0.01, 200, 200, 0.40,
            alpha=0.1, quick={"epochs": 20},
        ),
        Workload(
            "W1s", "W1 with per-sample SGD (batch_size=1)", 1119, 11,
            (50, 30, 20, 10, 5), "tanh", "sgd", 0.01, 1, 5, 0.25,
            alpha=0.1, quick={"epochs": 1, "n_samples": 500},
        ),
        Workload(
            "W2", "a shallow net (white-wine size)", 3429, 11, (10,), "relu",
            "adam", 1e-3, 200, 200, 0.22, quick={"epochs": 20},
        ),
        Workload(
            "W3", "article 4's net, full-batch gradient descent", 10000, 2,
            (64, 64, 64), "relu", "sgd", 1e-3, 10000, 2000, 0.55, data="toy",
            alpha=0.0, momentum=0.0, nesterov=False,
            quick={"epochs": 50, "n_samples": 5000, "batch_size": 5000},
        ),
        Workload(
            "W4", "a wide net", 50000, 100, (256, 256), "relu", "adam", 1e-3,
            256, 5, 0.65, quick={"epochs": 1, "n_samples": 10000},
        ),
        Workload(
            "W5", "a classifier", 20000, 64, (128,), "relu", "adam", 1e-3, 200,
            10, 0.45, data="classification", n_classes=10,
            quick={"epochs": 2, "n_samples": 5000},
        ),
        Workload(
            "W5t", "W5 with a tanh hidden layer", 20000, 64, (128,), "tanh",
            "adam", 1e-3, 200, 10, None, data="classification", n_classes=10,
            quick={"epochs": 2, "n_samples": 5000},
        ),
    ]
}  # fmt: skip


@dataclass
class PredictWorkload:
    """Time ``predict`` of a fitted network on ``n_rows`` rows, ``calls`` at a time.

    Every predict workload uses the same fitted models: one regressor and one
    classifier per library and dtype, of the shape :data:`PREDICT_MODEL`
    gives, fitted once on :data:`PREDICT_FIT_ROWS` rows. A timing run is
    ``calls`` consecutive calls on the same rows, so that a run of a small
    call lasts long enough for the clock; the time per call is its seconds
    over ``calls``.
    """

    name: str
    n_rows: int
    calls: int
    quick: dict = field(default_factory=dict)

    def scaled(self, quick):
        """A copy with the quick-mode sizes applied."""
        changes = dict(self.quick) if quick else {}
        return PredictWorkload(**{**self.__dict__, **changes})

    def make_data(self, dtype):
        """The rows to predict: standard normal inputs, their own seed."""
        rng = np.random.default_rng(SEED + 1)
        X = rng.standard_normal((self.n_rows, PREDICT_MODEL["n_features"]))
        return np.ascontiguousarray(X, dtype=dtype)


# The network every predict workload times, fitted briefly: its weights do not
# change the cost of a forward pass.
PREDICT_MODEL = {"n_features": 20, "hidden": (64, 64), "activation": "relu"}
PREDICT_FIT_ROWS = 2000
PREDICT_FIT_EPOCHS = 5
PREDICT_N_CLASSES = 10
# Regressor and classifier, fitted like fit workloads of this shape.
PREDICT_FITS = {
    kind: Workload(
        f"predict-{kind}", f"the model predict workloads time ({kind})",
        PREDICT_FIT_ROWS, PREDICT_MODEL["n_features"], PREDICT_MODEL["hidden"],
        PREDICT_MODEL["activation"], "adam", 1e-3, 200, PREDICT_FIT_EPOCHS, 0.0,
        data=data, n_classes=n_classes, quick={"epochs": 2},
    )
    for kind, data, n_classes in (
        ("regressor", "regression", 0),
        ("classifier", "classification", PREDICT_N_CLASSES),
    )
}  # fmt: skip

PREDICT_WORKLOADS = {
    w.name: w
    for w in [
        PredictWorkload("P1", 1, 1000, quick={"calls": 100}),
        PredictWorkload("P100", 100, 500, quick={"calls": 50}),
        PredictWorkload("P1k", 1_000, 100, quick={"calls": 10}),
        PredictWorkload("P10k", 10_000, 20, quick={"calls": 3}),
        PredictWorkload("P100k", 100_000, 3, quick={"calls": 1}),
        # Quick mode predicts a tenth of the rows, once.
        PredictWorkload("P1M", 1_000_000, 1, quick={"n_rows": 100_000}),
    ]
}
