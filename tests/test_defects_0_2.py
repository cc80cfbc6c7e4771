"""Regression tests for the defects that users and an adversarial suite found in 0.2."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from skann import ANNClassifier, ANNRegressor
from skann.exceptions import TrainingDiverged


@pytest.fixture
def regression():
    X, y = make_regression(n_samples=200, n_features=5, noise=5.0, random_state=0)
    return X, y / np.std(y)


@pytest.fixture
def classification():
    return make_classification(n_samples=200, n_features=5, random_state=0)


def test_partial_fit_after_switching_averaging_off_goes_on(regression):
    """Item 1: each partial_fit continued from the averaged fit's live weights."""
    X, y = regression
    model = ANNRegressor(
        (8,), solver="sgd", learning_rate=0.05, momentum=0, batch_size=100,
        weight_averaging="ema", max_iter=20, random_state=0, alpha=0,
    ).fit(X, y)  # fmt: skip
    model.set_params(weight_averaging=None)
    losses = []
    for _ in range(4):
        model.partial_fit(X, y)
        losses.append(model.loss_)
    assert len(set(losses)) == 4
    assert losses[-1] < losses[1]


@pytest.mark.parametrize(
    "classes, message", [([0, 5], "not in `self.classes_`"), ([0], "not in")]
)
def test_first_partial_fit_that_raises_leaves_no_classes(
    classification, classes, message
):
    """Item 2: a failed first call set classes_ and refused the corrected one."""
    X, y = classification
    model = ANNClassifier((4,), random_state=0)
    with pytest.raises(ValueError, match=message):
        model.partial_fit(X, y, classes=classes)
    assert not hasattr(model, "classes_")
    with pytest.raises(Exception, match="not fitted"):
        check_is_fitted(model)
    model.partial_fit(X, y, classes=[0, 1])
    assert_array_equal(model.classes_, [0, 1])


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_class_weights_that_zero_every_sample_raise(classification, solver):
    """Item 3: TypeError (adam, sgd) and ZeroDivisionError (lbfgs) before."""
    X, y = classification
    model = ANNClassifier((4,), solver=solver, class_weight={0: 0.0, 1: 0.0})
    with pytest.raises(ValueError, match="class weights times the sample weights"):
        model.fit(X, y)
    # Sample weights zero on the only class with a positive class weight.
    weights = (y == 1).astype(float)
    model = ANNClassifier((4,), solver=solver, class_weight={0: 1.0, 1: 0.0})
    with pytest.raises(ValueError, match="class weights times the sample weights"):
        model.fit(X, y, sample_weight=weights)


@pytest.mark.parametrize("continued", ["warm_start", "partial_fit"])
def test_switching_target_scaling_on_a_continued_fit_is_refused(regression, continued):
    """Items 4 and 5: the change was ignored, or diverged with the wrong advice."""
    X, y = regression
    y = np.abs(y) + 1
    model = ANNRegressor(
        (4,), target_scaling="standard", warm_start=True, max_iter=5, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    model.set_params(target_scaling=None, loss="poisson")
    with pytest.raises(ValueError, match=r"Cannot continue training.*target_scaling"):
        if continued == "warm_start":
            model.fit(X, y)
        else:
            model.partial_fit(X, y)
    assert model.target_mean_ is not None
    off = ANNRegressor((4,), max_iter=2, random_state=0).partial_fit(X, y)
    off.set_params(target_scaling="standard")
    with pytest.raises(ValueError, match="target_scaling=None"):
        off.partial_fit(X, y)


def test_float32_in_float32_out_with_target_scaling(regression):
    """Item 6."""
    X, y = regression
    model = ANNRegressor((4,), target_scaling="standard", max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X.astype(np.float32), y)
    assert model.predict(X.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("class_weight", [{0: 2.0, 1: 0.5}, "balanced"])
def test_float32_class_weight_equals_sample_weight(classification, class_weight):
    """Item 7: class weights stayed float64 while sample weights were cast."""
    X, y = classification
    X = X.astype(np.float32)
    params = {"hidden_layer_sizes": (6,), "max_iter": 5, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = ANNClassifier(class_weight=class_weight, **params).fit(X, y)
        if class_weight == "balanced":
            counts = np.bincount(y)
            factors = len(y) / (2 * counts)
        else:
            factors = np.array([class_weight[0], class_weight[1]])
        plain = ANNClassifier(**params).fit(X, y, sample_weight=factors[y])
    for a, b in zip(weighted.coefs_, plain.coefs_, strict=True):
        assert_array_equal(a, b)


def test_bias_before_batch_norm_is_not_trained(regression):
    """Item 8: Adam amplified the float32 rounding noise of a zero gradient."""
    X, y = regression
    params = {"hidden_layer_sizes": (16, 8), "batch_norm": True, "max_iter": 6,
              "random_state": 0, "tol": 0}  # fmt: skip
    initial = ANNRegressor(**{**params, "max_iter": 1}, learning_rate=1e-300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit64 = ANNRegressor(**params).fit(X, y)
        fit32 = ANNRegressor(**params).fit(X.astype(np.float32), y)
        initial.fit(X, y)
    # The biases feeding batch norm keep their initial values; the output's trains.
    for k in range(2):
        assert_array_equal(fit64.intercepts_[k], initial.intercepts_[k])
    assert not np.array_equal(fit64.intercepts_[2], initial.intercepts_[2])
    drift = np.max(np.abs(fit32.predict(X.astype(np.float32)) - fit64.predict(X)))
    assert drift < 1e-3 * np.std(y)


def test_predict_on_a_frame_of_categorical_columns(classification):
    """Item 9: isfinite on an object array raised TypeError."""
    pd = pytest.importorskip("pandas")
    X, yc = classification
    df = pd.DataFrame({"a": pd.Categorical(yc), "b": pd.Categorical(1 - yc)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = ANNRegressor((4,), max_iter=3, random_state=0).fit(df, X[:, 0])
    assert model.predict(df).shape == (len(df),)


def test_skops_file_is_small_and_round_trips(regression):
    """Item 10: the history and a copy of the weights were stored twice, as nodes."""
    sio = pytest.importorskip("skops.io")
    rng = np.random.RandomState(0)
    X = rng.randn(500, 5)
    y = X[:, 0] + 0.1 * rng.randn(500)
    model = ANNRegressor((16,), max_iter=200, tol=0, random_state=0).fit(X, y)
    assert model.n_iter_ == 200
    data = sio.dumps(model)
    assert len(data) <= 150_000
    assert len(data) < 5 * len(pickle.dumps(model))
    loaded = sio.loads(data, trusted=["skann._regressor.ANNRegressor"])
    assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.history_ == model.history_
    loaded.partial_fit(X, y)
    model.partial_fit(X, y)
    for a, b in zip(loaded.coefs_, model.coefs_, strict=True):
        assert_array_equal(a, b)


def test_divergence_message_names_the_stabilisers():
    """Item 12: the advice did not name target_scaling or max_grad_norm."""
    message = str(TrainingDiverged(3, 1e20))
    assert "max_grad_norm" in message and "target_scaling" in message


def test_restart_that_rescues_nothing_warns(monkeypatch, regression):
    """Item 12: a restarted fit ending no better than the mean warned nothing.

    The optimizer's first two steps are made to overflow a weight, so the fit
    restarts twice and goes on at a hundredth of a rate too small to learn.
    """
    import skann._training

    X, y = regression
    real_train = skann._training.train_minibatch
    remaining = [2]

    def train(objective, theta, *args, progress, **kwargs):
        step = progress.optimizer.step

        def overflowing_step(theta_, grad, learning_rate):
            step(theta_, grad, learning_rate)
            if remaining[0]:
                remaining[0] -= 1
                theta_[0] = np.inf

        progress.optimizer.step = overflowing_step
        return real_train(objective, theta, *args, progress=progress, **kwargs)

    monkeypatch.setattr(skann._training, "train_minibatch", train)
    model = ANNRegressor((4,), learning_rate=1e-7, max_iter=3, random_state=0,
                         on_divergence="restart", batch_size=len(X))  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    assert sum(r["restart"] for r in model.history_) == 2
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert any("no better than a constant prediction" in m for m in messages)
    assert model.score(X, y) <= 0


@pytest.mark.parametrize(
    "params, ignored",
    [
        (
            {"solver": "lbfgs", "learning_rate_schedule": "cosine"},
            "learning_rate_schedule",
        ),
        ({"solver": "lbfgs", "max_grad_norm": 1.0}, "max_grad_norm"),
        ({"solver": "lbfgs", "weight_averaging": "ema"}, "weight_averaging"),
        ({"solver": "lbfgs", "on_divergence": "restart"}, "on_divergence"),
        ({"early_stopping_metric": "loss"}, "early_stopping_metric"),
        ({"warmup_epochs": 5, "max_iter": 5}, "warmup_epochs"),
    ],
)
def test_options_that_do_nothing_are_warned_about(regression, params, ignored):
    """Item 13: accepted without a word."""
    X, y = regression
    model = ANNRegressor((4,), random_state=0, **{"max_iter": 3, **params})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    messages = [str(w.message) for w in caught if w.category is UserWarning]
    assert any(f"ignores {ignored}=" in m for m in messages), messages


def test_activation_messages_are_sorted_and_suggest_the_closest_name(regression):
    """Item 15."""
    X, y = regression
    with pytest.raises(ValueError, match=r"Did you mean 'tanh'\?") as info:
        ANNRegressor((4, 4), activation=["tanh", "tahn"]).fit(X, y)
    listed = str(info.value).split("[")[1].split("]")[0].replace("'", "").split(", ")
    assert listed == sorted(listed)
    with pytest.raises(ValueError, match=r"Did you mean 'gelu'\?") as info:
        ANNRegressor((4,), activation="gleu").fit(X, y)
    listed = str(info.value).split("[")[1].split("]")[0].replace("'", "").split(", ")
    assert listed == sorted(listed)
    with pytest.raises(ValueError, match="1 entry but hidden_layer_sizes has 2 layers"):
        ANNRegressor((4, 4), dropout=[0.1]).fit(X, y)
    with pytest.raises(
        ValueError, match="2 entries but hidden_layer_sizes has 1 layer:"
    ):
        ANNRegressor((4,), activation=["relu", "relu"]).fit(X, y)


def test_convergence_warnings_are_attributed_to_skann(regression):
    """Item 18: module='skann' did not silence them, module='sklearn' did."""
    X, y = regression
    model = ANNRegressor((4,), max_iter=2, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    (warning,) = [w for w in caught if w.category is ConvergenceWarning]
    assert "skann" in warning.filename.replace("\\", "/").split("/")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", module="skann")
        model.fit(X, y)
    assert not [w for w in caught if w.category is ConvergenceWarning]
