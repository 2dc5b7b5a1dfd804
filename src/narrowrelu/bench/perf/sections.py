"""Sections of the performance suite, each returning result records (see
:func:`narrowrelu.bench.perf.measure.record`)."""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits

from .measure import (_direction, best_time, excess_over_rate, peak_rss_mb, planted_data, record, relative_mse,
                      same_network, set_threads)

STAGES = ("linear", "second_moment", "products", "projections", "candidates", "regression", "final_regression")
EXCESS_TARGET = 1.1
# the call without k against the call told k, on the same data (the cost of the search)
AUTO_OVER_TOLD_TARGET = 3.0
RAW_MSE_TARGET = 1e-3
CONTRACTION_TARGET = 1.2
ORACLE_RSS_TARGET_MB = 1024.0
ORACLE_THROUGHPUT_TARGET = 1.5
# (n, d, k) of the untimed fits before the timed ones
WARM_UP_SIZE = (4000, 8, 2)


# ------------------------------------------------------------------ sections
def contraction_section(X, y, ref, repeats, seed):
    from ...moments.contraction import hermite_moment_contraction

    g = _direction(X.shape[1], seed)
    with threadpool_limits(limits=1, user_api="blas"):
        hermite_moment_contraction(X[:1000], y[:1000], g, order=4)
        t = best_time(lambda: hermite_moment_contraction(X, y, g, order=4), repeats)
    return [record("contraction.order4", t, t / ref, CONTRACTION_TARGET, note="one direction, d x d")]


def _fit(X, y, k, seed, n_jobs=1, **params):
    """One fit with every default but ``params`` (the default path: refine=True); returns the
    model and its wall time."""
    from ...learner.estimator import MomentReLURegressor

    model = MomentReLURegressor(n_neurons=k, random_state=seed, n_jobs=n_jobs, **params)
    t0 = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - t0


def warm_up(seed, noise):
    """One small fit without k and one told k, not timed, before the timed fits: a kernel
    compiles (or loads from numba's cache) at its first call, a one-off cost that the ``compile``
    section measures apart. Returns a record of its seconds."""
    n, d, k = WARM_UP_SIZE
    _, X, y, _ = planted_data(n, d, k, seed, noise)
    with threadpool_limits(limits=1, user_api="blas"):
        seconds = _fit(X, y, None, seed)[1] + _fit(X, y, k, seed)[1]
    return record("warm_up.fits", seconds, None, note=f"not timed against X.T @ X: one fit without k and one told "
                                                        f"k at n={n}, d={d}, k={k} before the timed ones")


def fit_section(size, seeds, noise, prefix):
    """The default fit (``refine=True``, every default) at one ``size = (n, d, k, target)`` on
    planted data with label noise, once per seed: total time against ``X.T @ X`` timed just
    before each fit (the best ratio over seeds is kept: load drifts on a shared machine), the
    moment stages and the refinement (on all rows) beside it, and the median over seeds of the
    excess MSE over the parametric rate, raw and refined.

    Returns the records and ``(model, seconds, reference, X, y, seed)`` of the first seed."""
    n, d, k, target = size
    fits, searches = [], []
    first = None
    for seed in seeds:
        teacher, X, y, sigma = planted_data(n, d, k, seed, noise)
        with threadpool_limits(limits=1, user_api="blas"):
            X.T @ X
            ref = best_time(lambda: X.T @ X, 2)
            auto, auto_seconds = _fit(X, y, None, seed)
            model, seconds = _fit(X, y, k, seed)
        fits.append((seconds / ref, model, seconds, ref, teacher, sigma))
        searches.append((auto_seconds / ref, auto_seconds / seconds, auto.n_neurons_, auto, teacher, sigma,
                         auto_seconds))
        if first is None:
            first = (model, seconds, ref, X, y, seed)
    best = min(fits, key=lambda f: f[0])
    _, model, total, ref, _, _ = best
    where = f"n={n:.3g}, d={d}, k={k}, noise {noise:g} std f"
    rows = [record(f"{prefix}.default_total", total, total / ref, target, reference_seconds=ref,
                   note=f"default fit (refine=True), {where}; best of {len(seeds)} seeds, each against "
                        f"X.T @ X timed just before it ({ref:.3f} s)")]
    moment = sum(model.timings_.get(s, 0.0) for s in STAGES)
    rows += [record(f"{prefix}.{s}", model.timings_.get(s, 0.0), model.timings_.get(s, 0.0) / ref) for s in STAGES]
    rows.append(record(f"{prefix}.moment_stages", moment, moment / ref, note="the stages above"))
    refine_seconds = model.timings_.get("refinement", 0.0)
    info = model.refinement_
    rows.append(record(f"{prefix}.refinement", refine_seconds, refine_seconds / ref,
                       note=f"{info['method']} on all {info['n_samples']} rows: {info['n_iter']} iterations, "
                            f"{info['n_passes']} passes, stop: {info['stop_reason'] or '-'}"))
    other = total - moment - refine_seconds
    rows.append(record(f"{prefix}.other", other, other / ref, note="input validation, set-up"))
    raw = [excess_over_rate(f[1].raw_network_, f[4], f[5], n) for f in fits]
    refined = [excess_over_rate(f[1], f[4], f[5], n) for f in fits]
    rows.append(record(f"{prefix}.raw_excess", None, float(np.median(raw)),
                       note="ratio column: raw excess MSE / (sigma^2 p / n), median over seeds: "
                            + ", ".join(f"{v:.3g}" for v in raw)))
    rows.append(record(f"{prefix}.refined_excess", None, float(np.median(refined)), EXCESS_TARGET,
                       note="ratio column: refined excess MSE / (sigma^2 p / n), median over seeds: "
                            + ", ".join(f"{v:.3g}" for v in refined)))
    rows.append(record(f"{prefix}.raw_rel_mse", None, relative_mse(model.raw_network_, best[4]), RAW_MSE_TARGET,
                       note="ratio column: raw population MSE / Var f"))
    fastest = min(searches, key=lambda f: f[0])
    rows.append(record(f"{prefix}.auto_total", fastest[6], fastest[0],
                       note=f"the same call without k (n_neurons=None), fitted just before the told fit; best of "
                            f"{len(seeds)} seeds; k chosen " + ", ".join(str(f[2]) for f in searches)))
    rows.append(record(f"{prefix}.auto_over_told", None, float(np.median([f[1] for f in searches])),
                       AUTO_OVER_TOLD_TARGET,
                       note="ratio column: time without k / time told k on the same data, median over seeds: "
                            + ", ".join(f"{f[1]:.3g}" for f in searches)))
    auto_refined = [excess_over_rate(f[3], f[4], f[5], n) for f in searches]
    rows.append(record(f"{prefix}.auto_refined_excess", None, float(np.median(auto_refined)), EXCESS_TARGET,
                       note="ratio column: excess MSE / (sigma^2 p / n) without k, median over seeds: "
                            + ", ".join(f"{v:.3g}" for v in auto_refined)))
    return rows, first


def threads_section(one_thread_fit, repeats):
    """Two threads against one on the contraction and the default fit (results must be identical)."""
    from ...moments.contraction import hermite_moment_contraction

    model1, fit1, ref1, X, y, seed = one_thread_fit
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
    with threadpool_limits(limits=1, user_api="blas"):
        ref2 = best_time(lambda: X.T @ X, 2)
    set_threads(2)
    with threadpool_limits(limits=2, user_api="blas"):
        model2, fit2 = _fit(X, y, model1.n_neurons, seed, n_jobs=2)
    set_threads(1)
    same = same_network(model1.raw_network_, model2.raw_network_) and same_network(model1.network_, model2.network_)
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
                               note=f"first fit {ans['first_fit']:.2f} s - second {ans['second_fit']:.2f} s "
                                    f"(n={n}, d={d})"))
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
    # the oracle is queried once per chunk per pass (refine=False), and once on the pilot draw that
    # sets the scale of its outputs (at most 4096 rows, not counted as a pass)
    passes = (calls[0] - 1) / n_chunks
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
    _, X, y, _ = planted_data(p["n"], p["d"], p["k"], p["seed"])
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
