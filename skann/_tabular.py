"""The tabular recipe: the measured settings of a retrieving network, in one call."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from sklearn.pipeline import Pipeline

from skann._classifier import ANNClassifier
from skann._regressor import ANNRegressor
from skann.preprocessing import RobustSmoothClipScaler

# The network of the recipe; see the user guide's "Tabular data" page for the
# measurements behind each setting. A strong L2 penalty lets the retrieval
# gate learn before early stopping ends the fit (at alpha=1e-4 fits stopped
# within a few epochs, worse than the same network without retrieval);
# alpha=0.3 is the value an inner validation split chose most often among
# 0.1, 0.3 and 1 over wine, diabetes and two synthetic sets.
RECIPE = {
    "hidden_layer_sizes": (128, 64),
    "n_neighbors": 16,
    "alpha": 0.3,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "max_iter": 300,
    "early_stopping": True,
    "validation_fraction": 0.15,
    "n_iter_no_change": 20,
    "tol": 0.0,
}


def _recipe(Estimator, extra, params):
    return Pipeline(
        [
            ("scale", RobustSmoothClipScaler()),
            ("network", Estimator(**{**RECIPE, **extra, **params})),
        ]
    )


def make_tabular_regressor(**params):
    """A regressor for tabular data: robust scaling and a retrieving network.

    Returns an unfitted :class:`~sklearn.pipeline.Pipeline` of
    :class:`~skann.preprocessing.RobustSmoothClipScaler` and
    :class:`~skann.ANNRegressor` with the settings the tabular measurements
    chose: two hidden layers (128, 64), retrieval of the 16 nearest training
    rows (``n_neighbors``), a strong L2 penalty (``alpha=0.3``), minibatches
    of 64, early stopping on 15% of the training rows with a patience of 20
    epochs, and a standardised target. It clones, grid-searches and pickles
    like any estimator; set the network's parameters through the pipeline
    (``network__alpha``).

    Parameters
    ----------
    **params
        Parameters of :class:`~skann.ANNRegressor` that replace the recipe's
        (``random_state``, ``max_iter``, ``n_neighbors=None`` to turn
        retrieval off, ...).

    Returns
    -------
    pipeline : Pipeline
        The unfitted recipe.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from skann import make_tabular_regressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = make_tabular_regressor(random_state=0).fit(X[:300], y[:300])
    >>> model.predict(X[300:302]).shape
    (2,)
    """
    return _recipe(ANNRegressor, {"target_scaling": "standard"}, params)


def make_tabular_classifier(**params):
    """A classifier for tabular data: robust scaling and a retrieving network.

    The classification counterpart of :func:`make_tabular_regressor`: an
    unfitted :class:`~sklearn.pipeline.Pipeline` of
    :class:`~skann.preprocessing.RobustSmoothClipScaler` and
    :class:`~skann.ANNClassifier` with the same network and training
    settings. The neighbours' classes enter the network as their attended
    class shares.

    Parameters
    ----------
    **params
        Parameters of :class:`~skann.ANNClassifier` that replace the recipe's.

    Returns
    -------
    pipeline : Pipeline
        The unfitted recipe.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from skann import make_tabular_classifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = make_tabular_classifier(random_state=0).fit(X[:400], y[:400])
    >>> model.predict_proba(X[400:402]).shape
    (2, 2)
    """
    return _recipe(ANNClassifier, {}, params)
