"""The converter of a numeric embedding (``numeric_embedding``) to ONNX nodes."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from skann._core.embeddings import PERIODIC, PIECEWISE_LINEAR, bin_encoding


def _embedding_name(model):
    """The fitted model's numeric embedding: None, 'periodic' or 'piecewise_linear'."""
    return getattr(model, "_fitted_spec", {}).get("numeric_embedding")


def _add_embedding(graph, model, X):
    """Nodes from the input ``X`` (n, p) to the embedding's output (n, p d).

    As in skann's layer, the features go first: ``X`` is transposed to
    (p, n, 1); the expansion of each feature is (p, n, m) and one batched
    MatMul with the per-feature weights (p, m, d) maps it, then the bias and
    the ReLU; the result is transposed back to (n, p, d) and flattened to
    (n, p d), feature by feature. Returns the name of the result, or ``X``
    itself for a model without embedding.
    """
    name = _embedding_name(model)
    if name is None:
        return X
    if name not in (PERIODIC, PIECEWISE_LINEAR):
        raise ValueError(
            f"The model's numeric_embedding={name!r} has no ONNX conversion; "
            f"the embeddings that convert are {PERIODIC!r} and "
            f"{PIECEWISE_LINEAR!r}."
        )
    W = np.asarray(model.embedding_coefs_[0], np.float64)
    b = np.asarray(model.embedding_intercepts_[0], np.float64)
    p, _, d = W.shape
    columns = graph.node("Transpose", [X], "embedding_features_first", perm=[1, 0])
    columns = graph.unsqueeze(columns, 2, "embedding_unsqueeze")
    if name == PERIODIC:
        c = np.asarray(model.embedding_frequencies_[0], np.float64)
        # x (2 pi c), as skann computes the phases.
        phases = graph.node(
            "Mul",
            [columns, graph.constant("embedding_frequencies", 2 * np.pi * c[:, None])],
            "embedding_phases",
        )
        E = graph.node(
            "Concat",
            [
                graph.node("Cos", [phases], "embedding_cos"),
                graph.node("Sin", [phases], "embedding_sin"),
            ],
            "embedding_concat",
            axis=2,
        )
    else:
        edges = np.asarray(model.embedding_bin_edges_[0], np.float64)
        lower, inverse, low, high = (a[:, None, :] for a in bin_encoding(edges))
        E = graph.node(
            "Sub", [columns, graph.constant("embedding_lower", lower)], "embedding_sub"
        )
        E = graph.node(
            "Mul", [E, graph.constant("embedding_inverse", inverse)], "embedding_mul"
        )
        E = graph.node(
            "Max", [E, graph.constant("embedding_low", low)], "embedding_max"
        )
        E = graph.node(
            "Min", [E, graph.constant("embedding_high", high)], "embedding_min"
        )
    Z = graph.node("MatMul", [E, graph.constant("embedding_coefs", W)], "embedding_mm")
    Z = graph.node(
        "Add", [Z, graph.constant("embedding_bias", b[:, None, :])], "embedding_add"
    )
    Z = graph.node("Relu", [Z], "embedding_relu")
    Z = graph.node("Transpose", [Z], "embedding_rows_first", perm=[1, 0, 2])
    shape = graph.constant("embedding_shape", [0, p * d], dtype=np.int64)
    return graph.node("Reshape", [Z, shape], "embedding_flatten")
