"""The one-pass ensemble: ensemble_size, ensemble_style, return_std."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from skann import ANNClassifier, ANNRegressor
from skann._core import network as network_module
from skann._core import objective as objective_module
from skann._core.losses import LOSSES
from skann._core.network import Network, NetworkSpec
from skann._core.objective import Objective
from tests.conftest import numerical_gradient

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

LINKS = {
    "squared_error": "identity",
    "poisson": "exp",
    "binary_log_loss": "logistic",
    "log_loss": "softmax",
}


def _targets(loss, rng, n, n_outputs):
    if loss == "log_loss":
        return np.eye(n_outputs)[rng.randint(0, n_outputs, n)]
    if loss == "binary_log_loss":
        return (rng.rand(n, n_outputs) > 0.5).astype(float)
    return rng.rand(n, n_outputs)


def _network(loss, style, k=4, sizes=(5, 7, 6, 3), activation="tanh"):
    spec = NetworkSpec.build(
        sizes, activation, ensemble_size=k, ensemble_style=style,
        ensemble_link=LINKS[loss],
    )  # fmt: skip
    return Network(spec)


@pytest.mark.parametrize("style", ["full", "mini"])
@pytest.mark.parametrize("loss", list(LINKS))
@pytest.mark.parametrize("sparse", [False, True])
def test_gradient_matches_finite_differences(style, loss, sparse):
    rng = np.random.RandomState(0)
    network = _network(loss, style)
    theta, _ = network.init(rng)
    # Away from the initial scalings of 1, so every product is exercised.
    theta += 0.1 * rng.randn(theta.size)
    X = rng.randn(9, 5)
    Y = _targets(loss, rng, 9, 3)
    weights = rng.rand(9)
    objective = Objective(network, LOSSES[loss], alpha=0.01)
    grad = np.empty_like(theta)
    X_in = sp.csr_matrix(X) if sparse else X
    objective(theta, X_in, Y, weights, grad)

    scratch = np.empty_like(theta)
    expected = numerical_gradient(
        lambda: objective(theta, X, Y, weights, scratch), theta
    )
    assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("style", ["full", "mini"])
@pytest.mark.parametrize("loss", list(LINKS))
def test_training_loss_is_the_mean_of_the_members_losses(style, loss):
    rng = np.random.RandomState(1)
    network = _network(loss, style)
    theta, state = network.init(rng)
    theta += 0.1 * rng.randn(theta.size)
    X, Y, weights = rng.randn(9, 5), _targets(loss, rng, 9, 3), rng.rand(9)
    objective = Objective(network, LOSSES[loss], alpha=0.01)
    value = objective(theta, X, Y, weights, np.empty_like(theta))

    members = network.predict(theta, state, X, members=True).reshape(9, 4, 3)
    losses = [
        LOSSES[loss].value_and_delta(Y, members[:, j].copy(), weights)[0]
        for j in range(4)
    ]
    expected = np.mean(losses) + objective.penalty(theta, weights.sum())
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("loss", list(LINKS))
def test_prediction_is_the_mean_of_the_members_predictions(loss):
    rng = np.random.RandomState(2)
    network = _network(loss, "full")
    theta, state = network.init(rng)
    X = rng.randn(11, 5)
    link = LOSSES[loss].link

    members = network.predict(theta, state, X, members=True).reshape(11, 4, 3)
    expected = np.mean([link(members[:, j]) for j in range(4)], axis=0)
    assert_allclose(link(network.predict(theta, state, X)), expected, rtol=1e-12)


@pytest.mark.parametrize("style", ["full", "mini"])
@pytest.mark.parametrize("sparse", [False, True])
def test_row_blocks_and_groups_give_the_one_block_gradient(monkeypatch, style, sparse):
    """The members' matrices fold once per batch and their gradient unfolds
    once, after the blocks' parts are summed: cut into row groups and blocks,
    the last one shorter, a batch has the value and gradient of one block.
    """
    rng = np.random.RandomState(4)
    network = _network("log_loss", style, k=3)
    theta, _ = network.init(rng)
    theta += 0.1 * rng.randn(theta.size)
    X, Y, weights = rng.randn(70, 5), _targets("log_loss", rng, 70, 3), rng.rand(70)
    X_in = sp.csr_matrix(X) if sparse else X
    whole = np.empty_like(theta)
    value = Objective(network, LOSSES["log_loss"], 0.01)(theta, X_in, Y, weights, whole)

    monkeypatch.setattr(objective_module, "_MIN_WORK_PER_ENSEMBLE_GROUP", 100)
    monkeypatch.setattr(objective_module, "_MIN_ROWS_PER_GROUP", 1)
    monkeypatch.setattr(objective_module, "_MIN_ROWS_PER_BLOCK", 8)
    monkeypatch.setattr(objective_module, "_CACHE_BYTES", 1)
    objective = Objective(network, LOSSES["log_loss"], 0.01)
    assert len(objective._groups(70)) == 2
    monkeypatch.setattr(Objective, "_step", lambda self, itemsize: 8)
    blocked = np.full_like(theta, np.nan)
    for _ in range(2):  # the second call reuses the plans and their arrays
        assert objective(theta, X_in, Y, weights, blocked) == pytest.approx(value)
        assert_allclose(blocked, whole, rtol=1e-10, atol=1e-14)


def test_chunked_prediction_equals_one_chunk(monkeypatch):
    rng = np.random.RandomState(3)
    network = _network("squared_error", "full", k=5)
    theta, state = network.init(rng)
    X = rng.randn(50, 5)
    whole = network.predict(theta, state, X)
    whole_members = network.predict(theta, state, X, members=True)
    # A few rows per chunk, the last one shorter.
    monkeypatch.setattr(network_module, "_PREDICT_CHUNK_BYTES", 7 * 5 * 16 * 8)

    assert_allclose(network.predict(theta, state, X), whole, rtol=1e-14)
    assert_allclose(
        network.predict(theta, state, X, members=True), whole_members, rtol=1e-14
    )


def test_members_start_apart_only_through_the_first_layers_signs():
    network = _network("squared_error", "full", k=6)
    theta, _ = network.init(np.random.RandomState(0))
    arrays = network.arrays(theta, np.empty(0))
    first, hidden = arrays["ensemble_input_scales"]
    assert set(np.unique(first)) == {-1.0, 1.0}
    assert_array_equal(hidden, 1.0)
    for scales in arrays["ensemble_output_scales"]:
        assert_array_equal(scales, 1.0)
    # Shared layers' biases start equal for all members; the output layers
    # are drawn for each.
    for bias in arrays["intercepts"][:2]:
        assert_array_equal(bias, np.broadcast_to(bias[0], bias.shape))
    head = arrays["coefs"][-1]
    assert head.shape == (6, 6, 3)
    assert not np.allclose(head[0], head[1])


def _regression(n=80):
    rng = np.random.RandomState(0)
    X = rng.randn(n, 4)
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.randn(n)
    return X, y


def _classification(n=90):
    rng = np.random.RandomState(0)
    X = rng.randn(n, 4)
    y = np.array(["a", "b", "c"])[np.argmax(X[:, :3] + 0.3 * rng.randn(n, 3), 1)]
    return X, y


SMALL = {"hidden_layer_sizes": (16, 8), "max_iter": 30, "random_state": 0}


@pytest.mark.parametrize("style", ["full", "mini"])
def test_fitted_arrays_have_a_member_axis(style):
    X, y = _regression()
    model = ANNRegressor(ensemble_size=5, ensemble_style=style, **SMALL).fit(X, y)

    assert [c.shape for c in model.coefs_] == [(4, 16), (16, 8), (5, 8, 1)]
    if style == "full":
        assert [b.shape for b in model.intercepts_] == [(5, 16), (5, 8), (5, 1)]
        assert [r.shape for r in model.ensemble_input_scales_] == [(5, 4), (5, 16)]
        assert [s.shape for s in model.ensemble_output_scales_] == [(5, 16), (5, 8)]
    else:
        assert [b.shape for b in model.intercepts_] == [(16,), (8,), (5, 1)]
        assert [r.shape for r in model.ensemble_input_scales_] == [(5, 4)]
        assert model.ensemble_output_scales_ is None


def test_a_single_network_has_no_member_arrays():
    X, y = _regression()
    model = ANNRegressor(**SMALL).fit(X, y)
    assert model.ensemble_input_scales_ is None
    assert model.ensemble_output_scales_ is None
    mean, std = model.predict(X, return_std=True)
    assert_array_equal(mean, model.predict(X))
    assert_array_equal(std, 0.0)


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_return_std_is_the_spread_of_the_members_predictions(n_outputs):
    X, y = _regression()
    if n_outputs == 2:
        y = np.column_stack([y, -2 * y + 1])
    model = ANNRegressor(ensemble_size=4, target_scaling="standard", **SMALL).fit(X, y)
    mean, std = model.predict(X, return_std=True)

    raw = model._prediction_network().predict(X, True)
    members = model._decode(raw).reshape(len(X), 4, *y.shape[1:])
    assert_array_equal(mean, model.predict(X))
    assert_allclose(mean, members.mean(axis=1), rtol=1e-12, atol=1e-12)
    assert_allclose(std, members.std(axis=1), rtol=1e-12)
    assert std.shape == mean.shape == y.shape
    assert np.all(std > 0)


def test_classifier_probabilities_are_the_members_mean():
    X, y = _classification()
    model = ANNClassifier(ensemble_size=4, **SMALL).fit(X, y)
    raw = model._prediction_network().predict(X, True).reshape(len(X), 4, 3)
    members = np.stack([LOSSES["log_loss"].link(raw[:, j]) for j in range(4)], 1)

    proba = model.predict_proba(X)
    assert_allclose(proba, members.mean(axis=1), rtol=1e-12)
    assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])


@pytest.mark.parametrize(
    "params, message",
    [
        ({"batch_norm": True}, "batch_norm=True"),
        ({"n_neighbors": 3}, "n_neighbors=3"),
        ({"hidden_layer_sizes": ()}, "without hidden layers"),
        ({"front_scaling": True}, "front_scaling=True"),
        ({"parametrization": "ntk"}, "parametrization='ntk'"),
    ],
)
def test_options_an_ensemble_cannot_combine_with_are_refused(params, message):
    X, y = _regression()
    with pytest.raises(ValueError, match=message):
        ANNRegressor(ensemble_size=2, **params).fit(X, y)


def test_style_without_an_ensemble_is_ignored_with_a_warning():
    X, y = _regression()
    with pytest.warns(UserWarning, match="ignores ensemble_style='mini'"):
        ANNRegressor(ensemble_style="mini", **SMALL).fit(X, y)


def test_continuing_with_other_members_is_refused():
    X, y = _regression()
    model = ANNRegressor(ensemble_size=3, warm_start=True, **SMALL).fit(X, y)
    model.set_params(ensemble_size=4)
    with pytest.raises(ValueError, match="ensemble_size=3"):
        model.fit(X, y)
    model.set_params(ensemble_size=3, ensemble_style="mini")
    with pytest.raises(ValueError, match="ensemble_style='mini'"):
        model.partial_fit(X, y)


@pytest.mark.parametrize(
    "params",
    [
        {"solver": "lbfgs"},
        {"solver": "sgd", "learning_rate": 0.01},
        {"dropout": 0.2, "weight_averaging": "ema"},
        {"early_stopping": True, "validation_fraction": 0.2},
        {"loss": "poisson"},
        {"output_init": "zeros", "learning_rate_schedule": "coslog"},
    ],
)
def test_ensembles_train_with_other_options(params):
    X, y = _regression()
    if params.get("loss") == "poisson":
        y = np.exp(0.3 * y)
    model = ANNRegressor(ensemble_size=3, **{**SMALL, **params}).fit(X, y)
    assert np.isfinite(model.loss_)
    assert model.loss_curve_[-1] < model.loss_curve_[0]


def test_float32_sparse_partial_fit_and_pickle():
    X, y = _classification()
    X32 = X.astype(np.float32)
    model = ANNClassifier(ensemble_size=3, **SMALL).fit(X32, y)
    assert model.predict_proba(X32).dtype == np.float32
    assert model.coefs_[-1].dtype == np.float32

    sparse = ANNClassifier(ensemble_size=3, **SMALL).fit(sp.csr_matrix(X), y)
    dense = ANNClassifier(ensemble_size=3, **SMALL).fit(X, y)
    assert_allclose(sparse.predict_proba(X), dense.predict_proba(X), rtol=1e-10)

    before = [c.copy() for c in dense.coefs_]
    dense.partial_fit(X, y)
    assert not np.allclose(before[0], dense.coefs_[0])
    loaded = pickle.loads(pickle.dumps(dense))
    assert_array_equal(loaded.predict_proba(X), dense.predict_proba(X))


def test_one_member_is_exactly_the_default_network():
    X, y = _regression()
    with warnings.catch_warnings():
        # No warning about an ignored option.
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = ANNRegressor(**SMALL).fit(X, y)
        one = ANNRegressor(ensemble_size=1, **SMALL).fit(X, y)
    for a, b in zip(plain.coefs_, one.coefs_, strict=True):
        assert_array_equal(a, b)
    assert_array_equal(plain.predict(X), one.predict(X))


@pytest.mark.parametrize("embedding", ["periodic", "piecewise_linear"])
def test_gradient_through_an_embedding_before_the_members(embedding):
    # The first ensemble layer is then not the network's first: its input
    # gradient, summed over the members, flows on into the embedding.
    rng = np.random.RandomState(4)
    X = rng.randn(9, 3)
    spec = NetworkSpec.build(
        (3, 5, 2), "tanh", embedding=(embedding, 4, 3, 0.5), ensemble_size=3,
    )  # fmt: skip
    network = Network(spec)
    theta, state = network.init(rng)
    if embedding == "piecewise_linear":
        edges = np.sort(rng.randn(3, 4), axis=1)
        network.arrays(theta, state)["embedding_bin_edges"][0][...] = edges
    theta += 0.1 * rng.randn(theta.size)
    Y = rng.rand(9, 2)
    objective = Objective(network, LOSSES["squared_error"], 0.01, state)
    grad = np.empty_like(theta)
    objective(theta, X, Y, None, grad)

    scratch = np.empty_like(theta)
    expected = numerical_gradient(lambda: objective(theta, X, Y, None, scratch), theta)
    assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)
