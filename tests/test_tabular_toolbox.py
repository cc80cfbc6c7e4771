"""The tabular toolbox's training options, tested through the estimators.

The coslog schedule's rates are unit-tested in test_schedules.py, the input
transformer in test_preprocessing.py, and the front scaling and NTK layers'
gradients in test_gradients.py; here the coslog schedule, the
zero-initialised output layer, the front scaling and the NTK
parametrisation are checked through ``fit``, ``partial_fit``, warm starts,
pickling and skops, and at their defaults against the fit without them.
Shared tests run on both estimators.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import math
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from skann import ANNClassifier, ANNRegressor
from skann._core.losses import LOSSES
from skann._core.network import Network, NetworkSpec
from skann._core.objective import Objective

ESTIMATORS = [ANNClassifier, ANNRegressor]

# Most fits here stop at a small max_iter on purpose.
pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

# Every option of the toolbox, at its default.
TOOLBOX_DEFAULTS = {
    "lr_cycles": 4,
    "output_init": "glorot",
    "front_scaling": False,
    "front_scaling_lr_factor": 6.0,
    "parametrization": "standard",
}


@pytest.fixture(params=ESTIMATORS, ids=lambda E: E.__name__)
def Estimator(request):
    return request.param


@pytest.fixture
def data(Estimator):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4))
    if Estimator is ANNClassifier:
        return X, (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, X @ [1.0, -2.0, 0.5, 0.0] + 0.1 * rng.normal(size=60)


def small(Estimator, **params):
    """A small, seeded network; ``params`` override the defaults."""
    defaults = {"hidden_layer_sizes": (8,), "random_state": 0, "max_iter": 20}
    return Estimator(**{**defaults, **params})


def assert_same_weights(first, second):
    for a, b in zip(first.coefs_, second.coefs_, strict=True):
        assert_array_equal(a, b)
    for a, b in zip(first.intercepts_, second.intercepts_, strict=True):
        assert_array_equal(a, b)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_toolbox_options_at_their_defaults_change_nothing(Estimator, data, solver):
    X, y = data
    params = Estimator().get_params()
    assert {name: params[name] for name in TOOLBOX_DEFAULTS} == TOOLBOX_DEFAULTS
    implicit = small(Estimator, solver=solver, max_iter=10).fit(X, y)
    explicit = small(Estimator, solver=solver, max_iter=10, **TOOLBOX_DEFAULTS)
    explicit.fit(X, y)
    assert_same_weights(explicit, implicit)
    assert explicit.loss_curve_ == implicit.loss_curve_


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_history_learning_rate_follows_coslog(Estimator, data, solver):
    """After the warm-up, lr_cycles cycles over the remaining epochs."""
    X, y = data
    warmup, max_iter, top, floor = 2, 9, 0.05, 0.001
    model = small(
        Estimator, solver=solver, learning_rate=top, max_iter=max_iter,
        learning_rate_schedule="coslog", lr_cycles=3, warmup_epochs=warmup,
        min_learning_rate=floor, n_iter_no_change=100,
    ).fit(X, y)  # fmt: skip
    horizon = max_iter - warmup
    expected = [top * (k + 1) / (warmup + 1) for k in range(warmup)]
    for e in range(horizon):
        phase = math.log2(1 + 7 * (e + 0.5) / horizon)
        expected.append(
            floor + (top - floor) * 0.5 * (1 - math.cos(2 * math.pi * phase))
        )
    got = [record["learning_rate"] for record in model.history_]
    assert_allclose(got, expected, rtol=1e-14)


def test_coslog_goes_on_across_partial_fit_calls(Estimator, data):
    """One epoch per call, the schedule's clock running on, then the floor."""
    X, y = data
    kwargs = {"classes": np.unique(y)} if Estimator is ANNClassifier else {}
    model = small(
        Estimator, learning_rate_schedule="coslog", lr_cycles=2, max_iter=4,
        learning_rate=0.01,
    )  # fmt: skip
    for _ in range(6):
        model.partial_fit(X, y, **kwargs)
    got = [record["learning_rate"] for record in model.history_]
    t = (np.arange(4) + 0.5) / 4
    expected = 0.01 * 0.5 * (1 - np.cos(2 * np.pi * np.log2(1 + 3 * t)))
    assert_allclose(got, [*expected, 0.0, 0.0], rtol=1e-14, atol=1e-18)


def test_coslog_model_pickles_and_continues_the_same(Estimator, data):
    X, y = data
    model = small(Estimator, learning_rate_schedule="coslog", max_iter=8, lr_cycles=2)
    model.fit(X, y)
    copy = pickle.loads(pickle.dumps(model))
    assert_array_equal(copy.predict(X), model.predict(X))
    model.set_params(warm_start=True).fit(X, y)
    copy.set_params(warm_start=True).fit(X, y)
    assert_same_weights(copy, model)


@pytest.mark.parametrize("value", [0, -1, 1.5, "4"])
def test_invalid_lr_cycles_is_refused(Estimator, data, value):
    X, y = data
    with pytest.raises(InvalidParameterError, match="'lr_cycles' parameter"):
        small(Estimator, lr_cycles=value).fit(X, y)


# The zero-initialised output layer


def test_zero_output_init_draws_the_same_stream():
    """Only the output layer changes; the random stream goes on the same."""
    network = Network(NetworkSpec.build([4, 6, 5, 2], "tanh", batch_norm=True))
    rng, zero_rng = np.random.RandomState(0), np.random.RandomState(0)
    theta, state = network.init(rng)
    zero_theta, zero_state = network.init(zero_rng, zero_output=True)
    assert_array_equal(rng.uniform(size=3), zero_rng.uniform(size=3))
    assert_array_equal(zero_state, state)
    default = network.arrays(theta, state)
    zero = network.arrays(zero_theta, zero_state)
    for name, arrays in default.items():
        *hidden, output = arrays
        *zero_hidden, zero_output = zero[name]
        for a, b in zip(hidden, zero_hidden, strict=True):
            assert_array_equal(a, b)
        if name in ("coefs", "intercepts"):
            assert not np.any(zero_output)
        else:
            assert_array_equal(zero_output, output)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_zero_output_init_keeps_the_other_layers_draws(Estimator, data, early_stopping):
    """One full-batch step of negligible size leaves the initial weights.

    The hidden layers' weights are then the Glorot draws of the default fit,
    bit for bit; the output layer's are zero. The same holds with early
    stopping, whose split is drawn after the initialisation.
    """
    X, y = data
    params = {
        "solver": "sgd", "momentum": 0.0, "learning_rate": 1e-300,
        "batch_size": len(y), "max_iter": 1, "early_stopping": early_stopping,
        "hidden_layer_sizes": (8, 6),
    }  # fmt: skip
    default = small(Estimator, **params).fit(X, y)
    zero = small(Estimator, output_init="zeros", **params).fit(X, y)
    for a, b in zip(default.coefs_[:-1], zero.coefs_[:-1], strict=True):
        assert_array_equal(a, b)
    for a, b in zip(default.intercepts_[:-1], zero.intercepts_[:-1], strict=True):
        assert_array_equal(a, b)
    assert_allclose(zero.coefs_[-1], 0.0, rtol=0, atol=1e-250)
    assert_allclose(zero.intercepts_[-1], 0.0, rtol=0, atol=1e-250)
    assert np.all(np.abs(default.coefs_[-1]) > 0)


def test_zero_output_init_starts_at_the_mean_or_equal_odds(Estimator, data):
    X, y = data
    params = {"solver": "sgd", "learning_rate": 1e-300, "max_iter": 1}
    params["output_init"] = "zeros"
    if Estimator is ANNRegressor:
        params["target_scaling"] = "standard"
        model = small(Estimator, **params).fit(X, y)
        assert_allclose(model.predict(X), y.mean(), rtol=1e-12)
    else:
        model = small(Estimator, **params).fit(X, y)
        assert_allclose(model.predict_proba(X), 0.5, rtol=1e-12)


def test_zero_output_init_learns(Estimator, data):
    X, y = data
    model = small(Estimator, output_init="zeros", max_iter=200, learning_rate=0.01)
    model.fit(X, y)
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]


def test_warm_start_ignores_output_init(Estimator, data):
    X, y = data
    first = small(Estimator, warm_start=True).fit(X, y)
    second = small(Estimator, warm_start=True).fit(X, y)
    first.fit(X, y)
    second.set_params(output_init="zeros").fit(X, y)
    assert_same_weights(first, second)


def test_invalid_output_init_is_refused(Estimator, data):
    X, y = data
    with pytest.raises(InvalidParameterError, match="'output_init' parameter"):
        small(Estimator, output_init="zero").fit(X, y)


# Front scaling and the NTK parametrisation

SCALINGS = [
    {"front_scaling": True},
    {"parametrization": "ntk"},
    {"front_scaling": True, "parametrization": "ntk", "output_init": "zeros"},
]
SCALING_IDS = ["front", "ntk", "front-ntk-zeros"]


@pytest.mark.parametrize("params", SCALINGS, ids=SCALING_IDS)
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_scalings_learn(Estimator, data, params, solver):
    X, y = data
    model = small(
        Estimator, solver=solver, max_iter=200, learning_rate=0.01, **params
    ).fit(X, y)
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]
    scales = model.front_scales_
    if params.get("front_scaling"):
        assert len(scales) == 1 and scales[0].shape == (X.shape[1],)
        assert not np.all(scales[0] == 1.0)
    else:
        assert scales is None


def test_scalings_step_at_their_rate_factors(data):
    """One full-batch SGD step: each entry moves by lr x factor x gradient.

    The front scales at front_scaling_lr_factor, the biases at 0.1 under
    NTK, everything else at the rate; the gradient is the core's at the
    initial weights of the same seed.
    """
    X, y = data
    lr, factor = 1e-3, 2.5
    params = {
        "solver": "sgd", "momentum": 0.0, "batch_size": len(y), "max_iter": 1,
        "learning_rate": lr, "front_scaling": True, "parametrization": "ntk",
        "front_scaling_lr_factor": factor, "hidden_layer_sizes": (5,),
    }  # fmt: skip
    model = small(ANNRegressor, **params).fit(X, y)
    network = Network(model._spec_of_fitted())
    theta, state = network.init(np.random.RandomState(0))
    grad = np.empty_like(theta)
    Objective(network, LOSSES["squared_error"], model.alpha, state)(
        theta.copy(), X, y[:, np.newaxis], None, grad
    )
    fitted, _ = network.pack(model._fitted_arrays(), np.float64)
    step = theta - fitted
    first = network.affines[0]
    assert_allclose(first.s.view(step), lr * factor * first.s.view(grad), rtol=1e-9)
    for affine in network.affines:
        assert_allclose(affine.b.view(step), 0.1 * lr * affine.b.view(grad), rtol=1e-9)
        assert_allclose(affine.W.view(step), lr * affine.W.view(grad), rtol=1e-9)


@pytest.mark.parametrize("params", SCALINGS, ids=SCALING_IDS)
def test_scaled_model_pickles_and_continues_the_same(Estimator, data, params):
    X, y = data
    model = small(Estimator, max_iter=5, **params).fit(X, y)
    copy = pickle.loads(pickle.dumps(model))
    assert_array_equal(copy.predict(X), model.predict(X))
    model.set_params(warm_start=True).fit(X, y)
    copy.set_params(warm_start=True).fit(X, y)
    assert_same_weights(copy, model)
    if params.get("front_scaling"):
        assert_array_equal(copy.front_scales_[0], model.front_scales_[0])


@pytest.mark.parametrize("params", SCALINGS, ids=SCALING_IDS)
def test_scaled_model_partial_fit_goes_on(Estimator, data, params):
    """Two partial_fit calls equal one fit of two epochs."""
    X, y = data
    kwargs = {"classes": np.unique(y)} if Estimator is ANNClassifier else {}
    stepped = small(Estimator, shuffle=False, **params)
    for _ in range(2):
        stepped.partial_fit(X, y, **kwargs)
    fitted = small(Estimator, shuffle=False, max_iter=2, **params).fit(X, y)
    assert_same_weights(stepped, fitted)
    assert_array_equal(stepped.predict(X), fitted.predict(X))


def test_scaled_model_round_trips_through_skops(Estimator, data, tmp_path):
    sio = pytest.importorskip("skops.io")
    X, y = data
    params = {"front_scaling": True, "parametrization": "ntk"}
    model = small(Estimator, **params).fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    loaded = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert_array_equal(loaded.predict(X), model.predict(X))
    assert_array_equal(loaded.front_scales_[0], model.front_scales_[0])


@pytest.mark.parametrize(
    "change", [{"front_scaling": True}, {"parametrization": "ntk"}]
)
def test_warm_start_refuses_a_change_of_scaling(Estimator, data, change):
    X, y = data
    model = small(Estimator, warm_start=True).fit(X, y)
    (name,) = change
    model.set_params(**change)
    with pytest.raises(ValueError, match=f"trained with {name}="):
        model.fit(X, y)


def test_front_scaling_matches_scaled_inputs(Estimator, data):
    """Prediction: the network on X diag(s) without front scales."""
    X, y = data
    model = small(Estimator, front_scaling=True, max_iter=30).fit(X, y)
    plain = small(Estimator, max_iter=1).fit(X, y)
    plain.coefs_ = [W.copy() for W in model.coefs_]
    plain.intercepts_ = [b.copy() for b in model.intercepts_]
    if Estimator is ANNRegressor:
        assert_allclose(
            plain.predict(X * model.front_scales_[0]), model.predict(X), rtol=1e-12
        )
    else:
        assert_allclose(
            plain.predict_proba(X * model.front_scales_[0]),
            model.predict_proba(X),
            rtol=1e-12,
        )


@pytest.mark.parametrize(
    "params, name",
    [
        ({"front_scaling_lr_factor": 0}, "front_scaling_lr_factor"),
        ({"front_scaling_lr_factor": -1.0}, "front_scaling_lr_factor"),
        ({"front_scaling_lr_factor": "6"}, "front_scaling_lr_factor"),
        ({"front_scaling": "yes"}, "front_scaling"),
        ({"parametrization": "NTK"}, "parametrization"),
        ({"parametrization": None}, "parametrization"),
    ],
)
def test_invalid_scaling_parameters_are_refused(Estimator, data, params, name):
    X, y = data
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        small(Estimator, **params).fit(X, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scaled_layers_train_the_same_weights_by_matmul(
    monkeypatch, matmul_choices, dtype
):
    # The NTK and front-scaled layers share the plain layer's choice of
    # np.matmul for large training products: the same GEMM, the same bits.
    from skann._core import layers

    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 12)).astype(dtype)
    y = X[:, 0] - X[:, 1] ** 2
    params = {
        "hidden_layer_sizes": (96, 64), "parametrization": "ntk",
        "front_scaling": True, "batch_size": 300, "max_iter": 2, "random_state": 0,
    }  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        by_matmul = ANNRegressor(**params).fit(X, y)
        assert any(matmul_choices)
        monkeypatch.setattr(layers, "_MIN_MATMUL_BYTES", 2**62)
        by_dot = ANNRegressor(**params).fit(X, y)
    for fitted in ("coefs_", "intercepts_", "front_scales_"):
        for a, b in zip(
            getattr(by_matmul, fitted), getattr(by_dot, fitted), strict=True
        ):
            assert_array_equal(a, b)
