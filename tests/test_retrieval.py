"""Retrieval: the neighbour search, the retrieval head's gradients, the estimators."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pytest
from conftest import numerical_gradient
from numpy.testing import assert_allclose, assert_array_equal

from skann._core.losses import LOSSES
from skann._core.neighbors import context, context_width, nearest
from skann._core.network import Network, NetworkSpec
from skann._core.objective import Objective


def brute_force(Q, M, k, exclude_self=False):
    """Every distance, sorted by (distance, index), duplicates at exactly 0."""
    D = ((Q[:, None, :] - M[None, :, :]) ** 2).sum(axis=2)
    if exclude_self:
        np.fill_diagonal(D, np.inf)
    index = np.array([np.lexsort((np.arange(len(M)), row))[:k] for row in D])
    return index, np.take_along_axis(D, index, axis=1)


@pytest.mark.parametrize("exclude_self", [False, True])
@pytest.mark.parametrize("block_entries", [7, 1 << 18])
def test_nearest_is_exact_with_ties_broken_by_index(exclude_self, block_entries):
    rng = np.random.RandomState(0)
    M = rng.randint(0, 3, size=(40, 3)).astype(float)  # many duplicates and ties
    Q = M if exclude_self else rng.randint(0, 3, size=(25, 3)).astype(float)
    exclude = np.arange(len(M)) if exclude_self else None
    index, d2 = nearest(Q, M, 6, exclude, block_entries=block_entries)
    expected_index, expected_d2 = brute_force(Q, M, 6, exclude_self)
    assert_array_equal(index, expected_index)
    assert_allclose(d2, expected_d2, atol=1e-12)
    if exclude_self:
        assert not np.any(index == np.arange(len(M))[:, None])


def test_nearest_finds_duplicates_at_distance_zero():
    rng = np.random.RandomState(0)
    M = rng.randn(30, 4) * 1e3
    index, d2 = nearest(M[[3, 7]], M, 1)
    assert_array_equal(index[:, 0], [3, 7])
    assert_array_equal(d2[:, 0], 0.0)


def retrieval_problem(loss_name, rng, hidden=(5, 4), k=4, weighted=True):
    """A retrieving network with random parameters, and its augmented input."""
    n, p = 9, 3
    n_outputs = 3 if loss_name == "log_loss" else 2
    X = rng.randn(n, p)
    if loss_name == "log_loss":
        targets = np.eye(3)[rng.randint(0, 3, n)]
        link = "log"
    elif loss_name == "binary_log_loss":
        targets = rng.randint(0, 2, (n, n_outputs)).astype(float)
        link = "logit"
    else:
        targets = rng.randn(n, n_outputs)
        link = "identity"
    log_weights = np.log(rng.uniform(0.5, 2.0, n)) if weighted else None
    index, d2 = nearest(X, X, k, exclude=np.arange(n))
    C = context(index, d2, p, targets, log_weights)
    assert C.shape == (n, context_width(k, n_outputs))
    spec = NetworkSpec.build(
        [p, *hidden, n_outputs], "tanh", n_neighbors=k, retrieval_link=link
    )
    network = Network(spec)
    theta, state = network.init(rng)
    # Away from the initial values, so every part of the head matters.
    theta += 0.3 * rng.randn(theta.size)
    arrays = network.arrays(theta, state)
    arrays["retrieval_trust_means"][0][...] = rng.randn(2)
    arrays["retrieval_trust_scales"][0][...] = rng.uniform(0.5, 2.0, 2)
    sample_weight = rng.uniform(0.5, 2.0, n)
    return (
        np.hstack([X, C]),
        targets.astype(bool) if "log" in loss_name else targets,
        sample_weight,
        network,
        theta,
        state,
    )


@pytest.mark.parametrize("loss_name", ["squared_error", "log_loss", "binary_log_loss"])
@pytest.mark.parametrize("hidden", [(5, 4), ()])
def test_retrieval_gradient_matches_finite_differences(loss_name, hidden):
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta, state = retrieval_problem(
        loss_name, rng, hidden
    )
    objective = Objective(network, LOSSES[loss_name], 0.1, state)
    grad = np.empty_like(theta)
    objective(theta, X, Y, sample_weight, grad)
    work = np.empty_like(theta)

    def value():
        return objective(theta, X, Y, sample_weight, work)

    expected = numerical_gradient(value, theta)
    assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)
    # Every parameter of the head receives a gradient.
    head = network.retrieval
    for slot in (head.t, head.Wg, head.Cg, head.bg):
        assert np.all(slot.view(grad) != 0)


def test_retrieval_head_starts_by_trusting_its_neighbours_little():
    """Gate bias -2 at the start: the output is 0.88 f + 0.12 m."""
    rng = np.random.RandomState(0)
    X, _Y, _, network, _theta, _state = retrieval_problem("squared_error", rng)
    fresh, fresh_state = network.init(np.random.RandomState(1))
    raw = network.predict(fresh, fresh_state, X)
    plain = Network(network.spec._replace(n_neighbors=0))
    f = plain.predict(fresh[: plain.size], np.empty(0), X[:, :3])
    g = 1 / (1 + np.exp(2.0))
    assert not np.allclose(raw, f)
    k, n_out = 4, 2
    Ynb = X[:, 3 + 2 * k + 2 :].reshape(len(X), k, n_out)
    d = X[:, 3 : 3 + k]
    a = np.exp(-d) / np.exp(-d).sum(axis=1, keepdims=True)
    weights = np.exp(X[:, 3 + k : 3 + 2 * k])
    a = a * weights / (a * weights).sum(axis=1, keepdims=True)
    m = np.einsum("nk,nko->no", a, Ynb)
    assert_allclose(raw, f + g * (m - f), rtol=1e-12)


# The estimators with retrieval.
import pickle
import warnings

from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from skann import ANNClassifier, ANNRegressor


def quiet_fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


@pytest.fixture
def repeated():
    """Rows that repeat with exact targets: retrieval recalls them."""
    rng = np.random.RandomState(0)
    base = rng.randn(60, 3)
    X = base[rng.randint(0, 60, 300)]
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2 + 0.5 * np.sign(X[:, 2])
    return X, y


def test_retrieval_recalls_repeated_rows_better_than_the_plain_network(repeated):
    X, y = repeated
    params = {"hidden_layer_sizes": (16,), "max_iter": 60, "random_state": 0,
              "alpha": 0.3, "target_scaling": "standard"}  # fmt: skip
    plain = quiet_fit(ANNRegressor(**params), X, y)
    retrieving = quiet_fit(ANNRegressor(n_neighbors=4, **params), X, y)
    assert retrieving.score(X, y) > plain.score(X, y) + 0.05
    assert retrieving.retrieval_gate_intercepts_[0].shape == (1,)
    assert retrieving._memory["X"].shape == X.shape


def test_training_rows_never_see_their_own_target():
    """Distinct rows with unrelated targets: the context of a training row
    holds other rows only, so recalling a row's own target is impossible."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(50, 2), rng.randn(50)
    model = ANNRegressor((4,), n_neighbors=3, max_iter=1, random_state=0)
    X_net = model._augment_training(X, y[:, None], None, False, False)
    neighbour_targets = X_net[:, 2 + 2 * 3 + 2 :]
    assert not np.any(np.isclose(neighbour_targets, y[:, None]))


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_every_solver_trains_a_retrieving_network(repeated, solver):
    X, y = repeated
    model = ANNRegressor((8,), n_neighbors=5, solver=solver, max_iter=20,
                         random_state=0, learning_rate=0.01)  # fmt: skip
    quiet_fit(model, X, y)
    assert np.isfinite(model.predict(X)).all()


def test_retrieving_classifier_binary_multiclass_multilabel():
    X, y = make_classification(200, 6, n_informative=4, n_classes=3, random_state=0)
    for target in (y, y == 1, np.column_stack([y == 1, y == 2])):
        model = quiet_fit(
            ANNClassifier((8,), n_neighbors=5, max_iter=200, random_state=0), X, target
        )
        proba = model.predict_proba(X)
        assert np.isfinite(proba).all()
        assert model.score(X, target) > 0.7


def test_sample_weight_counts_and_zero_weight_rows_are_not_neighbours(repeated):
    X, y = repeated
    weights = np.ones(len(X))
    weights[:50] = 0
    model = quiet_fit(
        ANNRegressor((8,), n_neighbors=4, max_iter=5, random_state=0),
        X, y, sample_weight=weights,
    )  # fmt: skip
    assert len(model._memory["X"]) == len(X) - 50
    # Integer weights equal repeated rows for the loss; the memory keeps the
    # weight as a log in the attention.
    assert_allclose(np.exp(model._memory["log_weights"]), 1.0)


def test_partial_fit_adds_rows_to_the_memory(repeated):
    X, y = repeated
    model = ANNRegressor((8,), n_neighbors=4, random_state=0)
    model.partial_fit(X[:100], y[:100])
    model.partial_fit(X[100:], y[100:])
    assert len(model._memory["X"]) == len(X)
    assert_array_equal(model._memory["X"], X)


def test_memory_norms_kept_between_predictions_follow_the_memory(repeated):
    """Predictions reuse the memory's norms until the memory changes, and the
    kept norms add nothing to a pickled model.
    """
    from skann import _retrieval

    X, y = repeated
    model = ANNRegressor((8,), n_neighbors=4, random_state=0)
    model.partial_fit(X[:100], y[:100])
    size = len(pickle.dumps(model))
    model.predict(X[:5])
    assert _retrieval._NORMS[model][0] is model._memory["X"]
    assert len(pickle.dumps(model)) == size
    model.partial_fit(X[100:], y[100:])
    kept = model.predict(X)
    assert _retrieval._NORMS[model][0] is model._memory["X"]
    del _retrieval._NORMS[model]
    assert_array_equal(model.predict(X), kept)


def test_continuing_with_other_n_neighbors_is_refused(repeated):
    X, y = repeated
    model = ANNRegressor((8,), n_neighbors=4, random_state=0).partial_fit(X, y)
    model.set_params(n_neighbors=8)
    with pytest.raises(ValueError, match=r"Cannot continue training.*n_neighbors"):
        model.partial_fit(X, y)


def test_sparse_input_is_densified(repeated):
    sp = pytest.importorskip("scipy.sparse")
    X, y = repeated
    params = {"hidden_layer_sizes": (4,), "n_neighbors": 3, "max_iter": 3,
              "random_state": 0}  # fmt: skip
    dense = quiet_fit(ANNRegressor(**params), X, y)
    sparse = quiet_fit(ANNRegressor(**params), sp.csr_matrix(X), y)
    assert_allclose(sparse.predict(sp.csr_matrix(X)), dense.predict(X), rtol=1e-10)


def test_float32_multioutput_and_round_trips(repeated):
    X, y = repeated
    Y = np.column_stack([y, -y])
    model = quiet_fit(
        ANNRegressor((8,), n_neighbors=4, max_iter=10, random_state=0,
                     target_scaling="standard"),
        X.astype(np.float32), Y,
    )  # fmt: skip
    prediction = model.predict(X.astype(np.float32))
    assert prediction.dtype == np.float32 and prediction.shape == Y.shape
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.predict(X.astype(np.float32)), prediction)
    sio = pytest.importorskip("skops.io")
    loaded = sio.loads(sio.dumps(model), trusted=["skann._regressor.ANNRegressor"])
    assert_array_equal(loaded.predict(X.astype(np.float32)), prediction)


def test_predict_in_chunks_equals_one_pass(monkeypatch, repeated):
    import skann._retrieval

    X, y = repeated
    model = quiet_fit(
        ANNRegressor((8,), n_neighbors=4, max_iter=5, random_state=0), X, y
    )
    one_pass = model.predict(X)
    monkeypatch.setattr(skann._retrieval, "_PREDICT_CHUNK_ROWS", 7)
    assert_allclose(model.predict(X), one_pass, rtol=1e-12, atol=1e-12)


def test_early_stopping_with_retrieval(repeated):
    X, y = repeated
    model = quiet_fit(
        ANNRegressor((8,), n_neighbors=4, early_stopping=True, max_iter=50,
                     random_state=0),
        X, y,
    )  # fmt: skip
    assert model.best_validation_score_ is not None
    assert len(model.validation_scores_) == model.n_iter_
