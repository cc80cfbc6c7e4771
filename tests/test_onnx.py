"""ONNX export: skl2onnx's graphs of skann models, run in ONNX Runtime."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import doctest

import numpy as np
import onnx
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from skann import (
    ANNClassifier,
    ANNRegressor,
    make_tabular_classifier,
    make_tabular_regressor,
)
from skann._core.activations import ACTIVATIONS
from skann._core.neighbors import nearest
from skann.preprocessing import RobustSmoothClipScaler

_REASON = "ONNX export needs the onnx extra: pip install 'skann[onnx]'"
skl2onnx = pytest.importorskip("skl2onnx", reason=_REASON)
ort = pytest.importorskip("onnxruntime", reason=_REASON)
skann_onnx = pytest.importorskip("skann.onnx", reason=_REASON)

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

# The largest difference allowed between ONNX Runtime's output and skann's,
# per output column, relative to the largest magnitude of skann's output in
# that column: a float32 graph rounds every weight and every intermediate
# result to float32; a float64 graph differs from skann's float64 arithmetic
# only by the order of the sums.
RTOL = {np.float32: 1e-5, np.float64: 1e-12}

N_FEATURES = 4


def _rows(seed=0, n_train=120, n_inside=200, n_outside=100):
    """Training rows, and test rows: inside the training range and far beyond."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_train, N_FEATURES))
    X_test = np.vstack(
        [
            rng.normal(size=(n_inside, N_FEATURES)),
            # Ten times the training spread: up to about 40 per feature.
            10 * rng.normal(size=(n_outside, N_FEATURES)),
        ]
    )
    return X, X_test


def _session(onx):
    return ort.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def _convert_and_run(model, X, dtype, **kwargs):
    """Convert with ``to_onnx`` for ``dtype`` input and run the graph on ``X``."""
    X = X.astype(dtype)
    onx = skl2onnx.to_onnx(model, X[:1], **kwargs)
    session = _session(onx)
    return onx, session.run(None, {session.get_inputs()[0].name: X})


def _relative_difference(got, expected):
    """Largest |got - expected| per column over that column's largest |expected|."""
    expected = np.asarray(expected, np.float64).reshape(len(expected), -1)
    got = np.asarray(got, np.float64).reshape(expected.shape)
    scale = np.max(np.abs(expected), axis=0)
    return float(np.max(np.max(np.abs(got - expected), axis=0) / scale))


def _assert_close(got, expected, dtype):
    assert np.all(np.isfinite(got))
    difference = _relative_difference(got, expected)
    assert difference <= RTOL[dtype], difference


def _check_regressor(model, X_test, **kwargs):
    for dtype in (np.float32, np.float64):
        onx, (y,) = _convert_and_run(model, X_test, dtype, **kwargs)
        assert y.dtype == dtype
        network = getattr(model, "best_estimator_", model)
        network = network[-1] if isinstance(network, Pipeline) else network
        assert y.shape == (len(X_test), network.n_outputs_)
        _assert_close(y, model.predict(X_test.astype(dtype)), dtype)
    return onx


def _regression_target(X, n_outputs=1):
    Y = np.column_stack(
        [np.sin(X[:, j]) + X @ np.linspace(-1, 1, N_FEATURES) for j in range(n_outputs)]
    )
    return Y[:, 0] if n_outputs == 1 else Y


def _check_labels(label, model, X, dtype):
    """Labels equal skann's, except a float32 graph's on near-ties."""
    expected = model.predict(X)
    if dtype == np.float64:
        np.testing.assert_array_equal(label, expected)
        return
    p = model.predict_proba(X)
    if expected.ndim == 2:
        # Multilabel: a 0/1 matrix, one threshold per label.
        tie = np.abs(p - 0.5) < 1e-5
        np.testing.assert_array_equal(label[~tie], expected[~tie])
        return
    top = np.sort(p, axis=1)
    tie = top[:, -1] - top[:, -2] < 1e-5
    np.testing.assert_array_equal(label[~tie], expected[~tie])


def _check_classifier(model, X_test):
    """The labels and the probabilities, without ZipMap, in float and double."""
    for dtype in (np.float32, np.float64):
        _, (label, proba) = _convert_and_run(
            model, X_test, dtype, options={"zipmap": False}
        )
        assert proba.dtype == dtype
        _check_labels(label, model, X_test, dtype)
        _assert_close(proba, model.predict_proba(X_test.astype(dtype)), dtype)


# -- Regression ----------------------------------------------------------------


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_regressor_outputs(n_outputs):
    X, X_test = _rows()
    model = ANNRegressor((8, 5), max_iter=30, random_state=0)
    model.fit(X, _regression_target(X, n_outputs))
    _check_regressor(model, X_test)


def test_regressor_target_scaling():
    X, X_test = _rows()
    Y = 100 * _regression_target(X, 2) + [50, -3000]
    model = ANNRegressor((8,), target_scaling="standard", max_iter=30, random_state=0)
    model.fit(X, Y)
    assert model.target_mean_ is not None
    onx = _check_regressor(model, X_test)
    # The scaling is folded into the output layer: no node of its own.
    assert [node.name for node in onx.graph.node] == [
        "layer0_gemm",
        "layer0_relu",
        "layer1_gemm",
    ]


def test_regressor_poisson():
    X, X_test = _rows()
    rng = np.random.RandomState(1)
    y = rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1]))
    model = ANNRegressor((6,), activation="tanh", loss="poisson", max_iter=30)
    model.set_params(random_state=0).fit(X, y)
    assert model.out_activation_ == "exp"
    onx = _check_regressor(model, X_test)
    assert onx.graph.node[-1].op_type == "Exp"
    assert onx.graph.node[-1].name == "layer1_exp"


def test_target_scaling_after_a_link():
    # skann refuses target scaling with the Poisson loss, but the graph applies
    # any scaling after the output link, as predict does.
    X, X_test = _rows()
    y = np.random.RandomState(1).poisson(np.exp(0.5 * X[:, 0]))
    model = ANNRegressor((5,), loss="poisson", max_iter=20, random_state=0)
    model.fit(X, y)
    model.target_scale_, model.target_mean_ = np.array([3.0]), np.array([-2.0])
    onx = _check_regressor(model, X_test)
    assert [node.name for node in onx.graph.node][-3:] == [
        "layer1_exp",
        "target_scale",
        "target_mean",
    ]


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_regressor_activation(activation):
    X, X_test = _rows()
    model = ANNRegressor((6, 5), activation=activation, max_iter=20, random_state=0)
    model.fit(X, _regression_target(X))
    onx = _check_regressor(model, X_test)
    names = [node.name for node in onx.graph.node]
    assert names[0] == "layer0_gemm" and names[-1] == "layer2_gemm"
    if activation != "identity":
        assert f"layer0_{activation}" in names and f"layer1_{activation}" in names


@pytest.mark.parametrize("activation", ["gelu", "silu"])
def test_activation_before_opset_20(activation):
    # Before opset 20 gelu has no single operator and is spelled out.
    X, X_test = _rows()
    model = ANNRegressor((6,), activation=activation, max_iter=20, random_state=0)
    model.fit(X, _regression_target(X))
    onx = _check_regressor(model, X_test, target_opset=18)
    assert "Gelu" not in {node.op_type for node in onx.graph.node}


def test_per_layer_activations():
    X, X_test = _rows()
    activation = ["gelu", "elu", "softplus", "leaky_relu"]
    model = ANNRegressor((7, 6, 5, 4), activation=activation, max_iter=20)
    model.set_params(random_state=0).fit(X, _regression_target(X))
    onx = _check_regressor(model, X_test)
    names = {node.name for node in onx.graph.node}
    assert {f"layer{k}_{name}" for k, name in enumerate(activation)} <= names


def test_batch_norm_is_folded():
    X, X_test = _rows()
    model = ANNRegressor((8, 6), batch_norm=True, batch_size=32, max_iter=15)
    model.set_params(random_state=0).fit(X, _regression_target(X))
    # Trained running statistics, not the initial ones.
    assert not np.allclose(model.batch_norm_means_[0], 0)
    onx = _check_regressor(model, X_test)
    assert [node.op_type for node in onx.graph.node] == [
        "Gemm",
        "Relu",
        "Gemm",
        "Relu",
        "Gemm",
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"front_scaling": True},
        {"parametrization": "ntk"},
        {"front_scaling": True, "parametrization": "ntk", "batch_norm": True},
    ],
    ids=["front", "ntk", "front-ntk-batch-norm"],
)
def test_front_scaling_and_ntk_are_folded(params):
    """Both scalings are folded into the weights: one Gemm per layer."""
    X, X_test = _rows()
    model = ANNRegressor((8, 6), max_iter=30, learning_rate=0.01, **params)
    model.set_params(random_state=0).fit(X, _regression_target(X))
    if params.get("front_scaling"):
        assert not np.allclose(model.front_scales_[0], 1.0)
    onx = _check_regressor(model, X_test)
    assert [node.op_type for node in onx.graph.node] == [
        "Gemm",
        "Relu",
        "Gemm",
        "Relu",
        "Gemm",
    ]


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_classifier_with_front_scaling_and_ntk(kind):
    X, X_test = _rows()
    y = X[:, 0] + X[:, 1] > 0
    if kind == "multiclass":
        y = y.astype(int) + (X[:, 2] > 1)
    model = ANNClassifier(
        (8,), front_scaling=True, parametrization="ntk", learning_rate=0.01,
        max_iter=30, random_state=0,
    ).fit(X, y)  # fmt: skip
    _check_classifier(model, X_test)


def test_retrieval_with_front_scaling_and_ntk():
    X, X_test = _retrieval_rows()
    model = ANNRegressor(
        (8, 5), n_neighbors=5, max_iter=30, random_state=0, front_scaling=True,
        parametrization="ntk", learning_rate=0.01,
    ).fit(X, _regression_target(X))  # fmt: skip
    _check_regressor(model, X_test)


def test_dropout_is_absent():
    X, X_test = _rows()
    model = ANNRegressor((8, 6), dropout=0.3, max_iter=20, random_state=0)
    model.fit(X, _regression_target(X))
    onx = _check_regressor(model, X_test)
    assert "Dropout" not in {node.op_type for node in onx.graph.node}


def test_no_hidden_layer():
    X, X_test = _rows()
    regressor = ANNRegressor((), max_iter=20, random_state=0)
    regressor.fit(X, _regression_target(X, 2))
    onx = _check_regressor(regressor, X_test)
    assert [node.name for node in onx.graph.node] == ["layer0_gemm"]
    classifier = ANNClassifier((), max_iter=20, random_state=0)
    classifier.fit(X, np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)])
    _check_classifier(classifier, X_test)


def test_graph_names_its_layers():
    X, _ = _rows()
    model = ANNRegressor((5, 4), activation=["tanh", "gelu"], max_iter=5)
    model.set_params(random_state=0).fit(X, _regression_target(X))
    onx = skl2onnx.to_onnx(model, X[:1].astype(np.float32))
    assert [(node.name, node.op_type) for node in onx.graph.node] == [
        ("layer0_gemm", "Gemm"),
        ("layer0_tanh", "Tanh"),
        ("layer1_gemm", "Gemm"),
        ("layer1_gelu", "Gelu"),
        ("layer2_gemm", "Gemm"),
    ]


def test_convert_sklearn_and_integer_input():
    from skl2onnx.common.data_types import Int64TensorType

    X, _ = _rows()
    model = ANNRegressor((5,), max_iter=10, random_state=0)
    model.fit(X, _regression_target(X))
    onx = skl2onnx.convert_sklearn(
        model, initial_types=[("X", Int64TensorType([None, N_FEATURES]))]
    )
    X_int = np.arange(-20, 20).reshape(-1, N_FEATURES)
    (y,) = _session(onx).run(None, {"X": X_int})
    _assert_close(y, model.predict(X_int.astype(np.float32)), np.float32)


# -- Classification --------------------------------------------------------------


def _classification_targets(X):
    return {
        "binary": np.where(X[:, 0] - X[:, 1] > 0, "yes", "no"),
        "multiclass": np.array(["cat", "dog", "eel"])[np.argmax(X[:, :3], axis=1)],
        "integers": np.array([-1, 4, 9])[np.argmax(X[:, 1:], axis=1)],
        "multilabel": (X[:, :3] > 0).astype(int),
    }


@pytest.mark.parametrize("kind", ["binary", "multiclass", "integers", "multilabel"])
def test_classifier(kind):
    X, X_test = _rows()
    y = _classification_targets(X)[kind]
    model = ANNClassifier((8, 5), max_iter=40, random_state=0).fit(X, y)
    _check_classifier(model, X_test)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "integers", "multilabel"])
def test_classifier_zipmap(kind):
    # As skl2onnx does for MLPClassifier: by default the labels and, per row,
    # a dictionary from class to probability.
    X, X_test = _rows()
    y = _classification_targets(X)[kind]
    model = ANNClassifier((6,), max_iter=30, random_state=0).fit(X, y)
    _, (label, proba) = _convert_and_run(model, X_test, np.float32)
    _check_labels(label, model, X_test, np.float32)
    classes = model.classes_
    assert list(proba[0]) == list(classes)
    rows = np.array([[row[c] for c in classes] for row in proba])
    _assert_close(rows, model.predict_proba(X_test), np.float32)
    # zipmap='columns': one output per class.
    _, outputs = _convert_and_run(
        model, X_test, np.float32, options={"zipmap": "columns"}
    )
    assert len(outputs) == 1 + len(classes)
    _assert_close(np.column_stack(outputs[1:]), model.predict_proba(X_test), np.float32)


def test_classifier_nocl_and_class_labels():
    X, X_test = _rows()
    y = _classification_targets(X)["multiclass"]
    model = ANNClassifier((6,), max_iter=30, random_state=0).fit(X, y)
    for dtype in (np.float32, np.float64):
        _, (label, _) = _convert_and_run(
            model, X_test, dtype, options={"zipmap": False, "nocl": True}
        )
        assert label.dtype == np.int64
        np.testing.assert_array_equal(model.classes_[label], model.predict(X_test))
    _, (_, _, classes) = _convert_and_run(
        model,
        X_test,
        np.float32,
        options={"zipmap": False, "output_class_labels": True},
    )
    np.testing.assert_array_equal(classes, model.classes_)


@pytest.mark.parametrize("Estimator", [ANNRegressor, ANNClassifier])
def test_pipeline(Estimator):
    # Raw features of very different scales, standardised inside the pipeline.
    X, X_test = _rows()
    spread = np.array([0.01, 1.0, 50.0, 1000.0])
    if Estimator is ANNRegressor:
        y = _regression_target(X)
    else:
        y = _classification_targets(X)["multiclass"]
    X, X_test = X * spread + 7, X_test * spread + 7
    pipeline = make_pipeline(StandardScaler(), Estimator((6,), max_iter=30))
    pipeline.set_params(**{f"{Estimator.__name__.lower()}__random_state": 0})
    pipeline.fit(X, y)
    options = {ANNClassifier: {"zipmap": False}} if Estimator is ANNClassifier else None
    for dtype in (np.float32, np.float64):
        _, outputs = _convert_and_run(pipeline, X_test, dtype, options=options)
        if Estimator is ANNRegressor:
            _assert_close(outputs[0], pipeline.predict(X_test.astype(dtype)), dtype)
        else:
            label, proba = outputs
            _check_labels(label, pipeline, X_test.astype(dtype), dtype)
            expected = pipeline.predict_proba(X_test.astype(dtype))
            _assert_close(proba, expected, dtype)


# -- Retrieval -------------------------------------------------------------------

# Nodes every retrieving model's graph has, by the role they play.
RETRIEVAL_NODES = {
    "retrieval_products",
    "retrieval_distances",
    "retrieval_snapped_distances",
    "retrieval_topk",
    "retrieval_neighbour_targets",
    "retrieval_trust",
    "retrieval_attention",
    "retrieval_vote",
    "retrieval_gate",
    "retrieval_output",
}

N_REPEATED = 10


def _retrieval_rows(seed=0, n_train=150):
    """Training rows, some twice, and test rows: new, repeated and far beyond.

    The training rows are float32 numbers, so that their float32 copies
    repeat them exactly too. The first ``N_REPEATED`` rows are also the last
    ones: a test row that repeats them ties at distance zero with two memory
    rows. The test rows: new rows in the training range, copies of the first
    40 training rows, and rows at ten times the training spread.
    """
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_train, N_FEATURES)).astype(np.float32).astype(np.float64)
    X = np.vstack([X, X[:N_REPEATED]])
    X_test = np.vstack(
        [
            rng.normal(size=(100, N_FEATURES)),
            X[:40],
            10 * rng.normal(size=(60, N_FEATURES)),
        ]
    )
    return X, X_test


def _graph_neighbours(onx, X):
    """The neighbours the graph finds for the rows ``X``: TopK's indices."""
    model = onnx.ModelProto()
    model.CopyFrom(onx)
    (topk,) = [node for node in model.graph.node if node.op_type == "TopK"]
    assert topk.name == "retrieval_topk"
    model.graph.output.append(
        onnx.helper.make_tensor_value_info(topk.output[1], onnx.TensorProto.INT64, None)
    )
    session = _session(model)
    (index,) = session.run([topk.output[1]], {session.get_inputs()[0].name: X})
    return index


def _check_neighbours(model, X_test, **kwargs):
    """The graph's neighbours are skann's, in skann's order, in float and double."""
    k = model._fitted_spec["n_neighbors"]
    for dtype in (np.float32, np.float64):
        X = X_test.astype(dtype)
        onx = skl2onnx.to_onnx(model, X[:1], **kwargs)
        assert RETRIEVAL_NODES <= {node.name for node in onx.graph.node}
        expected, d2 = nearest(X, model._memory["X"], k)
        np.testing.assert_array_equal(_graph_neighbours(onx, X), expected)
    return expected, d2


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_retrieval_regressor(n_outputs):
    X, X_test = _retrieval_rows()
    model = ANNRegressor((8, 5), n_neighbors=5, max_iter=30, random_state=0)
    model.fit(X, _regression_target(X, n_outputs))
    onx = _check_regressor(model, X_test)
    # Without target scaling or link, the head's sum is the graph's output.
    assert onx.graph.node[-1].name == "retrieval_output"
    index, d2 = _check_neighbours(model, X_test)
    # Copies of the training rows find themselves at distance zero, and the
    # rows stored twice find both copies, the lower index first.
    copies = slice(100, 140)
    np.testing.assert_array_equal(d2[copies, 0], 0.0)
    np.testing.assert_array_equal(index[copies, 0], np.arange(40))
    n_train = len(X) - N_REPEATED
    twice = index[100 : 100 + N_REPEATED]
    np.testing.assert_array_equal(twice[:, 1], n_train + np.arange(N_REPEATED))
    np.testing.assert_array_equal(d2[100 : 100 + N_REPEATED, 1], 0.0)


def test_retrieval_target_scaling():
    X, X_test = _retrieval_rows()
    Y = 100 * _regression_target(X, 2) + [50, -3000]
    model = ANNRegressor(
        (8,), n_neighbors=4, target_scaling="standard", max_iter=30, random_state=0
    )
    model.fit(X, Y)
    onx = _check_regressor(model, X_test)
    # The neighbours' targets are standardised: the scaling follows the head.
    assert [node.name for node in onx.graph.node][-3:] == [
        "retrieval_output",
        "target_scale",
        "target_mean",
    ]


def test_retrieval_poisson():
    X, X_test = _retrieval_rows()
    y = np.random.RandomState(1).poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1]))
    model = ANNRegressor(
        (6,), activation="tanh", loss="poisson", n_neighbors=5, max_iter=30
    )
    model.set_params(random_state=0).fit(X, y)
    assert model._fitted_spec["retrieval_link"] == "log"
    onx = _check_regressor(model, X_test)
    names = [node.name for node in onx.graph.node]
    assert names[-2:] == ["retrieval_output", "layer1_exp"]
    assert "retrieval_log_vote" in names


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_retrieval_classifier(kind):
    X, X_test = _retrieval_rows()
    y = _classification_targets(X)[kind]
    model = ANNClassifier((8, 5), n_neighbors=6, max_iter=40, random_state=0)
    model.fit(X, y)
    link = "log" if kind == "multiclass" else "logit"
    assert model._fitted_spec["retrieval_link"] == link
    _check_classifier(model, X_test)
    _check_neighbours(model, X_test, options={"zipmap": False})


def test_retrieval_no_hidden_layer_and_sample_weight():
    # Without hidden layers the gate reads the input rows. Rows of weight zero
    # are not in the memory, and the others' log weights enter the attention.
    X, X_test = _retrieval_rows()
    weights = np.random.RandomState(2).uniform(0.2, 3.0, len(X))
    weights[::7] = 0.0
    regressor = ANNRegressor((), n_neighbors=5, max_iter=30, random_state=0)
    regressor.fit(X, _regression_target(X, 2), sample_weight=weights)
    assert len(regressor._memory["X"]) == np.count_nonzero(weights)
    onx = _check_regressor(regressor, X_test)
    assert "retrieval_neighbour_log_weights" in {node.name for node in onx.graph.node}
    _check_neighbours(regressor, X_test)
    classifier = ANNClassifier((), n_neighbors=5, max_iter=30, random_state=0)
    y = _classification_targets(X)["multiclass"]
    classifier.fit(X, y, sample_weight=weights)
    _check_classifier(classifier, X_test)


def test_retrieval_batch_norm():
    X, X_test = _retrieval_rows()
    model = ANNRegressor(
        (8, 6), batch_norm=True, n_neighbors=5, batch_size=32, max_iter=15
    )
    model.set_params(random_state=0).fit(X, _regression_target(X))
    _check_regressor(model, X_test)


def test_retrieval_float32_model():
    # Fitted on float32 rows, skann keeps a float32 memory and context: the
    # double graph rounds the context to float32 as skann does. A float32
    # graph searches in float32, as skann does; the two searches round
    # differently, so the float32 graph is also compared with skann's double
    # prediction of the same rows.
    X, X_test = _retrieval_rows()
    X = X.astype(np.float32)
    model = ANNRegressor((8,), n_neighbors=5, max_iter=30, random_state=0)
    model.fit(X, _regression_target(X))
    assert model._memory["X"].dtype == np.float32
    _check_regressor(model, X_test)
    _, (y,) = _convert_and_run(model, X_test, np.float32)
    expected = model.predict(X_test.astype(np.float32).astype(np.float64))
    _assert_close(y, expected, np.float32)


@pytest.mark.parametrize("opset", [11, 17])
def test_retrieval_older_opsets(opset):
    # Before opsets 13 and 18, Unsqueeze and the reductions take their axes as
    # attributes; TopK takes largest=0 from opset 11.
    X, X_test = _retrieval_rows()
    model = ANNClassifier((6,), n_neighbors=4, max_iter=20, random_state=0)
    model.fit(X, _classification_targets(X)["multilabel"])
    for dtype in (np.float32, np.float64):
        onx, (_, proba) = _convert_and_run(
            model, X_test, dtype, options={"zipmap": False}, target_opset=opset
        )
        assert onx.opset_import[0].version == opset
        _assert_close(proba, model.predict_proba(X_test.astype(dtype)), dtype)


@pytest.mark.parametrize("Estimator", [ANNRegressor, ANNClassifier])
def test_retrieval_pipeline(Estimator):
    X, X_test = _retrieval_rows()
    spread = np.array([0.01, 1.0, 50.0, 1000.0])
    if Estimator is ANNRegressor:
        y = _regression_target(X)
    else:
        y = _classification_targets(X)["multiclass"]
    X, X_test = X * spread + 7, X_test * spread + 7
    network = Estimator((6,), n_neighbors=4, max_iter=30, random_state=0)
    pipeline = make_pipeline(StandardScaler(), network).fit(X, y)
    options = {ANNClassifier: {"zipmap": False}} if Estimator is ANNClassifier else None
    for dtype in (np.float32, np.float64):
        _, outputs = _convert_and_run(pipeline, X_test, dtype, options=options)
        if Estimator is ANNRegressor:
            _assert_close(outputs[0], pipeline.predict(X_test.astype(dtype)), dtype)
        else:
            label, proba = outputs
            _check_labels(label, pipeline, X_test.astype(dtype), dtype)
            expected = pipeline.predict_proba(X_test.astype(dtype))
            _assert_close(proba, expected, dtype)


@pytest.mark.parametrize("clip", [3.0, None])
def test_robust_smooth_clip_scaler(clip):
    X, X_test = _rows()
    X_test = np.vstack([X_test, [[1e30, -1e30, 0.0, 1.0]]])
    scaler = RobustSmoothClipScaler(clip=clip).fit(X * [1, 10, 100, 0.1] + 3)
    X_test = X_test * [1, 10, 100, 0.1] + 3
    for dtype in (np.float32, np.float64):
        _, (Z,) = _convert_and_run(scaler, X_test, dtype)
        assert Z.dtype == dtype
        _assert_close(Z, scaler.transform(X_test.astype(dtype)), dtype)
    if clip is not None:
        # Extreme inputs go to the bounds, not to zero or NaN.
        np.testing.assert_allclose(Z[-1, :2], [clip, -clip])


@pytest.mark.parametrize("make", [make_tabular_regressor, make_tabular_classifier])
def test_tabular_recipe(make):
    # The recipe: a search over RobustSmoothClipScaler and a retrieving
    # network, which converts as its best candidate.
    X, X_test = _retrieval_rows()
    X, X_test = X * [1, 10, 100, 0.1] + 3, X_test * [1, 10, 100, 0.1] + 3
    if make is make_tabular_regressor:
        recipe = make(max_iter=5, random_state=0).fit(X, _regression_target(X))
        _check_regressor(recipe, X_test)
        return
    y = _classification_targets(X)["binary"]
    recipe = make(max_iter=5, random_state=0).fit(X, y)
    for dtype in (np.float32, np.float64):
        _, (label, proba) = _convert_and_run(
            recipe, X_test, dtype, options={ANNClassifier: {"zipmap": False}}
        )
        _check_labels(label, recipe, X_test.astype(dtype), dtype)
        _assert_close(proba, recipe.predict_proba(X_test.astype(dtype)), dtype)


def test_docstring_examples():
    # The doctest run of the package ignores skann/onnx/, which needs the
    # extra to import; the examples are in skann.onnx's public module.
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    failed, attempted = doctest.testmod(skann_onnx, optionflags=flags)
    assert attempted > 0 and failed == 0


# -- What does not convert -----------------------------------------------------


def test_zipmap_with_double_input_is_refused():
    X, _ = _rows()
    model = ANNClassifier((4,), max_iter=5, random_state=0)
    model.fit(X, _classification_targets(X)["binary"])
    with pytest.raises(ValueError, match="zipmap"):
        skl2onnx.to_onnx(model, X[:1])


def test_class_labels_of_booleans_are_refused():
    X, _ = _rows()
    model = ANNClassifier((4,), max_iter=5, random_state=0).fit(X, X[:, 0] > 0)
    options = {"zipmap": False, "output_class_labels": True}
    with pytest.raises(ValueError, match="output_class_labels"):
        skl2onnx.to_onnx(model, X[:1].astype(np.float32), options=options)
    # Without that option, boolean classes are 0/1 labels.
    _, (label, _) = _convert_and_run(model, X, np.float32, options={"zipmap": False})
    np.testing.assert_array_equal(label, model.predict(X))


def test_unknown_activation_is_refused():
    X, _ = _rows()
    model = ANNRegressor((4,), max_iter=5, random_state=0)
    model.fit(X, _regression_target(X))
    model._fitted_spec["activations"] = ["mystery"]
    with pytest.raises(NotImplementedError, match="mystery"):
        skl2onnx.to_onnx(model, X[:1].astype(np.float32))


def test_unfitted_model_is_refused():
    X, _ = _rows()
    with pytest.raises(NotFittedError):
        skl2onnx.to_onnx(ANNRegressor(), X[:1].astype(np.float32))


def _retrieving_regressor():
    X, _ = _retrieval_rows()
    model = ANNRegressor((4,), n_neighbors=3, max_iter=5, random_state=0)
    return model.fit(X, _regression_target(X)), X


def test_retrieval_before_opset_11_is_refused():
    model, X = _retrieving_regressor()
    with pytest.raises(ValueError, match=r"n_neighbors=3.*TopK"):
        skl2onnx.to_onnx(model, X[:1].astype(np.float32), target_opset=10)


def test_retrieval_unknown_link_is_refused():
    model, X = _retrieving_regressor()
    model._fitted_spec["retrieval_link"] = "mystery"
    with pytest.raises(NotImplementedError, match=r"mystery.*n_neighbors"):
        skl2onnx.to_onnx(model, X[:1].astype(np.float32))


def test_retrieval_without_memory_is_refused():
    model, X = _retrieving_regressor()
    model._memory = None
    with pytest.raises(ValueError, match=r"n_neighbors=3.*memory"):
        skl2onnx.to_onnx(model, X[:1].astype(np.float32))


# -- Ensembles -----------------------------------------------------------------


@pytest.mark.parametrize("style", ["full", "mini"])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_ensemble_regressor(style, n_outputs):
    X, X_test = _rows()
    model = ANNRegressor(
        (8, 5), activation="tanh", ensemble_size=4, ensemble_style=style,
        target_scaling="standard", max_iter=30, random_state=0,
    )  # fmt: skip
    model.fit(X, 10 * _regression_target(X, n_outputs) + 3)
    _check_regressor(model, X_test)


def test_ensemble_regressor_poisson():
    X, X_test = _rows()
    y = np.random.RandomState(1).poisson(np.exp(0.5 * X[:, 0]))
    model = ANNRegressor((6,), loss="poisson", ensemble_size=3, max_iter=30)
    _check_regressor(model.fit(X, y), X_test)


@pytest.mark.parametrize("opset", [11, 17, None])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_ensemble_classifier(n_classes, opset):
    X, X_test = _rows()
    y = np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5][: n_classes - 1])
    model = ANNClassifier((8, 6), ensemble_size=5, max_iter=30, random_state=0)
    model.fit(X, y)
    for dtype in (np.float32, np.float64):
        _, (label, proba) = _convert_and_run(
            model, X_test, dtype, options={"zipmap": False}, target_opset=opset
        )
        _check_labels(label, model, X_test, dtype)
        _assert_close(proba, model.predict_proba(X_test.astype(dtype)), dtype)


def test_ensemble_multilabel():
    X, X_test = _rows()
    Y = (X[:, :3] > 0).astype(int)
    model = ANNClassifier((8,), ensemble_size=3, ensemble_style="mini", max_iter=30)
    _check_classifier(model.fit(X, Y), X_test)


# -- Numeric embeddings --------------------------------------------------------


@pytest.mark.parametrize("embedding", ["periodic", "piecewise_linear"])
@pytest.mark.parametrize("hidden", [(6,), ()])
def test_numeric_embedding_regressor(embedding, hidden):
    X, X_test = _rows()
    # Tied values and a constant feature: bins of zero width.
    X[:, 2] = np.round(X[:, 2])
    X[:, 3] = 1.0
    model = ANNRegressor(
        hidden, numeric_embedding=embedding, embedding_dim=3, target_scaling="standard",
        max_iter=30, random_state=0,
    ).fit(X, _regression_target(X, 2))  # fmt: skip
    _check_regressor(model, X_test)


@pytest.mark.parametrize("embedding", ["periodic", "piecewise_linear"])
@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_numeric_embedding_classifier(embedding, kind):
    X, X_test = _rows()
    y = _classification_targets(X)[kind]
    model = ANNClassifier(
        (6,), numeric_embedding=embedding, embedding_dim=3, batch_norm=True,
        max_iter=30, random_state=0,
    ).fit(X, y)  # fmt: skip
    _check_classifier(model, X_test)


@pytest.mark.parametrize("embedding", ["periodic", "piecewise_linear"])
def test_numeric_embedding_with_retrieval_in_a_pipeline(embedding):
    X, X_test = _retrieval_rows()
    y = _regression_target(X)
    model = make_pipeline(
        StandardScaler(),
        ANNRegressor(
            (6,), numeric_embedding=embedding, embedding_dim=3, n_neighbors=4,
            max_iter=30, random_state=0,
        ),
    ).fit(X, y)  # fmt: skip
    _check_regressor(model, X_test)
