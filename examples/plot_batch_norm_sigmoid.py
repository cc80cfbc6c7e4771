"""
=====================================================
Batch normalisation and the collapsed sigmoid network
=====================================================

The first row of the third article's wine-quality table is a network of five
sigmoid (logistic) hidden layers, ``(50, 30, 20, 10, 5)``, trained at a
learning rate of 0.1. Refitted the way ``skann compare`` fits it, on every
seed it ends where a model that always predicts the mean quality would be.
This example trains that row twice, without and with ``batch_norm=True``,
draws both training runs, and looks inside the two fitted networks to see
why one of them learnt nothing.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

# %%
# The data and the split
# ----------------------
# The red wines of the UCI wine-quality data, from
# :func:`skann.datasets.fetch_wine_quality`, which downloads the file on
# first use. Without the file and without a network, as when these pages are
# built offline from a clone of skann's repository, the example falls back to
# the sample of 267 red wines (every sixth row of the file) that skann's tests
# keep in ``tests/data``; the first line printed below says which.
#
# On the full file, the 1119 training wines make about six steps of 200 rows
# per epoch. On the sample, 186 training wines would fit in one batch of 200:
# every epoch would be a single step, early stopping would end the fit after
# a couple of dozen steps, and neither network would learn anything (measured:
# a test RMSE of 0.781 with batch normalisation, 0.788 without, against 0.779
# for predicting the mean). So on the sample the example uses batches of 32
# wines, which give about as many steps per epoch as the full file's batches
# of 200; the conclusions below then hold on both, with different digits.
#
# The rows are split as ``skann compare`` splits them, with
# :func:`skann.compare.split_indices`: 15% test, 15% validation for early
# stopping, 70% training, for seed 0. The inputs are standardised with the
# training share's mean and spread; the target stays in quality points.
from pathlib import Path

import numpy as np
from sklearn.preprocessing import StandardScaler

from skann.compare import split_indices
from skann.datasets import DataFilesUnavailable, fetch_wine_quality

try:
    X, y = fetch_wine_quality("red", return_X_y=True)
    batch_size = 200
    print(f"The UCI file: {len(y)} red wines, batches of {batch_size}")
except DataFilesUnavailable:
    sample = Path("..", "tests", "data", "winequality-red-sample.csv")
    data = np.loadtxt(sample, delimiter=";", skiprows=1)
    X, y = data[:, :-1], data[:, -1]
    batch_size = 32
    print(
        f"Offline without the UCI file: the tests' sample of {len(y)} red "
        f"wines, batches of {batch_size}"
    )
X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)

hidden_layer_sizes = (50, 30, 20, 10, 5)
seed = 0
fit_rows, train_pos, val_pos, test_rows = split_indices(
    *X.shape, hidden_layer_sizes, seed
)
scaler = StandardScaler().fit(X[fit_rows[train_pos]])
X_fit, y_fit = scaler.transform(X[fit_rows]), y[fit_rows]
X_test, y_test = scaler.transform(X[test_rows]), y[test_rows]
print(f"{len(train_pos)} training, {len(val_pos)} validation, {len(test_rows)} test")

# %%
# Two fits of the same row
# ------------------------
# The settings of ``skann compare`` for the row: stochastic gradient descent
# with the default Nesterov momentum of 0.9, ``learning_rate=0.1``,
# ``alpha=0.1``, batches of 200 rows (32 on the sample, as said above), and
# early stopping on the held-out 15% (``fit`` receives the training and
# validation rows and holds out the same validation rows as the split
# above). The only difference between the two models is ``batch_norm``.
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import root_mean_squared_error

from skann import ANNRegressor

models, rmse = {}, {}
for batch_norm in (False, True):
    model = ANNRegressor(
        hidden_layer_sizes=hidden_layer_sizes,
        activation="logistic",
        solver="sgd",
        learning_rate=0.1,
        alpha=0.1,
        batch_size=batch_size,
        max_iter=200,
        early_stopping=True,
        validation_fraction=0.15 / 0.85,
        batch_norm=batch_norm,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_fit, y_fit)
    models[batch_norm] = model
    rmse[batch_norm] = root_mean_squared_error(y_test, model.predict(X_test))
    print(
        f"batch_norm={batch_norm}: {model.n_iter_} epochs, "
        f"best validation R^2 {model.best_validation_score_:.3f}, "
        f"test RMSE {rmse[batch_norm]:.3f}"
    )

mean_rmse = root_mean_squared_error(
    y_test, np.full(len(y_test), y[fit_rows[train_pos]].mean())
)
print(f"Predicting the training wines' mean quality: test RMSE {mean_rmse:.3f}")

# %%
# The training runs
# -----------------
# On the left, the training loss after each epoch (half the mean squared
# error plus the L2 penalty); the dashed line is half the variance of the
# training targets, the loss of predicting their mean. On the right, the
# :math:`R^2` score on the validation wines after each epoch, where
# predicting the mean scores zero; early stopping keeps the weights of the
# best epoch, marked with a dot.
#
# Without normalisation the loss drops in the first two epochs, as the output
# layer's bias moves from near zero to the mean quality, then settles just
# above the dashed line (the gap is the L2 penalty) and stays there. The
# validation score rises to about zero and no further, and after
# ``n_iter_no_change=10`` epochs without progress training stops. With
# ``batch_norm=True`` the same network at the same learning rate goes below
# the line within three or four epochs, and its validation score climbs to
# about 0.4 (on the sample's 40 validation wines it is noisier, with a best
# of 0.37).
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

labels = {False: "without batch normalisation", True: "batch_norm=True"}
colors = {False: "C3", True: "C0"}
fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
for batch_norm, model in models.items():
    epochs = np.arange(1, model.n_iter_ + 1)
    label = f"{labels[batch_norm]} (test RMSE {rmse[batch_norm]:.3f})"
    ax_loss.plot(epochs, model.loss_curve_, color=colors[batch_norm], label=label)
    ax_score.plot(
        epochs, model.validation_scores_, color=colors[batch_norm], label=label
    )
    best = int(np.argmax(model.validation_scores_))
    ax_score.plot(
        best + 1, model.validation_scores_[best], "o", color=colors[batch_norm]
    )
last_epoch = max(model.n_iter_ for model in models.values())
mean_loss = 0.5 * np.var(y[fit_rows[train_pos]])
ax_loss.axhline(mean_loss, color="0.4", linestyle="--", linewidth=1)
ax_loss.text(last_epoch, mean_loss * 0.92, "predict the mean", ha="right", color="0.4")
ax_loss.set_yscale("log")
ax_loss.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
ax_loss.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
ax_loss.yaxis.set_minor_locator(NullLocator())
ax_loss.set_ylim(bottom=0.1)
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("training loss (log scale)")
ax_loss.set_title("Training loss per epoch")
ax_loss.legend(loc="upper right")
ax_score.axhline(0, color="0.4", linestyle="--", linewidth=1)
ax_score.text(last_epoch, 0.02, "predict the mean", ha="right", color="0.4")
# The first epoch of the normalised network scores about -2, off the bottom.
ax_score.set_ylim(-0.6, 0.6)
ax_score.set_xlabel("epoch")
ax_score.set_ylabel("validation $R^2$")
ax_score.set_title("Validation score per epoch (dot: the weights kept)")
fig.suptitle(
    "Five logistic layers (50, 30, 20, 10, 5), SGD at learning_rate=0.1, "
    f"batches of {batch_size}, red wine, seed {seed}"
)
plt.show()

# %%
# Inside the two networks
# -----------------------
# Why the plain network learns nothing shows in its forward pass. The
# function below recomputes the hidden layers of a fitted model from its
# ``coefs_`` and ``intercepts_`` and, with batch normalisation, from the
# running statistics and the trained scale and shift that prediction uses
# (``batch_norm_means_``, ``batch_norm_vars_``, ``batch_norm_scales_``,
# ``batch_norm_offsets_``). For each hidden layer it prints how much its
# units' outputs vary from one test wine to the next (the standard deviation
# over the wines, averaged over the units).
from scipy.special import expit


def hidden_spread(model, X):
    """Mean over units of each hidden layer's standard deviation over rows."""
    A, spread = X, []
    hidden = zip(model.coefs_[:-1], model.intercepts_[:-1], strict=True)
    for k, (W, b) in enumerate(hidden):
        Z = A @ W + b
        if model.batch_norm_means_ is not None:
            Z = (Z - model.batch_norm_means_[k]) / np.sqrt(
                model.batch_norm_vars_[k] + 1e-5
            )
            Z = Z * model.batch_norm_scales_[k] + model.batch_norm_offsets_[k]
        A = expit(Z)
        spread.append(A.std(axis=0).mean())
    return spread


for batch_norm, model in models.items():
    spread = ", ".join(f"{s:.1e}" for s in hidden_spread(model, X_test))
    print(f"{labels[batch_norm]}: {spread}")

# %%
# Without normalisation the spread shrinks about sevenfold from each layer to
# the next, and the fifth layer's units give the same output, to four or more
# decimals, for every wine. The cause is the combination of small weights and
# a flat function: Glorot's initialisation for logistic units draws weights
# within :math:`\pm\sqrt{2 / (n_{in} + n_{out})}`, the L2 penalty keeps them
# small, and the logistic function's slope is at most 1/4. Whatever the input,
# the output layer then receives a constant, and the best it can do is
# predict the mean. The gradients travel back through the same small factors,
# so the lower layers barely move and the network never gets out.
#
# Batch normalisation rescales every hidden layer's pre-activations to unit
# spread across the batch before the logistic function, so the differences
# between wines reach the top of the network whatever the weights, and so
# do their gradients on the way down. The fitted network keeps that spread
# in every layer. :doc:`/user_guide/architecture` gives the mathematics, the
# cost, and the same comparison on two more of the article's collapsed rows
# and three seeds.
