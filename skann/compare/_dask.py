"""Grid searches on Dask: a cluster for the run, joblib's Dask backend, BLAS limits."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import asyncio
import os
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from joblib import parallel_config

INSTALL_DASK = "install them with pip install 'skann[dask]'"
# How long a scheduler given by address may take to show a first worker.
WORKER_WAIT_SECONDS = 60


class DaskUnavailable(ImportError):
    """dask or distributed cannot be imported; the message says how to get them."""


class SchedulerUnavailable(OSError):
    """The Dask scheduler given by address cannot be reached or has no worker."""


def check_dask():
    """Raise :class:`DaskUnavailable` unless dask and distributed import."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise DaskUnavailable(
            f"needs dask and distributed ({exc.name or exc} is missing); {INSTALL_DASK}"
        ) from exc


@dataclass(frozen=True)
class DaskInfo:
    """Where the grid searches ran: the scheduler and its workers.

    ``scheduler`` is None for the LocalCluster the comparison started itself;
    ``blas_limited`` counts the workers whose BLAS had more than one thread
    and was held to one during the run.
    """

    scheduler: str | None
    workers: int
    threads: int
    blas_limited: int = 0

    def describe(self):
        """``"a LocalCluster of 2 workers (2 threads)"`` or the scheduler's."""
        where = (
            "a LocalCluster"
            if self.scheduler is None
            else f"the scheduler at {self.scheduler}"
        )
        workers = f"{self.workers} worker{'s' if self.workers != 1 else ''}"
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"{where} of {workers} ({threads})"


def _blas_info():
    """On a worker: the loaded BLAS libraries and their thread counts."""
    from threadpoolctl import threadpool_info

    return [lib for lib in threadpool_info() if lib["user_api"] == "blas"]


def _limit_blas(limits):
    """On a worker: set BLAS's threads to ``limits``, an int or ``_blas_info()``.

    ``client.run`` calls this on the worker's event-loop thread both to limit
    and to restore, so threadpoolctl sees the same controlling thread.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=limits, user_api="blas")


@contextmanager
def _one_blas_thread(client):
    """Hold BLAS to one thread on every worker that has more, then restore.

    skann's fits run their own threads, as many as BLAS has when the first
    fit starts; a worker already runs one task per thread, so more would
    oversubscribe its cores. A Nanny (``dask worker``, a process-based
    LocalCluster) starts its worker with OMP/MKL/OPENBLAS_NUM_THREADS=1 and
    this does nothing; workers without one get the limit for the run.
    """
    before = client.run(_blas_info)
    wide = {
        address: libs
        for address, libs in before.items()
        if max((lib["num_threads"] for lib in libs), default=1) > 1
    }
    if wide:
        client.run(_limit_blas, 1, workers=list(wide))
    try:
        yield len(wide)
    finally:
        for address, libs in wide.items():
            client.run(_limit_blas, libs, workers=[address])


def _unusable(scheduler, exc):
    return SchedulerUnavailable(
        f"the Dask scheduler at {scheduler} cannot be used: {exc or type(exc).__name__}"
    )


def _current_client(Client):
    """The client Dask computes with now, or None."""
    try:
        return Client.current(allow_global=True)
    except ValueError:
        return None


def _close_half_started(Client, existing):
    """Close the client a failed ``Client(address)`` left behind.

    A ``Client`` makes itself the default, and Dask's default scheduler
    ``"dask.distributed"``, before it connects, and undoes both in ``close``;
    when connecting fails nobody holds the client to close it, and every later
    Dask computation of the process would look for it. ``existing`` is the
    client that was current before, left alone.
    """
    left = _current_client(Client)
    if left is not None and left is not existing:
        left.close()


@contextmanager
def dask_backend(scheduler=None, n_workers=None):
    """Run joblib (and so ``GridSearchCV``) on Dask inside the block.

    Parameters
    ----------
    scheduler : str, default=None
        Address of a running scheduler; None starts a process-based
        ``LocalCluster`` of ``n_workers`` workers of one thread each.

    n_workers : int, default=None
        Workers of that LocalCluster; None means one per core.

    Yields
    ------
    info : DaskInfo
        The cluster the block runs on.
    """
    check_dask()
    import dask
    from distributed import Client, LocalCluster

    with ExitStack() as stack:
        # A Client sets dask's scheduler option when it starts and restores it
        # when closed: one that fails to connect keeps it until it is garbage
        # collected, and dask.compute would meanwhile look for a Client. The
        # option is restored on leaving the block, whatever happens.
        stack.enter_context(
            dask.config.set(scheduler=dask.config.get("scheduler", None))
        )
        if scheduler is None:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=n_workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    # Any free port: a fixed one may be another cluster's.
                    dashboard_address=":0",
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            existing = _current_client(Client)
            try:
                client = Client(scheduler)
            except ValueError as exc:
                # distributed parses the address only when it connects.
                _close_half_started(Client, existing)
                raise SchedulerUnavailable(
                    f"{scheduler!r} is not a Dask scheduler address ({exc}); "
                    "give one such as tcp://10.0.0.5:8786"
                ) from exc
            except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
                _close_half_started(Client, existing)
                raise _unusable(scheduler, exc) from exc
            stack.enter_context(client)
            try:
                client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
            except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
                raise _unusable(scheduler, exc) from exc
        nthreads = client.nthreads()
        blas_limited = stack.enter_context(_one_blas_thread(client))
        stack.enter_context(parallel_config(backend="dask"))
        yield DaskInfo(
            scheduler=scheduler,
            workers=len(nthreads),
            threads=sum(nthreads.values()),
            blas_limited=blas_limited,
        )
