"""The retrieval head (``n_neighbors``): search, context, attention and gate."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from skann._core.neighbors import DISTANCE_OFFSET
from skann._core.retrieval_layers import _EPS as _LINK_OFFSET

# Retrieval (``n_neighbors``). A squared distance at most this fraction of
# |q|^2 + |m|^2 is cancellation noise and counts as zero, as in skann's
# search (skann._core.neighbors.nearest).
_ZERO_DISTANCE = 1e-10
# The links from the neighbours' vote to the raw output that convert.
_RETRIEVAL_LINKS = ("identity", "log", "logit")
# The first opset whose TopK takes ``largest`` (smallest distances first).
_TOPK_OPSET = 11


def _is_retrieving(model, graph):
    """Whether the model retrieves (``n_neighbors``); refuses what cannot convert."""
    spec = getattr(model, "_fitted_spec", None) or {}
    n_neighbors = spec.get("n_neighbors") or 0
    if not n_neighbors:
        return False
    if getattr(model, "_memory", None) is None:
        raise ValueError(
            f"The model was fitted with n_neighbors={n_neighbors} but holds no "
            "memory of training rows to retrieve from; it cannot be converted. "
            "Fit it again."
        )
    link = spec.get("retrieval_link", "identity")
    if link not in _RETRIEVAL_LINKS:
        raise NotImplementedError(
            f"skann.onnx cannot convert the retrieval link {link!r} of the "
            f"model's n_neighbors={n_neighbors} head: it knows "
            f"{', '.join(map(repr, _RETRIEVAL_LINKS))}. Update skann."
        )
    if graph.opset < _TOPK_OPSET:
        raise ValueError(
            f"n_neighbors={n_neighbors}: the graph finds the nearest training "
            "rows with TopK(largest=0), which needs opset "
            f"{_TOPK_OPSET} or later; to_onnx was asked for opset "
            f"{graph.opset}. Convert with target_opset={_TOPK_OPSET} or later."
        )
    return True


def _add_retrieval(graph, model, X, h, f, output=None):
    """The retrieval head after the output layer, as skann predicts it.

    ``X`` is the network's input (the query rows), ``h`` the last hidden
    layer's output and ``f`` the output layer's. The nodes, named
    ``retrieval_<role>``:

    - the search: the squared distances ``|q|^2 + |m|^2 - 2 q m^T`` from each
      query row to every row of the memory (an initializer), those within
      ``1e-10 (|q|^2 + |m|^2)`` of zero set to zero, and the ``k`` smallest
      per row by TopK, which on ties keeps the lower memory index first, as
      skann does. The search is in double precision unless both the graph
      and the fitted model are in single precision: skann's search computes
      in the wider of the two types. The distance matrix is n_query by
      n_memory, evaluated whole;
    - the context: the neighbours' distances divided by the number of
      features ``d``, their log sample weights and targets (Gather), and the
      trust features ``log(1e-3 + d_nearest)`` and ``log(1e-3 + mean d)``,
      standardised; rounded, as skann's context is, to the narrower of the
      graph's type and the memory's;
    - the head: attention ``softmax(-exp(t) d + log w)``, the vote
      ``v = a Y``, its link ``m``, the gate ``g = sigmoid(h Wg + z Cg + bg)``
      and the output ``f + g (m - f)``.

    Two steps are written in a form that is the same function with less
    rounding in a float graph: the attention logits are shifted by the
    nearest distance, ``-exp(t) (d - d_nearest)``, which softmax ignores,
    and the logit link's share of negatives ``1 - v`` is the attended vote
    of ``1 - Y``. Returns the name of the output.
    """
    memory, spec = model._memory, model._fitted_spec
    M = np.asarray(memory["X"])
    n_memory, n_features = M.shape
    k = min(int(spec["n_neighbors"]), n_memory)
    search = np.result_type(graph.dtype, M.dtype)
    d2, index = _add_search(graph, X, M, k, search)
    d, nearest, z, Y = _add_context(graph, model, d2, index, search, n_features)
    attention = _add_attention(graph, model, d, nearest, index)
    m = _add_vote(graph, spec.get("retrieval_link", "identity"), attention, Y)
    return _add_gate(graph, model, h, z, m, f, output)


def _add_search(graph, X, M, k, search):
    """The ``k`` memory rows ``M`` nearest each query row of ``X``.

    The squared distances are computed in the type ``search``. Returns the
    names of the neighbours' squared distances (in ``search``, nearest
    first) and of their indices in the memory.
    """
    dtype = graph.dtype
    Q = graph.cast(X, dtype, search, "retrieval_query")
    squares = graph.node("Mul", [Q, Q], "retrieval_query_squares")
    qq = graph.reduce("ReduceSum", squares, 1, "retrieval_query_norms")
    mm = graph.constant(
        "retrieval_memory_norms",
        np.einsum("ij,ij->i", M, M, dtype=search),
        dtype=search,
    )
    # Gemm computes alpha A B^T + C: |q|^2 - 2 q m^T, then + |m|^2.
    cross = graph.node(
        "Gemm",
        [Q, graph.constant("retrieval_memory", M, dtype=search), qq],
        "retrieval_products",
        alpha=-2.0,
        transB=1,
    )
    D = graph.node("Add", [cross, mm], "retrieval_distances")
    norms = graph.node("Add", [qq, mm], "retrieval_norm_sums")
    threshold = graph.node(
        "Mul",
        [norms, graph.constant("retrieval_zero_factor", _ZERO_DISTANCE, search)],
        "retrieval_zero_threshold",
    )
    above = graph.node("Greater", [D, threshold], "retrieval_above_zero")
    D = graph.node(
        "Where",
        [above, D, graph.constant("retrieval_zero", 0.0, search)],
        "retrieval_snapped_distances",
    )
    d2, index = graph.node_outputs(
        "TopK",
        [D, graph.constant("retrieval_k", [k], dtype=np.int64)],
        "retrieval_topk",
        ["retrieval_neighbour_distances", "retrieval_neighbours"],
        axis=1,
        largest=0,
        sorted=1,
    )
    return d2, index


def _add_context(graph, model, d2, index, search, n_features):
    """The neighbours' context, from their squared distances ``d2`` (in ``search``).

    Returns the names of the distances divided by ``n_features``, the
    nearest of them, the standardised trust features and the neighbours'
    targets: ``(d, nearest, z, Y)``.
    """
    memory = model._memory
    dtype = graph.dtype
    d2 = graph.cast(d2, search, dtype, "retrieval_distances_cast")
    d = graph.node(
        "Div",
        [d2, graph.constant("retrieval_n_features", float(n_features))],
        "retrieval_scaled_distances",
    )
    first = graph.constant("retrieval_first", [0], dtype=np.int64)
    nearest = graph.node("Gather", [d, first], "retrieval_nearest_distance", axis=1)
    mean = graph.reduce("ReduceMean", d, 1, "retrieval_mean_distance")
    trust = graph.node("Concat", [nearest, mean], "retrieval_trust_distances", axis=1)
    trust = graph.node(
        "Add",
        [trust, graph.constant("retrieval_distance_offset", DISTANCE_OFFSET)],
        "retrieval_trust_offset",
    )
    trust = graph.node("Log", [trust], "retrieval_trust")
    # skann's context is in the memory's type: a double graph of a model
    # fitted on float32 rows rounds the distances and trust features to it.
    context = np.dtype(memory["Y"].dtype)
    if context.itemsize < dtype.itemsize:
        d = graph.cast(
            graph.cast(d, dtype, context, "retrieval_context_distances"),
            context,
            dtype,
            "retrieval_rounded_distances",
        )
        nearest = graph.node("Gather", [d, first], "retrieval_rounded_nearest", axis=1)
        trust = graph.cast(
            graph.cast(trust, dtype, context, "retrieval_context_trust"),
            context,
            dtype,
            "retrieval_rounded_trust",
        )
    z = graph.node(
        "Sub",
        [
            trust,
            graph.constant("retrieval_trust_means", model.retrieval_trust_means_[0]),
        ],
        "retrieval_trust_centred",
    )
    z = graph.node(
        "Div",
        [z, graph.constant("retrieval_trust_scales", model.retrieval_trust_scales_[0])],
        "retrieval_trust_standardised",
    )
    Y = graph.node(
        "Gather",
        [graph.constant("retrieval_memory_targets", memory["Y"]), index],
        "retrieval_neighbour_targets",
        axis=0,
    )
    return d, nearest, z, Y


def _add_attention(graph, model, d, nearest, index):
    """The attention ``softmax(-exp(t) (d - d_nearest) + log w)`` over the neighbours.

    Returns its name, with a trailing axis of length 1 to weight the
    neighbours' targets.
    """
    memory = model._memory
    gaps = graph.node("Sub", [d, nearest], "retrieval_distance_gaps")
    beta = np.exp(np.asarray(model.retrieval_temperature_[0], np.float64)[0])
    logits = graph.node(
        "Mul",
        [gaps, graph.constant("retrieval_minus_temperature", -beta)],
        "retrieval_logits",
    )
    if memory["log_weights"] is not None:
        log_weights = graph.node(
            "Gather",
            [
                graph.constant("retrieval_memory_log_weights", memory["log_weights"]),
                index,
            ],
            "retrieval_neighbour_log_weights",
            axis=0,
        )
        logits = graph.node("Add", [logits, log_weights], "retrieval_weighted_logits")
    attention = graph.node("Softmax", [logits], "retrieval_attention", axis=1)
    attention = graph.unsqueeze(attention, 2, "retrieval_attention_column")
    return attention


def _attended(graph, attention, targets, name):
    """The neighbours' ``targets`` weighted by ``attention`` and summed."""
    weighted = graph.node("Mul", [attention, targets], f"{name}_terms")
    return graph.reduce("ReduceSum", weighted, 1, name, keepdims=0)


def _add_vote(graph, link, attention, Y):
    """The vote ``v = a Y`` through the retrieval ``link``: the name of ``m``."""
    vote = _attended(graph, attention, Y, "retrieval_vote")
    if link == "identity":
        return vote
    offset = graph.constant("retrieval_link_offset", _LINK_OFFSET)
    m = graph.node(
        "Log",
        [graph.node("Add", [vote, offset], "retrieval_vote_offset")],
        "retrieval_log_vote",
    )
    if link == "logit":
        complement = graph.node(
            "Sub",
            [graph.constant("retrieval_one", 1.0), Y],
            "retrieval_neighbour_complements",
        )
        rest = _attended(graph, attention, complement, "retrieval_vote_complement")
        rest = graph.node(
            "Log",
            [graph.node("Add", [rest, offset], "retrieval_complement_offset")],
            "retrieval_log_complement",
        )
        m = graph.node("Sub", [m, rest], "retrieval_logit_vote")
    return m


def _add_gate(graph, model, h, z, m, f, output):
    """The gate ``g = sigmoid(h Wg + z Cg + bg)`` and the output ``f + g (m - f)``."""
    u = graph.node(
        "Gemm",
        [
            h,
            graph.constant("retrieval_gate_coefs", model.retrieval_gate_coefs_[0]),
            graph.constant(
                "retrieval_gate_intercepts", model.retrieval_gate_intercepts_[0]
            ),
        ],
        "retrieval_gate_hidden",
    )
    u = graph.node(
        "Gemm",
        [
            z,
            graph.constant(
                "retrieval_gate_trust_coefs", model.retrieval_gate_trust_coefs_[0]
            ),
            u,
        ],
        "retrieval_gate_logits",
    )
    g = graph.node("Sigmoid", [u], "retrieval_gate")
    step = graph.node("Sub", [m, f], "retrieval_vote_minus_output")
    step = graph.node("Mul", [g, step], "retrieval_gated_step")
    return graph.node("Add", [f, step], "retrieval_output", output)
