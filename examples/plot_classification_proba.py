"""
=============================================================
Class probabilities, binary and multiclass, in two dimensions
=============================================================

:class:`~skann.ANNClassifier` picks its output layer from the target: one
logistic unit and binary cross-entropy for two classes, a softmax over one unit
per class and cross-entropy for more. Either way ``predict_proba`` returns
one column per class, in the order of ``classes_``, and ``predict`` returns the
most probable class. On two-dimensional data the probabilities can be drawn
over the whole plane, which shows not only where the network puts its
boundaries but how sure it is on either side of them.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

# %%
# Two data sets
# -------------
# Two interleaved half moons with noise (two classes), and three overlapping
# Gaussian blobs (three classes), each split into training and test halves.
import numpy as np
from sklearn.datasets import make_blobs, make_moons
from sklearn.model_selection import train_test_split

X_moons, y_moons = make_moons(n_samples=400, noise=0.3, random_state=0)
X_blobs, y_blobs = make_blobs(
    n_samples=600, centers=[(-2, -1), (2, -1), (0, 2)], cluster_std=1.3, random_state=0
)
datasets = {
    "two moons (binary)": train_test_split(
        X_moons, y_moons, test_size=0.5, random_state=0
    ),
    "three blobs (multiclass)": train_test_split(
        X_blobs, y_blobs, test_size=0.5, random_state=0
    ),
}

# %%
# The classifiers
# ---------------
# The same pipeline for both problems: the estimator works out from ``y``
# which output layer and loss to use, and says so in ``out_activation_``.
from sklearn.metrics import accuracy_score, log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skann import ANNClassifier

models = {}
for name, (X_train, X_test, y_train, y_test) in datasets.items():
    model = make_pipeline(
        StandardScaler(),
        ANNClassifier(hidden_layer_sizes=(32, 32), max_iter=1000, random_state=0),
    )
    model.fit(X_train, y_train)
    models[name] = model
    network = model[-1]
    proba = model.predict_proba(X_test)
    print(f"{name}: classes {network.classes_}, output {network.out_activation_!r}")
    print(
        f"  test accuracy {accuracy_score(y_test, model.predict(X_test)):.3f}, "
        f"test log-loss {log_loss(y_test, proba):.3f}"
    )

# %%
# Each row of ``predict_proba`` sums to one, and ``predict_log_proba`` is
# computed from the network's raw output rather than by taking the logarithm
# of rounded probabilities, so it stays finite even where a probability
# rounds to zero.
model = models["three blobs (multiclass)"]
X_test = datasets["three blobs (multiclass)"][1]
print(model.predict_proba(X_test[:3]).round(3))
print(model.predict_proba(X_test).sum(axis=1).min().round(12))
print(np.allclose(np.exp(model.predict_log_proba(X_test)), model.predict_proba(X_test)))

# %%
# Probabilities over the plane
# ----------------------------
# Left, the binary problem: the colour is the probability of class 1, and the
# black line is where it crosses one half, the decision boundary. Right, the
# three classes: each point of the plane gets its most probable class's
# colour, faded towards white as the top probability falls towards one third,
# so pale bands mark where the network hesitates between classes. Filled
# markers are training points and hollow ones test points.
import matplotlib.pyplot as plt
from matplotlib.colors import to_rgb

fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), layout="constrained")
class_colors = np.array([to_rgb(c) for c in ["C0", "C3", "C2"]])

for ax, (name, (X_train, X_test, y_train, y_test)) in zip(
    axes, datasets.items(), strict=True
):
    model = models[name]
    X_all = np.vstack([X_train, X_test])
    x_min, y_min = X_all.min(axis=0) - 0.5
    x_max, y_max = X_all.max(axis=0) + 0.5
    grid_x, grid_y = np.meshgrid(
        np.linspace(x_min, x_max, 300), np.linspace(y_min, y_max, 300)
    )
    proba = model.predict_proba(np.column_stack([grid_x.ravel(), grid_y.ravel()]))
    n_classes = proba.shape[1]

    if n_classes == 2:
        p1 = proba[:, 1].reshape(grid_x.shape)
        filled = ax.contourf(
            grid_x, grid_y, p1, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.8
        )
        ax.contour(grid_x, grid_y, p1, levels=[0.5], colors="k", linewidths=1.5)
        fig.colorbar(filled, ax=ax, label="P(class 1)")
        point_colors = class_colors[[0, 1]]
    else:
        top = proba.argmax(axis=1)
        confidence = (proba.max(axis=1) - 1 / n_classes) / (1 - 1 / n_classes)
        rgb = class_colors[top] * confidence[:, None] + (1 - confidence[:, None])
        ax.imshow(
            rgb.reshape(*grid_x.shape, 3),
            origin="lower",
            extent=(x_min, x_max, y_min, y_max),
            aspect="auto",
            alpha=0.85,
        )
        ax.contour(
            grid_x,
            grid_y,
            top.reshape(grid_x.shape),
            levels=[0.5, 1.5],
            colors="k",
            linewidths=1,
        )
        point_colors = class_colors

    for label in range(n_classes):
        ax.scatter(
            *X_train[y_train == label].T,
            s=18,
            color=point_colors[label],
            edgecolor="k",
            linewidth=0.4,
            label=f"class {label}",
        )
        ax.scatter(
            *X_test[y_test == label].T,
            s=18,
            facecolor="none",
            edgecolor=point_colors[label],
            linewidth=1.0,
        )
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    ax.set_title(name)
    ax.legend(loc="lower right", framealpha=0.9)
plt.show()
