"""Finite-difference and reference checks of the core: layers, Objective, losses."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

from itertools import pairwise

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import numerical_gradient
from numpy.testing import assert_allclose, assert_array_equal
from scipy import special
from threadpoolctl import threadpool_info, threadpool_limits

import skann._core.network
import skann._core.objective
from skann._core.activations import ACTIVATIONS
from skann._core.losses import LOSSES
from skann._core.network import Network, NetworkSpec, n_init_draws
from skann._core.objective import Objective

N_SAMPLES, N_FEATURES, HIDDEN = 7, 4, (5, 3)

# The hidden activations as the estimators' docstrings define them, written
# with numpy and scipy only.
REFERENCE_ACTIVATIONS = {
    "identity": lambda Z: Z,
    "relu": lambda Z: np.maximum(Z, 0.0),
    "tanh": np.tanh,
    "logistic": special.expit,
    "sigmoid": special.expit,
    "leaky_relu": lambda Z: np.where(Z > 0, Z, 0.01 * Z),
    "elu": lambda Z: np.where(Z > 0, Z, np.expm1(np.minimum(Z, 0.0))),
    "softplus": lambda Z: np.logaddexp(0.0, Z),
    "gelu": lambda Z: (
        0.5 * Z * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (Z + 0.044715 * Z**3)))
    ),
    "silu": lambda Z: Z * special.expit(Z),
    "swish": lambda Z: Z * special.expit(Z),
}

# Activations not twice differentiable at 0: their slope jumps there (relu,
# leaky_relu) or their curvature does (elu), so a central difference at 0 is
# off by far more than its rounding.
KINKED = {"relu", "leaky_relu", "elu"}

# Losses not twice differentiable in the residual r - y, and where: the slope
# of the absolute and quantile losses jumps at 0, Huber's curvature at +-delta
# (1 in LOSSES). The finite-difference checks keep residuals away from these.
KINKED_LOSSES = {
    "absolute_error": (0.0,),
    "huber": (-1.0, 1.0),
    "quantile": (0.0,),
}

EXTREMES = np.array([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0])

# Layer options the finite-difference and reference checks cover:
# (hidden sizes, activations, dropout rates, batch_norm).
ARCHITECTURES = {
    "gelu-elu": (HIDDEN, ("gelu", "elu"), 0.0, False),
    "three-activations": ((5, 4, 3), ("relu", "softplus", "silu"), 0.0, False),
    "batch-norm": (HIDDEN, ("tanh", "leaky_relu"), 0.0, True),
    "dropout": (HIDDEN, ("elu", "gelu"), (0.3, 0.5), False),
    "dropout-one-layer": (HIDDEN, "tanh", (0.0, 0.4), False),
    "batch-norm-dropout": (HIDDEN, ("silu", "relu"), (0.2, 0.2), True),
}


def make_targets(loss_name, n_samples, rng):
    """Y of the shape and kind each loss expects, two or three columns."""
    if loss_name == "squared_error":
        return rng.randn(n_samples, 2)
    if loss_name == "poisson":
        # Counts, zeros included: y log y is 0 there.
        return rng.poisson(1.5, (n_samples, 2)).astype(float)
    if loss_name in KINKED_LOSSES:
        return rng.randn(n_samples, 3)
    if loss_name == "binary_log_loss":
        return (rng.rand(n_samples, 2) > 0.5).astype(float)
    return np.eye(3)[rng.randint(3, size=n_samples)]


def make_problem(
    loss_name, rng, activation="tanh", hidden=HIDDEN, dropout=0.0, batch_norm=False
):
    """X, Y, sample weights, a network and parameters uniform in [-1, 1].

    Weights that large put pre-activations well on both sides of 0, so the
    checks see both sides of every kink and the bend of every curve.
    """
    X = rng.randn(N_SAMPLES, N_FEATURES)
    Y = make_targets(loss_name, N_SAMPLES, rng)
    sample_weight = rng.uniform(0.5, 2.0, N_SAMPLES)
    spec = NetworkSpec.build(
        [N_FEATURES, *hidden, Y.shape[1]], activation, dropout, batch_norm
    )
    network = Network(spec)
    theta = rng.uniform(-1.0, 1.0, network.size)
    return X, Y, sample_weight, network, theta


def unflatten(theta, layer_sizes, batch_norm):
    """Weights, biases and batch-norm ``(gamma, beta)`` by the documented order.

    All weight matrices, then all biases, then each normalised layer's gamma
    and beta: read from the flat vector without the core's slots.
    """
    shapes = list(pairwise(layer_sizes))
    offset, weights, biases, norms = 0, [], [], []
    for fan_in, fan_out in shapes:
        weights.append(theta[offset : offset + fan_in * fan_out].reshape(fan_in, -1))
        offset += fan_in * fan_out
    for _, fan_out in shapes:
        biases.append(theta[offset : offset + fan_out])
        offset += fan_out
    if batch_norm:
        for width in layer_sizes[1:-1]:
            gamma = theta[offset : offset + width]
            beta = theta[offset + width : offset + 2 * width]
            norms.append((gamma, beta))
            offset += 2 * width
    assert offset == theta.size
    return weights, biases, norms


def reference_forward(theta, spec, X, rng=None, sample_weight=None):
    """Raw output and hidden pre-activations, written independently of the core.

    Batch normalisation uses the batch's mean and biased variance, weighted by
    the sample weights (training mode); dropout draws one ``random_sample`` of
    the layer's shape from ``rng`` per layer, in layer order, and keeps a unit
    when its draw is below ``1 - rate``, as fit's random stream does.
    """
    weights, biases, norms = unflatten(theta, spec.layer_sizes, spec.batch_norm)
    A, pre_activations = X, []
    for k, (W, b) in enumerate(zip(weights, biases, strict=True)):
        Z = A @ W + b
        if k == len(weights) - 1:
            return Z, pre_activations
        if norms:
            gamma, beta = norms[k]
            mean = np.average(Z, axis=0, weights=sample_weight)
            var = np.average((Z - mean) ** 2, axis=0, weights=sample_weight)
            Z = gamma * (Z - mean) / np.sqrt(var + 1e-5) + beta
        pre_activations.append(Z)
        A = REFERENCE_ACTIVATIONS[spec.activations[k]](Z)
        rate = spec.dropout[k]
        if rate > 0:
            keep = rng.random_sample(A.shape) < 1 - rate
            A = A * keep / (1 - rate)


def reference_objective(theta, spec, X, Y, sample_weight, loss_name, alpha, rng=None):
    """PRODUCT.md's objective written out independently of the core."""
    raw, _ = reference_forward(theta, spec, X, rng, sample_weight)
    if loss_name == "squared_error":
        per_sample = 0.5 * np.sum((raw - Y) ** 2, axis=1)
    elif loss_name == "poisson":
        # Half the Poisson deviance of the prediction exp(raw).
        mean = np.exp(raw)
        per_sample = np.sum(special.xlogy(Y, Y / mean) - Y + mean, axis=1)
    elif loss_name == "absolute_error":
        per_sample = np.sum(np.abs(raw - Y), axis=1)
    elif loss_name == "huber":
        # LOSSES' default delta, 1.
        residual = np.abs(raw - Y)
        huber = np.where(residual <= 1.0, 0.5 * residual**2, residual - 0.5)
        per_sample = np.sum(huber, axis=1)
    elif loss_name == "quantile":
        # The pinball loss at LOSSES' default level 0.5.
        q = 0.5
        per_sample = np.sum(np.maximum(q * (Y - raw), (q - 1) * (Y - raw)), axis=1)
    elif loss_name == "binary_log_loss":
        P = special.expit(raw)
        per_sample = -np.sum(Y * np.log(P) + (1 - Y) * np.log1p(-P), axis=1)
    else:
        per_sample = -np.sum(Y * special.log_softmax(raw, axis=1), axis=1)
    weights = np.ones(len(X)) if sample_weight is None else sample_weight
    coefs, _, _ = unflatten(theta, spec.layer_sizes, spec.batch_norm)
    penalty = 0.5 * alpha * sum(np.sum(W**2) for W in coefs)
    return (np.dot(weights, per_sample) + penalty) / np.sum(weights)


def check_objective_gradient(objective, theta, X, Y, sample_weight, rng=None):
    """The gradient written into grad matches central differences of the value.

    With dropout, ``rng`` (the one the objective draws masks from) is
    re-seeded in place before every call: compiled plans hold it by
    reference, so every call then draws the same masks.
    """

    def value(grad):
        if rng is not None:
            rng.seed(0)
        return objective(theta, X, Y, sample_weight, grad)

    grad = np.empty_like(theta)
    value(grad)
    scratch = np.empty_like(theta)
    numerical = numerical_gradient(lambda: value(scratch), theta)
    assert_allclose(grad, numerical, rtol=1e-6, atol=1e-9)
    return grad


def test_reference_activations_cover_the_registry():
    assert set(REFERENCE_ACTIVATIONS) == set(ACTIVATIONS)


@pytest.mark.parametrize("activation", sorted(KINKED))
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_problem_puts_pre_activations_on_both_sides_of_zero(activation, loss_name):
    """The finite-difference checks see both sides of every kink.

    No pre-activation is within 1e-4 of 0, so a step of 1e-6 in one parameter
    never crosses a kink.
    """
    rng = np.random.RandomState(0)
    X, _, _, network, theta = make_problem(loss_name, rng, activation)
    _, pre_activations = reference_forward(theta, network.spec, X)
    for Z in pre_activations:
        assert np.any(Z < 0) and np.any(Z > 0)
        assert np.min(np.abs(Z)) > 1e-4


def finite_difference_outputs(loss_name):
    """Each raw output and target the finite-difference checks below see.

    With dropout, the masks are those of a stream seeded with 0, as
    ``check_objective_gradient`` seeds it before every call.
    """
    cases = [(HIDDEN, activation, 0.0, False) for activation in ACTIVATIONS]
    cases += list(ARCHITECTURES.values())
    for hidden, activation, dropout, batch_norm in cases:
        rng = np.random.RandomState(0)
        X, Y, sample_weight, network, theta = make_problem(
            loss_name, rng, activation, hidden, dropout, batch_norm
        )
        masks = np.random.RandomState(0)
        raw, _ = reference_forward(theta, network.spec, X, masks, sample_weight)
        yield raw, Y
    for dropout in (0.0, 0.3):
        rng = np.random.RandomState(0)
        X, Y, sample_weight, network, theta = make_problem(
            loss_name, rng, ("gelu", "relu"), dropout=dropout
        )
        for i in (0, 3):
            rows = slice(i, i + 1)
            masks = np.random.RandomState(0)
            raw, _ = reference_forward(theta, network.spec, X[rows], masks)
            yield raw, Y[rows]


@pytest.mark.parametrize("loss_name", sorted(KINKED_LOSSES))
def test_problem_keeps_residuals_away_from_the_loss_kinks(loss_name):
    """No residual r - y is within 1e-4 of a point where the loss's slope jumps.

    A step of 1e-6 in one parameter moves the raw output by far less, so the
    central differences never straddle a kink.
    """
    for raw, Y in finite_difference_outputs(loss_name):
        residual = raw - Y
        for kink in KINKED_LOSSES[loss_name]:
            assert np.min(np.abs(residual - kink)) > 1e-4


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_objective_gradient_matches_finite_differences(activation, loss_name):
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_problem(loss_name, rng, activation)
    objective = Objective(network, LOSSES[loss_name], 0.1)
    check_objective_gradient(objective, theta, X, Y, sample_weight)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_objective_gradient_on_one_row_matches_finite_differences(loss_name, dropout):
    """Per-sample SGD's batches of one row take their own path."""
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_problem(
        loss_name, rng, ("gelu", "relu"), dropout=dropout
    )
    masks = np.random.RandomState(0)
    objective = Objective(network, LOSSES[loss_name], 0.1, rng=masks)
    for i in (0, 3):
        rows = slice(i, i + 1)
        check_objective_gradient(
            objective, theta, X[rows], Y[rows], sample_weight[rows], masks
        )


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_plan_backward_matches_finite_differences(activation, loss_name):
    """The compiled layers alone: no row blocks, no L2 term."""
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_problem(loss_name, rng, activation)
    loss = LOSSES[loss_name]
    grad = np.empty_like(theta)
    training = network.compile(N_SAMPLES, True, theta, grad)
    _, delta = loss.value_and_delta(Y, training.forward(X), sample_weight)
    training.backward(delta)

    # The prediction plan holds views of theta, so it sees every perturbation.
    predicting = network.compile(N_SAMPLES, False, theta)
    numerical = numerical_gradient(
        lambda: loss.value_and_delta(Y, predicting.forward(X), sample_weight)[0],
        theta,
    )
    assert_allclose(grad, numerical, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_objective_gradient_of_layer_options_matches_finite_differences(
    architecture, loss_name
):
    """Mixed activations, batch normalisation (gamma and beta too) and dropout."""
    hidden, activation, dropout, batch_norm = ARCHITECTURES[architecture]
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_problem(
        loss_name, rng, activation, hidden, dropout, batch_norm
    )
    _, state = network.init(np.random.RandomState(1))
    masks = np.random.RandomState(0)
    objective = Objective(network, LOSSES[loss_name], 0.1, state, masks)
    grad = check_objective_gradient(objective, theta, X, Y, sample_weight, masks)
    # gamma and beta follow the biases; each batch-normalised unit has both.
    n_extra = 2 * sum(hidden) if batch_norm else 0
    biases_stop = network.layout.weights_stop + sum(hidden) + Y.shape[1]
    assert theta.size - biases_stop == n_extra
    assert np.all(grad[biases_stop:] != 0)


def test_objective_with_batch_norm_moves_the_running_statistics_not_the_value():
    """Training mode normalises by the batch: the state moves, the value does not."""
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_problem(
        "squared_error", rng, batch_norm=True
    )
    _, state = network.init(rng)
    initial = state.copy()
    objective = Objective(network, LOSSES["squared_error"], 0.1, state)
    grads = np.empty((2, theta.size))
    values = [objective(theta, X, Y, sample_weight, grad) for grad in grads]
    assert values[0] == values[1]
    assert_array_equal(grads[0], grads[1])

    arrays = network.arrays(theta, state)
    Z = X @ arrays["coefs"][0] + arrays["intercepts"][0]
    running_means, running_vars = arrays["batch_norm_means"], arrays["batch_norm_vars"]
    # Two moves of a tenth of the way from (0, 1) to the batch's weighted mean
    # and variance, unbiased as if the weights counted rows.
    mean = np.average(Z, axis=0, weights=sample_weight)
    total = np.sum(sample_weight)
    var = np.average((Z - mean) ** 2, axis=0, weights=sample_weight)
    assert_allclose(running_means[0], 0.19 * mean, rtol=1e-12)
    assert_allclose(
        running_vars[0], 0.81 + 0.19 * var * total / (total - 1), rtol=1e-12
    )
    assert not np.array_equal(state, initial)


def test_dropout_masks_change_the_objective():
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_problem(
        "squared_error", rng, dropout=0.5
    )
    objective = Objective(network, LOSSES["squared_error"], 0.0, rng=rng)
    grad = np.empty_like(theta)
    values = {objective(theta, X, Y, sample_weight, grad) for _ in range(5)}
    assert len(values) == 5


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("alpha", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_objective_value_matches_reference(activation, loss_name, alpha, weighted):
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_problem(loss_name, rng, activation)
    sample_weight = sample_weight if weighted else None
    objective = Objective(network, LOSSES[loss_name], alpha)
    value = objective(theta, X, Y, sample_weight, np.empty_like(theta))
    expected = reference_objective(
        theta, network.spec, X, Y, sample_weight, loss_name, alpha
    )
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_objective_value_of_layer_options_matches_reference(architecture, loss_name):
    hidden, activation, dropout, batch_norm = ARCHITECTURES[architecture]
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_problem(
        loss_name, rng, activation, hidden, dropout, batch_norm
    )
    _, state = network.init(rng)
    objective = Objective(
        network, LOSSES[loss_name], 0.1, state, np.random.RandomState(0)
    )
    value = objective(theta, X, Y, sample_weight, np.empty_like(theta))
    expected = reference_objective(
        theta, network.spec, X, Y, sample_weight, loss_name, 0.1,
        np.random.RandomState(0),
    )  # fmt: skip
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_activation_is_finite_and_exact_at_extremes(activation):
    act = ACTIVATIONS[activation]
    Z = EXTREMES.copy()
    A = np.empty_like(Z)
    scratch = np.empty(Z.shape, act.scratch_dtype or Z.dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        act.forward(Z, A)
        delta = act.derivative(
            Z if act.needs_input else None, A, np.ones_like(Z), scratch
        )
    assert_array_equal(Z, EXTREMES)
    assert np.all(np.isfinite(A)) and np.all(np.isfinite(delta))
    assert_allclose(A, REFERENCE_ACTIVATIONS[activation](EXTREMES), rtol=1e-14)

    # Central differences of the reference, away from the kink at 0.
    smooth = EXTREMES != 0 if activation in KINKED else slice(None)
    eps = 1e-5
    reference = REFERENCE_ACTIVATIONS[activation]
    numerical = (reference(EXTREMES + eps) - reference(EXTREMES - eps)) / (2 * eps)
    assert_allclose(delta[smooth], numerical[smooth], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_activation_forward_in_place_equals_out_of_place(activation):
    """Layers overwrite Z with f(Z) where the derivative needs only A."""
    act = ACTIVATIONS[activation]
    Z = np.random.RandomState(0).uniform(-3.0, 3.0, (4, 5))
    out_of_place = act.forward(Z, np.empty_like(Z))
    in_place = Z.copy()
    assert act.forward(in_place, in_place) is in_place
    assert_array_equal(in_place, out_of_place)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("architecture", [None, "batch-norm-dropout"])
def test_objective_leaves_its_inputs_unchanged(loss_name, architecture):
    hidden, activation, dropout, batch_norm = (
        (HIDDEN, "tanh", 0.0, False)
        if architecture is None
        else ARCHITECTURES[architecture]
    )
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_problem(
        loss_name, rng, activation, hidden, dropout, batch_norm
    )
    copies = [A.copy() for A in (X, Y, sample_weight, theta)]
    objective = Objective(network, LOSSES[loss_name], 0.1, rng=rng)
    objective(theta, X, Y, sample_weight, np.empty_like(theta))
    for original, copy in zip((X, Y, sample_weight, theta), copies, strict=True):
        assert_array_equal(original, copy)


def test_objective_unit_weights_equal_no_weights():
    rng = np.random.RandomState(0)
    X, Y, _, network, theta = make_problem("log_loss", rng, "relu")
    objective = Objective(network, LOSSES["log_loss"], 0.1)
    grad_none, grad_ones = np.empty_like(theta), np.empty_like(theta)
    value_none = objective(theta, X, Y, None, grad_none)
    value_ones = objective(theta, X, Y, np.ones(N_SAMPLES), grad_ones)
    assert value_none == pytest.approx(value_ones, rel=1e-14)
    assert_allclose(grad_none, grad_ones, rtol=1e-13, atol=1e-16)


def test_objective_integer_weights_equal_repeated_rows():
    rng = np.random.RandomState(0)
    X, Y, _, network, theta = make_problem("binary_log_loss", rng)
    counts = np.array([1, 2, 3, 1, 1, 2, 1])
    objective = Objective(network, LOSSES["binary_log_loss"], 0.1)
    grad_weighted, grad_repeated = np.empty_like(theta), np.empty_like(theta)
    weighted = objective(theta, X, Y, counts.astype(float), grad_weighted)
    index = np.repeat(np.arange(N_SAMPLES), counts)
    repeated = objective(theta, X[index], Y[index], None, grad_repeated)
    assert weighted == pytest.approx(repeated, rel=1e-13)
    assert_allclose(grad_weighted, grad_repeated, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("sparse_format", [sp.csr_matrix, sp.csc_matrix])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_objective_on_sparse_input_matches_dense(sparse_format, batch_norm):
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_problem(
        "squared_error", rng, "relu", batch_norm=batch_norm
    )
    X[np.abs(X) < 0.7] = 0.0
    objective = Objective(network, LOSSES["squared_error"], 0.1)
    grad_dense, grad_sparse = np.empty_like(theta), np.empty_like(theta)
    dense = objective(theta, X, Y, sample_weight, grad_dense)
    sparse = objective(theta, sparse_format(X), Y, sample_weight, grad_sparse)
    assert sparse == pytest.approx(dense, rel=1e-14)
    assert_allclose(grad_sparse, grad_dense, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_objective_is_consistent_across_batch_sizes(batch_norm):
    """Buffers cached for one batch size must not leak into another."""
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_problem(
        "log_loss", rng, "logistic", batch_norm=batch_norm
    )
    shared = Objective(network, LOSSES["log_loss"], 0.1)
    for rows in [slice(None), slice(0, 3), slice(2, 7), slice(None), slice(4, 7)]:
        fresh = Objective(network, LOSSES["log_loss"], 0.1)
        grad_shared, grad_fresh = np.empty_like(theta), np.empty_like(theta)
        args = X[rows], Y[rows], sample_weight[rows]
        assert shared(theta, *args, grad_shared) == fresh(theta, *args, grad_fresh)
        assert_array_equal(grad_shared, grad_fresh)


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("architecture", [None, "batch-norm"])
def test_objective_in_float32_matches_float64(loss_name, architecture):
    hidden, activation, dropout, batch_norm = (
        (HIDDEN, "tanh", 0.0, False)
        if architecture is None
        else ARCHITECTURES[architecture]
    )
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_problem(
        loss_name, rng, activation, hidden, dropout, batch_norm
    )
    objective = Objective(network, LOSSES[loss_name], 0.1)
    grad64 = np.empty_like(theta)
    value64 = objective(theta, X, Y, sample_weight, grad64)
    theta32 = theta.astype(np.float32)
    grad32 = np.empty_like(theta32)
    value32 = objective(
        theta32,
        X.astype(np.float32),
        Y.astype(np.float32),
        sample_weight.astype(np.float32),
        grad32,
    )
    assert grad32.dtype == np.float32
    assert value32 == pytest.approx(value64, rel=1e-5)
    assert_allclose(grad32, grad64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_init_is_glorot_uniform_drawn_weights_then_biases(activation):
    network = Network(NetworkSpec.build([4, 6, 3, 2], activation))
    theta, state = network.init(np.random.RandomState(0))
    gain = 2.0 if activation in ("logistic", "sigmoid") else 6.0
    assert ACTIVATIONS[activation].init_gain == gain
    assert network.spec.init_gains == (gain, gain, gain)

    rng = np.random.RandomState(0)
    arrays = network.arrays(theta, state)
    for W, b, (fan_in, fan_out) in zip(
        arrays["coefs"], arrays["intercepts"], [(4, 6), (6, 3), (3, 2)], strict=True
    ):
        bound = np.sqrt(gain / (fan_in + fan_out))
        assert_array_equal(W, rng.uniform(-bound, bound, (fan_in, fan_out)))
        assert_array_equal(b, rng.uniform(-bound, bound, fan_out))
    assert theta.shape == (network.size,) == (4 * 6 + 6 * 3 + 3 * 2 + 6 + 3 + 2,)
    assert state.shape == (0,)


@pytest.mark.parametrize(
    "activations, gains",
    [
        (("logistic", "tanh"), (2.0, 6.0, 6.0)),
        (("tanh", "logistic"), (6.0, 2.0, 2.0)),
        (("gelu", "sigmoid"), (6.0, 2.0, 2.0)),
    ],
)
def test_init_gain_is_that_of_the_activation_each_layer_feeds(activations, gains):
    """The output layer takes the last hidden layer's gain."""
    network = Network(NetworkSpec.build([4, 6, 3, 2], activations))
    assert network.spec.init_gains == gains
    theta, state = network.init(np.random.RandomState(0))
    rng = np.random.RandomState(0)
    arrays = network.arrays(theta, state)
    for W, b, gain in zip(arrays["coefs"], arrays["intercepts"], gains, strict=True):
        bound = np.sqrt(gain / sum(W.shape))
        assert_array_equal(W, rng.uniform(-bound, bound, W.shape))
        assert_array_equal(b, rng.uniform(-bound, bound, b.shape))


@pytest.mark.parametrize("activation, gain", [("logistic", 2.0), ("relu", 6.0)])
def test_init_gain_without_hidden_layers_is_the_activation_s(activation, gain):
    assert NetworkSpec.build([4, 2], activation).init_gains == (gain,)


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_init_takes_n_init_draws_and_starts_batch_norm_at_the_identity(dropout):
    """Batch normalisation and dropout take no draws from the initial stream."""
    sizes = [4, 6, 3, 2]
    network = Network(NetworkSpec.build(sizes, "relu", dropout, batch_norm=True))
    rng = np.random.RandomState(0)
    theta, state = network.init(rng)
    skipped = np.random.RandomState(0)
    skipped.random_sample(n_init_draws(sizes))
    assert rng.random_sample() == skipped.random_sample()

    arrays = network.arrays(theta, state)
    gammas, betas = arrays["batch_norm_scales"], arrays["batch_norm_offsets"]
    means, variances = arrays["batch_norm_means"], arrays["batch_norm_vars"]
    assert [g.shape for g in gammas] == [(6,), (3,)]
    for gamma, beta, mean, var in zip(gammas, betas, means, variances, strict=True):
        assert_array_equal(gamma, 1.0)
        assert_array_equal(beta, 0.0)
        assert_array_equal(mean, 0.0)
        assert_array_equal(var, 1.0)


def test_pack_arrays_round_trip():
    network = Network(NetworkSpec.build([3, 4, 2], "relu"))
    rng = np.random.RandomState(0)
    coefs = [rng.randn(3, 4), rng.randn(4, 2)]
    intercepts = [rng.randn(4), rng.randn(2)]
    theta, state = network.pack({"coefs": coefs, "intercepts": intercepts}, np.float64)
    assert len(network.affines) == 2
    arrays = network.arrays(theta, state)
    assert set(arrays) == {"coefs", "intercepts"}
    for got, expected in zip(arrays["coefs"], coefs, strict=True):
        assert_array_equal(got, expected)
    for got, expected in zip(arrays["intercepts"], intercepts, strict=True):
        assert_array_equal(got, expected)
    assert_array_equal(
        network.weights(theta), np.concatenate([W.ravel() for W in coefs])
    )


def test_flat_vector_holds_weights_then_biases_then_batch_norm():
    """scikit-learn's packed order (all W, all b), with gamma and beta after it."""
    sizes = [4, 5, 3, 2]
    network = Network(NetworkSpec.build(sizes, "tanh", 0.2, batch_norm=True))
    rng = np.random.RandomState(0)
    coefs = [rng.randn(a, b) for a, b in pairwise(sizes)]
    intercepts = [rng.randn(b) for b in sizes[1:]]
    gammas, betas = [rng.randn(5), rng.randn(3)], [rng.randn(5), rng.randn(3)]
    means, variances = [rng.randn(5), rng.randn(3)], [rng.rand(5), rng.rand(3)]
    arrays = {
        "coefs": coefs, "intercepts": intercepts, "batch_norm_scales": gammas,
        "batch_norm_offsets": betas, "batch_norm_means": means,
        "batch_norm_vars": variances,
    }  # fmt: skip
    theta, state = network.pack(arrays, np.float64)
    expected = np.concatenate(
        [W.ravel() for W in coefs]
        + intercepts
        + [gammas[0], betas[0], gammas[1], betas[1]]
    )
    assert_array_equal(theta, expected)

    slots = [(a.W.start, a.W.stop) for a in network.affines]
    assert slots == [(0, 20), (20, 35), (35, 41)]
    assert network.layout.weights_stop == 41
    slots = [(a.b.start, a.b.stop) for a in network.affines]
    assert slots == [(41, 46), (46, 49), (49, 51)]
    slots = [
        (slot.start, slot.stop)
        for norm in network.batch_norms
        for slot in (norm.gamma, norm.beta)
    ]
    assert slots == [(51, 56), (56, 61), (61, 64), (64, 67)]
    assert network.size == theta.size == 67

    assert_array_equal(
        state, np.concatenate([means[0], variances[0], means[1], variances[1]])
    )
    assert network.state_size == 16


def predict_problem(batch_norm):
    """A network with running statistics away from (0, 1), and 50 rows."""
    rng = np.random.RandomState(0)
    network = Network(
        NetworkSpec.build([10, 16, 8, 3], ("gelu", "relu"), 0.3, batch_norm)
    )
    theta = rng.uniform(-1.0, 1.0, network.size)
    state = np.concatenate(
        [
            rng.randn(16),
            rng.uniform(0.5, 2.0, 16),
            rng.randn(8),
            rng.uniform(0.5, 2.0, 8),
        ]
        if batch_norm
        else [np.empty(0)]
    )
    return network, theta, state, rng.randn(50, 10)


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_predict_in_row_chunks_matches_one_pass(monkeypatch, batch_norm, sparse):
    """Chunks of 7 rows (the last one of 1) compute what one pass computes.

    Not to the bit: BLAS kernels for a few rows round differently from those
    for many (OpenBLAS's rows of A @ W differ in the last bit for 1, 3 or 7
    rows against 50), so the tolerance is a few units in the last place.
    """
    network, theta, state, X = predict_problem(batch_norm)
    X = sp.csr_matrix(X) if sparse else X
    one_pass = network.predict(theta, state, X)
    row_bytes = (16 + 8 + 3) * theta.itemsize
    monkeypatch.setattr(skann._core.network, "_PREDICT_CHUNK_BYTES", 7 * row_bytes)
    chunked = network.predict(theta, state, X)
    assert chunked.shape == one_pass.shape == (50, 3)
    assert_allclose(chunked, one_pass, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_predict_one_row_equals_that_row_in_a_batch(batch_norm):
    """Prediction normalises by the running statistics, never by the batch's.

    Batch statistics of a single row would make every output the same; the
    tolerance is the rounding of BLAS kernels for one row against many.
    """
    network, theta, state, X = predict_problem(batch_norm)
    batch = network.predict(theta, state, X)
    for i in range(0, 50, 7):
        row = network.predict(theta, state, X[i : i + 1])
        assert_allclose(row[0], batch[i], rtol=1e-13, atol=1e-15)
    assert not np.allclose(batch[0], batch[1])


def test_predict_with_dropout_is_deterministic_and_unscaled():
    """Dropout is the identity at prediction."""
    network, theta, state, X = predict_problem(batch_norm=False)
    without = Network(NetworkSpec.build([10, 16, 8, 3], ("gelu", "relu")))
    assert_array_equal(
        network.predict(theta, state, X), without.predict(theta, state, X)
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_objective_does_not_depend_on_the_thread_count(monkeypatch, weighted):
    """Row groups depend on the work only: threads only execute them.

    A batch cut into four groups gives, to the bit, the same value and
    gradient whether the groups run one after another or on a pool of
    threads. BLAS itself is single-threaded in both, as in fit: OpenBLAS's
    own threads change how some products round.
    """
    monkeypatch.setattr(skann._core.objective, "_MIN_WORK_PER_GROUP", 10_000)
    rng = np.random.RandomState(0)
    X, Y = rng.randn(600, 10), rng.randn(600, 2)
    sample_weight = rng.uniform(0.5, 2.0, 600) if weighted else None
    network = Network(NetworkSpec.build([10, 32, 16, 2], ("tanh", "gelu")))
    theta, _ = network.init(rng)
    objective = Objective(network, LOSSES["squared_error"], 0.3)
    assert len(objective._groups(600)) == 2

    sequential, threaded = np.empty_like(theta), np.empty_like(theta)
    with threadpool_limits(limits=1, user_api="blas"):
        value_sequential = objective(theta, X, Y, sample_weight, sequential)
    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() < 2:
            pytest.skip("BLAS runs a single thread here")
        with objective.threads():
            assert objective._pool is not None
            assert blas_threads() == 1
            value_threaded = objective(theta, X, Y, sample_weight, threaded)
    assert value_threaded == value_sequential
    assert_array_equal(threaded, sequential)


def blas_threads():
    return max(
        (lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"),
        default=1,
    )


# RealMLP's scalings (skann._core.scaled_affine): (front scaling,
# parametrization, batch_norm, hidden activations).
SCALINGS = {
    "front": (True, "standard", False, ("tanh", "gelu")),
    "ntk": (False, "ntk", False, ("silu", "elu")),
    "front-ntk": (True, "ntk", False, ("gelu", "tanh")),
    "front-ntk-batch-norm": (True, "ntk", True, ("tanh", "silu")),
}


def make_scaled_problem(loss_name, rng, scaling):
    """A problem as ``make_problem`` gives, on a network with the scalings.

    Front scales are drawn in [0.5, 1.5] so that both signs of their
    gradient and a non-identity scaling are seen.
    """
    front, parametrization, batch_norm, activations = SCALINGS[scaling]
    X = rng.randn(N_SAMPLES, N_FEATURES)
    Y = make_targets(loss_name, N_SAMPLES, rng)
    sample_weight = rng.uniform(0.5, 2.0, N_SAMPLES)
    spec = NetworkSpec.build(
        [N_FEATURES, *HIDDEN, Y.shape[1]], activations, 0.0, batch_norm,
        front_scaling=front, parametrization=parametrization,
    )  # fmt: skip
    network = Network(spec)
    theta = rng.uniform(-1.0, 1.0, network.size)
    if front:
        network.affines[0].s.view(theta)[...] = rng.uniform(0.5, 1.5, N_FEATURES)
    return X, Y, sample_weight, network, theta


def reference_scaled_objective(theta, spec, X, Y, sample_weight, loss_name, alpha):
    """The objective of a scaled network, from the documented layout.

    The flat vector holds all weight matrices, all biases, then the extra
    arrays in layer order: the front scales (those of the first layer), then
    each normalised layer's gamma and beta. The network is the plain one on
    ``X diag(s)`` with every weight matrix times ``1 / sqrt(fan_in)`` under
    NTK; the L2 term is on the stored weights.
    """
    sizes = spec.layer_sizes
    n_weights = sum(a * b for a, b in pairwise(sizes)) + sum(sizes[1:])
    plain = theta.copy()
    if spec.front_scaling:
        s = theta[n_weights : n_weights + sizes[0]]
        X = X * s
        plain = np.delete(plain, np.arange(n_weights, n_weights + sizes[0]))
    stored, _, _ = unflatten(plain, sizes, spec.batch_norm)
    penalty = 0.5 * alpha * sum(np.sum(W**2) for W in stored) / np.sum(sample_weight)
    if spec.parametrization == "ntk":
        for W in unflatten(plain, sizes, spec.batch_norm)[0]:
            W *= 1.0 / np.sqrt(W.shape[0])
    plain_spec = spec._replace(front_scaling=False, parametrization="standard")
    value = reference_objective(plain, plain_spec, X, Y, sample_weight, loss_name, 0.0)
    return value + penalty


@pytest.mark.parametrize("scaling", sorted(SCALINGS))
@pytest.mark.parametrize("loss_name", ["squared_error", "log_loss", "poisson"])
def test_objective_gradient_of_scalings_matches_finite_differences(scaling, loss_name):
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_scaled_problem(loss_name, rng, scaling)
    _, state = network.init(np.random.RandomState(1))
    objective = Objective(network, LOSSES[loss_name], 0.1, state)
    if not network.spec.batch_norm:
        check_objective_gradient(objective, theta, X, Y, sample_weight)
        # One row: per-sample SGD's batches.
        check_objective_gradient(objective, theta, X[:1], Y[:1], sample_weight[:1])
        return
    # Batch normalisation cancels the hidden biases before it: their gradient
    # is 0, and its central difference rounding noise of a few 1e-9.
    grad = np.empty_like(theta)
    objective(theta, X, Y, sample_weight, grad)
    numerical = numerical_gradient(
        lambda: objective(theta, X, Y, sample_weight, np.empty_like(theta)), theta
    )
    frozen = np.zeros(theta.size, bool)
    for affine in network.affines[:-1]:
        frozen[affine.b.start : affine.b.stop] = True
    assert_array_equal(grad[frozen], 0.0)
    assert_allclose(numerical[frozen], 0.0, atol=1e-7)
    assert_allclose(grad[~frozen], numerical[~frozen], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("scaling", sorted(SCALINGS))
@pytest.mark.parametrize("loss_name", ["squared_error", "log_loss"])
def test_objective_value_of_scalings_matches_reference(scaling, loss_name):
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_scaled_problem(loss_name, rng, scaling)
    _, state = network.init(np.random.RandomState(1))
    objective = Objective(network, LOSSES[loss_name], 0.1, state)
    value = objective(theta, X, Y, sample_weight, np.empty_like(theta))
    expected = reference_scaled_objective(
        theta, network.spec, X, Y, sample_weight, loss_name, 0.1
    )
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("scaling", ["front", "front-ntk"])
def test_objective_of_scalings_on_sparse_input_matches_dense(scaling):
    rng = np.random.RandomState(0)
    X, Y, sample_weight, network, theta = make_scaled_problem(
        "squared_error", rng, scaling
    )
    X[np.abs(X) < 0.7] = 0.0
    objective = Objective(network, LOSSES["squared_error"], 0.1)
    grad_dense, grad_sparse = np.empty_like(theta), np.empty_like(theta)
    dense = objective(theta, X, Y, sample_weight, grad_dense)
    sparse = objective(theta, sp.csr_matrix(X), Y, sample_weight, grad_sparse)
    assert sparse == pytest.approx(dense, rel=1e-14)
    assert_allclose(grad_sparse, grad_dense, rtol=1e-12, atol=1e-15)


def test_ntk_init_is_standard_normal_from_the_same_uniform_draws():
    """N(0, 1) weights and biases; the stream after them is the default's."""
    sizes = [4, 6, 3, 2]
    network = Network(NetworkSpec.build(sizes, "tanh", parametrization="ntk"))
    rng = np.random.RandomState(0)
    theta, state = network.init(rng)
    reference = np.random.RandomState(0)
    arrays = network.arrays(theta, state)
    for W, b in zip(arrays["coefs"], arrays["intercepts"], strict=True):
        assert_allclose(W, special.ndtri(reference.random_sample(W.shape) + 2.0**-54))
        assert_allclose(b, special.ndtri(reference.random_sample(b.shape) + 2.0**-54))
    default = np.random.RandomState(0)
    Network(NetworkSpec.build(sizes, "tanh")).init(default)
    assert_array_equal(rng.random_sample(5), default.random_sample(5))
    big = Network(NetworkSpec.build([200, 300, 1], "tanh", parametrization="ntk"))
    weights = big.init(np.random.RandomState(1))[0][: 200 * 300]
    assert abs(weights.mean()) < 0.01 and abs(weights.std() - 1.0) < 0.01


def test_front_scales_start_at_one_and_are_the_last_arrays():
    spec = NetworkSpec.build([4, 6, 2], "relu", batch_norm=True, front_scaling=True)
    network = Network(spec)
    theta, state = network.init(np.random.RandomState(0))
    arrays = network.arrays(theta, state)
    assert_array_equal(arrays["front_scales"][0], np.ones(4))
    assert len(arrays["front_scales"]) == 1
    # Weights, biases, front scales, then batch normalisation's gamma, beta.
    n_weights = 4 * 6 + 6 * 2 + 6 + 2
    assert_array_equal(theta[n_weights : n_weights + 4], 1.0)


def test_rate_factors_of_the_scalings():
    """None without scalings; 0.1 on NTK biases, the factor on front scales."""
    sizes = [4, 6, 2]
    assert Network(NetworkSpec.build(sizes, "relu")).rate_factors(float, 6.0) is None
    front = Network(NetworkSpec.build(sizes, "relu", front_scaling=True))
    assert front.rate_factors(float, 1.0) is None
    factors = front.rate_factors(float, 6.0)
    assert_array_equal(front.affines[0].s.view(factors), 6.0)
    assert np.count_nonzero(factors != 1.0) == 4
    ntk = Network(NetworkSpec.build(sizes, "relu", parametrization="ntk"))
    factors = ntk.rate_factors(np.float32, 6.0)
    assert factors.dtype == np.float32
    for affine in ntk.affines:
        assert_array_equal(affine.b.view(factors), np.float32(0.1))
        assert_array_equal(affine.W.view(factors), 1.0)
