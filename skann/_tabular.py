"""The tabular recipe: the measured settings of a retrieving network, in one call."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from sklearn.pipeline import Pipeline

from skann._classifier import ANNClassifier
from skann._regressor import ANNRegressor
from skann.model_selection import ValidationSearch
from skann.preprocessing import RobustSmoothClipScaler

# The network of the recipe; see the user guide's "Tabular data" page for the
# measurements behind each setting.
RECIPE = {
    "hidden_layer_sizes": (128, 64),
    "n_neighbors": 16,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "max_iter": 300,
    "early_stopping": True,
    "validation_fraction": 0.15,
    "n_iter_no_change": 20,
    "tol": 0.0,
}

# The L2 strengths the recipe chooses from on its validation rows. A strong
# penalty lets the retrieval gate learn before early stopping ends the fit
# (at alpha=1e-4 retrieval fits stopped within a few epochs); which strength
# is best depends on the data: 0.3 on wine, 0.1 where repeated rows carry
# noisy targets.
ALPHAS = (0.1, 0.3, 1.0)


def _recipe(Estimator, extra, params):
    params = dict(params)
    alphas = [params.pop("alpha")] if "alpha" in params else list(ALPHAS)
    pipeline = Pipeline(
        [
            ("scale", RobustSmoothClipScaler()),
            ("network", Estimator(**{**RECIPE, **extra, **params})),
        ]
    )
    return ValidationSearch(pipeline, {"network__alpha": alphas})


def make_tabular_regressor(**params):
    """A regressor for tabular data: robust scaling and a retrieving network.

    Returns an unfitted :class:`~skann.model_selection.ValidationSearch` over
    a :class:`~sklearn.pipeline.Pipeline` of
    :class:`~skann.preprocessing.RobustSmoothClipScaler` and
    :class:`~skann.ANNRegressor`, with the settings the tabular measurements
    chose: two hidden layers (128, 64), retrieval of the 16 nearest training
    rows (``n_neighbors``), minibatches of 64, early stopping on 15% of the
    training rows with a patience of 20 epochs, a standardised target, and a
    strong L2 penalty ``alpha`` chosen among 0.1, 0.3 and 1 on those
    held-out rows (three fits). It clones, grid-searches and pickles like
    any estimator; its fitted ``best_estimator_`` is the pipeline.

    Parameters
    ----------
    **params
        Parameters of :class:`~skann.ANNRegressor` that replace the recipe's
        (``random_state``, ``max_iter``, ``n_neighbors=None`` to turn
        retrieval off, ...); an ``alpha`` given here is used alone.

    Returns
    -------
    search : ValidationSearch
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
    unfitted :class:`~skann.model_selection.ValidationSearch` over a
    :class:`~sklearn.pipeline.Pipeline` of
    :class:`~skann.preprocessing.RobustSmoothClipScaler` and
    :class:`~skann.ANNClassifier` with the same network, training settings
    and choice of ``alpha`` (on validation accuracy). The neighbours' classes
    enter the network as their attended class shares.

    Parameters
    ----------
    **params
        Parameters of :class:`~skann.ANNClassifier` that replace the recipe's;
        an ``alpha`` given here is used alone.

    Returns
    -------
    search : ValidationSearch
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
