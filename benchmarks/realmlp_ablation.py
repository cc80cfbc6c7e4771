"""RealMLP's ingredients on the wines and diabetes: effects, and an ablation.

The protocol of the tabular toolbox page (docs/user_guide/tabular_toolbox.rst):
for each seed in 0, 1, 2, ``train_test_split(X, y, test_size=0.15,
random_state=seed)`` on the whole file; the model is fitted on the training
rows only (early stopping holds out a tenth of them and keeps the best
epoch's weights); a cell is the test RMSE, mean ± std over the seeds.
Nothing is chosen on the test rows: every setting is RealMLP-TD-S's.

``--part effects``: the reference network (128, 64) with each new option.
``--part ablation``: RealMLP-TD-S as closely as skann allows, then without
one ingredient at a time. ``--part cost``: seconds per epoch of each option.

    SKANN_DATA_HOME=../shared/data OPENBLAS_NUM_THREADS=1 \\
        python benchmarks/realmlp_ablation.py --part ablation --data white
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from toolbox_protocol import load

from skann import ANNRegressor
from skann.exceptions import TrainingDiverged
from skann.preprocessing import RobustSmoothClipScaler

SEEDS = (0, 1, 2)

# The reference network of the toolbox page.
REFERENCE = {"hidden_layer_sizes": (128, 64)}

# RealMLP-TD-S for regression (Holzmüller et al., 2024, and its library's
# defaults): 3 x 256, Mish (skann has no Mish; SiLU is the nearest), NTK,
# front scaling at 6 times the rate, zero output layer, Adam with
# beta_2 = 0.95 at 0.07 under coslog4, 256 epochs keeping the best, batch
# size 256, no weight decay, standardised target; robust scaling and smooth
# clipping of the inputs.
REALMLP_TD_S = {
    "hidden_layer_sizes": (256, 256, 256),
    "activation": "silu",
    "alpha": 0.0,
    "batch_size": 256,
    "learning_rate": 0.07,
    "beta_2": 0.95,
    "learning_rate_schedule": "coslog",
    "lr_cycles": 4,
    "max_iter": 256,
    "n_iter_no_change": 1000,
    "output_init": "zeros",
    "front_scaling": True,
    "front_scaling_lr_factor": 6.0,
    "parametrization": "ntk",
}

# A tuple of learning rates: the one whose fit scores best on its own
# validation rows is kept (the same rows for every rate with one seed).
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.1)

# One ingredient removed per row: (scaler, parameter changes).
ABLATION = {
    "RealMLP-TD-S in skann": (RobustSmoothClipScaler, {}),
    "without RobustSmoothClipScaler (StandardScaler)": (StandardScaler, {}),
    "without front scaling": (RobustSmoothClipScaler, {"front_scaling": False}),
    "without NTK (standard, Glorot)": (
        RobustSmoothClipScaler,
        {"parametrization": "standard"},
    ),
    "without NTK, rate chosen on validation": (
        RobustSmoothClipScaler,
        {"parametrization": "standard", "learning_rate": LEARNING_RATES},
    ),
    "without zero output layer": (RobustSmoothClipScaler, {"output_init": "glorot"}),
    "without coslog (constant rate)": (
        RobustSmoothClipScaler,
        {"learning_rate_schedule": "constant"},
    ),
    "without beta_2 = 0.95 (0.999)": (RobustSmoothClipScaler, {"beta_2": 0.999}),
}

EFFECTS = {
    "reference": {},
    "front_scaling=True": {"front_scaling": True},
    "parametrization='ntk'": {"parametrization": "ntk"},
    "reference, rate chosen on validation": {"learning_rate": LEARNING_RATES},
    "parametrization='ntk', rate chosen on validation": {
        "parametrization": "ntk",
        "learning_rate": LEARNING_RATES,
    },
}


def fit_score(name, seed, scaler, params):
    """Test RMSE, epochs, median seconds per epoch and learning rate of one fit.

    With a tuple of learning rates, the fit of the best validation score.
    """
    X, y = load(name)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.15, random_state=seed
    )
    rates = params.get("learning_rate", 0.001)
    rates = rates if isinstance(rates, tuple) else (rates,)
    best = None
    for rate in rates:
        network = ANNRegressor(
            early_stopping=True, target_scaling="standard", random_state=seed,
            **{**params, "learning_rate": rate},
        )  # fmt: skip
        model = make_pipeline(scaler(), network)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                model.fit(X_train, y_train)
            except TrainingDiverged:
                # A rate too large for the row's network: reported as NaN.
                if len(rates) == 1:
                    return np.nan, 0, np.nan, rate
                continue
        if best is None or network.best_validation_score_ > best[1]:
            best = (model, network.best_validation_score_)
    model = best[0]
    network = model[-1]
    seconds = np.median([r["seconds"] for r in network.history_])
    rmse = root_mean_squared_error(y_test, model.predict(X_test))
    return rmse, network.n_iter_, seconds, network.learning_rate


def run_rows(rows, names, base, out):
    for name in names:
        for label, (scaler, params) in rows.items():
            start = time.perf_counter()
            results = [
                fit_score(name, seed, scaler, {**base, **params}) for seed in SEEDS
            ]
            rmse = np.array([r[0] for r in results])
            line = (
                f"| {name} | {label} | {rmse.mean():.3f} ± {rmse.std():.3f} | "
                f"{', '.join(f'{v:.3f}' for v in rmse)} | "
                f"{np.mean([r[1] for r in results]):.0f} | "
                f"{1000 * np.median([r[2] for r in results]):.1f} ms | "
                f"{', '.join(f'{r[3]:g}' for r in results)} | "
                f"{time.perf_counter() - start:.0f} s |"
            )
            print(line, flush=True)
            if out:
                with open(out, "a") as f:
                    f.write(line + "\n")


def cost(names, out):
    """Median seconds per epoch of fits of 60 epochs, interleaved."""
    options = {
        "reference": {},
        "front_scaling": {"front_scaling": True},
        "ntk": {"parametrization": "ntk"},
    }
    for name in names:
        times = {label: [] for label in options}
        for _ in range(3):
            for label, params in options.items():
                X, y = load(name)
                X_train, _, y_train, _ = train_test_split(
                    X, y, test_size=0.15, random_state=0
                )
                network = ANNRegressor(
                    (128, 64), early_stopping=True, target_scaling="standard",
                    random_state=0, max_iter=60, n_iter_no_change=1000, **params,
                )  # fmt: skip
                model = make_pipeline(StandardScaler(), network)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model.fit(X_train, y_train)
                times[label] += [r["seconds"] for r in network.history_]
        line = f"| {name} | " + " | ".join(
            f"{label} {1000 * np.median(t):.2f} ms" for label, t in times.items()
        )
        print(line, flush=True)
        if out:
            with open(out, "a") as f:
                f.write(line + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["effects", "ablation", "cost"])
    parser.add_argument("--data", nargs="+", default=["red", "white", "diabetes"])
    parser.add_argument("--rows", nargs="*", help="rows to run (default: all)")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.part == "effects":
        rows = {label: (StandardScaler, p) for label, p in EFFECTS.items()}
        if args.rows:
            rows = {label: rows[label] for label in args.rows}
        run_rows(rows, args.data, REFERENCE, args.out)
    elif args.part == "ablation":
        rows = ABLATION
        if args.rows:
            rows = {label: ABLATION[label] for label in args.rows}
        run_rows(rows, args.data, REALMLP_TD_S, args.out)
    else:
        cost(args.data, args.out)


if __name__ == "__main__":
    main()
