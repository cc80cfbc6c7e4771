"""The one-pass ensemble on the toolbox page's protocol: error, spread, cost.

For seed in 0, 1, 2: ``train_test_split(X, y, test_size=0.15,
random_state=seed)``; the reference network of docs/user_guide/
tabular_toolbox.rst (StandardScaler, then ANNRegressor((128, 64),
early_stopping=True, target_scaling='standard')) with ``ensemble_size`` and
``ensemble_style`` set, fitted on the training rows. Prints, per variant and
data set, the test RMSE (mean ± std over the seeds), the share of test rows
whose target lies within the mean prediction ± 2 members' standard
deviations, the median time of an epoch and the number of epochs.

    SKANN_DATA_HOME=../shared/data python benchmarks/ensemble_effect.py
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import argparse

import numpy as np
from toolbox_protocol import SEEDS, fit_reference

VARIANTS = {
    "single network": {},
    "ensemble_size=8": {"ensemble_size": 8},
    "ensemble_size=32": {"ensemble_size": 32},
    "ensemble_size=8 mini": {"ensemble_size": 8, "ensemble_style": "mini"},
    "ensemble_size=32 mini": {"ensemble_size": 32, "ensemble_style": "mini"},
}


def run(name, seed, params):
    model, X_test, y_test = fit_reference(name, seed, **params)
    mean, std = model.predict(X_test, return_std=True)
    network = model[-1]
    return {
        "rmse": float(np.sqrt(np.mean((mean - y_test) ** 2))),
        "coverage": float(np.mean(np.abs(y_test - mean) <= 2 * std)),
        "epoch": float(np.median([r["seconds"] for r in network.history_])),
        "epochs": network.n_iter_,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="red,white,diabetes")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    print("| variant | data | test RMSE | within ± 2 std | s per epoch | epochs |")
    print("|---|---|---|---|---|---|")
    for variant in args.variants.split(","):
        for name in args.data.split(","):
            runs = [run(name, seed, VARIANTS[variant]) for seed in SEEDS]
            rmse = [r["rmse"] for r in runs]
            print(
                f"| {variant} | {name} | {np.mean(rmse):.3f} ± {np.std(rmse):.3f} "
                f"| {np.mean([r['coverage'] for r in runs]):.2f} "
                f"| {np.median([r['epoch'] for r in runs]):.4f} "
                f"| {np.mean([r['epochs'] for r in runs]):.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
