"""
=====================================================
Per-sample, minibatch and full-batch gradient descent
=====================================================

The articles train their networks three ways: the first by full-batch
gradient descent (one step per pass over the data), the second by per-sample
stochastic gradient descent (one step per sample), the fourth by full-batch
descent again, on a larger network. In skann all three are
``solver="sgd"``; only ``batch_size`` changes. This example runs them side by
side on the fourth article's toy function and plots the training loss twice:
against epochs, which counts passes over the data, and against seconds, which
is what you wait for.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

# %%
# The data and the network
# ------------------------
# 1,000 points of ``f(x, y) = sin x + x cos y + y + 3^(x/3)`` on
# ``[-10, 10]^2``, with inputs and target standardised, and the fourth
# article's network: three hidden ReLU layers of 64 units.
import numpy as np
from sklearn.preprocessing import StandardScaler

rng = np.random.RandomState(0)
X = rng.uniform(-10, 10, size=(1000, 2))
y = np.sin(X[:, 0]) + X[:, 0] * np.cos(X[:, 1]) + X[:, 1] + 3 ** (X[:, 0] / 3)
X = StandardScaler().fit_transform(X)
y = (y - y.mean()) / y.std()

# %%
# Four ways to train
# ------------------
# The three articles' methods use plain gradient steps (``momentum=0``) of
# the same size, 0.01, and differ only in how many samples each step sees:
#
# * per-sample SGD, ``batch_size=1``: 1,000 steps per epoch;
# * minibatch SGD, ``batch_size=32``: 32 steps per epoch;
# * full-batch gradient descent, ``batch_size`` of at least ``n_samples``: one
#   step per epoch.
#
# skann's default, Adam on minibatches of 200, is added for reference. Each
# method gets a number of epochs that costs a few seconds, and ``tol=0`` with
# a large ``n_iter_no_change`` keeps every run going to the end of its budget.
#
# ``loss_curve_`` holds one value per epoch: the mean of the losses of the
# batches seen during that epoch. The time axis spreads each fit's measured
# duration evenly over its epochs, which cost the same.
import time
import warnings

from sklearn.exceptions import ConvergenceWarning

from skann import ANNRegressor

methods = {
    "per-sample SGD (batch_size=1)": {"solver": "sgd", "batch_size": 1, "max_iter": 30},
    "minibatch SGD (batch_size=32)": {
        "solver": "sgd",
        "batch_size": 32,
        "max_iter": 400,
    },
    "full-batch gradient descent": {
        "solver": "sgd",
        "batch_size": len(X),
        "max_iter": 2000,
    },
    "adam (batch_size=200, the default)": {"solver": "adam", "max_iter": 400},
}
histories = {}
for name, params in methods.items():
    model = ANNRegressor(
        hidden_layer_sizes=(64, 64, 64),
        learning_rate=0.01 if params["solver"] == "sgd" else 1e-3,
        # Plain gradient steps, as in the articles; Adam ignores momentum.
        momentum=0.0,
        tol=0.0,
        n_iter_no_change=params["max_iter"],
        random_state=0,
        **params,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    seconds = time.perf_counter() - start
    losses = np.asarray(model.loss_curve_)
    epochs = np.arange(1, len(losses) + 1)
    histories[name] = (epochs, epochs * seconds / len(losses), losses)
    print(
        f"{name}: {len(losses)} epochs in {seconds:.2f} s "
        f"({1000 * seconds / len(losses):.2f} ms per epoch), "
        f"final loss {losses[-1]:.4f}"
    )

# %%
# Per epoch, per second
# ---------------------
# Left, per pass over the data, the more steps an epoch holds, the faster the
# loss falls: per-sample SGD makes the most progress per epoch and full-batch
# descent the least, needing hundreds of epochs for what per-sample SGD does
# in a few. Right, per second, the order changes: a step on one sample costs
# nearly as much Python and NumPy overhead as a step on 32, so per-sample SGD
# loses its lead, and minibatch SGD is ahead of it at every moment. Full-batch
# descent spends its time on few, large steps and comes last on both axes.
# Adam, which adapts its step to each weight, is the fastest of all.
import matplotlib.pyplot as plt

fig, (ax_epochs, ax_seconds) = plt.subplots(
    1, 2, figsize=(12, 4.4), sharey=True, layout="constrained"
)
for (name, (epochs, seconds, losses)), style in zip(
    histories.items(), ["-", "-", "-", "--"], strict=True
):
    ax_epochs.plot(epochs, losses, style, label=name)
    ax_seconds.plot(seconds, losses, style, label=name)
for ax in (ax_epochs, ax_seconds):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="major", alpha=0.3)
ax_epochs.set_xlabel("epoch (passes over the 1,000 samples)")
ax_seconds.set_xlabel("seconds of training")
ax_epochs.set_ylabel("training loss (1/2 MSE, standardised target)")
ax_epochs.set_title("loss against epochs")
ax_seconds.set_title("loss against wall-clock time")
ax_seconds.legend(loc="lower left")
plt.show()

# %%
# Which one to use
# ----------------
# Minibatches of a few dozen to a few hundred samples are the usual choice.
# Per-sample SGD is worth it only when the data arrive one sample at a time
# (see ``partial_fit``). Full-batch descent is the textbook algorithm and a
# useful reference, but for a full-batch method that converges quickly on
# small data use ``solver="lbfgs"``. :doc:`/user_guide/solvers` discusses
# each solver.
