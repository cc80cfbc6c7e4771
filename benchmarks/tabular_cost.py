"""What retrieval costs: fit and predict time, pickle size and predict memory.

Fits ``make_tabular_regressor`` with and without retrieval, and a random
forest of 300 trees, on the white wines' training rows of seed 0
(``train_test_split(test_size=0.15, random_state=0)``) and prints a markdown
table: epochs, the fit's CPU time per epoch (its neighbour search
included), the fit's wall and CPU seconds, the best of five predictions of
the test rows, the prediction of 100,000 rows (the test rows repeated) with
the peak of the memory NumPy allocates meanwhile, and the size of the
pickled model. CPU times are the steadier on a busy machine. Run it with one
BLAS thread for stable times:

    OPENBLAS_NUM_THREADS=1 SKANN_DATA_HOME=../shared/data \
        python benchmarks/tabular_cost.py
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import pickle
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import train_test_split

from skann import make_tabular_regressor
from skann.datasets import fetch_wine_quality

N_LARGE = 100_000


def _timed(function, repeat=1):
    """Best wall time of ``repeat`` calls and the CPU time of that call."""
    best = (np.inf, np.inf)
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


MODELS = {
    "recipe": lambda: make_tabular_regressor(random_state=0),
    "recipe, n_neighbors=None": lambda: make_tabular_regressor(
        random_state=0, n_neighbors=None
    ),
    "RandomForestRegressor(300)": lambda: RandomForestRegressor(
        300, n_jobs=1, random_state=0
    ),
}


def measure(name, X_train, X_test, y_train, y_test):
    """One row of the table: the model called ``name``."""
    model = MODELS[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_wall, fit_cpu = _timed(lambda: model.fit(X_train, y_train))
    kept = getattr(model, "best_estimator_", model)
    if hasattr(kept, "steps"):
        # A search fits one network per candidate: count them all.
        n_fits = len(getattr(model, "validation_scores_", [None]))
        n_iter = kept[-1].n_iter_
        epochs = f"{n_iter}" + (f" (best of {n_fits} fits)" if n_fits > 1 else "")
        epoch = "-" if n_fits > 1 else f"{1000 * fit_cpu / n_iter:.1f}"
    else:
        epochs = epoch = "-"
    predict_wall, predict_cpu = _timed(lambda: model.predict(X_test), repeat=5)
    rmse = np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2))
    X_large = np.resize(X_test, (N_LARGE, X_test.shape[1]))
    tracemalloc.start()
    large_wall, large_cpu = _timed(lambda: model.predict(X_large))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    return [
        name,
        f"{rmse:.3f}",
        epochs,
        epoch,
        f"{fit_wall:.2f} / {fit_cpu:.2f}",
        f"{1000 * predict_wall:.0f} / {1000 * predict_cpu:.0f}",
        f"{large_wall:.2f} / {large_cpu:.2f}",
        f"{peak / 2**20:.0f}",
        f"{size / 1000:.0f}",
    ]


def main():
    X, y = fetch_wine_quality("white", return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.15, random_state=0
    )
    header = [
        "model",
        "test RMSE",
        "epochs",
        "CPU ms per epoch",
        "fit s (wall / CPU)",
        f"predict {len(X_test)} rows, ms (wall / CPU)",
        "predict 100,000 rows, s (wall / CPU)",
        "its peak NumPy memory, MiB",
        "pickle, kB",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in MODELS:
        cells = measure(name, X_train, X_test, y_train, y_test)
        lines.append("| " + " | ".join(cells) + " |")
    print(f"White wine, seed 0: {len(X_train)} training rows, {X.shape[1]} features.\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
