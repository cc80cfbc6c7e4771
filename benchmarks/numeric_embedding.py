"""The numeric embeddings on the tabular toolbox's protocol: test RMSE and cost.

For each of the seeds 0, 1 and 2, the reference network of
docs/user_guide/tabular_toolbox.rst (StandardScaler, then
``ANNRegressor((128, 64), early_stopping=True, target_scaling="standard")``)
is fitted with ``numeric_embedding`` None, ``'periodic'`` and
``'piecewise_linear'`` (every other setting at its default) on the red and
white wines and on scikit-learn's diabetes data. Prints per option and data
set the test RMSE (mean ± standard deviation over the seeds, and per seed),
the epochs run and the epoch of the best validation score (``accuracy``);
``'periodic'`` with ``embedding_scale`` chosen among 0.01, 0.1 and 1 on the
validation rows (``scale``); and the median seconds of an epoch in fits of
60 epochs on the seed-0 split, three per option, interleaved, on float64
and on float32 input (``cost``). Run it with one BLAS thread, naming the
tables (all three without arguments):

    OPENBLAS_NUM_THREADS=1 SKANN_DATA_HOME=../shared/data \
        python benchmarks/numeric_embedding.py accuracy scale cost
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import sys

import numpy as np
from sklearn.metrics import root_mean_squared_error
from toolbox_protocol import SEEDS, fit_reference

DATASETS = ("red", "white", "diabetes")
OPTIONS = (None, "periodic", "piecewise_linear")


def fit(name, seed, dtype=np.float64, **params):
    """The fitted reference pipeline with ``params`` set, and the test split."""
    return fit_reference(name, seed, dtype, **params)


def accuracy_table():
    print("| numeric_embedding | data | test RMSE | per seed | epochs | best epoch |")
    print("|---|---|---|---|---|---|")
    for option in OPTIONS:
        for name in DATASETS:
            scores, epochs, best = [], [], []
            for seed in SEEDS:
                model, X_test, y_test = fit(name, seed, numeric_embedding=option)
                scores.append(root_mean_squared_error(y_test, model.predict(X_test)))
                net = model[-1]
                epochs.append(net.n_iter_)
                best.append(1 + int(np.argmax(net.validation_scores_)))
            print(
                f"| {option} | {name} | {np.mean(scores):.3f} ± "
                f"{np.std(scores):.3f} | {', '.join(f'{s:.3f}' for s in scores)} "
                f"| {epochs} | {best} |",
                flush=True,
            )


def scale_table(scales=(0.01, 0.1, 1.0)):
    """``'periodic'`` with ``embedding_scale`` chosen on the validation rows.

    One fit per scale; the one whose network has the highest
    ``best_validation_score_`` is kept (the validation rows are the same for
    every scale with the same seed).
    """
    print(f"\n| periodic, embedding_scale chosen among {scales} | data | "
          "test RMSE | per seed | chosen |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name in DATASETS:
        scores, chosen = [], []
        for seed in SEEDS:
            fits = [
                fit(name, seed, numeric_embedding="periodic", embedding_scale=scale)
                for scale in scales
            ]
            best = int(np.argmax([m[-1].best_validation_score_ for m, _, _ in fits]))
            model, X_test, y_test = fits[best]
            scores.append(root_mean_squared_error(y_test, model.predict(X_test)))
            chosen.append(scales[best])
        print(
            f"| | {name} | {np.mean(scores):.3f} ± {np.std(scores):.3f} | "
            f"{', '.join(f'{s:.3f}' for s in scores)} | {chosen} |",
            flush=True,
        )


def cost_table():
    print("\n| numeric_embedding | input | data | ms per epoch |")
    print("|---|---|---|---|")
    configs = [
        (option, dtype) for dtype in (np.float64, np.float32) for option in OPTIONS
    ]
    for name in DATASETS:
        seconds = {config: [] for config in configs}
        for _ in range(3):
            for option, dtype in configs:
                model, _, _ = fit(
                    name, 0, dtype, numeric_embedding=option, max_iter=60,
                    n_iter_no_change=1000,
                )  # fmt: skip
                seconds[option, dtype] += [r["seconds"] for r in model[-1].history_]
        for option, dtype in configs:
            print(
                f"| {option} | {np.dtype(dtype).name} | {name} | "
                f"{1000 * np.median(seconds[option, dtype]):.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    parts = sys.argv[1:] or ["accuracy", "scale", "cost"]
    if "accuracy" in parts:
        accuracy_table()
    if "scale" in parts:
        scale_table()
    if "cost" in parts:
        cost_table()
