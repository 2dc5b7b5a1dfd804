"""``narrowrelu bench scale``: oracle fits on a dask cluster at growing sample sizes.

For each ``n``: a fresh ``distributed.LocalCluster`` (``--workers`` processes of
``--threads-per-worker`` threads; or the running cluster at ``--scheduler``), warmed up by a
small fit (imports and compiled kernels loaded in every worker), then
``MomentReLURegressor(n_neurons=k).fit_oracle(teacher, n, backend="dask")`` on a random teacher
(:meth:`narrowrelu.Teacher.random`, noiseless). Printed per ``n``: wall time, time per row and per
row and pass, the passes made, the peak resident memory of every worker process
(``getrusage`` in each worker, so with ``--scheduler`` it covers the worker's whole life) and the
exact relative population MSE :math:`E[(g - f)^2] / \\mathrm{Var} f`. Needs the ``dask`` extra.
"""

import json
import os
import platform
import resource
import time

from ..learner.estimator import MomentReLURegressor
from ..metrics import population_mse, population_variance
from ..teacher import Teacher

DEFAULT_N = (1e6, 3e6, 1e7, 3e7)
WARMUP_ROWS = 20_000


def _peak_rss_bytes():
    """This process's peak resident set size (Linux reports kilobytes, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if platform.system() == "Darwin" else peak * 1024


def scale_record(client, teacher, n, chunk_size, seed=0):
    """One timed oracle fit of ``n`` rows on ``client``'s cluster, and its measurements."""
    start = time.perf_counter()
    model = MomentReLURegressor(n_neurons=teacher.n_neurons, random_state=seed, chunk_size=chunk_size)
    model.fit_oracle(teacher, n, backend="dask")
    seconds = time.perf_counter() - start
    passes = model.n_passes_ + (model.refinement_ or {}).get("n_passes", 0)
    peaks = sorted(client.run(_peak_rss_bytes).values())
    return {
        "n": n,
        "d": teacher.n_features,
        "k": teacher.n_neurons,
        "workers": len(peaks),
        "chunk_size": chunk_size,
        "seconds": seconds,
        "ns_per_row": seconds / n * 1e9,
        "passes": passes,
        "ns_per_row_pass": seconds / (n * passes) * 1e9,
        "peak_worker_mb": [p / 2**20 for p in peaks],
        "relative_mse": population_mse(model, teacher) / population_variance(teacher),
        "timings": model.timings_,
    }


def _cluster(args):
    import distributed

    if args.scheduler:
        return distributed.Client(args.scheduler)
    cluster = distributed.LocalCluster(n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    client.narrowrelu_cluster = cluster
    return client


def _close(client):
    cluster = getattr(client, "narrowrelu_cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def format_row(r):
    peaks = " ".join(f"{p:.0f}" for p in r["peak_worker_mb"])
    return (f"{r['n']:>12.3g}{r['seconds']:>10.1f}{r['ns_per_row']:>10.0f}{r['passes']:>7}"
            f"{r['ns_per_row_pass']:>10.0f}   {peaks:<16}{r['relative_mse']:>11.2e}")


HEADER = f"{'n':>12}{'wall s':>10}{'ns/row':>10}{'passes':>7}{'ns/row/p':>10}   {'peak MB/worker':<16}{'rel MSE':>11}"


def add_parser(commands):
    p = commands.add_parser(
        "scale",
        help="oracle fits on a dask cluster at growing n: wall time, time per row, memory per worker, MSE",
        description="Fit MomentReLURegressor.fit_oracle(..., backend='dask') on a LocalCluster (or the cluster "
        "at --scheduler) at each --n, on a noiseless random teacher; print wall time, time per row, peak "
        "memory per worker and the exact relative MSE. The default sizes take about 10 minutes on 2 cores.",
    )
    p.add_argument("--n", nargs="+", type=float, default=list(DEFAULT_N),
                   help="sample sizes (default: 1e6 3e6 1e7 3e7)")
    p.add_argument("--d", type=int, default=50, help="input dimension (default: 50)")
    p.add_argument("--k", type=int, default=5, help="neurons of the teacher and of the fit (default: 5)")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default: 2)")
    p.add_argument("--threads-per-worker", type=int, default=1, help="threads per worker (default: 1)")
    p.add_argument("--chunk-size", type=int, default=65536, help="rows per block, one task each (default: 65536)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="address of a running dask scheduler (e.g. tcp://host:8786) instead of a LocalCluster")
    p.add_argument("--seed", type=int, default=0, help="teacher and fit seed (default: 0)")
    p.add_argument("--json", metavar="PATH", default="scale.json",
                   help="where to write the records (default: scale.json)")
    p.set_defaults(func=run)
    return p


def run(args, parser):
    try:
        import distributed  # noqa: F401
    except ImportError:
        parser.error("bench scale needs dask.distributed: pip install 'narrowrelu[dask]'")
    if args.k < 1 or args.d < args.k:
        parser.error(f"need 1 <= --k <= --d, got k = {args.k}, d = {args.d}")
    if args.workers < 1 or args.threads_per_worker < 1 or args.chunk_size < 1:
        parser.error("--workers, --threads-per-worker and --chunk-size must be >= 1")
    ns = [int(n) for n in args.n]
    if any(n < 10 * (args.d + args.k + 2) for n in ns):
        parser.error(f"every --n must be at least {10 * (args.d + args.k + 2)} at d = {args.d}, k = {args.k}")
    teacher = Teacher.random(n_features=args.d, n_neurons=args.k, random_state=args.seed)
    records = []
    where = (f"scheduler {args.scheduler}" if args.scheduler
             else f"LocalCluster {args.workers} x {args.threads_per_worker} threads")
    print(f"d = {args.d}, k = {args.k}, chunk {args.chunk_size} rows, " + where)
    print(HEADER)
    print("-" * len(HEADER))
    for n in ns:
        client = _cluster(args)
        try:
            scale_record(client, teacher, max(WARMUP_ROWS, 10 * (args.d + args.k + 2)), args.chunk_size, args.seed)
            record = scale_record(client, teacher, n, args.chunk_size, args.seed)
        finally:
            _close(client)
        records.append(record)
        print(format_row(record), flush=True)
    meta = {"cpu_count": os.cpu_count(), "scheduler": args.scheduler, "workers": args.workers,
            "threads_per_worker": args.threads_per_worker}
    with open(args.json, "w") as fh:
        json.dump({"meta": meta, "records": records}, fh, indent=1)
    print(f"written: {args.json}")
    return 0
