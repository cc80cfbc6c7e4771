"""Saving fitted estimators with skops: round trips, trusted types, tampered files."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import doctest
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import (
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelBinarizer, StandardScaler

from skann import ANNClassifier, ANNRegressor

sio = pytest.importorskip(
    "skops.io", reason="skops is not installed: pip install 'skann[skops]'"
)

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

# The names skops gives skann's classes: part of every saved file, and what a
# user passes as ``trusted``. Moving a class to another module changes its name
# and breaks loading the files saved before, so the names are spelled out here.
TYPE_NAMES = {
    ANNRegressor: "skann._regressor.ANNRegressor",
    ANNClassifier: "skann._classifier.ANNClassifier",
}

SAVING_PAGE = Path(__file__).parents[1] / "docs" / "user_guide" / "saving.rst"

SMALL = {"hidden_layer_sizes": (7, 5), "max_iter": 12, "random_state": 0}


def _regression(n_targets=1, positive=False):
    X, y = make_regression(
        n_samples=80, n_features=5, n_targets=n_targets, noise=1.0, random_state=0
    )
    return X, np.abs(y) if positive else y


def _binary():
    return make_classification(n_samples=80, n_features=5, random_state=0)


def _multiclass():
    X, y = make_classification(
        n_samples=90, n_features=5, n_informative=3, n_classes=3, random_state=0
    )
    return X, np.array(["setosa", "versicolor", "virginica"])[y]


def _multilabel():
    return make_multilabel_classification(
        n_samples=80, n_features=5, n_classes=3, random_state=0
    )


def _sparse():
    X, y = _multiclass()
    return sp.csr_matrix(np.where(X > 0.5, X, 0.0)), y


def _float32():
    X, y = _binary()
    return X.astype(np.float32), y


# name: (estimator, data). Every option that adds fitted state appears at
# least once: batch-norm statistics, weight averages, early-stopping records,
# schedule and optimizer state, target scaling, class weights.
CASES = {
    "regressor": (lambda: ANNRegressor(**SMALL), _regression),
    "multioutput": (lambda: ANNRegressor(**SMALL), lambda: _regression(3)),
    "binary": (lambda: ANNClassifier(**SMALL), _binary),
    "multiclass": (lambda: ANNClassifier(**SMALL), _multiclass),
    "multilabel": (lambda: ANNClassifier(**SMALL), _multilabel),
    "float32": (lambda: ANNClassifier(**SMALL), _float32),
    "float32-regressor": (
        lambda: ANNRegressor(**SMALL),
        lambda: tuple(a.astype(np.float32) for a in _regression()),
    ),
    "sparse": (lambda: ANNClassifier(**SMALL), _sparse),
    "dropout-batch-norm-ema": (
        lambda: ANNRegressor(
            activation=["tanh", "relu"],
            dropout=[0.2, 0.1],
            batch_norm=True,
            weight_averaging="ema",
            ema_decay=0.9,
            max_grad_norm=1.0,
            learning_rate_schedule="adaptive",
            loss="huber",
            target_scaling="standard",
            batch_size=16,
            **SMALL,
        ),
        _regression,
    ),
    "sgd-swa-class-weight": (
        lambda: ANNClassifier(
            solver="sgd",
            learning_rate=0.05,
            weight_averaging="swa",
            swa_epochs=3,
            learning_rate_schedule="step",
            lr_step=4,
            warmup_epochs=2,
            class_weight={"setosa": 2.0, "versicolor": 1.0, "virginica": 0.5},
            on_divergence="restart",
            **SMALL,
        ),
        _multiclass,
    ),
    "early-stopping": (
        lambda: ANNClassifier(
            early_stopping=True, class_weight="balanced", batch_norm=True, **SMALL
        ),
        _multiclass,
    ),
    "early-stopping-loss": (
        lambda: ANNRegressor(
            early_stopping=True,
            early_stopping_metric="loss",
            loss="poisson",
            learning_rate_schedule="cosine",
            **SMALL,
        ),
        lambda: _regression(positive=True),
    ),
    "lbfgs": (lambda: ANNClassifier(solver="lbfgs", **SMALL), _multilabel),
    "ensemble": (
        lambda: ANNClassifier(ensemble_size=4, dropout=0.1, **SMALL),
        _multiclass,
    ),
    "ensemble-mini": (
        lambda: ANNRegressor(ensemble_size=3, ensemble_style="mini", **SMALL),
        _regression,
    ),
    "lbfgs-regressor": (
        lambda: ANNRegressor(solver="lbfgs", loss="quantile", quantile=0.8, **SMALL),
        _regression,
    ),
    "periodic-embedding": (
        lambda: ANNClassifier(numeric_embedding="periodic", embedding_dim=4, **SMALL),
        _multiclass,
    ),
    "piecewise-linear-embedding": (
        lambda: ANNRegressor(
            numeric_embedding="piecewise_linear",
            embedding_dim=4,
            embedding_bins=8,
            n_neighbors=3,
            **SMALL,
        ),
        _regression,
    ),
}

# Cases that partial_fit can go on with (not early stopping, not 'balanced'
# class weights, not lbfgs).
INCREMENTAL = [
    "regressor",
    "binary",
    "multiclass",
    "multilabel",
    "float32",
    "sparse",
    "dropout-batch-norm-ema",
    "sgd-swa-class-weight",
    "ensemble",
    "periodic-embedding",
    "piecewise-linear-embedding",
]


def _fitted(name):
    make_estimator, make_data = CASES[name]
    X, y = make_data()
    return make_estimator().fit(X, y), X, y


def _round_trip(estimator, tmp_path):
    path = tmp_path / "model.skops"
    sio.dump(estimator, path)
    return sio.load(path, trusted=[TYPE_NAMES[type(estimator)]])


def _assert_bit_identical(actual, expected):
    assert type(actual) is type(expected)
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    assert actual.tobytes() == expected.tobytes()


def _assert_same_state(actual, expected, path="estimator"):
    """The same nested state, down to the type of every value and every bit."""
    assert type(actual) is type(expected), path
    if isinstance(expected, np.ndarray):
        _assert_bit_identical(actual, expected)
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), path
        for key, value in expected.items():
            _assert_same_state(actual[key], value, f"{path}[{key!r}]")
    elif isinstance(expected, list | tuple):
        assert len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same_state(a, e, f"{path}[{i}]")
    elif isinstance(expected, ANNRegressor | ANNClassifier | LabelBinarizer):
        _assert_same_state(vars(actual), vars(expected), path)
    elif isinstance(expected, float) and np.isnan(expected):
        assert np.isnan(actual), path
    else:
        assert actual == expected, path


@pytest.mark.parametrize("name", CASES)
def test_round_trip_predicts_bit_identically(name, tmp_path):
    estimator, X, _ = _fitted(name)
    loaded = _round_trip(estimator, tmp_path)

    assert type(loaded) is type(estimator)
    _assert_bit_identical(loaded.predict(X), estimator.predict(X))
    if hasattr(estimator, "predict_proba"):
        _assert_bit_identical(loaded.predict_proba(X), estimator.predict_proba(X))
        _assert_bit_identical(
            loaded.predict_log_proba(X), estimator.predict_log_proba(X)
        )
    # Nothing is lost or changes type: tuples stay tuples, None stays None,
    # the optimizer and schedule state and the history come back as saved.
    _assert_same_state(vars(loaded), vars(estimator))


@pytest.mark.parametrize("name", CASES)
def test_untrusted_types_are_skanns_classes_only(name, tmp_path):
    estimator, _, _ = _fitted(name)
    path = tmp_path / "model.skops"
    sio.dump(estimator, path)

    assert sio.get_untrusted_types(file=path) == [TYPE_NAMES[type(estimator)]]


@pytest.mark.parametrize("name", ["regressor", "dropout-batch-norm-ema"])
def test_untrusted_types_after_continued_training(name, tmp_path):
    estimator, X, y = _fitted(name)
    estimator.partial_fit(X, y)
    estimator.set_params(warm_start=True, max_iter=3).fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(estimator, path)

    assert sio.get_untrusted_types(file=path) == [TYPE_NAMES[type(estimator)]]


def test_untrusted_types_of_a_pipeline(tmp_path):
    X, y = _multiclass()
    pipeline = make_pipeline(StandardScaler(), ANNClassifier(**SMALL)).fit(X, y)
    path = tmp_path / "pipeline.skops"
    sio.dump(pipeline, path)

    # scikit-learn's own classes are trusted by skops already.
    assert sio.get_untrusted_types(file=path) == [TYPE_NAMES[ANNClassifier]]
    loaded = sio.load(path, trusted=[TYPE_NAMES[ANNClassifier]])
    _assert_bit_identical(loaded.predict_proba(X), pipeline.predict_proba(X))


def test_saving_page_runs_and_quotes_the_reported_names(tmp_path, monkeypatch):
    """The user guide's page on saving runs as written and quotes skops verbatim."""
    monkeypatch.chdir(tmp_path)  # its examples write model.skops
    result = doctest.testfile(
        str(SAVING_PAGE), module_relative=False, optionflags=doctest.ELLIPSIS
    )
    assert result.attempted > 0
    assert result.failed == 0
    text = SAVING_PAGE.read_text(encoding="utf-8")
    for type_name in TYPE_NAMES.values():
        assert f"``['{type_name}']``" in text


@pytest.mark.parametrize("name", INCREMENTAL)
def test_partial_fit_after_loading_continues_as_the_original(name, tmp_path):
    estimator, X, y = _fitted(name)
    loaded = _round_trip(estimator, tmp_path)

    for _ in range(2):
        estimator.partial_fit(X, y)
        loaded.partial_fit(X, y)
    _assert_continued_alike(loaded, estimator, X)


@pytest.mark.parametrize("name", CASES)
def test_warm_start_after_loading_continues_as_the_original(name, tmp_path):
    estimator, X, y = _fitted(name)
    loaded = _round_trip(estimator, tmp_path)

    for model in (estimator, loaded):
        model.set_params(warm_start=True, max_iter=4).fit(X, y)
    _assert_continued_alike(loaded, estimator, X)


def _assert_continued_alike(loaded, estimator, X):
    _assert_bit_identical(loaded.predict(X), estimator.predict(X))
    for attribute in ("coefs_", "intercepts_", "loss_curve_"):
        _assert_same_state(
            getattr(loaded, attribute), getattr(estimator, attribute), attribute
        )
    assert (loaded.n_iter_, loaded.t_) == (estimator.n_iter_, estimator.t_)
    # The history is the same but for the wall-clock time of each epoch.
    assert [{**r, "seconds": 0} for r in loaded.history_] == [
        {**r, "seconds": 0} for r in estimator.history_
    ]


def test_random_state_instance_continues_as_the_original(tmp_path):
    """A ``RandomState`` given as ``random_state`` is saved with its state."""
    X, y = _regression()
    estimator = ANNRegressor(
        **{**SMALL, "random_state": np.random.RandomState(0)}, dropout=0.2
    ).fit(X, y)
    loaded = _round_trip(estimator, tmp_path)

    estimator.partial_fit(X, y)
    loaded.partial_fit(X, y)
    _assert_continued_alike(loaded, estimator, X)


def _tampered(data, attribute, node):
    """A copy of the skops file ``data`` with one attribute's node replaced."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(files["schema.json"])
    schema["content"]["content"][attribute] = node
    files["schema.json"] = json.dumps(schema).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def _function_node(module, name):
    # What skops writes for a function: loading resolves the reference.
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "FunctionNode",
        "__id__": 1,
    }


@pytest.mark.parametrize(
    "attribute, module, name",
    [("_loss_name", "os", "system"), ("activation", "builtins", "eval")],
)
def test_tampered_file_is_refused(attribute, module, name, tmp_path):
    estimator, _, _ = _fitted("binary")
    trusted = [TYPE_NAMES[ANNClassifier]]
    path = tmp_path / "tampered.skops"
    path.write_bytes(
        _tampered(sio.dumps(estimator), attribute, _function_node(module, name))
    )

    reported = sio.get_untrusted_types(file=path)
    assert sorted(reported) == sorted([*trusted, f"{module}.{name}"])
    untrusted = sio.exceptions.UntrustedTypesFoundException
    with pytest.raises(untrusted, match=f"{module}.{name}"):
        sio.load(path)
    # Trusting skann's classes does not let anything else in.
    with pytest.raises(untrusted, match=f"{module}.{name}"):
        sio.load(path, trusted=trusted)
    # The tampering is real: a reader who trusts everything the file names
    # gets the function in place of the attribute.
    loaded = sio.load(path, trusted=reported)
    assert getattr(loaded, attribute) is getattr(__import__(module), name)


def test_untampered_file_needs_trusted(tmp_path):
    estimator, _, _ = _fitted("regressor")
    path = tmp_path / "model.skops"
    sio.dump(estimator, path)

    with pytest.raises(
        sio.exceptions.UntrustedTypesFoundException, match="ANNRegressor"
    ):
        sio.load(path)
