"""The comparison's protocol: estimators, settings, split and divergence rule.

The split is the one place where the comparison reads the core's internals:
:func:`split_indices` imports ``n_init_draws`` from ``skann._core.network``.
It must. With ``early_stopping=True``, ``ANNRegressor`` and ``MLPRegressor``
hold out their validation rows themselves, drawing them from ``random_state``
after the initial weights and biases, and neither says which rows it held
out. The comparison needs those rows beforehand, to fit its ``StandardScaler``
on the training rows alone and to check every fit's
``best_validation_score_`` against its own; so it replays the stream,
skipping the draws of the initialisation, whose count only the core knows.
``tests/test_compare.py`` checks that the replay matches scikit-learn's own
initialisation and split, so a change of the draw order fails there, not
silently in a report.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skann import ANNRegressor, make_tabular_regressor
from skann._core.network import n_init_draws
from skann._core.training import DIVERGENCE_FACTOR

TEST_FRACTION = 0.15
# 15% of all rows, taken from the 85% that is not test.
VALIDATION_FRACTION = 0.15 / 0.85
MAX_ITER = 200
QUICK_MAX_ITER = 30
QUICK_ROWS = (2, 4, 7, 8)
DEFAULT_SEEDS = 3
N_FOLDS = 5
# skann stops when its training loss passes DIVERGENCE_FACTOR times its
# starting loss; MLPRegressor trains on, so the comparison applies that rule to
# every fit from its loss curve, against the loss of predicting zero. A test
# RMSE past BLOWUP_RMSE_FACTOR times the target's spread also counts.
BLOWUP_LOSS_FACTOR = DIVERGENCE_FACTOR
BLOWUP_RMSE_FACTOR = 100


@dataclass(frozen=True)
class EstimatorSpec:
    """One estimator of the comparison: how to build it and how to show it.

    Parameters
    ----------
    name : str
        Key of its fits and grid searches, and its name in the report.

    short : str
        Prefix of its columns in the report's tables.

    estimator : type
        A regressor taking scikit-learn's MLP hyperparameters.

    learning_rate_param : str
        The name it gives the row's learning rate.

    color, marker : str
        Its matplotlib colour and marker, the same in every plot.

    params : dict
        Settings of its own, added to (or replacing) those every estimator
        gets.
    """

    name: str
    short: str
    estimator: type
    learning_rate_param: str
    color: str
    marker: str
    params: dict = field(default_factory=dict)


# Every row and every grid search fits each of these, in this order.
ESTIMATOR_SPECS = {
    spec.name: spec
    for spec in (
        EstimatorSpec("skann", "skann", ANNRegressor, "learning_rate", "C0", "o"),
        EstimatorSpec(
            "MLPRegressor", "MLP", MLPRegressor, "learning_rate_init", "C1", "s"
        ),
        # skann with the stabilisers that pay on this data (docs/user_guide/
        # stabilisers.rst): the target standardised and the gradient clipped.
        EstimatorSpec(
            "skann-stabilised",
            "stab",
            ANNRegressor,
            "learning_rate",
            "C2",
            "^",
            {"target_scaling": "standard", "max_grad_norm": 1.0},
        ),
    )
}
ESTIMATORS = tuple(ESTIMATOR_SPECS)
# The pair that runs the same mathematics: the report checks it fit by fit
# (same epochs, same errors) and gives the first's time over the second's.
PARITY_PAIR = ("skann", "MLPRegressor")


def make_estimator(name, row, *, max_iter=MAX_ITER, random_state=None):
    """The estimator called ``name`` set up for ``row`` as in the comparison."""
    spec = ESTIMATOR_SPECS[name]
    params = {
        "hidden_layer_sizes": row.hidden_layer_sizes,
        "activation": row.activation,
        "solver": "sgd",
        "alpha": row.alpha,
        "max_iter": max_iter,
        "tol": 1e-4,
        "n_iter_no_change": 10,
        "early_stopping": True,
        "validation_fraction": VALIDATION_FRACTION,
        "random_state": random_state,
        spec.learning_rate_param: row.learning_rate,
    }
    return spec.estimator(**{**params, **spec.params})


@dataclass(frozen=True)
class BeyondSpec:
    """A model fitted beside the table, on the same splits, to set its level.

    Parameters
    ----------
    name : str
        Its name in the report.

    settings, quick_settings : str
        Its settings as the report shows them, in a full and in a quick run.

    build : callable
        ``build(seed, quick)`` returns the unfitted model for seed ``seed``'s
        split, with the smaller budget of a quick run if ``quick``.
    """

    name: str
    settings: str
    quick_settings: str
    build: Callable

    def describe(self, quick):
        """Its settings in a quick run (``quick``) or a full one."""
        return self.quick_settings if quick else self.settings


# A quick run's budgets for the models beyond the table: seconds, not minutes.
QUICK_TREES = 50
QUICK_BOOSTING_ITER = 30
N_NEIGHBORS = 15


def _recipe(seed, quick):
    return make_tabular_regressor(
        random_state=seed, **({"max_iter": QUICK_MAX_ITER} if quick else {})
    )


def _forest(seed, quick):
    trees = QUICK_TREES if quick else 300
    return RandomForestRegressor(trees, n_jobs=1, random_state=seed)


def _boosting(seed, quick):
    iterations = QUICK_BOOSTING_ITER if quick else 100
    return HistGradientBoostingRegressor(max_iter=iterations, random_state=seed)


def _neighbours(seed, quick):
    return make_pipeline(
        StandardScaler(), KNeighborsRegressor(N_NEIGHBORS, weights="distance")
    )


_RECIPE_SETTINGS = (
    "`make_tabular_regressor()`: robust scaling, (128, 64), `n_neighbors=16`, "
    "`alpha` chosen among 0.1, 0.3 and 1 on validation rows"
)
_NEIGHBOURS_SETTINGS = (
    f"standardised inputs, {N_NEIGHBORS} neighbours, distance weights"
)
# How far a network gets here, and where the usual tabular models are: each is
# fitted on every seed's 85% and scored on its test rows.
BEYOND_SPECS = {
    spec.name: spec
    for spec in (
        BeyondSpec(
            "recipe",
            _RECIPE_SETTINGS,
            f"{_RECIPE_SETTINGS}, at most {QUICK_MAX_ITER} epochs",
            _recipe,
        ),
        BeyondSpec(
            "RandomForestRegressor", "300 trees", f"{QUICK_TREES} trees", _forest
        ),
        BeyondSpec(
            "HistGradientBoostingRegressor",
            "100 iterations",
            f"{QUICK_BOOSTING_ITER} iterations",
            _boosting,
        ),
        BeyondSpec(
            "KNeighborsRegressor",
            _NEIGHBOURS_SETTINGS,
            _NEIGHBOURS_SETTINGS,
            _neighbours,
        ),
    )
}
BEYOND = tuple(BEYOND_SPECS)


def make_beyond(name, *, seed, quick=False):
    """The model called ``name`` beyond the table, set up for seed ``seed``."""
    return BEYOND_SPECS[name].build(seed, quick)


def split_indices(n_samples, n_features, hidden_layer_sizes, seed):
    """The 70/15/15 train, validation and test rows every estimator uses.

    The test rows depend on ``seed`` only. The validation rows are those that
    ``ANNRegressor`` and ``MLPRegressor`` hold out themselves for early
    stopping when given the other 85% with ``random_state=seed``: both draw
    the initial weights and biases from that stream first, then the split.

    Returns
    -------
    fit_rows, train_pos, val_pos, test_rows : ndarray of int
        Rows given to ``fit``; positions within them of the training and of
        the validation share; test rows.
    """
    fit_rows, test_rows = train_test_split(
        np.arange(n_samples), test_size=TEST_FRACTION, random_state=seed
    )
    rng = np.random.RandomState(seed)
    # Uniform draws consume one double each, whatever their bounds or shapes.
    rng.random_sample(n_init_draws([n_features, *hidden_layer_sizes, 1]))
    train_pos, val_pos = train_test_split(
        np.arange(len(fit_rows)), test_size=VALIDATION_FRACTION, random_state=rng
    )
    return fit_rows, train_pos, val_pos, test_rows


def reference_loss(y):
    """The loss of predicting zero, at least 1: about where a fit starts."""
    return max(0.5 * float(np.mean(np.square(y))), 1.0)


def divergence(loss_curve, reference, y_true, y_pred):
    """Why a fit that returned counts as diverged, and at which epoch.

    Parameters
    ----------
    loss_curve : list of float
        The fit's training loss per epoch.

    reference : float
        :func:`reference_loss` of the targets given to ``fit``.

    y_true, y_pred : ndarray of shape (n_samples,)
        Held-out targets and the fit's predictions of them.

    Returns
    -------
    reason : str or None
        None if the fit did not diverge.

    epoch : int or None
        The epoch whose loss gave it away, if one did.
    """
    if not np.all(np.isfinite(y_pred)):
        return "non-finite predictions", None
    for epoch, loss in enumerate(loss_curve, start=1):
        if not np.isfinite(loss) or loss > BLOWUP_LOSS_FACTOR * reference:
            return f"training loss {loss:.3g} at epoch {epoch}", epoch
    rmse = root_mean_squared_error(y_true, y_pred)
    if rmse > BLOWUP_RMSE_FACTOR * np.std(y_true):
        return f"test RMSE {rmse:.3g}", None
    return None, None


def describe_error(error):
    """Short description of the error a fit raised: skann names the epoch."""
    epoch, loss = getattr(error, "epoch", None), getattr(error, "loss", None)
    if epoch is None:
        return str(error)
    return f"epoch {epoch}" + ("" if loss is None else f", loss {loss:.3g}")
