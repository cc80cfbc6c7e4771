"""
===============================================
Quick start: a scaled pipeline in a grid search
===============================================

skann's estimators are ordinary scikit-learn estimators, so the usual recipe
applies unchanged: put a :class:`~sklearn.preprocessing.StandardScaler` in front
of the network, wrap both in a :class:`~sklearn.pipeline.Pipeline`, and let
:class:`~sklearn.model_selection.GridSearchCV` choose the hyperparameters by
cross-validation. The data is scikit-learn's bundled breast cancer set: 569
tumours, 30 measurements each, labelled malignant or benign.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

# %%
# Build the pipeline and the grid
# -------------------------------
# The scaler matters: the 30 measurements range from about 0.001 to over
# 1,000, and gradient descent on unscaled inputs of that spread moves very
# slowly along the small ones. Inside a pipeline the scaler is refitted on each
# training fold, so the validation folds never leak into it.
#
# The grid uses scikit-learn's ``step__parameter`` names. The parameter names
# are MLPClassifier's, except that the step size is called ``learning_rate``.
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skann import ANNClassifier

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

model = make_pipeline(StandardScaler(), ANNClassifier(max_iter=500, random_state=0))
param_grid = {
    "annclassifier__hidden_layer_sizes": [(10,), (50,), (50, 20)],
    "annclassifier__alpha": [1e-4, 1e-2, 1.0, 10.0],
    "annclassifier__learning_rate": [1e-3, 1e-2],
}
search = GridSearchCV(model, param_grid, cv=5, n_jobs=1)
search.fit(X_train, y_train)

print("best parameters:", search.best_params_)
print(f"cross-validated accuracy of the best model: {search.best_score_:.3f}")
print(f"accuracy on the held-out test set: {search.score(X_test, y_test):.3f}")

# %%
# The refitted best model is an ordinary fitted pipeline: it predicts classes
# and probabilities, and its network keeps the fitted attributes that
# MLPClassifier has (``coefs_``, ``loss_curve_``, ``n_iter_``, ...).
best_network = search.best_estimator_[-1]
print("layer shapes:", [W.shape for W in best_network.coefs_])
print("epochs run:", best_network.n_iter_)
print("P(benign) for the first three test tumours:")
print(search.predict_proba(X_test[:3])[:, 1].round(3))

# %%
# What the search saw
# -------------------
# Each cell is the mean accuracy over the five validation folds of one
# combination. The spread is under one percentage point, which over 426
# training tumours is a handful of samples: on a problem this small the
# network is forgiving, and the search mostly confirms it. The colours are
# stretched over that narrow range so that the ranking shows; the right panel
# is the training loss of the best model when it was refitted on all the
# training data.
import matplotlib.pyplot as plt
import numpy as np

results = search.cv_results_
sizes = param_grid["annclassifier__hidden_layer_sizes"]
alphas = param_grid["annclassifier__alpha"]
rates = param_grid["annclassifier__learning_rate"]
scores = np.empty((len(rates), len(sizes), len(alphas)))
for params, score in zip(results["params"], results["mean_test_score"], strict=True):
    scores[
        rates.index(params["annclassifier__learning_rate"]),
        sizes.index(params["annclassifier__hidden_layer_sizes"]),
        alphas.index(params["annclassifier__alpha"]),
    ] = score

fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
for ax, rate, grid_scores in zip(axes[:2], rates, scores, strict=True):
    image = ax.imshow(grid_scores, cmap="viridis", vmin=scores.min(), vmax=scores.max())
    middle = (scores.min() + scores.max()) / 2
    for (i, j), value in np.ndenumerate(grid_scores):
        color = "k" if value > middle else "w"
        ax.text(j, i, f"{value:.3f}", ha="center", va="center", color=color)
    ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    ax.set_yticks(range(len(sizes)), [str(s) for s in sizes])
    ax.set_xlabel("alpha")
    ax.set_title(f"learning_rate = {rate:g}")
axes[0].set_ylabel("hidden_layer_sizes")
fig.colorbar(image, ax=axes[:2], label="mean CV accuracy", shrink=0.9)

ax = axes[2]
ax.plot(best_network.loss_curve_, color="C1")
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss (log scale)")
ax.set_title("training loss of the best model")
plt.show()
