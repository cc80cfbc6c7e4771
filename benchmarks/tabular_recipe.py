"""The tabular recipe measured by the retrieval issue's protocol, with its ablations.

For seed in 0, 1, 2: ``train_test_split(X, y, test_size=0.15, random_state=seed)``
on the full data; every model is fitted on the training rows only (its
validation rows, if any, come out of them); the test RMSE (or log-loss and
accuracy) is averaged over the seeds. Prints markdown tables.

    SKANN_DATA_HOME=../shared/data python benchmarks/tabular_recipe.py --out FILE
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import argparse
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.datasets import load_diabetes
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skann import make_tabular_classifier, make_tabular_regressor
from skann.datasets import fetch_wine_quality

SEEDS = (0, 1, 2)


def repeated_noisy_rows(n=3000, seed=123):
    """Rows that repeat (discrete features) with noisy targets.

    Three categorical-like and two ordinal features: about a third of the
    rows share their features with another row, and the noise (sd 1) is as
    large as the signal, so recalling a neighbour's target is worse than
    the smooth fit: a retrieving model must learn to distrust them.
    """
    r = np.random.RandomState(seed)
    c1, c2, c3 = r.randint(0, 6, n), r.randint(0, 5, n), r.randint(0, 4, n)
    o1, o2 = r.randint(0, 8, n) / 7.0, r.randint(0, 8, n) / 7.0
    X = np.column_stack([c1, c2, c3, o1, o2]).astype(float)
    effect = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 0.3])
    f = (
        effect[c1]
        + 0.4 * c2 * (o1 - 0.5)
        + np.sin(3 * o1) * (c3 % 2)
        + 1.5 * (o2 - 0.5) ** 2
        + 0.5 * o2
    )
    return X, f + r.randn(n)


def regression_data():
    data = {c: fetch_wine_quality(c, return_X_y=True) for c in ("red", "white")}
    data["diabetes"] = load_diabetes(return_X_y=True)
    data["repeated noisy rows"] = repeated_noisy_rows()
    return data


class KNeighborsBlend(RegressorMixin, BaseEstimator):
    """The simple baseline: a network and a k-NN regressor, blended.

    ``k`` and the blend weight are chosen on an inner split of the training
    rows (15%), then both models are refitted on all of them.
    """

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _network(self):
        return make_tabular_regressor(random_state=self.random_state, n_neighbors=None)

    def fit(self, X, y):
        Xf, Xv, yf, yv = train_test_split(
            X, y, test_size=0.15, random_state=self.random_state
        )
        network = self._network().fit(Xf, yf).predict(Xv)
        best = (np.inf, None, None)
        for k in (5, 10, 20, 40):
            knn = _knn(k).fit(Xf, yf).predict(Xv)
            for weight in np.linspace(0, 1, 11):
                blend = weight * knn + (1 - weight) * network
                rmse = np.sqrt(np.mean((blend - yv) ** 2))
                if rmse < best[0]:
                    best = (rmse, k, weight)
        _, self.k_, self.weight_ = best
        self.network_ = self._network().fit(X, y)
        self.knn_ = _knn(self.k_).fit(X, y)
        return self

    def predict(self, X):
        knn, network = self.knn_.predict(X), self.network_.predict(X)
        return self.weight_ * knn + (1 - self.weight_) * network


def _knn(k):
    return make_pipeline(StandardScaler(), KNeighborsRegressor(k, weights="distance"))


def regressors(seed):
    mlp = {"early_stopping": True, "max_iter": 300, "random_state": seed}
    return {
        "recipe": make_tabular_regressor(random_state=seed),
        "recipe without retrieval": make_tabular_regressor(
            random_state=seed, n_neighbors=None
        ),
        "recipe, StandardScaler": make_tabular_regressor(random_state=seed).set_params(
            estimator__scale=StandardScaler()
        ),
        "recipe, alpha=1e-4": make_tabular_regressor(random_state=seed, alpha=1e-4),
        "MLPRegressor (128, 64)": make_pipeline(
            StandardScaler(), MLPRegressor(hidden_layer_sizes=(128, 64), **mlp)
        ),
        "RandomForestRegressor": RandomForestRegressor(
            300, n_jobs=1, random_state=seed
        ),
        "HistGradientBoostingRegressor": HistGradientBoostingRegressor(
            random_state=seed
        ),
        "KNeighborsRegressor (k=15, distance)": _knn(15),
        "blend: network without retrieval + k-NN": KNeighborsBlend(seed),
    }


def classifiers(seed):
    mlp = {"early_stopping": True, "max_iter": 300, "random_state": seed}
    return {
        "recipe": make_tabular_classifier(random_state=seed),
        "recipe without retrieval": make_tabular_classifier(
            random_state=seed, n_neighbors=None
        ),
        "MLPClassifier (128, 64)": make_pipeline(
            StandardScaler(), MLPClassifier(hidden_layer_sizes=(128, 64), **mlp)
        ),
        "RandomForestClassifier": RandomForestClassifier(
            300, n_jobs=1, random_state=seed
        ),
        "HistGradientBoostingClassifier": HistGradientBoostingClassifier(
            random_state=seed
        ),
        "KNeighborsClassifier (k=15, distance)": make_pipeline(
            StandardScaler(), KNeighborsClassifier(15, weights="distance")
        ),
    }


def run_regression(names):
    data = regression_data()
    results = {}
    for dataset, (X, y) in data.items():
        for seed in SEEDS:
            Xtr, Xte, ytr, yte = train_test_split(
                X, y, test_size=0.15, random_state=seed
            )
            for name, model in regressors(seed).items():
                if names and name not in names:
                    continue
                start = time.perf_counter()
                model.fit(Xtr, ytr)
                seconds = time.perf_counter() - start
                rmse = float(np.sqrt(np.mean((model.predict(Xte) - yte) ** 2)))
                results.setdefault((name, dataset), []).append((rmse, seconds))
    return list(data), results


def run_classification(names):
    tasks = {}
    for color in ("red", "white"):
        X, y = fetch_wine_quality(color, return_X_y=True)
        tasks[f"{color}, quality >= 7"] = (X, (y >= 7).astype(int))
        tasks[f"{color}, quality classes"] = (X, y.astype(int))
    results = {}
    for task, (X, y) in tasks.items():
        for seed in SEEDS:
            Xtr, Xte, ytr, yte = train_test_split(
                X, y, test_size=0.15, random_state=seed, stratify=y
            )
            for name, model in classifiers(seed).items():
                if names and name not in names:
                    continue
                start = time.perf_counter()
                model.fit(Xtr, ytr)
                seconds = time.perf_counter() - start
                proba = model.predict_proba(Xte)
                loss = log_loss(yte, proba, labels=model.classes_)
                accuracy = accuracy_score(yte, model.predict(Xte))
                results.setdefault((name, task), []).append((loss, accuracy, seconds))
    return list(tasks), results


def table(columns, results, metrics):
    names = list(dict.fromkeys(name for name, _ in results))
    head = ["model"] + [f"{c} {m}" for c in columns for m in metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        cells = [name]
        for column in columns:
            runs = np.array(results.get((name, column), []))
            for k, _ in enumerate(metrics):
                if not len(runs):
                    cells.append("")
                elif k == len(metrics) - 1:
                    cells.append(f"{runs[:, k].mean():.1f}")
                else:
                    values = runs[:, k]
                    cells.append(f"{values.mean():.3f} ± {values.std():.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["regression", "classification", "both"],
                        default="both")  # fmt: skip
    parser.add_argument("--models", default="", help="comma-separated model names")
    parser.add_argument("--out", help="also write the tables to this file")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    warnings.simplefilter("ignore")
    parts = []
    if args.task in ("regression", "both"):
        columns, results = run_regression(names)
        parts.append("## Regression: test RMSE, s per fit\n\n"
                     + table(columns, results, ["RMSE", "s"]))  # fmt: skip
    if args.task in ("classification", "both"):
        columns, results = run_classification(names)
        metrics = ["log-loss", "accuracy", "s"]
        parts.append("## Classification: log-loss, accuracy, s per fit\n\n"
                     + table(columns, results, metrics))  # fmt: skip
    text = "\n\n".join(parts) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
