"""Threads: the ``n_jobs`` parameter, an ordered parallel map (results in input order, so sums
built from them do not depend on the thread count), and BLAS pinned to one thread."""

import os
from concurrent.futures import ThreadPoolExecutor

from threadpoolctl import ThreadpoolController

from ._params import Integer, Options

# n_jobs: a thread count, or -1 for every core
N_JOBS_CONSTRAINT = (Integer(1), Options(-1))
_CONTROLLER = []


def resolve_n_jobs(n_jobs):
    """``-1`` -> every core; any other value as it is."""
    return (os.cpu_count() or 1) if n_jobs == -1 else n_jobs


def one_blas_thread():
    """BLAS limited to one thread (in a dask task, as on the client: sums do not depend on the
    thread count); the libraries are looked up once per process (a lookup costs milliseconds)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def ordered_map(fn, items, n_jobs):
    """``map(fn, items)`` with results in input order, at most ``2 * n_jobs`` in flight."""
    if n_jobs == 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        pending = []
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * n_jobs:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()
