"""Tests of skann on Dask: grid searches on a LocalCluster, BLAS, out-of-core."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import pytest
from conftest import load_wine_sample
from joblib import parallel_config
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone

from skann import ANNRegressor
from skann.compare import (
    ARTICLE_ROWS,
    BEYOND,
    ESTIMATORS,
    PARITY_PAIR,
    main,
    run_comparison,
)
from skann.compare._grid import grid_search

INSTALL = "pip install 'skann[dask]' (CI installs it)"
dask = pytest.importorskip("dask", reason=f"needs dask: {INSTALL}")
da = pytest.importorskip("dask.array", reason=f"needs dask[array]: {INSTALL}")
distributed = pytest.importorskip("distributed", reason=f"needs distributed: {INSTALL}")

# Only importable with distributed; the module is skipped above without it.
from skann.compare._dask import (
    _blas_info,
    _one_blas_thread,
    dask_backend,
)


@pytest.fixture(scope="module")
def cluster():
    """Two in-process workers of one thread each: real Dask, fast to start."""
    with distributed.LocalCluster(
        processes=False, n_workers=2, threads_per_worker=1, dashboard_address=":0"
    ) as cluster:
        yield cluster


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster) as client:
        yield client


def _blas_threads(client):
    return {
        address: [lib["num_threads"] for lib in libs]
        for address, libs in client.run(_blas_info).items()
    }


@pytest.mark.parametrize("name", ESTIMATORS)
def test_grid_search_on_dask_gives_the_local_results(name, client):
    """The compare's grid search, 2 rows x 2 folds, on Dask and with n_jobs=1."""
    X, y = load_wine_sample("red")
    numbers = [2, 8]  # row 2 diverges: NaN must come back as NaN too
    rows = [ARTICLE_ROWS[n - 1] for n in numbers]
    kwargs = {"max_iter": 20, "n_folds": 2}
    local = grid_search(name, rows, numbers, X, y, n_jobs=1, **kwargs)
    with parallel_config(backend="dask"):
        on_dask = grid_search(name, rows, numbers, X, y, n_jobs=-1, **kwargs)
    assert_array_equal(on_dask.cv_rmse, local.cv_rmse)
    # Row 2 diverges for plain skann and MLPRegressor; the stabilisers
    # rescue it.
    assert np.isnan(local.cv_rmse[0]) == (name in PARITY_PAIR)
    assert np.isfinite(local.cv_rmse[1])
    assert on_dask.n_diverged == local.n_diverged
    assert local.n_diverged == ([2, 0] if name in PARITY_PAIR else [0, 0])
    assert on_dask.best_number == local.best_number == 8
    assert on_dask.test_rmse == local.test_rmse


def test_run_comparison_on_a_scheduler_matches_the_local_run(
    cluster, wine_sample_data_home, capsys
):
    kwargs = {"rows": "8", "quick": True, "grid": True}
    kwargs["data_home"] = wine_sample_data_home
    local = run_comparison("red", **kwargs)
    on_dask = run_comparison(
        "red", dask=cluster.scheduler_address, verbose=True, **kwargs
    )
    for name in ESTIMATORS:
        ours, theirs = on_dask.colors[0].grid[name], local.colors[0].grid[name]
        assert_array_equal(ours.cv_rmse, theirs.cv_rmse)
        assert ours.test_rmse == theirs.test_rmse
    assert on_dask.dask.scheduler == cluster.scheduler_address
    assert (on_dask.dask.workers, on_dask.dask.threads) == (2, 2)
    assert local.dask is None
    err = capsys.readouterr().err
    assert (
        f"Grid searches on Dask: the scheduler at {cluster.scheduler_address} "
        "of 2 workers (2 threads)."
    ) in err
    # The bar counts the grid's fits, which ran on the workers, to the end:
    # one row, seed and fit per estimator, one fit per model beyond the
    # table, then five folds and a refit per estimator.
    n_fits = 7 * len(ESTIMATORS) + len(BEYOND)
    assert err.count(f"[red] {n_fits}/{n_fits} fits (100%)") == 1
    assert "[Parallel(" not in err


def test_command_line_scheduler_option(cluster, wine_sample_data_home, capsys):
    address = cluster.scheduler_address
    status = main(
        [
            "compare",
            "--quick",
            "--rows",
            "8",
            "--grid",
            "--scheduler",
            address,
            "--data-home",
            str(wine_sample_data_home),
        ]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert f"--grid --scheduler {address} --max-iter 30" in out


def test_command_line_unreachable_scheduler(wine_sample_data_home, capsys):
    """An address where no scheduler listens fails with one line, exit 1."""
    argv = ["compare", "--quick", "--grid", "--scheduler", "tcp://127.0.0.1:9"]
    argv += ["--data-home", str(wine_sample_data_home)]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        status = main(argv)
    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "skann compare: error: the Dask scheduler at tcp://127.0.0.1:9 cannot be used"
    )


def test_workers_blas_held_to_one_thread_for_the_run(client):
    """skann sizes its row-group threads by BLAS: a worker's one task per
    thread must see one BLAS thread, and get its own count back after."""
    before = _blas_threads(client)
    with _one_blas_thread(client) as n_limited:
        during = _blas_threads(client)
    assert all(threads == [1] * len(threads) for threads in during.values())
    assert n_limited == sum(max(t, default=1) > 1 for t in before.values())
    assert _blas_threads(client) == before


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_in_a_worker_equals_the_local_fit(client):
    X, y = load_wine_sample("white")
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    model = ANNRegressor(hidden_layer_sizes=(20, 10), max_iter=20, random_state=0)
    local = clone(model).fit(X, y)
    remote = client.submit(clone(model).fit, X, y, pure=False).result()
    for ours, theirs in zip(remote.coefs_, local.coefs_, strict=True):
        assert_array_equal(ours, theirs)


def test_dask_backend_local_cluster_of_processes():
    """``--dask``: a LocalCluster of worker processes, one thread each."""
    with dask_backend(n_workers=1) as info:
        assert (info.scheduler, info.workers, info.threads) == (None, 1, 1)
        # The Nanny starts the worker with OPENBLAS_NUM_THREADS=1.
        assert info.blas_limited == 0
        assert info.describe() == "a LocalCluster of 1 worker (1 thread)"


def train_out_of_core(model, X, y, n_passes=5, random_state=0):
    """The user guide's loop: ``partial_fit`` on one block of rows at a time."""
    # Standardise with statistics computed by dask, block by block.
    mean, std = dask.compute(X.mean(axis=0), X.std(axis=0))
    rng = np.random.RandomState(random_state)
    for _ in range(n_passes):
        for i in rng.permutation(X.numblocks[0]):
            X_block, y_block = dask.compute(X.blocks[i], y.blocks[i])
            model.partial_fit((X_block - mean) / std, y_block)
    return model, mean, std


def test_out_of_core_partial_fit_over_the_blocks_of_a_dask_array():
    rng = np.random.RandomState(0)
    X = rng.randn(2000, 5)
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.randn(2000)
    dX, dy = da.from_array(X, chunks=(500, 5)), da.from_array(y, chunks=500)
    assert dX.numblocks == (4, 1)
    model = ANNRegressor(hidden_layer_sizes=(20,), learning_rate=1e-2, random_state=0)
    model, mean, std = train_out_of_core(model, dX, dy, n_passes=5)
    # One epoch per block: the loss of each pass, averaged over its blocks.
    per_pass = np.reshape(model.loss_curve_, (5, 4)).mean(axis=1)
    assert np.all(np.diff(per_pass) < 0)
    assert per_pass[-1] < 0.5 * per_pass[0]
    assert_allclose(mean, X.mean(axis=0))
    assert model.score((X - mean) / std, y) > 0.5
