"""Numeric embeddings (``numeric_embedding``): the layers, then the estimators.

The layers are checked against finite differences of the objective and
against a plain NumPy reference written from the definitions; the bin edges
against their definition (weighted quantiles); the estimators through fit,
predict, partial_fit, warm starts, pickling, sparse and float32 input,
retrieval and batch normalisation.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from skann import ANNClassifier, ANNRegressor
from skann._core.embeddings import quantile_edges
from skann._core.losses import LOSSES
from skann._core.network import Network, NetworkSpec, n_init_draws
from skann._core.objective import Objective
from tests.conftest import numerical_gradient

ESTIMATORS = [ANNClassifier, ANNRegressor]
EMBEDDINGS = ["periodic", "piecewise_linear"]


def make_network(embedding, n_features=3, hidden=(5,), n_outputs=2, dim=4, bins=5,
                 scale=0.3, **kwargs):  # fmt: skip
    spec = NetworkSpec.build(
        [n_features, *hidden, n_outputs], "tanh",
        embedding=(embedding, dim, bins, scale), **kwargs,
    )  # fmt: skip
    return Network(spec)


def reference_embedding(network, theta, state, X):
    """The embedding's output from its definition, feature by feature."""
    arrays = network.arrays(theta, state)
    W, b = arrays["embedding_coefs"][0], arrays["embedding_intercepts"][0]
    columns = []
    for j in range(X.shape[1]):
        x = X[:, j : j + 1]
        if "embedding_frequencies" in arrays:
            c = arrays["embedding_frequencies"][0][j]
            e = np.hstack([np.cos(2 * np.pi * c * x), np.sin(2 * np.pi * c * x)])
        else:
            edges = arrays["embedding_bin_edges"][0][j]
            e = np.zeros((len(x), len(edges) - 1))
            positive = [t for t in range(len(edges) - 1) if edges[t + 1] > edges[t]]
            for t in positive:
                v = (x[:, 0] - edges[t]) / (edges[t + 1] - edges[t])
                if t != positive[0]:
                    v = np.maximum(v, 0)
                if t != positive[-1]:
                    v = np.minimum(v, 1)
                e[:, t] = v
        columns.append(np.maximum(e @ W[j] + b[j], 0))
    return np.hstack(columns)


def init_network(network, X, rng, sample_weight=None):
    theta, state = network.init(rng)
    if network.spec.numeric_embedding == "piecewise_linear":
        edges = network.arrays(theta, state)["embedding_bin_edges"][0]
        edges[...] = quantile_edges(X, network.spec.embedding_bins, sample_weight)
    return theta, state


@pytest.mark.parametrize("embedding", EMBEDDINGS)
@pytest.mark.parametrize("loss_name", ["squared_error", "log_loss"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_objective_gradient_with_embedding_matches_finite_differences(
    embedding, loss_name, batch_norm
):
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3)
    n_outputs = 3 if loss_name == "log_loss" else 2
    Y = rng.randn(40, n_outputs)
    if loss_name == "log_loss":
        Y = np.eye(3)[rng.randint(3, size=40)]
    sample_weight = rng.uniform(0.5, 2.0, 40)
    network = make_network(embedding, n_outputs=n_outputs, batch_norm=batch_norm)
    theta, state = init_network(network, X, rng)
    # Larger weights than Glorot's put the ReLUs on both sides of 0.
    theta[...] = rng.uniform(-1.0, 1.0, theta.size)
    objective = Objective(network, LOSSES[loss_name], 0.1, state)
    grad = np.empty_like(theta)
    objective(theta, X, Y, sample_weight, grad)
    scratch = np.empty_like(theta)
    numerical = numerical_gradient(
        lambda: objective(theta, X, Y, sample_weight, scratch), theta
    )
    assert_allclose(grad, numerical, rtol=1e-6, atol=1e-9)
    # Every embedding array is trained: none of its gradients is all zero.
    for name, views in network.arrays(grad, state).items():
        if name.startswith("embedding_") and name != "embedding_bin_edges":
            assert np.any(views[0] != 0), name


@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_embedding_forward_matches_reference(embedding):
    rng = np.random.RandomState(1)
    X = rng.randn(30, 3)
    network = make_network(embedding, hidden=())
    theta, state = init_network(network, X, rng)
    theta[...] = rng.uniform(-1.0, 1.0, theta.size)
    X_test = 2 * rng.randn(25, 3)  # beyond the training range too
    E = reference_embedding(network, theta, state, X_test)
    W, b = (
        network.arrays(theta, state)["coefs"][0],
        network.arrays(theta, state)["intercepts"][0],
    )
    assert_allclose(network.predict(theta, state, X_test), E @ W + b, rtol=1e-12)


def test_penalty_covers_the_embedding_maps_not_frequencies_or_biases():
    network = make_network("periodic")
    theta = np.arange(network.size, dtype=float)
    arrays = network.arrays(theta, np.empty(0))
    penalised = set(network.weights(theta).tolist())
    assert set(arrays["embedding_coefs"][0].ravel().tolist()) <= penalised
    for name in ("embedding_frequencies", "embedding_intercepts", "intercepts"):
        for view in arrays[name]:
            assert not set(view.ravel().tolist()) & penalised, name


def test_init_draws_embedding_after_glorot_and_frequencies_are_normal():
    network = make_network("periodic", n_features=3, hidden=(), n_outputs=2,
                           dim=4, scale=0.5)  # fmt: skip
    # The first affine layer takes 3 * 4 columns: a plain network with 12
    # inputs draws the same affine weights from the same seed.
    plain = Network(NetworkSpec.build([12, 2], "relu"))
    theta, _ = network.init(np.random.RandomState(0))
    plain_theta, _ = plain.init(np.random.RandomState(0))
    arrays = network.arrays(theta, np.empty(0))
    plain_arrays = plain.arrays(plain_theta, np.empty(0))
    assert_array_equal(arrays["coefs"][0], plain_arrays["coefs"][0])
    assert_array_equal(arrays["intercepts"][0], plain_arrays["intercepts"][0])
    # Large scale, many frequencies: their spread is the scale.
    big = make_network("periodic", n_features=50, hidden=(), dim=40, scale=0.5)
    theta, _ = big.init(np.random.RandomState(0))
    c = big.arrays(theta, np.empty(0))["embedding_frequencies"][0]
    assert np.all(np.isfinite(c))
    assert abs(np.std(c) - 0.5) < 0.02 and abs(np.mean(c)) < 0.02


def test_quantile_edges_unit_and_integer_weights():
    rng = np.random.RandomState(0)
    X = rng.randn(50, 3)
    X[:, 2] = 1.5  # a constant column
    edges = quantile_edges(X, 4)
    assert edges.shape == (3, 5)
    assert_array_equal(edges[:, 0], X.min(axis=0))
    assert_array_equal(edges[:, -1], X.max(axis=0))
    assert np.all(np.diff(edges, axis=1) >= 0)
    assert_array_equal(edges[2], 1.5)
    assert_array_equal(quantile_edges(X, 4, np.ones(50)), edges)
    weights = rng.randint(0, 4, 50)
    weights[0] = 1
    assert_array_equal(
        quantile_edges(X, 4, weights.astype(float)),
        quantile_edges(np.repeat(X, weights, axis=0), 4),
    )
    # Each edge is the inverted-cdf quantile of its column.
    for j in range(2):
        assert_array_equal(
            edges[j], np.quantile(X[:, j], np.linspace(0, 1, 5), method="inverted_cdf")
        )


def test_piecewise_linear_constant_and_tied_features():
    """Zero-width bins encode to 0: a constant feature's embedding is constant."""
    rng = np.random.RandomState(0)
    X = np.column_stack([np.full(40, 2.0), rng.randint(0, 3, 40).astype(float)])
    network = make_network("piecewise_linear", n_features=2, hidden=(), bins=8)
    theta, state = init_network(network, X, rng)
    X_test = np.column_stack([rng.randn(10) * 5, rng.randn(10) * 5])
    E = reference_embedding(network, theta, state, X_test)
    assert np.all(np.isfinite(E))
    assert_allclose(E[:, :4], E[:1, :4].repeat(10, axis=0))
    out = network.predict(theta, state, X_test)
    arrays = network.arrays(theta, state)
    assert_allclose(out, E @ arrays["coefs"][0] + arrays["intercepts"][0])


# -- Through the estimators ------------------------------------------------------


def data(Estimator, n=80, p=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, p)
    y = X[:, 0] ** 2 + np.sin(3 * X[:, 1])
    if Estimator is ANNClassifier:
        y = (y > np.median(y)).astype(int)
    return X, y


def small(Estimator, embedding, **params):
    params = {
        "hidden_layer_sizes": (8,),
        "max_iter": 20,
        "random_state": 0,
        "numeric_embedding": embedding,
        "embedding_dim": 4,
        "embedding_bins": 6,
        **params,
    }
    if embedding == "periodic":
        params.pop("embedding_bins")
    return Estimator(**params)


def fit_quietly(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_fit_predict_fitted_attributes_and_pickle(Estimator, embedding):
    X, y = data(Estimator)
    model = fit_quietly(small(Estimator, embedding), X, y)
    assert model.coefs_[0].shape == (4 * 4, 8)
    assert model.embedding_coefs_[0].shape[0] == 4
    assert model.embedding_intercepts_[0].shape == (4, 4)
    if embedding == "periodic":
        assert model.embedding_frequencies_[0].shape == (4, 4)
        assert model.embedding_coefs_[0].shape == (4, 8, 4)
        assert model.embedding_bin_edges_ is None
    else:
        assert model.embedding_bin_edges_[0].shape == (4, 7)
        assert_array_equal(model.embedding_bin_edges_[0], quantile_edges(X, 6))
        assert model.embedding_frequencies_ is None
    pred = model.predict(X)
    loaded = pickle.loads(pickle.dumps(model))
    assert_array_equal(loaded.predict(X), pred)
    # Row by row as in a batch.
    assert_allclose(model.predict(X[:1]), pred[:1])


@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_default_is_the_network_without_embedding(embedding):
    X, y = data(ANNRegressor)
    plain = fit_quietly(ANNRegressor((8,), max_iter=5, random_state=0), X, y)
    same = fit_quietly(
        ANNRegressor((8,), max_iter=5, random_state=0, numeric_embedding=None), X, y
    )
    assert_array_equal(plain.predict(X), same.predict(X))
    assert plain.embedding_coefs_ is None
    embedded = fit_quietly(small(ANNRegressor, embedding, max_iter=5), X, y)
    assert not np.allclose(embedded.predict(X), plain.predict(X))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_partial_fit_keeps_the_first_edges(Estimator, embedding):
    X, y = data(Estimator)
    model = small(Estimator, embedding)
    kwargs = {"classes": np.unique(y)} if Estimator is ANNClassifier else {}
    model.partial_fit(X[:40], y[:40], **kwargs)
    first = None if embedding == "periodic" else model.embedding_bin_edges_[0].copy()
    before = model.embedding_coefs_[0].copy()
    model.partial_fit(X[40:] * 3, y[40:])
    assert not np.array_equal(model.embedding_coefs_[0], before)
    if first is not None:
        assert_array_equal(model.embedding_bin_edges_[0], first)
        assert_array_equal(first, quantile_edges(X[:40], 6))


@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_warm_start_continues_and_refuses_another_embedding(embedding):
    X, y = data(ANNRegressor)
    model = fit_quietly(small(ANNRegressor, embedding, warm_start=True), X, y)
    edges = model.embedding_bin_edges_
    fit_quietly(model, X * 2, y)
    if edges is not None:
        assert_array_equal(model.embedding_bin_edges_[0], edges[0])
    model.set_params(embedding_dim=3)
    with pytest.raises(ValueError, match="embedding"):
        fit_quietly(model, X, y)
    other = "periodic" if embedding == "piecewise_linear" else "piecewise_linear"
    model.set_params(embedding_dim=4, numeric_embedding=other)
    refused = pytest.raises(ValueError, match="numeric_embedding")
    with refused, warnings.catch_warnings():
        # embedding_bins=6, which 'periodic' ignores.
        warnings.simplefilter("ignore", UserWarning)
        fit_quietly(model, X, y)


@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_sample_weight_sets_weighted_edges_and_integer_weights_repeat_rows(embedding):
    X, y = data(ANNRegressor)
    weights = np.random.RandomState(3).randint(0, 3, len(X))
    model = small(ANNRegressor, embedding, solver="lbfgs", max_iter=15)
    weighted = fit_quietly(model, X, y, sample_weight=weights.astype(float))
    repeated = fit_quietly(
        small(ANNRegressor, embedding, solver="lbfgs", max_iter=15),
        np.repeat(X, weights, axis=0),
        np.repeat(y, weights),
    )
    if embedding == "piecewise_linear":
        assert_array_equal(
            weighted.embedding_bin_edges_[0], repeated.embedding_bin_edges_[0]
        )
    assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("embedding", EMBEDDINGS)
@pytest.mark.parametrize("sparse_format", ["csr", "csc"])
def test_sparse_input_gives_the_dense_fit(embedding, sparse_format):
    X, y = data(ANNRegressor)
    X[X < 0.3] = 0
    dense = fit_quietly(small(ANNRegressor, embedding), X, y)
    sparse = fit_quietly(
        small(ANNRegressor, embedding), sp.csr_matrix(X).asformat(sparse_format), y
    )
    assert_allclose(sparse.predict(X), dense.predict(X), rtol=1e-10)
    assert_allclose(sparse.predict(sp.csr_matrix(X)), dense.predict(X), rtol=1e-10)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_float32_fit_stays_float32_and_close_to_float64(Estimator, embedding):
    X, y = data(Estimator)
    model64 = fit_quietly(small(Estimator, embedding, max_iter=3), X, y)
    model32 = fit_quietly(small(Estimator, embedding, max_iter=3), X.astype("f4"), y)
    assert model32.embedding_coefs_[0].dtype == np.float32
    if Estimator is ANNRegressor:
        assert model32.predict(X.astype("f4")).dtype == np.float32
        assert_allclose(model32.predict(X), model64.predict(X), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_with_retrieval_and_batch_norm(Estimator, embedding):
    X, y = data(Estimator)
    model = fit_quietly(
        small(Estimator, embedding, n_neighbors=3, batch_norm=True), X, y
    )
    assert model.retrieval_gate_coefs_[0].shape[0] == 8
    pred = model.predict(X)
    assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), pred)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"numeric_embedding": "fourier"}, "numeric_embedding"),
        ({"numeric_embedding": "periodic", "embedding_dim": 0}, "embedding_dim"),
        ({"numeric_embedding": "periodic", "embedding_scale": 0.0}, "embedding_scale"),
        ({"numeric_embedding": "piecewise_linear", "embedding_bins": 0},
         "embedding_bins"),
    ],
)  # fmt: skip
def test_invalid_embedding_parameters(params, match):
    X, y = data(ANNRegressor)
    with pytest.raises(InvalidParameterError, match=match):
        ANNRegressor(**params).fit(X, y)


@pytest.mark.parametrize(
    "params, ignored",
    [
        ({"embedding_dim": 8}, "embedding_dim=8"),
        ({"embedding_scale": 0.1}, "embedding_scale=0.1"),
        ({"embedding_bins": 8}, "embedding_bins=8"),
        ({"numeric_embedding": "periodic", "embedding_bins": 8}, "embedding_bins=8"),
        (
            {"numeric_embedding": "piecewise_linear", "embedding_scale": 1.0},
            "embedding_scale=1.0",
        ),
    ],
)
def test_ignored_embedding_parameters_warn(params, ignored):
    X, y = data(ANNRegressor)
    with pytest.warns(UserWarning, match=ignored):
        fit_quietly(ANNRegressor((4,), max_iter=2, **params), X, y)


def test_non_finite_input_is_refused_before_the_edges():
    X, y = data(ANNRegressor)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        small(ANNRegressor, "piecewise_linear").fit(X, y)


@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_retrieval_without_hidden_layers_gates_on_the_embedding(embedding):
    X, y = data(ANNRegressor)
    model = fit_quietly(small(ANNRegressor, embedding, hidden_layer_sizes=(),
                              n_neighbors=3), X, y)  # fmt: skip
    # The gate reads the embedded features: 4 features of 4 numbers.
    assert model.retrieval_gate_coefs_[0].shape == (16, 1)
    assert np.all(np.isfinite(model.predict(X)))


@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_predict_in_row_chunks_matches_one_pass(monkeypatch, embedding):
    rng = np.random.RandomState(0)
    X = rng.randn(50, 3)
    network = make_network(embedding)
    theta, state = init_network(network, X, rng)
    whole = network.predict(theta, state, X)
    # Chunks of 7 rows: the work arrays of a row are the embedding's too.
    monkeypatch.setattr(
        "skann._core.network._PREDICT_CHUNK_BYTES", 7 * network.row_width * 8
    )
    assert_allclose(network.predict(theta, state, X), whole, rtol=1e-14)


@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_init_takes_a_fixed_number_of_uniform_draws(embedding):
    network = make_network(embedding, hidden=(5, 4))
    rng = np.random.RandomState(0)
    network.init(rng)
    sizes = [3 * 4, 5, 4, 2]  # the affine layers after the embedding
    expected = np.random.RandomState(0)
    expected.random_sample(n_init_draws(sizes) + network.embedding.init_draws())
    assert rng.random_sample() == expected.random_sample()
