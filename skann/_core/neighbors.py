"""Exact nearest-neighbour search in row blocks, deterministic, for retrieval."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

# Entries of one block of the query-by-memory distance matrix: the search's
# memory beyond its output stays near this many numbers, whatever the sizes.
# Blocks of 2 MiB (float64) stay in the cache across the passes over them:
# 10,000 queries against 2,000 rows (20 features, k = 16) took 113 ms in
# such blocks against 154 ms in blocks of 16 MiB.
BLOCK_ENTRIES = 1 << 18


def memory_norms(M):
    """The squared norms of the memory's rows, as ``nearest`` computes them."""
    return np.einsum("ij,ij->i", M, M)


def nearest(Q, M, k, exclude=None, block_entries=BLOCK_ENTRIES, mm=None):
    """The ``k`` nearest rows of ``M`` to each row of ``Q``, exactly.

    Distances are squared Euclidean, computed as ``|q|^2 + |m|^2 - 2 q.m``
    in blocks of query rows, so no more than about ``block_entries``
    distances exist at once. Distances within rounding of zero count as
    exactly zero, so exact duplicates tie; ties are broken by the memory
    row's index, so the result does not depend on the block size.
    ``exclude`` (an int array, one entry per query row, or None) names a
    memory row each query row must not find: its own row, when the query is
    in the memory (other rows with the same features are found); -1 for
    none.

    ``mm``, the squared norms of ``M``'s rows from ``memory_norms``, saves
    their pass over the memory when its dtype is the distances'.

    Returns ``(index, d2)``, both of shape (n_queries, k), nearest first.
    """
    n_query, n_memory = Q.shape[0], M.shape[0]
    k = min(k, n_memory - (exclude is not None))
    # Squared norms in the distances' dtype: a float32 norm would leave
    # float32 rounding in float64 distances.
    dtype = np.result_type(Q.dtype, M.dtype)
    qq = np.einsum("ij,ij->i", Q, Q, dtype=dtype)
    if mm is None or mm.dtype != dtype:
        mm = np.einsum("ij,ij->i", M, M, dtype=dtype)
    step = max(1, block_entries // max(n_memory, 1))
    index = np.empty((n_query, k), dtype=np.intp)
    d2 = np.empty((n_query, k), dtype=dtype)
    mm_max = mm.max(initial=0.0)
    # -2 q.m as one product: scaling by a power of two is exact, so this is
    # bit for bit -2 (Q M^T), without a pass over each block to scale it;
    # for fewer query rows than features, scaling the blocks costs less.
    scaled = n_query > M.shape[1]
    MT = (-2.0 * M).T if scaled else M.T
    for start in range(0, n_query, step):
        stop = min(start + step, n_query)
        q = qq[start:stop, np.newaxis]
        D = Q[start:stop] @ MT
        if not scaled:
            D *= -2.0
        D += q
        D += mm
        # Cancellation leaves duplicates at a tiny distance, not at zero:
        # distances at most 1e-10 (|q|^2 + |m|^2) count as zero. The few
        # entries below the row's largest such bound are checked exactly,
        # instead of building the bound for every entry. (Flat indices: NumPy
        # finds them in a sixth of the time np.nonzero takes on 2-d input.)
        rows, columns = np.divmod(np.flatnonzero(D <= 1e-10 * (q + mm_max)), n_memory)
        if rows.size:
            snap = D[rows, columns] <= 1e-10 * (q[rows, 0] + mm[columns])
            D[rows[snap], columns[snap]] = 0.0
        if exclude is not None:
            own = exclude[start:stop]
            inside = np.flatnonzero(own >= 0)
            D[inside, own[inside]] = np.inf
        # The k smallest per row; ties at the k-th value by lowest index.
        kth = np.partition(D, k - 1, axis=1)[:, k - 1 : k]
        chosen = D <= kth
        # Every row has at least k such entries: exactly k in all of them
        # unless the block holds more.
        if np.count_nonzero(chosen) > (stop - start) * k:
            tied = np.flatnonzero(chosen.sum(axis=1) > k)
            # More than k rows at or below the k-th distance: keep those
            # below it, then the lowest indices among those at it.
            at = D[tied] == kth[tied]
            below = chosen[tied] & ~at
            room = k - below.sum(axis=1, keepdims=True)
            chosen[tied] = below | (at & (np.cumsum(at, axis=1) <= room))
        columns = (np.flatnonzero(chosen) % n_memory).reshape(stop - start, k)
        # Indexing by row numbers and columns: np.take_along_axis builds the
        # same index arrays with more overhead, most of a one-row query's.
        rows = np.arange(stop - start)[:, np.newaxis]
        distances = D[rows, columns]
        order = np.argsort(distances, axis=1, kind="stable")
        index[start:stop] = columns[rows, order]
        d2[start:stop] = distances[rows, order]
    return index, d2


# Distances are divided by the number of features, and the trust features
# are logs of them offset by this, so a duplicate's zero stays finite.
DISTANCE_OFFSET = 1e-3
N_TRUST_FEATURES = 2


def context_width(k, n_outputs):
    """Columns of a row's retrieval context (see ``context``)."""
    return 2 * k + N_TRUST_FEATURES + k * n_outputs


def context(index, d2, n_features, targets, log_weights=None, X=None):
    """The retrieval context of each query row, as one row of columns.

    For the ``k`` neighbours found (``index``, ``d2`` from ``nearest``): their
    squared distances divided by ``n_features``; the logs of their sample
    weights (zeros without weights); two trust features, the logs of the
    nearest and of the mean distance (plus ``DISTANCE_OFFSET``); and their
    ``targets`` rows, neighbour after neighbour. Returns an array of shape
    (n_queries, ``context_width(k, n_outputs)``) in the targets' dtype, or,
    given the query rows ``X``, those rows followed by their context, in
    ``X``'s dtype.
    """
    n, k = index.shape
    dtype = targets.dtype if X is None else X.dtype
    lead = 0 if X is None else X.shape[1]
    out = np.empty((n, lead + context_width(k, targets.shape[1])), dtype)
    if X is not None:
        out[:, :lead] = X
    # Each group of columns is computed in its own dtype, rounded to the
    # targets' and written into its place: no intermediate arrays to stack.
    scaled = d2 / n_features
    columns = [
        scaled,
        np.zeros_like(scaled) if log_weights is None else log_weights[index],
        np.log(DISTANCE_OFFSET + scaled[:, :1]),
        np.log(DISTANCE_OFFSET + scaled.mean(axis=1, keepdims=True)),
        targets[index].reshape(n, -1),
    ]
    start = lead
    for values in columns:
        stop = start + values.shape[1]
        out[:, start:stop] = values.astype(targets.dtype, copy=False)
        start = stop
    return out
