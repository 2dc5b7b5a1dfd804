"""``narrowrelu bench perf``: the performance suite (speed as ratios, memory, thread and compile cost).

Every speed is a ratio to a reference measured in the same run, on the same machine state:

* in-memory work is divided by the time of ``X.T @ X`` on the same array (one BLAS thread,
  best of ``--repeats``);
* oracle mode is divided by the time needed just to draw its Gaussian inputs, in the same
  chunks, once per pass the fit made over its stream.

Sections (``--skip`` leaves any of them out):

``contraction``
    one order-4 ``d x d`` implicit contraction (:func:`narrowrelu.hermite_moment_contraction`,
    one direction); target ratio <= 1.2.
``fit``
    a full :class:`narrowrelu.MomentReLURegressor` fit at ``k`` with ``refine=False`` (best of
    ``--fit-repeats``): each stage of ``timings_`` and the total (target ratio <= 8), and the raw
    relative population MSE (target <= 1e-3).
``refine``
    the Levenberg–Marquardt refinement of that raw solution alone, on the first
    ``--refine-samples`` rows (the oracle mode's default cap is 200 000 rows), reported only.
``oracle``
    ``fit_oracle`` at ``--oracle-n`` x ``--oracle-d`` in a child process, so that its peak
    resident memory is its own (target < 1024 MB), and its throughput against the sampling time
    (target ratio <= 1.5).
``threads``
    two threads (``n_jobs=2``, BLAS and numba at 2) against one, on the contraction and the
    fit: speed-up, and the results must be bit-identical.
``compile``
    a first fit in a fresh process with an empty ``NUMBA_CACHE_DIR``, then with that cache warm:
    the import time (the kernels have explicit signatures, so numba compiles them at import)
    and the first fit's time minus an identical second fit's (compilation deferred to the first
    call).

Plain runs report; ``--check`` also exits with status 1 and names every record that misses its
target.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits

SECTIONS = ("contraction", "fit", "refine", "oracle", "threads", "compile")
STAGES = ("linear", "second_moment", "products", "projections", "candidates", "regression", "final_regression")

CONTRACTION_TARGET = 1.2
FIT_TARGET = 8.0
RAW_MSE_TARGET = 1e-3
ORACLE_RSS_TARGET_MB = 1024.0
ORACLE_THROUGHPUT_TARGET = 1.5


# ------------------------------------------------------------------ measuring
def best_time(fn, repeats):
    """Best wall time of ``repeats`` calls of ``fn``."""
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def set_threads(n):
    """Numba's thread count (BLAS is set by the caller with threadpoolctl)."""
    import numba

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def record(name, seconds=None, ratio=None, target=None, ok=None, note="", **extra):
    """One result row. ``ok`` is derived from ``ratio <= target`` unless given."""
    if ok is None and target is not None and ratio is not None:
        ok = bool(ratio <= target)
    return {"name": name, "seconds": seconds, "ratio": ratio, "target": target, "ok": ok, "note": note, **extra}


def peak_rss_mb():
    """Peak resident set size of this process in MB: ``VmHWM`` of ``/proc/self/status`` (the
    high-water mark of this process's own address space) when available, else ``ru_maxrss``.

    ``ru_maxrss`` alone can be inherited: Linux carries the pre-``exec`` high-water mark of the
    address space a child was spawned from (the parent's, with ``vfork``) into the child's."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def planted_data(n, d, k, seed):
    from ...teacher import Teacher

    teacher = Teacher.random(d, k, random_state=seed)
    X, y = teacher.sample(n, random_state=seed + 1)
    return teacher, X, y


def _direction(d, seed):
    g = np.random.default_rng(seed).standard_normal(d)
    return g / np.linalg.norm(g)


def _network_arrays(net):
    return (net.hidden_weights, net.output_weights, net.linear_weights, np.atleast_1d(net.intercept))


def same_network(a, b):
    """Bit-identical networks (every weight array ``np.array_equal``)."""
    return all(np.array_equal(u, v) for u, v in zip(_network_arrays(a), _network_arrays(b)))


def relative_mse(network, teacher):
    from ...metrics import population_mse, population_variance

    return float(population_mse(network, teacher) / population_variance(teacher))


def _fit(X, y, k, seed, n_jobs=1, **params):
    from ...learner.estimator import MomentReLURegressor

    model = MomentReLURegressor(n_neurons=k, random_state=seed, refine=False, n_jobs=n_jobs, **params)
    t0 = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - t0


# ------------------------------------------------------------------ sections
def contraction_section(X, y, ref, repeats, seed):
    from ...moments.contraction import hermite_moment_contraction

    g = _direction(X.shape[1], seed)
    with threadpool_limits(limits=1, user_api="blas"):
        hermite_moment_contraction(X[:1000], y[:1000], g, order=4)
        t = best_time(lambda: hermite_moment_contraction(X, y, g, order=4), repeats)
    return [record("contraction.order4", t, t / ref, CONTRACTION_TARGET, note="one direction, d x d")]


def fit_section(X, y, teacher, repeats, seed):
    """Best-of-``repeats`` fit (refine=False); returns the records and the best model.

    The load of a shared machine drifts over a fit's tens of seconds, so each repeat has its own
    reference (``X.T @ X`` timed just before it) and the repeat with the best ratio is kept."""
    best = None
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(repeats):
            local_ref = best_time(lambda: X.T @ X, 2)
            model, seconds = _fit(X, y, teacher.n_neurons, seed)
            if best is None or seconds / local_ref < best[1] / best[2]:
                best = (model, seconds, local_ref)
    model, total, ref = best
    rows = [record(f"fit.{s}", model.timings_.get(s, 0.0), model.timings_.get(s, 0.0) / ref) for s in STAGES]
    other = total - sum(model.timings_.get(s, 0.0) for s in STAGES)
    rows.append(record("fit.other", other, other / ref, note="input validation, set-up"))
    rows.append(record("fit.total", total, total / ref, FIT_TARGET, reference_seconds=ref,
                       note=f"refine=False, {len(model.rounds_)} rounds; fit.* ratios to X.T @ X timed "
                            f"just before this fit ({ref:.3f} s)"))
    rows.append(record("fit.raw_rel_mse", None, relative_mse(model.raw_network_, teacher), RAW_MSE_TARGET,
                       note="ratio column: population MSE / Var f"))
    return rows, (model, total, ref)


def refine_section(model, X, y, teacher, ref, n_rows):
    from ...learner.refine import levenberg_marquardt

    m = min(n_rows, X.shape[0])
    Xs, ys = np.ascontiguousarray(X[:m]), np.ascontiguousarray(y[:m])
    with threadpool_limits(limits=1, user_api="blas"):
        t0 = time.perf_counter()
        result = levenberg_marquardt(model.raw_network_, Xs, ys, max_iter=model.refine_max_iter, n_jobs=1)
        seconds = time.perf_counter() - t0
    return [
        record("refine.lm", seconds, seconds / ref, note=f"{m} rows, {result.n_iter} iterations"),
        record("refine.rel_mse", None, relative_mse(result.network, teacher), note="ratio column: refined MSE / Var f"),
    ]


def threads_section(X, y, teacher, seed, repeats, one_thread_fit):
    """Two threads against one on the contraction and the fit (results must be identical)."""
    from ...moments.contraction import hermite_moment_contraction

    g = _direction(X.shape[1], seed)
    out = {}
    for threads in (1, 2):
        set_threads(threads)
        with threadpool_limits(limits=threads, user_api="blas"):
            hermite_moment_contraction(X[:1000], y[:1000], g, order=4, n_jobs=threads)
            res = []
            t = best_time(lambda: res.append(hermite_moment_contraction(X, y, g, order=4, n_jobs=threads)), repeats)
            out[threads] = (t, res[-1])
    set_threads(1)
    t1, c1 = out[1]
    t2, c2 = out[2]
    same = bool(np.array_equal(c1, c2))
    rows = [record("threads2.contraction", t2, t1 / t2, ok=same,
                   note=f"ratio column: speed-up over 1 thread; identical={same}")]
    # the one-thread fit is the fit section's best, against the X.T @ X timed before it; the
    # two-thread fit is compared through its own reference, timed just before it (load drifts)
    model1, fit1, ref1 = one_thread_fit
    with threadpool_limits(limits=1, user_api="blas"):
        ref2 = best_time(lambda: X.T @ X, 2)
    set_threads(2)
    with threadpool_limits(limits=2, user_api="blas"):
        model2, fit2 = _fit(X, y, teacher.n_neurons, seed, n_jobs=2)
    set_threads(1)
    same = same_network(model1.raw_network_, model2.raw_network_)
    rows.append(record("threads2.fit", fit2, (fit1 / ref1) / (fit2 / ref2), ok=same,
                       note=f"ratio column: speed-up over 1 thread (each against its own X.T @ X); identical={same}"))
    return rows


def _run_child(kind, params, env=None):
    """Run ``_child_main`` of this module in a fresh interpreter; return its JSON answer."""
    # time the first import of the package before anything else loads it
    code = (
        "import sys, time; t0 = time.perf_counter(); import narrowrelu; t = time.perf_counter() - t0; "
        "from narrowrelu.bench.perf import _child_main; _child_main(sys.argv[1:], t)"
    )
    cmd = [sys.executable, "-c", code, kind, json.dumps(params)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"the {kind} child process failed (status {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def oracle_section(n, d, k, seed, chunk_size):
    ans = _run_child("oracle", {"n": n, "d": d, "k": k, "seed": seed, "chunk_size": chunk_size})
    rows = [
        record("oracle.peak_rss", ans["fit_seconds"], ans["peak_rss_mb"] / ORACLE_RSS_TARGET_MB,
               ORACLE_RSS_TARGET_MB, ok=ans["peak_rss_mb"] < ORACLE_RSS_TARGET_MB,
               peak_rss_mb=ans["peak_rss_mb"], ru_maxrss_mb=ans["ru_maxrss_mb"],
               note=f"n={n:.3g}, d={d}, k={k}; target in MB; input data per pass {n * d * 8 / 2**20:,.0f} MB"),
        record("oracle.throughput", ans["fit_seconds"], ans["fit_seconds"] / ans["sampling_seconds"],
               ORACLE_THROUGHPUT_TARGET, passes=ans["passes"], passes_reported=ans["passes_reported"],
               rounds=ans["rounds"], sampling_pass_seconds=ans["sampling_pass_seconds"],
               note=f"fit / sampling its inputs ({ans['passes']} passes x {ans['sampling_pass_seconds']:.3g} s)"),
        record("oracle.raw_rel_mse", None, ans["raw_rel_mse"], note="ratio column: population MSE / Var f"),
    ]
    rows += [record(f"oracle.{s}", ans["timings"].get(s, 0.0), ans["timings"].get(s, 0.0) / ans["sampling_seconds"],
                    note="ratio to the sampling time") for s in STAGES]
    return rows


def compile_section(n, d, k, seed, ref):
    rows, answers = [], {}
    with tempfile.TemporaryDirectory(prefix="narrowrelu-numba-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold", "warm"):
            ans = answers[label] = _run_child("compile", {"n": n, "d": d, "k": min(k, d), "seed": seed}, env=env)
            extra = ans["first_fit"] - ans["second_fit"]
            rows.append(record(f"compile.{label}.import", ans["import_seconds"], ans["import_seconds"] / ref,
                               note="import narrowrelu (kernels with signatures compile here)"))
            rows.append(record(f"compile.{label}.first_fit", extra, extra / ref,
                               note=f"first fit {ans['first_fit']:.2f} s - second {ans['second_fit']:.2f} s (n={n}, d={d})"))
    cold, warm = answers["cold"], answers["warm"]
    cost = (cold["import_seconds"] - warm["import_seconds"]) + (cold["first_fit"] - cold["second_fit"])
    rows.append(record("compile.cold_cost", cost, cost / ref,
                       note="cold import - warm import + cold first-fit excess (noisy: one run each)"))
    return rows


# ------------------------------------------------------------------ child processes
def _oracle_child(p, import_seconds):
    import numba

    from ...learner.estimator import MomentReLURegressor
    from ...teacher import Teacher

    numba.set_num_threads(1)
    teacher = Teacher.random(p["d"], p["k"], random_state=p["seed"])
    calls = [0]

    def oracle(X):
        calls[0] += 1
        return teacher(X)

    oracle.n_features = p["d"]
    model = MomentReLURegressor(n_neurons=p["k"], random_state=p["seed"], refine=False, chunk_size=p["chunk_size"])
    with threadpool_limits(limits=1, user_api="blas"):
        t0 = time.perf_counter()
        model.fit_oracle(oracle, p["n"])
        fit_seconds = time.perf_counter() - t0
    peak = peak_rss_mb()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    n_chunks = -(-p["n"] // p["chunk_size"])
    passes = calls[0] / n_chunks  # the oracle is queried once per chunk per pass (refine=False)
    # the inputs alone, as OracleSource draws them: same generator, same chunks, one pass
    rng = np.random.default_rng(p["seed"])
    t0 = time.perf_counter()
    for s in range(0, p["n"], p["chunk_size"]):
        rng.standard_normal((min(p["chunk_size"], p["n"] - s), p["d"]))
    sampling_pass = time.perf_counter() - t0
    return {
        "fit_seconds": fit_seconds,
        "peak_rss_mb": peak,
        "ru_maxrss_mb": maxrss,
        "passes": passes,
        "passes_reported": getattr(model, "n_passes_", None),  # the estimator's own count, where it has one
        "rounds": len(model.rounds_),
        "sampling_pass_seconds": sampling_pass,
        "sampling_seconds": sampling_pass * passes,
        "timings": model.timings_,
        "raw_rel_mse": relative_mse(model.raw_network_, teacher),
    }


def _compile_child(p, import_seconds):
    import numba

    from ...learner.estimator import MomentReLURegressor

    numba.set_num_threads(1)
    teacher, X, y = planted_data(p["n"], p["d"], p["k"], p["seed"])
    times = []
    for _ in range(2):
        model = MomentReLURegressor(n_neurons=p["k"], random_state=p["seed"])  # with refinement
        t0 = time.perf_counter()
        model.fit(X, y)
        times.append(time.perf_counter() - t0)
    return {"import_seconds": import_seconds, "first_fit": times[0], "second_fit": times[1]}


def _child_main(argv, import_seconds):
    """Entry point of the child processes: ``argv = [kind, json_params]``; prints one JSON line."""
    kind, params = argv[0], json.loads(argv[1])
    fn = {"oracle": _oracle_child, "compile": _compile_child}[kind]
    print(json.dumps(fn(params, import_seconds)))


# ------------------------------------------------------------------ suite
def run_suite(n=1_000_000, d=100, k=5, oracle_n=100_000_000, oracle_d=50, oracle_k=5, repeats=3,
              fit_repeats=2, refine_samples=200_000, compile_n=20_000, compile_d=20, chunk_size=65536, seed=0,
              skip=(), log=None):
    """Run the sections not in ``skip``; returns the list of records (see :func:`record`)."""
    log = log or (lambda msg: None)
    set_threads(1)
    rows = []
    # child processes first, while this process is still small
    if "oracle" not in skip:
        log(f"oracle mode: n={oracle_n:.3g}, d={oracle_d}, k={oracle_k} in a child process")
        rows += oracle_section(oracle_n, oracle_d, oracle_k, seed, chunk_size)
    teacher, X, y = planted_data(n, d, k, seed)
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
    fit = None
    if not {"fit", "refine", "threads"} <= set(skip):
        log(f"fit at n={n:.3g}, d={d}, k={k}")
        fit_rows, fit = fit_section(X, y, teacher, fit_repeats, seed)
        if "fit" not in skip:
            rows += fit_rows
    if "refine" not in skip and refine_samples > 0:
        log(f"refinement on {min(refine_samples, n)} rows")
        rows += refine_section(fit[0], X, y, teacher, ref, refine_samples)
    if "threads" not in skip:
        log("two threads against one")
        rows += threads_section(X, y, teacher, seed, repeats, fit)
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
        description=__doc__.split("\n\n")[0] + " Speeds are ratios to references measured in the same run.",
    )
    p.add_argument("--n", type=float, default=1e6, help="rows of the in-memory data (default 1e6)")
    p.add_argument("--d", type=int, default=100, help="features (default 100)")
    p.add_argument("--k", type=int, default=5, help="neurons of the planted teacher (default 5)")
    p.add_argument("--oracle-n", type=float, default=1e8, help="oracle-mode samples per pass (default 1e8)")
    p.add_argument("--oracle-d", type=int, default=50, help="oracle-mode features (default 50)")
    p.add_argument("--oracle-k", type=int, default=5, help="oracle-mode neurons (default 5)")
    p.add_argument("--repeats", type=int, default=3, help="repeats of the short timings; the best is kept")
    p.add_argument("--fit-repeats", type=int, default=2, help="repeats of the full fit; the fastest is kept")
    p.add_argument("--refine-samples", type=float, default=2e5, help="rows for the timed refinement (0 skips it)")
    p.add_argument("--compile-n", type=float, default=2e4, help="rows of the fits that measure compile cost")
    p.add_argument("--compile-d", type=int, default=20,
                   help="features of those fits (compilation does not depend on the sizes; small fits keep it visible)")
    p.add_argument("--chunk-size", type=int, default=65536, help="oracle-mode chunk size (the estimator default)")
    p.add_argument("--seed", type=int, default=0)
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
    for name in ("n", "d", "k", "oracle_n", "oracle_d", "oracle_k", "repeats", "fit_repeats", "compile_n", "compile_d", "chunk_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.k > args.d or args.oracle_k > args.oracle_d:
        parser.error("k must not exceed d")
    rows = run_suite(
        n=int(args.n), d=args.d, k=args.k, oracle_n=int(args.oracle_n), oracle_d=args.oracle_d,
        oracle_k=args.oracle_k, repeats=args.repeats, fit_repeats=args.fit_repeats,
        refine_samples=int(args.refine_samples), compile_n=int(args.compile_n), compile_d=args.compile_d,
        chunk_size=args.chunk_size,
        seed=args.seed, skip=skip, log=lambda msg: print(f"# {msg}", file=sys.stderr, flush=True),
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
