"""``narrowrelu bench race``: time to accuracy, side by side, in one run.

For each size ``n:d:k`` a random teacher (:meth:`narrowrelu.teacher.Teacher.random`) labels
``n`` Gaussian inputs with noise :math:`\\sigma` = ``--noise`` x :math:`\\mathrm{std}\\,f`; then, on
the same data and each on one thread:

``moment``
    :class:`narrowrelu.MomentReLURegressor` with every default (refinement on), in this process;
``gd_k``, ``gd_2k``
    :class:`narrowrelu.GDReLURegressor` with ``k`` and ``2k`` neurons, ``optimizer="lbfgs"``;
``mlp_4k``
    scikit-learn's ``MLPRegressor(hidden_layer_sizes=(4k,), solver="lbfgs")``;
``mlp_default``
    ``MLPRegressor()`` as it comes (adam, 100 hidden units, 200 epochs).

Every peer (each method but ``moment``) runs in a child process, killed after
``--max-peer-seconds``. Each method's wall time is given as a ratio to one ``X.T @ X`` on the
same array (one BLAS thread, best of 3, timed in this run just before the methods), and its
excess MSE :math:`E[(g(x)-f(x))^2]` (exact for our networks, Monte Carlo with its standard error
for the MLPs) against the parametric rate :math:`\\sigma^2 p/n`, :math:`p = k(d+1)+d+1`. A method
reaches the rate when its excess is at most 1.2 x the rate; the summary names the fastest peer
that does and the speed-up of the moment fit over it (goal: >= 3).
"""

import json
import multiprocessing
import os
import sys
import time
import traceback
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

METHODS = ("moment", "gd_k", "gd_2k", "mlp_4k", "mlp_default")
PEERS = METHODS[1:]
DEFAULT_SIZES = ("1e6:100:5", "5e4:200:3")
RATE_FACTOR = 1.2
SPEEDUP_GOAL = 3.0
REFERENCE_REPEATS = 3


# ------------------------------------------------------------------ pieces
def parse_size(text):
    """``"n:d:k"`` -> ``(n, d, k)`` (``n`` may be written ``1e6``); ``ValueError`` if malformed."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"size {text!r} is not of the form n:d:k (e.g. 1e6:100:5)")
    try:
        n_float = float(parts[0])
        d, k = int(parts[1]), int(parts[2])
    except ValueError:
        raise ValueError(f"size {text!r} is not of the form n:d:k with numbers (e.g. 1e6:100:5)") from None
    if not np.isfinite(n_float) or n_float != int(n_float):
        raise ValueError(f"size {text!r}: n must be a whole number")
    n = int(n_float)
    if n < 2 or d < 1 or k < 1:
        raise ValueError(f"size {text!r}: need n >= 2, d >= 1 and k >= 1")
    if k > d:
        raise ValueError(f"size {text!r}: k = {k} exceeds d = {d}")
    return n, d, k


def n_parameters(d, k):
    """:math:`p = k(d+1) + d + 1`: neurons, output weights, linear part and intercept."""
    return k * (d + 1) + d + 1


def best_time(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _one_thread():
    import numba

    numba.set_num_threads(1)
    return threadpool_limits(limits=1)


def make_estimator(method, k, seed, max_iter=None):
    """The unfitted estimator of ``method``; ``max_iter`` (``None``: the estimator's default)
    applies to ``gd_k``, ``gd_2k`` and ``mlp_4k`` (``mlp_default`` is left as it comes)."""
    extra = {} if max_iter is None else {"max_iter": max_iter}
    if method == "moment":
        from ..learner.estimator import MomentReLURegressor

        return MomentReLURegressor(n_neurons=k, random_state=seed)
    if method in ("gd_k", "gd_2k"):
        from ..baseline.estimator import GDReLURegressor

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

    from ..metrics import monte_carlo_mse, population_mse

    k = teacher.n_neurons
    model = make_estimator(method, k, seed, max_iter)
    with _one_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
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
        if method == "moment":
            out.update(raw_excess=population_mse(model.raw_network_, teacher),
                       refine_seconds=float(model.timings_.get("refinement", 0.0)),
                       rounds=len(model.rounds_))
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
    from ..teacher import Teacher

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


def race_size(n, d, k, seed, noise, methods, budget, max_iter=None, mc_samples=200_000, log=None):
    """Every method in ``methods`` on one data set; returns the records."""
    from ..metrics import population_variance
    from ..teacher import Teacher

    log = log or (lambda msg: None)
    teacher = Teacher.random(d, k, random_state=seed)
    var = population_variance(teacher)
    sigma = noise * float(np.sqrt(var))
    log(f"n={n:.3g}, d={d}, k={k}: drawing the data")
    X, y = teacher.with_noise(sigma).sample(n, random_state=10_000 + seed)
    p = n_parameters(d, k)
    rate = sigma**2 * p / n
    _warm_up(d, k, seed, methods)
    with _one_thread():
        X.T @ X
        ref = best_time(lambda: X.T @ X, REFERENCE_REPEATS)
    log(f"X.T @ X: {ref:.4g} s (1 thread, best of {REFERENCE_REPEATS})")
    base = {"n": n, "d": d, "k": k, "p": p, "seed": seed, "noise": noise, "sigma": sigma, "var_f": var,
            "rate": rate, "reference_seconds": ref}
    records = []
    for method in methods:
        if method == "moment":
            log("moment (this process)")
            status, payload = "ok", fit_and_score(method, X, y, teacher, seed, None, mc_samples)
        else:
            log(f"{method} (child process, budget {budget:g} s)")
            status, payload = run_in_child(method, X, y, teacher, seed, max_iter, mc_samples, budget)
        rec = {**base, "method": method, "status": status, "timed_out": status == "timed out",
               "budget_seconds": None if method == "moment" else budget, "seconds": None, "ratio": None,
               "excess": None, "excess_stderr": None, "excess_over_rate": None, "reached": False, "note": ""}
        if status == "ok":
            rec.update(payload)
            rec["ratio"] = rec["seconds"] / ref
            rec["excess_over_rate"] = rec["excess"] / rate
            rec["reached"] = bool(rec["excess"] <= RATE_FACTOR * rate)
            if method == "moment":
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


def summarise(records):
    """Per size: the fastest peer reaching ``RATE_FACTOR`` x the rate and the moment fit's speed-up."""
    sizes = []
    for rec in records:
        key = (rec["n"], rec["d"], rec["k"])
        if key not in sizes:
            sizes.append(key)
    out = []
    for n, d, k in sizes:
        rs = [r for r in records if (r["n"], r["d"], r["k"]) == (n, d, k)]
        moment = next((r for r in rs if r["method"] == "moment"), None)
        ok_peers = [r for r in rs if r["method"] != "moment" and r["status"] == "ok" and r["reached"]]
        best = min(ok_peers, key=lambda r: r["seconds"]) if ok_peers else None
        row = {"n": n, "d": d, "k": k, "fastest_peer": None, "peer_seconds": None, "moment_seconds": None,
               "moment_reached": None, "speedup": None, "goal": SPEEDUP_GOAL, "goal_met": None,
               "timed_out": [r["method"] for r in rs if r["timed_out"]]}
        if moment is not None and moment["status"] == "ok":
            row["moment_seconds"] = moment["seconds"]
            row["moment_reached"] = moment["reached"]
        if best is not None:
            row["fastest_peer"] = best["method"]
            row["peer_seconds"] = best["seconds"]
            if row["moment_seconds"]:
                row["speedup"] = best["seconds"] / row["moment_seconds"]
                row["goal_met"] = bool(row["speedup"] >= SPEEDUP_GOAL and row["moment_reached"])
        out.append(row)
    return out


# ------------------------------------------------------------------ printing
def _row_time(rec):
    if rec["timed_out"]:
        return f"> {rec['budget_seconds']:g}"
    return "-" if rec["seconds"] is None else f"{rec['seconds']:.2f}"


def format_table(records):
    head = (f"{'method':<12}{'seconds':>10}{'x XtX':>10}{'excess':>11}{'+-':>10}{'/rate':>9}"
            f"{'<=' + format(RATE_FACTOR, 'g') + 'x':>7}  note")
    lines = []
    key = None
    for r in records:
        if (r["n"], r["d"], r["k"]) != key:
            key = (r["n"], r["d"], r["k"])
            if lines:
                lines.append("")
            lines.append(f"n={r['n']:.3g} d={r['d']} k={r['k']}  p={r['p']}  sigma={r['sigma']:.4g} "
                         f"({r['noise']:g} std f)  rate sigma^2 p/n={r['rate']:.3e}  "
                         f"X.T@X={r['reference_seconds']:.4g} s (after the methods: {r['reference_seconds_after']:.4g} s)")
            lines += [head, "-" * len(head)]
        if r["timed_out"]:
            ratio = f"> {r['budget_seconds'] / r['reference_seconds']:.0f}"
        else:
            ratio = "-" if r["ratio"] is None else f"{r['ratio']:.1f}"
        excess = "-" if r["excess"] is None else f"{r['excess']:.3e}"
        err = "exact" if r["excess"] is not None and r["excess_stderr"] is None else (
            "-" if r["excess_stderr"] is None else f"{r['excess_stderr']:.1e}")
        over = "-" if r["excess_over_rate"] is None else f"{r['excess_over_rate']:.3g}"
        reached = "-" if r["status"] != "ok" else ("yes" if r["reached"] else "no")
        note = r["note"]
        if r["status"] == "ok":
            if r["method"] == "moment":
                note = (f"raw excess/rate {r['raw_excess_over_rate']:.3g}, refinement {r['refine_seconds']:.3g} s, "
                        f"{r['rounds']} round(s)")
            elif "n_iter" in r:
                note = f"{r['n_iter']}/{r['max_iter']} iterations"
                if r.get("converged") is False:
                    note += ", not converged"
        lines.append(f"{r['method']:<12}{_row_time(r):>10}{ratio:>10}{excess:>11}{err:>10}{over:>9}{reached:>7}  {note}")
    return "\n".join(lines)


def format_summary(rows):
    lines = []
    for s in rows:
        head = f"n={s['n']:.3g} d={s['d']} k={s['k']}: "
        if s["fastest_peer"] is None:
            text = f"no peer reached {RATE_FACTOR:g}x the rate"
            if s["moment_seconds"] is not None:
                text += f"; moment {s['moment_seconds']:.2f} s ({'reached' if s['moment_reached'] else 'did NOT reach'} it)"
        else:
            text = f"fastest peer at <= {RATE_FACTOR:g}x the rate: {s['fastest_peer']} {s['peer_seconds']:.2f} s"
            if s["speedup"] is not None:
                text += (f"; moment {s['moment_seconds']:.2f} s"
                         f"{'' if s['moment_reached'] else ' (did NOT reach the rate)'}"
                         f", speed-up {s['speedup']:.1f}x (goal >= {SPEEDUP_GOAL:g}x: "
                         f"{'met' if s['goal_met'] else 'NOT met'})")
        if s["timed_out"]:
            text += f" [timed out: {', '.join(s['timed_out'])}]"
        lines.append(head + text)
    return "\n".join(lines)


# ------------------------------------------------------------------ command line
def add_parser(subparsers):
    p = subparsers.add_parser(
        "race",
        help="time to accuracy: the moment learner against GD (L-BFGS) and scikit-learn's MLPRegressor",
        description="Time to accuracy, side by side, in one run. Each method on the same data and one thread; wall time as a ratio to X.T @ X, excess MSE "
        "against the parametric rate sigma^2 p / n; peers in child processes with a time budget.",
    )
    p.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), metavar="N:D:K",
                   help=f"sizes n:d:k (default: {' '.join(DEFAULT_SIZES)})")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, metavar="METHOD",
                   help=f"methods to run, from {', '.join(METHODS)} (default: all)")
    p.add_argument("--noise", type=float, default=0.1, help="label noise std relative to std f (default: 0.1)")
    p.add_argument("--seed", type=int, default=0, help="teacher and estimator seed (default: 0)")
    p.add_argument("--max-peer-seconds", type=float, default=600.0,
                   help="kill a peer's child process after this many seconds (default: 600)")
    p.add_argument("--max-iter", type=int, default=None,
                   help="max_iter of gd_k, gd_2k and mlp_4k (default: each estimator's own; "
                        "mlp_default is left as it comes)")
    p.add_argument("--mc-samples", type=float, default=2e5,
                   help="Monte Carlo samples of the MLPs' excess MSE (default: 2e5)")
    p.add_argument("--json", metavar="PATH", help="write the records and the summary as JSON")
    p.set_defaults(func=run)
    return p


def _check_writable(path):
    """An error message if ``path`` cannot be written, else ``None`` (nothing is created)."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"--json {path}: is a directory"
    if not os.path.isdir(directory):
        return f"--json {path}: directory {directory} does not exist"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"--json {path}: file is not writable"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"--json {path}: directory {directory} is not writable"
    return None


def run(args, parser):
    sizes = []
    for text in args.sizes:
        try:
            sizes.append(parse_size(text))
        except ValueError as exc:
            parser.error(f"--sizes: {exc}")
    if not (args.noise > 0 and np.isfinite(args.noise)):
        parser.error(f"--noise must be > 0, got {args.noise}")
    if not (args.max_peer_seconds > 0 and np.isfinite(args.max_peer_seconds)):
        parser.error(f"--max-peer-seconds must be > 0, got {args.max_peer_seconds}")
    if args.max_iter is not None and args.max_iter < 1:
        parser.error(f"--max-iter must be >= 1, got {args.max_iter}")
    if not args.mc_samples >= 2:
        parser.error(f"--mc-samples must be >= 2, got {args.mc_samples}")
    if args.json and (problem := _check_writable(args.json)):
        parser.error(problem)
    methods = [m for m in METHODS if m in args.methods]  # the table's order, each once

    def log(msg):
        print(f"# {msg}", file=sys.stderr, flush=True)

    records = []
    for n, d, k in sizes:
        records += race_size(n, d, k, args.seed, args.noise, methods, args.max_peer_seconds, args.max_iter,
                             int(args.mc_samples), log)
    summary = summarise(records)
    print(format_table(records))
    print()
    print(format_summary(summary))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"records": records, "summary": summary}, fh, indent=1)
    failed = [r for r in records if r["status"] == "failed"]
    for r in failed:
        print(f"{r['method']} at n={r['n']:.3g} d={r['d']} k={r['k']} failed:\n{r['error']}", file=sys.stderr)
    return 1 if failed else 0
