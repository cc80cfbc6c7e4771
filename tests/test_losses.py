"""The regression losses: gradients, reference values, extremes, scikit-learn parity."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings
from itertools import pairwise

import numpy as np
import pytest
from conftest import numerical_gradient
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_absolute_error, mean_pinball_loss
from sklearn.neural_network import MLPRegressor
from sklearn.neural_network._base import poisson_loss

from skann._core.losses import LOSSES, REGRESSION_LOSSES, make_loss
from skann._core.network import Network, NetworkSpec
from skann._core.objective import Objective

N_SAMPLES = 9

# Every loss, the parameterised ones at their defaults and at other values:
# id -> (name, make_loss parameters).
CONFIGS = {
    "squared_error": ("squared_error", {}),
    "poisson": ("poisson", {}),
    "absolute_error": ("absolute_error", {}),
    "huber": ("huber", {}),
    "huber-0.3": ("huber", {"huber_delta": 0.3}),
    "huber-5": ("huber", {"huber_delta": 5.0}),
    "quantile": ("quantile", {}),
    "quantile-0.1": ("quantile", {"quantile": 0.1}),
    "quantile-0.9": ("quantile", {"quantile": 0.9}),
    "binary_log_loss": ("binary_log_loss", {}),
    "log_loss": ("log_loss", {}),
}
NEW = ["poisson", "absolute_error", "huber", "huber-0.3", "quantile", "quantile-0.1"]


def kinks(config):
    """Residuals r - y where the loss is not twice differentiable."""
    name, params = CONFIGS[config]
    if name in ("absolute_error", "quantile"):
        return (0.0,)
    if name == "huber":
        delta = params.get("huber_delta", 1.0)
        return (-delta, delta)
    return ()


def make_targets(name, rng, n_samples=N_SAMPLES, n_outputs=3):
    if name == "poisson":
        # Counts, zeros included: y log y is 0 there.
        return rng.poisson(2.0, (n_samples, n_outputs)).astype(float)
    if name == "binary_log_loss":
        return (rng.rand(n_samples, n_outputs) > 0.5).astype(float)
    if name == "log_loss":
        return np.eye(n_outputs)[rng.randint(n_outputs, size=n_samples)]
    return 2.0 * rng.randn(n_samples, n_outputs)


def make_case(config, n_outputs=3, seed=0):
    """Y, raw and sample weights for a loss, residuals well off its kinks."""
    name, _ = CONFIGS[config]
    rng = np.random.RandomState(seed)
    Y = make_targets(name, rng, n_outputs=n_outputs)
    if name == "poisson":
        raw = rng.uniform(-1.5, 1.5, Y.shape)
    elif name in ("binary_log_loss", "log_loss"):
        raw = 2.0 * rng.randn(*Y.shape)
    else:
        # Residuals of either sign from 0.05 to 8, log-uniform so that some
        # fall on each side of every Huber delta used here, and moved 0.1 away
        # from any delta they fall within 0.05 of.
        size = np.exp(rng.uniform(np.log(0.05), np.log(8.0), Y.shape))
        for delta in (0.3, 1.0, 5.0):
            size[np.abs(size - delta) < 0.05] += 0.1
        raw = Y + np.where(rng.rand(*Y.shape) < 0.5, -size, size)
    sample_weight = rng.uniform(0.5, 2.0, N_SAMPLES)
    for kink in kinks(config):
        assert np.min(np.abs(raw - Y - kink)) > 1e-2
    return Y, raw, sample_weight


def value_and_delta(config, Y, raw, sample_weight=None, total=None):
    name, params = CONFIGS[config]
    # raw.copy(): the loss may write its gradient into raw's memory.
    return make_loss(name, **params).value_and_delta(
        Y, raw.copy(), sample_weight, total
    )


def test_configs_cover_every_loss():
    assert {name for name, _ in CONFIGS.values()} == set(LOSSES)
    assert set(REGRESSION_LOSSES) <= set(LOSSES)


def test_make_loss_names_and_links():
    assert REGRESSION_LOSSES == (
        "squared_error",
        "poisson",
        "absolute_error",
        "huber",
        "quantile",
    )
    for name in ("squared_error", "poisson", "absolute_error", "log_loss"):
        assert make_loss(name, huber_delta=3.0, quantile=0.2) is LOSSES[name]
    # MLPRegressor's out_activation_ for loss="poisson" is "exp".
    assert LOSSES["poisson"].out_activation == "exp"
    raw = np.array([[-2.0, 0.0, 3.0]])
    assert_array_equal(LOSSES["poisson"].link(raw), np.exp(raw))
    for name in ("absolute_error", "huber", "quantile"):
        loss = make_loss(name, huber_delta=3.0, quantile=0.2)
        assert loss.out_activation == "identity"
        assert_array_equal(loss.link(raw), raw)


def test_make_loss_binds_the_parameters():
    Y, raw = np.zeros((1, 1)), np.array([[2.0]])
    huber = make_loss("huber", huber_delta=0.5)
    assert huber.value_and_delta(Y, raw.copy())[0] == 0.5 * (2.0 - 0.25)
    assert LOSSES["huber"].value_and_delta(Y, raw.copy())[0] == 2.0 - 0.5
    quantile = make_loss("quantile", quantile=0.9)
    assert quantile.value_and_delta(Y, raw.copy())[0] == pytest.approx(0.2)
    assert quantile.value_and_delta(Y, -raw)[0] == pytest.approx(1.8)


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("huber", {"huber_delta": 0.0}, "huber_delta must be positive"),
        ("huber", {"huber_delta": np.nan}, "huber_delta must be positive"),
        ("quantile", {"quantile": 0.0}, r"quantile must be in \(0, 1\)"),
        ("quantile", {"quantile": 1.0}, r"quantile must be in \(0, 1\)"),
        ("quantile", {"quantile": np.nan}, r"quantile must be in \(0, 1\)"),
        ("pinball", {}, "Unknown loss 'pinball'"),
    ],
)
def test_make_loss_rejects_invalid_parameters(name, params, match):
    with pytest.raises(ValueError, match=match):
        make_loss(name, **params)


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("weighted", [False, True])
def test_delta_matches_finite_differences(config, weighted):
    """The gradient in raw, 3 outputs; no residual is near a kink."""
    Y, raw, sample_weight = make_case(config)
    sample_weight = sample_weight if weighted else None
    _, delta = value_and_delta(config, Y, raw, sample_weight)
    numerical = numerical_gradient(
        lambda: value_and_delta(config, Y, raw, sample_weight)[0], raw
    )
    # Rounding of values near 10 over a step of 2e-6: about 1e-9.
    assert_allclose(delta, numerical, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_row_blocks_normalised_by_the_batch_total_add_up(config):
    """``total`` lets a batch be computed in row blocks, as Objective does."""
    Y, raw, sample_weight = make_case(config)
    value, delta = value_and_delta(config, Y, raw, sample_weight)
    total = float(np.sum(sample_weight))
    parts = [slice(0, 4), slice(4, N_SAMPLES)]
    results = [
        value_and_delta(config, Y[rows], raw[rows], sample_weight[rows], total)
        for rows in parts
    ]
    assert sum(v for v, _ in results) == pytest.approx(value, rel=1e-14)
    assert_allclose(np.vstack([d for _, d in results]), delta, rtol=1e-14)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_loss_leaves_targets_and_weights_unchanged(config):
    Y, raw, sample_weight = make_case(config)
    copies = Y.copy(), sample_weight.copy()
    value_and_delta(config, Y, raw, sample_weight)
    assert_array_equal(Y, copies[0])
    assert_array_equal(sample_weight, copies[1])


@pytest.mark.parametrize("config", NEW)
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_objective_gradient_matches_finite_differences(config, n_outputs):
    """Network and loss together, through Objective, with L2 and sample weights."""
    name, params = CONFIGS[config]
    rng = np.random.RandomState(0)
    X = rng.randn(N_SAMPLES, 4)
    Y = make_targets(name, rng, n_outputs=n_outputs)
    sample_weight = rng.uniform(0.5, 2.0, N_SAMPLES)
    network = Network(NetworkSpec.build([4, 5, 3, n_outputs], "tanh"))
    theta = rng.uniform(-1.0, 1.0, network.size)
    raw = network.predict(theta, np.empty(0), X).copy()
    for kink in kinks(config):
        # A step of 1e-6 in one parameter moves raw by far less than 1e-4.
        assert np.min(np.abs(raw - Y - kink)) > 1e-4

    objective = Objective(network, make_loss(name, **params), 0.1)
    grad, scratch = np.empty_like(theta), np.empty_like(theta)
    objective(theta, X, Y, sample_weight, grad)
    numerical = numerical_gradient(
        lambda: objective(theta, X, Y, sample_weight, scratch), theta
    )
    assert_allclose(grad, numerical, rtol=1e-6, atol=1e-9)


def pinball(Y, raw, q):
    return np.maximum(q * (Y - raw), (q - 1) * (Y - raw))


def huber(Y, raw, delta):
    residual = np.abs(raw - Y)
    out = np.empty_like(residual)
    inside = residual <= delta
    out[inside] = 0.5 * residual[inside] ** 2
    out[~inside] = delta * (residual[~inside] - delta / 2)
    return out


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_poisson_matches_sklearn_poisson_loss(weighted, n_outputs):
    """scikit-learn's own half Poisson deviance of the prediction exp(raw)."""
    Y, raw, sample_weight = make_case("poisson", n_outputs)
    sample_weight = sample_weight if weighted else None
    value, _ = value_and_delta("poisson", Y, raw, sample_weight)
    expected = poisson_loss(Y, np.exp(raw), sample_weight)
    assert value == pytest.approx(expected, rel=1e-13)


def test_poisson_is_zero_at_a_perfect_fit():
    """The constant y log y - y is kept, as in scikit-learn's reported loss."""
    Y = np.array([[1.0, 4.0], [0.5, 20.0]])
    value, delta = value_and_delta("poisson", Y, np.log(Y))
    assert value == pytest.approx(0.0, abs=1e-14)
    assert_allclose(delta, 0.0, atol=1e-14)


@pytest.mark.parametrize("weighted", [False, True])
def test_absolute_error_matches_sklearn_mean_absolute_error(weighted):
    Y, raw, sample_weight = make_case("absolute_error")
    sample_weight = sample_weight if weighted else None
    value, _ = value_and_delta("absolute_error", Y[:, :1], raw[:, :1], sample_weight)
    expected = mean_absolute_error(Y[:, 0], raw[:, 0], sample_weight=sample_weight)
    assert value == pytest.approx(expected, rel=1e-14)
    # Several outputs: the sum over outputs of each one's mean.
    value, _ = value_and_delta("absolute_error", Y, raw, sample_weight)
    expected = mean_absolute_error(
        Y, raw, sample_weight=sample_weight, multioutput="raw_values"
    )
    assert value == pytest.approx(np.sum(expected), rel=1e-14)


@pytest.mark.parametrize("config", ["huber", "huber-0.3", "huber-5"])
@pytest.mark.parametrize("weighted", [False, True])
def test_huber_matches_reference(config, weighted):
    Y, raw, sample_weight = make_case(config)
    delta = CONFIGS[config][1].get("huber_delta", 1.0)
    residual = np.abs(raw - Y)
    assert np.any(residual < delta) and np.any(residual > delta)
    value, gradient = value_and_delta(
        config, Y, raw, sample_weight if weighted else None
    )
    weights = sample_weight if weighted else np.ones(N_SAMPLES)
    expected = np.dot(weights, huber(Y, raw, delta).sum(axis=1)) / weights.sum()
    assert value == pytest.approx(expected, rel=1e-14)
    expected_gradient = (
        np.clip(raw - Y, -delta, delta) * (weights / weights.sum())[:, None]
    )
    assert_allclose(gradient, expected_gradient, rtol=1e-15)


@pytest.mark.parametrize("config", ["quantile", "quantile-0.1", "quantile-0.9"])
@pytest.mark.parametrize("weighted", [False, True])
def test_quantile_matches_sklearn_mean_pinball_loss(config, weighted):
    Y, raw, sample_weight = make_case(config)
    sample_weight = sample_weight if weighted else None
    q = CONFIGS[config][1].get("quantile", 0.5)
    value, _ = value_and_delta(config, Y[:, :1], raw[:, :1], sample_weight)
    expected = mean_pinball_loss(
        Y[:, 0], raw[:, 0], sample_weight=sample_weight, alpha=q
    )
    assert value == pytest.approx(expected, rel=1e-14)
    value, _ = value_and_delta(config, Y, raw, sample_weight)
    expected = mean_pinball_loss(
        Y, raw, sample_weight=sample_weight, alpha=q, multioutput="raw_values"
    )
    assert value == pytest.approx(np.sum(expected), rel=1e-14)


def test_quantile_gradient_is_zero_on_the_target_and_signed_off_it():
    Y = np.zeros((1, 3))
    raw = np.array([[-1.0, 0.0, 2.0]])
    _, delta = make_loss("quantile", quantile=0.25).value_and_delta(Y, raw)
    assert_array_equal(delta, [[-0.25, 0.0, 0.75]])
    _, delta = LOSSES["absolute_error"].value_and_delta(Y, np.array([[-1.0, 0, 2]]))
    assert_array_equal(delta, [[-1.0, 0.0, 1.0]])


# raw = +-1e300 against large targets of either sign: every residual is
# representable, and no intermediate may overflow.
EXTREME_RAW = np.array(
    [
        [1e300, -1e300, 1e300],
        [-1e300, 1e300, 0.0],
        [1e10, -1e300, 1e300],
        [0.5, 1e300, -1e300],
    ]
)
EXTREME_Y = np.array(
    [
        [-1e300, 1e300, 1e300],
        [1e300, 1e10, -1e10],
        [-1e10, 1e300, -1e300],
        [0.0, -1e300, 1e300],
    ]
)


@pytest.mark.parametrize(
    "config", ["absolute_error", "huber", "huber-5", "quantile", "quantile-0.1"]
)
@pytest.mark.parametrize("weighted", [False, True])
def test_robust_losses_are_finite_at_extreme_inputs(config, weighted):
    name, params = CONFIGS[config]
    sample_weight = np.arange(1.0, 5.0) if weighted else None
    with np.errstate(over="raise", invalid="raise"):
        value, delta = value_and_delta(config, EXTREME_Y, EXTREME_RAW, sample_weight)
    assert np.isfinite(value)
    assert np.all(np.isfinite(delta))

    weights = np.ones(4) if sample_weight is None else sample_weight
    if name == "absolute_error":
        per_element = np.abs(EXTREME_RAW - EXTREME_Y)
        slope = np.sign(EXTREME_RAW - EXTREME_Y)
    elif name == "huber":
        delta_huber = params.get("huber_delta", 1.0)
        per_element = huber(EXTREME_Y, EXTREME_RAW, delta_huber)
        slope = np.clip(EXTREME_RAW - EXTREME_Y, -delta_huber, delta_huber)
    else:
        q = params.get("quantile", 0.5)
        per_element = pinball(EXTREME_Y, EXTREME_RAW, q)
        residual = EXTREME_RAW - EXTREME_Y
        slope = np.where(residual > 0, 1 - q, np.where(residual < 0, -q, 0.0))
    expected = np.dot(weights, per_element.sum(axis=1)) / weights.sum()
    assert value == pytest.approx(expected, rel=1e-14)
    assert_allclose(delta, slope * (weights / weights.sum())[:, None], rtol=1e-15)


def test_poisson_overflows_to_inf_only_where_the_prediction_does():
    """exp(raw) beyond raw = 709.78 is inf: the training loop's divergence signal.

    No warning and no floating-point error, even where the caller raises on
    overflow. (exp(-1000) underflows to 0, which is exact rounding.)
    """
    Y = np.array([[0.0, 3.0], [2.0, 1e6]])
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        value, delta = value_and_delta("poisson", Y, np.array([[-1000.0, 700.0]] * 2))
        assert np.isfinite(value)
        assert np.all(np.isfinite(delta))
        value, delta = value_and_delta("poisson", Y, np.array([[1.0, 1000.0]] * 2))
    assert value == np.inf
    assert np.all(np.isinf(delta[:, 1])) and np.all(np.isfinite(delta[:, 0]))


@pytest.mark.parametrize("weighted", [False, True])
def test_quantile_one_half_is_exactly_half_the_absolute_error(weighted):
    Y, raw, sample_weight = make_case("absolute_error")
    raw[0, 0], raw[3, 2] = Y[0, 0], Y[3, 2]
    sample_weight = sample_weight if weighted else None
    absolute, absolute_delta = value_and_delta("absolute_error", Y, raw, sample_weight)
    half, half_delta = value_and_delta("quantile", Y, raw, sample_weight)
    assert half == 0.5 * absolute
    assert_array_equal(half_delta, 0.5 * absolute_delta)
    assert half_delta[0, 0] == half_delta[3, 2] == 0.0


@pytest.mark.parametrize("huber_delta", [1e300, np.inf])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huber_with_a_huge_delta_is_the_squared_error(huber_delta, dtype):
    Y, raw, sample_weight = (a.astype(dtype) for a in make_case("huber-5"))
    raw *= 100.0
    with np.errstate(over="raise", invalid="raise"):
        value, delta = make_loss("huber", huber_delta=huber_delta).value_and_delta(
            Y, raw.copy(), sample_weight
        )
    squared, squared_delta = LOSSES["squared_error"].value_and_delta(
        Y, raw.copy(), sample_weight
    )
    assert value == pytest.approx(squared, rel=1e-14 if dtype == np.float64 else 1e-6)
    assert delta.dtype == dtype
    assert_array_equal(delta, squared_delta)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_float32_inputs_give_a_float32_delta(config):
    Y, raw, sample_weight = make_case(config)
    value64, delta64 = value_and_delta(config, Y, raw, sample_weight)
    value32, delta32 = value_and_delta(
        config,
        Y.astype(np.float32),
        raw.astype(np.float32),
        sample_weight.astype(np.float32),
    )
    assert delta32.dtype == np.float32
    assert value32 == pytest.approx(value64, rel=1e-5)
    assert_allclose(delta32, delta64, rtol=1e-5, atol=1e-7)


# Parity with MLPRegressor(loss="poisson") at the core level: the same loss
# and gradient at the same weights, and one full-batch SGD step.

PARITY_HIDDEN = (5, 4)


def parity_problem(n_outputs, weighted):
    rng = np.random.RandomState(0)
    X = rng.randn(12, 3)
    Y = rng.poisson(2.0, (12, n_outputs)).astype(float)
    sample_weight = rng.uniform(0.5, 2.0, 12) if weighted else None
    layer_sizes = [3, *PARITY_HIDDEN, n_outputs]
    coefs = [0.5 * rng.randn(a, b) for a, b in pairwise(layer_sizes)]
    intercepts = [0.5 * rng.randn(b) for b in layer_sizes[1:]]
    return X, Y, sample_weight, coefs, intercepts


def fitted_mlp(X, Y, activation, **params):
    """An MLPRegressor(loss="poisson") with every fitted attribute set up."""
    mlp = MLPRegressor(
        loss="poisson",
        hidden_layer_sizes=PARITY_HIDDEN,
        activation=activation,
        alpha=0.1,
        max_iter=1,
        random_state=0,
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, Y[:, 0] if Y.shape[1] == 1 else Y)
    assert mlp.out_activation_ == LOSSES["poisson"].out_activation
    return mlp


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_poisson_objective_matches_sklearn_loss_and_gradient(
    activation, n_outputs, weighted
):
    """MLPRegressor's ``_loss_grad_lbfgs`` (the value and gradient its L-BFGS
    minimises) against Objective, at the same flat vector: scikit-learn packs
    all weight matrices, then all biases, as Network.pack does.
    """
    X, Y, sample_weight, coefs, intercepts = parity_problem(n_outputs, weighted)
    mlp = fitted_mlp(X, Y, activation, solver="lbfgs")
    network = Network(NetworkSpec.build([3, *PARITY_HIDDEN, n_outputs], activation))
    theta, _ = network.pack({"coefs": coefs, "intercepts": intercepts}, np.float64)

    layer_units = network.spec.layer_sizes
    activations = [X] + [None] * (len(layer_units) - 1)
    deltas = [None] * (len(layer_units) - 1)
    coef_grads = [np.empty((a, b)) for a, b in pairwise(layer_units)]
    intercept_grads = [np.empty(b) for b in layer_units[1:]]
    expected, expected_grad = mlp._loss_grad_lbfgs(
        theta.copy(),
        X,
        Y,
        sample_weight,
        activations,
        deltas,
        coef_grads,
        intercept_grads,
    )

    objective = Objective(network, make_loss("poisson"), 0.1)
    grad = np.empty_like(theta)
    value = objective(theta, X, Y, sample_weight, grad)
    assert value == pytest.approx(expected, rel=1e-12)
    assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_poisson_sgd_step_matches_sklearn(activation, n_outputs, weighted):
    """One full-batch SGD step from given weights, and the loss_ it reports."""
    X, Y, sample_weight, coefs, intercepts = parity_problem(n_outputs, weighted)
    learning_rate = 0.1
    mlp = fitted_mlp(
        X,
        Y,
        activation,
        solver="sgd",
        momentum=0.0,
        learning_rate_init=learning_rate,
        batch_size=12,
        shuffle=False,
        tol=0.0,
    )
    mlp.coefs_ = [W.copy() for W in coefs]
    mlp.intercepts_ = [b.copy() for b in intercepts]
    mlp.set_params(warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, Y[:, 0] if n_outputs == 1 else Y, sample_weight=sample_weight)

    network = Network(NetworkSpec.build([3, *PARITY_HIDDEN, n_outputs], activation))
    theta, _ = network.pack({"coefs": coefs, "intercepts": intercepts}, np.float64)
    grad = np.empty_like(theta)
    value = Objective(network, make_loss("poisson"), 0.1)(
        theta, X, Y, sample_weight, grad
    )
    stepped = theta - learning_rate * grad
    expected, _ = network.pack(
        {"coefs": mlp.coefs_, "intercepts": mlp.intercepts_}, np.float64
    )
    assert not np.allclose(stepped, theta)
    assert np.max(np.abs(stepped - expected)) <= 1e-12 * np.max(np.abs(expected))
    assert mlp.loss_ == pytest.approx(value, rel=1e-12)
