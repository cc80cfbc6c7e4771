"""The recipe's test error on the wine rows that repeat a training row, and the rest.

The UCI wine files hold exact copies of rows (the same eleven measurements
and the same quality), so some test rows of every split repeat a training
row. This splits each test set of ``tabular_recipe.py``'s protocol (seeds 0,
1, 2, ``test_size=0.15``) into those rows and the others and prints a
markdown table of the test RMSE on each group, mean ± std over the seeds:

    SKANN_DATA_HOME=../shared/data python benchmarks/tabular_repeats.py
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings

import numpy as np
from sklearn.model_selection import train_test_split
from tabular_recipe import SEEDS, regressors

from skann.datasets import fetch_wine_quality

MODELS = (
    "recipe",
    "recipe without retrieval",
    "MLPRegressor (128, 64)",
    "RandomForestRegressor",
    "HistGradientBoostingRegressor",
    "KNeighborsRegressor (k=15, distance)",
)


def repeats(X_train, X_test):
    """Whether each test row's features equal those of some training row."""
    seen = {row.tobytes() for row in X_train}
    return np.array([row.tobytes() in seen for row in X_test])


def run(color):
    """Per model, per seed: RMSE on the repeated test rows and on the others."""
    X, y = fetch_wine_quality(color, return_X_y=True)
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    results, counts = {}, []
    for seed in SEEDS:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.15, random_state=seed
        )
        repeated = repeats(X_train, X_test)
        counts.append(int(repeated.sum()))
        models = regressors(seed)
        for name in MODELS:
            error = models[name].fit(X_train, y_train).predict(X_test) - y_test
            results.setdefault(name, []).append(
                [np.sqrt(np.mean(error[rows] ** 2)) for rows in (repeated, ~repeated)]
            )
    return results, counts, len(y_test)


def main():
    warnings.simplefilter("ignore")
    header = "| model | red, repeated rows | red, other rows "
    header += "| white, repeated rows | white, other rows |"
    lines = [header, "|---|---|---|---|---|"]
    runs = {color: run(color) for color in ("red", "white")}
    for name in MODELS:
        cells = []
        for results, _, _ in runs.values():
            values = np.array(results[name])
            cells += [f"{v.mean():.3f} ± {v.std():.3f}" for v in values.T]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for color, (_, counts, n_test) in runs.items():
        print(
            f"{color}: {', '.join(map(str, counts))} of {n_test} test rows repeat "
            f"a training row (seeds {', '.join(map(str, SEEDS))})"
        )
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
