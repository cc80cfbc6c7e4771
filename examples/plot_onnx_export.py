"""
=================================
Exporting a wine model to ONNX
=================================

A fitted pipeline of :class:`~sklearn.preprocessing.StandardScaler` and
:class:`~skann.ANNRegressor` is converted to an ONNX graph with skl2onnx,
run in ONNX Runtime, and compared with skann's own predictions: how far
apart the two sets of numbers are, how long each takes on 100,000 rows, and
what the graph holds.

The export needs the ``onnx`` extra: ``pip install "skann[onnx]"``.
"""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

# %%
# A wine pipeline
# ---------------
# The red wines of the UCI wine-quality data, from
# :func:`skann.datasets.fetch_wine_quality`. Without the file and without a
# network, as when these pages are built offline from a clone of skann's
# repository, the example falls back to the sample of 267 red wines that
# skann's tests keep in ``tests/data``; the first line printed says which.
#
# The network uses options a plain multilayer perceptron does not have, to
# show how each appears in the graph: a GELU and a tanh layer, batch
# normalisation and a standardised target.
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skann import ANNRegressor
from skann.datasets import DataFilesUnavailable, fetch_wine_quality

try:
    X, y = fetch_wine_quality("red", return_X_y=True)
    print(f"The UCI file: {len(y)} red wines")
except DataFilesUnavailable:
    sample = Path("..", "tests", "data", "winequality-red-sample.csv")
    data = np.loadtxt(sample, delimiter=";", skiprows=1)
    X, y = data[:, :-1], data[:, -1]
    print(f"Offline without the UCI file: the tests' sample of {len(y)} red wines")
X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

pipeline = make_pipeline(
    StandardScaler(),
    ANNRegressor(
        (50, 30),
        activation=["gelu", "tanh"],
        batch_norm=True,
        target_scaling="standard",
        early_stopping=True,
        max_iter=300,
        random_state=0,
    ),
)
pipeline.fit(X_train, y_train)
rmse = np.sqrt(np.mean((pipeline.predict(X_test) - y_test) ** 2))
print(f"test RMSE {rmse:.3f} quality points")

# %%
# Converting
# ----------
# ``import skann.onnx`` registers skann's converters with skl2onnx; after it,
# skl2onnx's own :func:`~skl2onnx.to_onnx` converts the whole pipeline. The
# sample row fixes the input's type: float32 rows give a graph that computes
# in float32, the usual choice for deployment; float64 rows one that computes
# in float64.
from skl2onnx import to_onnx

import skann.onnx  # noqa: F401

onx = to_onnx(pipeline, X_train[:1].astype(np.float32))
onx64 = to_onnx(pipeline, X_train[:1])

# %%
# The graph reads like the network: the scaler's node, then one ``Gemm``
# (the affine map) and one activation per layer, named by layer. Batch
# normalisation and the target scaling have no node: both are affine maps at
# prediction, folded into the weights of the layers they follow.
for node in onx.graph.node:
    print(f"{node.name:14s} {node.op_type}")
n_weights = sum(int(np.prod(t.dims)) for t in onx.graph.initializer)
size = len(onx.SerializeToString())
print(f"{len(onx.graph.node)} nodes, {n_weights} numbers, {size / 1024:.1f} KiB")
print(f"float64 graph: {len(onx64.SerializeToString()) / 1024:.1f} KiB")

# %%
# Running it in ONNX Runtime
# --------------------------
# An :class:`onnxruntime.InferenceSession` loads the serialised graph; a
# deployed service would read it from a ``.onnx`` file instead, and needs
# neither skann nor scikit-learn. The graph's input is named ``X`` and its
# output ``variable``, of shape (n_rows, 1).
import onnxruntime as ort

session = ort.InferenceSession(
    onx.SerializeToString(), providers=["CPUExecutionProvider"]
)
session64 = ort.InferenceSession(
    onx64.SerializeToString(), providers=["CPUExecutionProvider"]
)
print([(i.name, i.type, i.shape) for i in session.get_inputs()])
print([(o.name, o.type, o.shape) for o in session.get_outputs()])

# %%
# The same numbers
# ----------------
# 100,000 rows drawn from the test wines, each feature moved by up to a
# tenth of its spread so that the rows differ. skann predicts in float64;
# the float32 graph rounds the weights and every step to float32, so the
# two differ by about float32's precision, 1e-7 of the values; the float64
# graph differs only in the order of the sums.
rng = np.random.RandomState(0)
rows = X_test[rng.randint(len(X_test), size=100_000)]
rows = rows + 0.1 * X_train.std(axis=0) * rng.uniform(-1, 1, size=rows.shape)
rows32 = rows.astype(np.float32)

expected = pipeline.predict(rows32)
(got,) = session.run(None, {"X": rows32})
(got64,) = session64.run(None, {"X": rows})
print(f"quality predicted: {expected.min():.2f} to {expected.max():.2f}")
print(f"float32 graph: max abs difference {np.max(np.abs(got[:, 0] - expected)):.1e}")
diff64 = np.max(np.abs(got64[:, 0] - pipeline.predict(rows)))
print(f"float64 graph: max abs difference {diff64:.1e}")

# %%
# The time
# --------
# The best of five runs of each on the 100,000 rows, on the machine that
# built this page. Both use all its cores: skann through NumPy's BLAS,
# ONNX Runtime through its own thread pool.
from time import perf_counter


def best_time(predict, repeat=5):
    times = []
    for _ in range(repeat):
        start = perf_counter()
        predict()
        times.append(perf_counter() - start)
    return min(times)


timings = {
    "skann (float64)": best_time(lambda: pipeline.predict(rows)),
    "ONNX Runtime float32": best_time(lambda: session.run(None, {"X": rows32})),
    "ONNX Runtime float64": best_time(lambda: session64.run(None, {"X": rows})),
}
for name, seconds in timings.items():
    print(f"{name:21s} {1000 * seconds:7.1f} ms")

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 2.5), layout="constrained")
names = list(timings)
ax.barh(names, [1000 * timings[name] for name in names], color="tab:blue")
ax.invert_yaxis()
ax.set_xlabel("milliseconds to predict 100,000 wines")
ax.set_title("The pipeline in skann and in ONNX Runtime")
plt.show()
