"""Sweep execution: cells, the resumable cell store, and running jobs locally, in parallel or on dask.

A *cell* is one ``(family, k, n, seed, method)`` and gives one record. A *job* is one fit: the
cells of one ``(family, k, n, seed)`` that a single fitter serves (the raw and refined moment
methods share a fit). Each finished job appends its records to ``cells.jsonl`` at once, so a
killed sweep loses only the fits in flight, and a rerun computes only the missing cells.
"""

import json
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed, parallel_config
from tqdm.auto import tqdm

from ... import __version__
from ...metrics import population_variance
from ...teacher import make_teacher
from ...network import n_parameters
from .._memory import format_bytes, shortfall
from .lock import alive
from .methods import FIT_MEMORY, error_results, fitters_for, method_allowed, run_fitter

CELLS_FILE = "cells.jsonl"
DATA_SEED_OFFSET = 10_000
# seconds to reach a dask scheduler before giving up
DASK_CONNECT_SECONDS = 10


def check_scheduler(address):
    """``None`` when a dask scheduler answers at ``address`` within the timeout, else why not."""
    from distributed import Client

    try:
        with Client(address, set_as_default=False, timeout=DASK_CONNECT_SECONDS):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure to connect is reported the same way
        return (f"cannot reach a dask scheduler at {address!r} within {DASK_CONNECT_SECONDS} s: "
                f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Job:
    """One fit: a fitter on the data of one ``(family, k, n, seed)``, serving ``methods``."""

    family: str
    d: int
    k: int
    n: int
    seed: int
    noise: float
    fitter: str
    methods: tuple

    def cell_keys(self):
        return [cell_key(self.family, self.d, self.k, self.n, self.seed, self.noise, m) for m in self.methods]


def cell_key(family, d, k, n, seed, noise, method):
    """The identity of a cell: every parameter its record depends on."""
    return (family, int(d), int(k), int(n), int(seed), float(noise), method)


def record_key(record):
    return cell_key(record["family"], record["d"], record["k"], record["n"], record["seed"], record["noise"],
                    record["method"])


def grid_size(n_min, n_max, per_decade):
    """The points of :func:`geometric_grid` before rounding to integers (an upper bound on its
    length, known without building it)."""
    return max(int(np.ceil(np.log10(n_max / n_min) * per_decade - 1e-9)), 0) + 1


def geometric_grid(n_min, n_max, per_decade):
    """Integers from ``n_min`` to ``n_max`` (both included), ``per_decade`` per factor of ten."""
    steps = grid_size(n_min, n_max, per_decade) - 1
    grid = np.geomspace(n_min, n_max, steps + 1) if steps else np.array([n_min])
    return sorted({int(round(v)) for v in grid})


def teacher_sizes(families, ks, d):
    """Per family, the distinct ``(teacher k, teacher d)`` that the requested ``ks`` give.

    :func:`narrowrelu.bench.recovery.make_teacher` raises ``close_pair`` to at least two
    neurons, builds ``clusters`` from pairs (``k // 2`` of them) and ``orthonormal`` at
    ``d = k``, so a requested ``k`` may map to another; the sweep runs each teacher once.

    Returns
    -------
    sizes : dict
        ``family -> list of (k_requested, k_teacher, d_teacher)``, unique in ``k_teacher``.
    """
    out = {}
    for family in families:
        seen = {}
        for k in ks:
            t = make_teacher(family, d, k, 0)
            seen.setdefault(t.n_neurons, (k, t.n_neurons, t.n_features))
        out[family] = sorted(seen.values(), key=lambda row: row[1])
    return out


def plan_jobs(families, ks, d, ns, seeds, noise, methods, n_max_gd=None, caps=None):
    """Every job of a sweep (cells grouped by fit), in a fixed shuffled order for load balance.

    With ``n_max_gd``, the capped methods (the GD and MLP ones) have no cell at an n above it;
    ``caps`` (method to its largest n, :func:`~.methods.method_caps`) replaces it when given.
    """
    sizes = teacher_sizes(families, ks, d)
    groups = fitters_for(methods)
    jobs = []
    for family in families:
        for _, k, dk in sizes[family]:
            for n in ns:
                for seed in range(seeds):
                    for fitter, names in groups.items():
                        allowed = tuple(m for m in names if method_allowed(m, n, n_max_gd, caps))
                        if allowed:
                            jobs.append(Job(family, dk, k, int(n), seed, float(noise), fitter, allowed))
    order = np.random.default_rng(0).permutation(len(jobs))
    return [jobs[i] for i in order]


def job_bytes(job):
    """The memory one job will need (:data:`~.methods.FIT_MEMORY`)."""
    return FIT_MEMORY[job.fitter](job.n, job.d, job.k)


def memory_refusal(job, available=None):
    """The error message of a job that needs more memory than is available (``None`` if it fits)."""
    problem = shortfall(job_bytes(job), available)
    return problem and f"MemoryError: not run: the {job.fitter} fit at n={job.n}, d={job.d} {problem}"


def run_job(job, parent_pid=None):
    """Run one job with BLAS and numba pinned to one thread; return its records.

    In a worker process, ``parent_pid`` (the sweep's process) starts a watchdog that ends the
    worker once the sweep is gone, so a killed sweep leaves no worker behind.

    The teacher comes from :func:`~narrowrelu.bench.recovery.make_teacher` with the job's seed;
    the data are ``n`` draws with label noise :math:`\\sigma = \\text{noise}\\cdot\\mathrm{std} f`.
    A job whose memory estimate (:func:`job_bytes`) exceeds the memory available when it starts
    is not run, and one that runs out of memory anyway is recorded as failed: its records carry
    the reason under ``error``. Each record carries the package version under ``version``.
    """
    from threadpoolctl import threadpool_limits

    if parent_pid is not None and parent_pid != os.getpid():
        _watch_parent(parent_pid)
    with threadpool_limits(1), _numba_threads(1):
        teacher = make_teacher(job.family, job.d, job.k, job.seed)
        var = population_variance(teacher)
        sigma = job.noise * np.sqrt(var)
        refusal = memory_refusal(job)
        try:
            if refusal:
                raise MemoryError(refusal)
            X, y = teacher.with_noise(sigma).sample(job.n, random_state=DATA_SEED_OFFSET + job.seed)
            results = run_fitter(job.fitter, job.methods, teacher, X, y, job.seed)
        except MemoryError as exc:
            results = error_results(job.methods, refusal or f"MemoryError: drawing {job.n} rows of {job.d} "
                                    f"features ({format_bytes(8 * job.n * job.d)}) failed: {exc}")
    d, k = teacher.n_features, teacher.n_neurons
    p = n_parameters(k, d, biased=teacher.has_biases)
    rate = sigma**2 * p / job.n
    records = []
    for method in job.methods:
        r = results[method]
        records.append(
            {
                "family": job.family, "d": d, "k": k, "n": job.n, "seed": job.seed, "noise": job.noise,
                "method": method, "width": r["width"], "var_f": var, "sigma": sigma,
                "mse": r["mse"], "mse_stderr": r["mse_stderr"], "rel_mse": r["mse"] / var,
                "scoring": r["scoring"], "parametric_rate": rate, "n_params": p,
                "mse_over_rate": r["mse"] / rate if rate > 0 else None,
                "fit_seconds": r["fit_seconds"], "converged": r["converged"], "error": r["error"],
                "version": __version__,
            }
        )
    return records


_WATCHDOG = []


def _watch_parent(parent_pid, period=1.0):
    """Once per worker: a daemon thread that exits the process when ``parent_pid`` dies."""
    if _WATCHDOG:
        return
    first_ppid = os.getppid()

    def watch():
        while True:
            time.sleep(period)
            if os.getppid() != first_ppid or not alive(parent_pid):
                os._exit(1)

    _WATCHDOG.append(threading.Thread(target=watch, daemon=True, name="narrowrelu-parent-watchdog"))
    _WATCHDOG[0].start()


@contextmanager
def _numba_threads(n):
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(before)


class CellStore:
    """The records of finished cells, one JSON line each in ``DIR/cells.jsonl``.

    Appends are flushed line by line. On reading, a line that is not valid UTF-8 JSON of a
    record (cut short by a kill, corrupted, or of the wrong types) is skipped and counted in
    ``skipped``; its cell is computed again.
    """

    def __init__(self, directory):
        self.path = os.path.join(directory, CELLS_FILE)
        self.skipped = 0

    def load(self):
        """Every stored record, the last one winning when a cell appears twice."""
        records = {}
        self.skipped = 0
        if not os.path.exists(self.path):
            return records
        with open(self.path, "rb") as fh:
            for raw in fh:
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw.decode("utf-8"))
                    key = record_key(rec)
                    if not isinstance(rec["method"], str) or not isinstance(rec.get("error"), (str, type(None))):
                        raise TypeError("bad field types")
                    float(rec["mse"])
                    records[key] = rec
                except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError):
                    self.skipped += 1
        return records

    def append(self, records):
        """Append ``records``, first ending a line cut short by a kill so that no record joins it."""
        if os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            with open(self.path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    with open(self.path, "a") as out:
                        out.write("\n")
        with open(self.path, "a") as fh:
            for rec in records:
                fh.write(json.dumps(rec, allow_nan=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def pending_jobs(jobs, stored, retry_failed=False):
    """The jobs with at least one cell missing from ``stored`` (or stored as failed, with
    ``retry_failed``), narrowed to those methods."""
    out = []
    for job in jobs:
        missing = tuple(m for m, key in zip(job.methods, job.cell_keys())
                        if key not in stored or (retry_failed and stored[key].get("error")))
        if missing:
            out.append(Job(job.family, job.d, job.k, job.n, job.seed, job.noise, job.fitter, missing))
    return out


def execute(jobs, store, n_jobs=1, dask_scheduler=None, progress=True):
    """Run ``jobs``, appending each one's records to ``store`` as it finishes.

    Parameters
    ----------
    jobs : list of Job
    store : CellStore
    n_jobs : int, default=1
        Parallel workers (joblib, processes); ignored with ``dask_scheduler``.
    dask_scheduler : str or None, default=None
        Address of a running dask scheduler; jobs go to its workers through joblib's dask backend.
    progress : bool, default=True
        Show a tqdm bar with ETA on stderr.

    Returns
    -------
    records : list of dict
        The records computed in this call.
    seconds : float
        Wall-clock time.
    """
    start = time.perf_counter()
    done = []
    if not jobs:
        return done, 0.0
    bar = tqdm(total=len(jobs), desc="sample-complexity fits", unit="fit", disable=not progress)
    with _backend(n_jobs, dask_scheduler) as parallel:
        pid = os.getpid() if dask_scheduler is None else None
        results = ((run_job(job) for job in jobs) if parallel is None
                   else parallel(delayed(run_job)(j, pid) for j in jobs))
        for records in results:
            store.append(records)
            done.extend(records)
            bar.update(1)
    bar.close()
    return done, time.perf_counter() - start


@contextmanager
def _backend(n_jobs, dask_scheduler):
    if dask_scheduler is not None:
        from distributed import Client

        with Client(dask_scheduler, set_as_default=False, timeout=DASK_CONNECT_SECONDS) as client:
            n_workers = max(sum(client.nthreads().values()), 1)
            with parallel_config("dask", scheduler_host=dask_scheduler):
                yield Parallel(n_jobs=n_workers, return_as="generator_unordered", pre_dispatch="all")
        return
    if n_jobs == 1:
        yield None
        return
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    with _environ(env), parallel_config("loky", inner_max_num_threads=1):
        # max_nbytes=None: jobs are small, so no memmapped folder in /dev/shm to outlive a kill
        yield Parallel(n_jobs=n_jobs, return_as="generator_unordered", max_nbytes=None)


@contextmanager
def _environ(values):
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

