"""``narrowrelu bench perf``: the performance suite (speed as ratios, memory, thread and compile cost).

Every speed is a ratio to a reference measured in the same run, on the same machine state:

* in-memory work is divided by the time of ``X.T @ X`` on the same array (one BLAS thread);
* oracle mode is divided by the time needed just to draw its Gaussian inputs, in the same
  chunks, once per pass the fit made over its stream.

Sections (``--skip`` leaves any of them out):

``fit``
    what a user runs first: the DEFAULT fit of :class:`narrowrelu.MomentReLURegressor`
    (``refine=True``, every default), on planted data with label noise ``--noise`` (0.1 std f),
    at two sizes: ``--n x --d x --k`` (target: total <= 12 ``X.T @ X``) and
    ``--n2 x --d2 x --k2`` (records ``fit2.*``, target <= 15), one fit per seed (``--seeds``).
    Reported beside the total: each moment stage, the refinement (on all rows) with its
    iterations and passes, and the median over seeds of the excess MSE over the parametric
    rate :math:`\\sigma^2p/n`, raw and refined (target <= 1.1). And the same call without k
    (``n_neurons=None``) on the same data just before it: ``fit.auto_total``, its time over the
    told fit's (``fit.auto_over_told``, median over seeds, target <= 3) and its excess. Two small
    untimed fits come first (``warm_up.fits``), so that no timed fit pays for a kernel's first
    call (compilation, or a load from numba's cache: the ``compile`` section).
``contraction``
    one order-4 ``d x d`` implicit contraction (:func:`narrowrelu.hermite_moment_contraction`,
    one direction); target ratio <= 1.2.
``oracle``
    ``fit_oracle`` (moment stages, ``refine=False``) at ``--oracle-n`` x ``--oracle-d`` in a child
    process, so that its peak resident memory is its own (target < 1024 MB), and its throughput
    against the sampling time (target ratio <= 1.5).
``threads``
    two threads (``n_jobs=2``, BLAS and numba at 2) against one, on the contraction and the
    default fit: speed-up, and the results must be bit-identical.
``compile``
    a first default fit in a fresh process with an empty ``NUMBA_CACHE_DIR``, then with that
    cache warm: the import time (the kernels have explicit signatures, so numba compiles them at
    import) and the first fit's time minus an identical second fit's.

Plain runs report; ``--check`` also exits with status 1 and names every record that misses its
target.
"""

import json
import sys

from threadpoolctl import threadpool_limits

from .._args import check_output_file, count, integer, real
from .measure import best_time, planted_data, record, set_threads
from .sections import (
    CONTRACTION_TARGET,
    EXCESS_TARGET,
    ORACLE_RSS_TARGET_MB,
    ORACLE_THROUGHPUT_TARGET,
    RAW_MSE_TARGET,
    STAGES,
    _child_main,
    compile_section,
    contraction_section,
    fit_section,
    oracle_section,
    threads_section,
    warm_up,
)

SECTIONS = ("fit", "contraction", "oracle", "threads", "compile")
FIT_TARGET = 12.0
FIT2_TARGET = 15.0

__all__ = ["CONTRACTION_TARGET", "EXCESS_TARGET", "FIT2_TARGET", "FIT_TARGET", "ORACLE_RSS_TARGET_MB",
           "ORACLE_THROUGHPUT_TARGET", "RAW_MSE_TARGET", "SECTIONS", "STAGES", "_child_main", "run_suite"]


def run_suite(n=1_000_000, d=100, k=5, n2=50_000, d2=200, k2=3, noise=0.1, seeds=(0, 1, 2),
              oracle_n=100_000_000, oracle_d=50, oracle_k=5, repeats=3, compile_n=20_000, compile_d=20,
              chunk_size=65536, skip=(), log=None):
    """Run the sections not in ``skip``; returns the list of records (see :func:`measure.record`)."""
    log = log or (lambda msg: None)
    set_threads(1)
    rows = []
    seed = seeds[0]
    # child processes first, while this process is still small
    if "oracle" not in skip:
        log(f"oracle mode: n={oracle_n:.3g}, d={oracle_d}, k={oracle_k} in a child process")
        rows += oracle_section(oracle_n, oracle_d, oracle_k, seed, chunk_size)
    first = None
    if "fit" not in skip or "threads" not in skip:
        log("warm-up: a small fit without k and one told k, not timed (kernels compiled or loaded)")
        rows.append(warm_up(seed, noise))
        log(f"default fit at n={n:.3g}, d={d}, k={k}, seeds {list(seeds)}")
        fit_rows, first = fit_section((n, d, k, FIT_TARGET), seeds, noise, "fit")
        if "fit" not in skip:
            rows += fit_rows
            log(f"default fit at n={n2:.3g}, d={d2}, k={k2}, seeds {list(seeds)}")
            rows += fit_section((n2, d2, k2, FIT2_TARGET), seeds, noise, "fit2")[0]
    if first is not None:
        X, y = first[3], first[4]
    else:
        _, X, y, _ = planted_data(n, d, k, seed, noise)
    with threadpool_limits(limits=1, user_api="blas"):
        X.T @ X
        ref = best_time(lambda: X.T @ X, repeats)
    rows.insert(0, record("reference.XtX", ref, 1.0, note=f"n={n:.3g}, d={d}, 1 thread, best of {repeats}"))
    if "compile" not in skip:
        log("compile cost: fresh processes with an empty, then warm, NUMBA_CACHE_DIR")
        rows += compile_section(compile_n, compile_d, k, seed, ref)
    if "contraction" not in skip:
        log("order-4 contraction")
        rows += contraction_section(X, y, ref, repeats, seed)
    if "threads" not in skip:
        log("two threads against one")
        rows += threads_section(first, repeats)
    return rows


def failures(rows):
    """Records that miss their target (``ok`` is False)."""
    return [r for r in rows if r["ok"] is False]


def _fmt(x, spec):
    width = int(spec.split(".")[0])
    return f"{'-':>{width}}" if x is None else format(x, spec)


def format_table(rows):
    lines = [f"{'stage':<28}{'seconds':>10}{'ratio':>10}{'target':>10}{'ok':>5}  note"]
    for r in rows:
        ok = "-" if r["ok"] is None else ("yes" if r["ok"] else "NO")
        lines.append(f"{r['name']:<28}{_fmt(r['seconds'], '10.3f')}{_fmt(r['ratio'], '10.3g')}"
                     f"{_fmt(r['target'], '10.3g')}{ok:>5}  {r['note']}")
    return "\n".join(lines)


def describe_failure(r):
    if "peak_rss_mb" in r:
        return f"{r['name']}: peak RSS {r['peak_rss_mb']:.0f} MB, target < {r['target']:.0f} MB"
    if r["target"] is None:
        return f"{r['name']}: {r['note']}"
    return f"{r['name']}: ratio {r['ratio']:.3g}, target <= {r['target']:.3g}"


def add_parser(subparsers):
    p = subparsers.add_parser(
        "perf",
        help="performance suite: ratios to X.T @ X, oracle memory, threads, compile cost",
        description="The performance suite: speed as ratios, memory, thread and compile cost. Speeds are ratios "
        "to references measured in the same run (X.T @ X on the same array; drawing the oracle's inputs). "
        "Sections: fit, contraction, oracle, threads, compile.",
    )
    p.add_argument("--n", type=count(1), default=1e6, help="rows of the first fit's data (default 1e6)")
    p.add_argument("--d", type=count(1), default=100, help="its features (default 100)")
    p.add_argument("--k", type=count(1), default=5, help="its teacher's neurons (default 5)")
    p.add_argument("--n2", type=count(1), default=5e4, help="rows of the second fit's data (default 5e4)")
    p.add_argument("--d2", type=count(1), default=200, help="its features (default 200)")
    p.add_argument("--k2", type=count(1), default=3, help="its teacher's neurons (default 3)")
    p.add_argument("--noise", type=real(0), default=0.1, help="label noise, in units of std f (default 0.1)")
    p.add_argument("--seeds", type=count(1), default=3, help="planted teachers per fit size (default 3)")
    p.add_argument("--oracle-n", type=count(1), default=1e8, help="oracle-mode samples per pass (default 1e8)")
    p.add_argument("--oracle-d", type=count(1), default=50, help="oracle-mode features (default 50)")
    p.add_argument("--oracle-k", type=count(1), default=5, help="oracle-mode neurons (default 5)")
    p.add_argument("--repeats", type=count(1), default=3, help="repeats of the short timings; the best is kept")
    p.add_argument("--compile-n", type=count(1), default=2e4, help="rows of the fits that measure compile cost")
    p.add_argument("--compile-d", type=count(1), default=20,
                   help="features of those fits (compilation does not depend on the sizes; small fits keep it visible)")
    p.add_argument("--chunk-size", type=count(1), default=65536, help="oracle-mode chunk size (the estimator default)")
    p.add_argument("--seed", type=integer(0), default=0)
    p.add_argument("--skip", default="", help=f"comma-separated sections to leave out: {','.join(SECTIONS)}")
    p.add_argument("--json", metavar="PATH", help="write the records as a JSON list")
    p.add_argument("--check", action="store_true", help="exit with status 1 if any record misses its target")
    p.set_defaults(func=run)
    return p


def run(args, parser):
    skip = tuple(s for s in args.skip.split(",") if s)
    bad = [s for s in skip if s not in SECTIONS]
    if bad:
        parser.error(f"--skip: unknown section(s) {', '.join(bad)}; choose from {', '.join(SECTIONS)}")
    if args.k > args.d or args.k2 > args.d2 or args.oracle_k > args.oracle_d:
        parser.error("k must not exceed d")
    check_output_file(args.json, parser)
    rows = run_suite(
        n=int(args.n), d=args.d, k=args.k, n2=int(args.n2), d2=args.d2, k2=args.k2, noise=args.noise,
        seeds=tuple(range(args.seed, args.seed + args.seeds)), oracle_n=int(args.oracle_n), oracle_d=args.oracle_d,
        oracle_k=args.oracle_k, repeats=args.repeats, compile_n=int(args.compile_n), compile_d=args.compile_d,
        chunk_size=args.chunk_size, skip=skip, log=lambda msg: print(f"# {msg}", file=sys.stderr, flush=True),
    )
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    missed = failures(rows)
    if missed:
        print(f"{len(missed)} record(s) miss their target:", file=sys.stderr)
        for r in missed:
            print(f"  {describe_failure(r)}", file=sys.stderr)
        if args.check:
            return 1
    return 0
