"""The contestants of ``narrowrelu bench race``: each method fitted and scored on the same data, the
peers in child processes killed after a time budget."""

import multiprocessing
import time
import traceback
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from ..perf.measure import best_time
from ...network import n_parameters

RATE_FACTOR = 1.2
REFERENCE_REPEATS = 3


def _one_thread():
    import numba

    numba.set_num_threads(1)
    return threadpool_limits(limits=1)


def make_estimator(method, k, seed, max_iter=None):
    """The unfitted estimator of ``method``; ``max_iter`` (``None``: the estimator's default)
    applies to ``gd_k``, ``gd_2k`` and ``mlp_4k`` (``mlp_default`` is left as it comes)."""
    extra = {} if max_iter is None else {"max_iter": max_iter}
    if method in ("moment", "moment_auto"):
        from ...learner.estimator import MomentReLURegressor

        return MomentReLURegressor(n_neurons=k if method == "moment" else None, random_state=seed)
    if method in ("gd_k", "gd_2k"):
        from ...baseline.estimator import GDReLURegressor

        return GDReLURegressor(n_neurons=k if method == "gd_k" else 2 * k, optimizer="lbfgs", random_state=seed,
                               **extra)
    from sklearn.neural_network import MLPRegressor

    if method == "mlp_4k":
        return MLPRegressor(hidden_layer_sizes=(4 * k,), solver="lbfgs", random_state=seed, **extra)
    if method == "mlp_default":
        return MLPRegressor(random_state=seed)
    raise ValueError(f"unknown method {method!r}")


def fit_and_score(method, X, y, teacher, seed, max_iter=None, mc_samples=200_000):
    """Fit ``method`` on one thread, timed; then its excess MSE against ``teacher`` (untimed)."""
    from sklearn.exceptions import ConvergenceWarning

    from ...metrics import monte_carlo_mse, population_mse

    k = teacher.n_neurons
    model = make_estimator(method, k, seed, max_iter)
    with _one_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        t0 = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - t0
        out = {"seconds": seconds}
        if method.startswith("mlp"):
            mc = monte_carlo_mse(model, teacher, n_samples=mc_samples, random_state=seed + 20_000)
            out.update(excess=mc.mean, excess_stderr=mc.stderr, mse_kind=f"monte carlo, {mc_samples} samples",
                       n_iter=int(model.n_iter_), max_iter=int(model.max_iter))
        else:
            out.update(excess=population_mse(model, teacher), excess_stderr=None, mse_kind="exact")
        if method in ("moment", "moment_auto"):
            out.update(raw_excess=population_mse(model.raw_network_, teacher),
                       refine_seconds=float(model.timings_.get("refinement", 0.0)),
                       rounds=len(model.rounds_), k_chosen=int(model.n_neurons_))
        elif method.startswith("gd"):
            out.update(n_iter=int(model.n_iter_), max_iter=int(model.max_iter), converged=bool(model.converged_))
    return out


def _child(conn, method, X, y, teacher, seed, max_iter, mc_samples):
    try:
        conn.send(("ok", fit_and_score(method, X, y, teacher, seed, max_iter, mc_samples)))
    except BaseException as exc:  # noqa: BLE001 -- report every failure to the parent, which keeps going
        conn.send(("failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"))
    finally:
        conn.close()


def _context():
    # fork shares the (large) data with the child without copying it
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def run_in_child(method, X, y, teacher, seed, max_iter, mc_samples, budget):
    """Run :func:`fit_and_score` in a child process; kill it after ``budget`` seconds.

    Returns ``(status, payload)``: ``("ok", dict)``, ``("timed out", None)`` or
    ``("failed", message)``."""
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork of a process with (idle) BLAS threads
        proc = ctx.Process(target=_child, args=(send, method, X, y, teacher, seed, max_iter, mc_samples), daemon=True)
        proc.start()
    send.close()
    try:
        if recv.poll(budget):
            try:
                status, payload = recv.recv()
            except EOFError:
                proc.join()
                return "failed", f"the child process died (exit status {proc.exitcode})"
            proc.join()
            return status, payload
        if not proc.is_alive():
            proc.join()
            return "failed", f"the child process died (exit status {proc.exitcode})"
        return "timed out", None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv.close()


def _warm_up(d, k, seed, methods):
    """Untimed tiny fits in this process, so that deferred numba compilation is done before the
    clocks start (and inherited by the forked children)."""
    from ...teacher import Teacher

    teacher = Teacher.random(d, k, random_state=seed)
    X, y = teacher.with_noise(0.1).sample(max(2000, 20 * d), random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ("moment", "gd_k"):
            if method in methods or (method == "gd_k" and "gd_2k" in methods):
                try:
                    make_estimator(method, k, seed, max_iter=5 if method == "gd_k" else None).fit(X, y)
                except Exception:  # noqa: BLE001, S110 -- a warm-up is only a warm-up
                    pass


def race_data(n, d, k, seed, noise, family="random"):
    """The data of one race size: ``(teacher, Var f, sigma, X, y)``, the teacher of ``family``
    (:func:`narrowrelu.teacher.make_teacher`) with label noise ``sigma = noise * std f``."""
    from ...metrics import population_variance
    from ...teacher import make_teacher

    teacher = make_teacher(family, d, k, seed)
    var = population_variance(teacher)
    sigma = noise * float(np.sqrt(var))
    X, y = teacher.with_noise(sigma).sample(n, random_state=10_000 + seed)
    return teacher, var, sigma, X, y


def race_size(n, d, k, seed, noise, methods, budget, max_iter=None, mc_samples=200_000, log=None, family="random",
              repeats=1):
    """Every method in ``methods`` on one data set (a teacher of ``family``,
    :func:`narrowrelu.teacher.make_teacher`); returns the records. With ``repeats`` > 1 each
    method is fitted that many times (the same fit: every method is seeded) and its record is the
    fastest run's; a run that fails or times out ends the repeats and is the record."""
    log = log or (lambda msg: None)
    log(f"n={n:.3g}, d={d}, k={k}: drawing the data")
    teacher, var, sigma, X, y = race_data(n, d, k, seed, noise, family)
    p = n_parameters(k, d)
    rate = sigma**2 * p / n
    _warm_up(d, k, seed, methods)
    with _one_thread():
        X.T @ X
        ref = best_time(lambda: X.T @ X, REFERENCE_REPEATS)
    log(f"X.T @ X: {ref:.4g} s (1 thread, best of {REFERENCE_REPEATS})")
    base = {"family": family, "n": n, "d": d, "k": k, "p": p, "seed": seed, "noise": noise, "sigma": sigma,
            "var_f": var,
            "rate": rate, "reference_seconds": ref}
    records = []
    for method in methods:
        status, payload = _fastest_run(method, X, y, teacher, seed, max_iter, mc_samples, budget, repeats, log)
        rec = {**base, "method": method, "repeats": repeats, "status": status, "timed_out": status == "timed out",
               "budget_seconds": None if method in ("moment", "moment_auto") else budget, "seconds": None,
               "ratio": None,
               "excess": None, "excess_stderr": None, "excess_over_rate": None, "reached": False, "note": ""}
        if status == "ok":
            rec.update(payload)
            rec["ratio"] = rec["seconds"] / ref
            rec["excess_over_rate"] = rec["excess"] / rate
            rec["reached"] = bool(rec["excess"] <= RATE_FACTOR * rate)
            if method in ("moment", "moment_auto"):
                rec["raw_excess_over_rate"] = rec["raw_excess"] / rate
        elif status == "timed out":
            rec["note"] = f"timed out after {budget:g} s"
        else:
            rec["note"] = "failed: " + payload.strip().splitlines()[0]
            rec["error"] = payload
        log(f"  {method}: {_row_time(rec)} s, {rec['note'] or 'excess/rate ' + format(rec['excess_over_rate'], '.3g')}")
        records.append(rec)
    # drift of the reference over the size's run (the other methods shared the machine with others)
    with _one_thread():
        after = best_time(lambda: X.T @ X, REFERENCE_REPEATS)
    for rec in records:
        rec["reference_seconds_after"] = after
    return records


def _fastest_run(method, X, y, teacher, seed, max_iter, mc_samples, budget, repeats, log):
    """``(status, payload)`` of the fastest of ``repeats`` runs of ``method`` (the moment learner
    in this process, the others in a child process each), or of the first that does not end "ok"."""
    best = None
    for _ in range(repeats):
        if method in ("moment", "moment_auto"):
            log(f"{method} (this process)")
            status, payload = "ok", fit_and_score(method, X, y, teacher, seed, None, mc_samples)
        else:
            log(f"{method} (child process, budget {budget:g} s)")
            status, payload = run_in_child(method, X, y, teacher, seed, max_iter, mc_samples, budget)
        if status != "ok":
            return status, payload
        if best is None or payload["seconds"] < best["seconds"]:
            best = payload
    return "ok", best


# ------------------------------------------------------------------ printing
def _row_time(rec):
    if rec["timed_out"]:
        return f"> {rec['budget_seconds']:g}"
    return "-" if rec["seconds"] is None else f"{rec['seconds']:.2f}"
