"""Probes of hostile input against the estimators, Teacher, the scores and the CLI; prints the
count of clear errors, correct results, silent wrong results, tracebacks and hangs.

    PYTHONPATH=src python benchmarks/hostile_probes.py [-v] [--only TEXT]

A probe either expects a clear error (ValueError, or argparse's exit 2, whose message names the
input: no LinAlgError, OverflowError, "internal error" or deep numpy message; where the probe
names a parameter or a figure, the message must contain it) or a correct result (checked against
the teacher, or against the unscaled fit). Anything else is counted as a traceback (an unexpected
exception), a silent wrong result (a result that fails its check, or no error where one was due)
or a hang (no answer within --timeout seconds).
"""

import argparse
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

from narrowrelu import (
    GDReLURegressor,
    MomentReLURegressor,
    ReLUNetwork,
    Teacher,
    monte_carlo_mse,
    population_mse,
    population_variance,
)
from narrowrelu.cli import main as cli

T = Teacher.random(n_features=5, n_neurons=2, random_state=0)
X, Y = T.sample(3000, random_state=1)
VAR = population_variance(T)
FAST = dict(settings=dict(n_contraction_pairs=16, max_rounds=3), random_state=0)
UNCLEAR = ("internal error", "SVD did not converge", "add.reduce", "Numerical result out of range")


def scaled(net, xf=1.0, yf=1.0):
    return ReLUNetwork(net.hidden_weights * xf, net.output_weights / yf, net.linear_weights * xf / yf,
                       net.intercept / yf)


def moment(Xa, ya, **kw):
    return MomentReLURegressor(n_neurons=2, **{**FAST, **kw}).fit(Xa, ya).network_


def gd(Xa, ya, **kw):
    return GDReLURegressor(n_neurons=2, random_state=0, **kw).fit(Xa, ya).relu_network()


GD_REF = []


def gd_ref():
    if not GD_REF:
        GD_REF.append(gd(X, Y))
    return GD_REF[0]


def with_entry(a, index, value):
    a = a.copy()
    a.flat[index] = value
    return a


def probes():
    """(name, callable, kind): kind "error" expects a clear error; otherwise a check of the result."""
    out = []
    for c in (1e-300, 1e-150, 1e-14, 1e14, 1e150, 1e300):
        out.append((f"moment y*{c:g}", lambda c=c: population_mse(scaled(moment(X, c * Y), yf=c), T) < 1e-8 * VAR,
                    "ok"))
        out.append((f"moment X*{c:g}", lambda c=c: population_mse(scaled(moment(c * X, Y), xf=c), T) < 1e-8 * VAR,
                    "ok"))
        out.append((f"gd y*{c:g}", lambda c=c: population_mse(scaled(gd(X, c * Y), yf=c), gd_ref()) < 1e-6 * VAR, "ok"))
        out.append((f"gd X*{c:g}", lambda c=c: population_mse(scaled(gd(c * X, Y), xf=c), gd_ref()) < 1e-6 * VAR, "ok"))
    out.append(("moment X*1e-300, y*1e200", lambda: moment(X * 1e-300, Y * 1e200), "error"))
    for est_name, est in (("moment", moment), ("gd", gd)):
        for which in ("X", "y"):
            for value in (1e300, -1e300, np.nan, np.inf, -np.inf):
                out.append((f"{est_name} {which}[17]={value}", lambda e=est, w=which, v=value:
                            e(with_entry(X, 17, v), Y) if w == "X" else e(X, with_entry(Y, 17, v)), "error"))
        for label, y in (("strings", np.array(["a"] * 3000)), ("numeric strings", np.array(["1.5"] * 3000)),
                         ("complex", Y.astype(complex)), ("None", np.array([None] * 3000, dtype=object)),
                         ("2-d y", np.c_[Y, Y]), ("short y", Y[:10]), ("empty", Y[:0])):
            out.append((f"{est_name} y {label}", lambda e=est, y=y: e(X, y), "error"))
        out.append((f"{est_name} X 1-d", lambda e=est: e(X[:, 0], Y), "error"))
        out.append((f"{est_name} X strings", lambda e=est: e(np.full(X.shape, "a"), Y), "error"))
        out.append((f"{est_name} X float32", lambda e=est: np.isfinite(e(X.astype(np.float32), Y).intercept), "ok"))
    out.append(("moment y constant", lambda: moment(X, np.ones(3000)), "error"))
    out.append(("moment X zeros", lambda: moment(np.zeros_like(X), Y), "error"))
    out.append(("moment y tiny constant 1e-320", lambda: moment(X, np.full(3000, 1e-320)), "error"))
    out.append(("moment too few rows", lambda: moment(X[:5], Y[:5]), "error"))
    out.append(("moment n_neurons > d", lambda: MomentReLURegressor(n_neurons=9).fit(X, Y), "error"))
    out.append(("moment n_jobs=0", lambda: MomentReLURegressor(n_jobs=0).fit(X, Y), "error"))
    out.append(("moment n_jobs=-1", lambda: population_mse(moment(X, Y, n_jobs=-1), T) < 1e-8 * VAR, "ok"))
    out.append(("moment tol=nan", lambda: MomentReLURegressor(tol=float("nan")).fit(X, Y), "error"))
    out.append(("fit_oracle n_samples=3e3", lambda: np.isfinite(MomentReLURegressor(n_neurons=2, **FAST)
                                                              .fit_oracle(T, n_samples=3e3).network_.intercept), "ok"))
    out.append(("fit_oracle n_samples=2.5", lambda: MomentReLURegressor(n_neurons=2).fit_oracle(T, 2.5), "error"))
    out.append(("fit_oracle oracle returns nan", lambda: MomentReLURegressor(n_neurons=2).fit_oracle(
        lambda Z: np.full(len(Z), np.nan), 3000, 5), "error"))
    out.append(("whiten with mean", lambda: moment(X + 0.5, Y, whiten=True), "error"))
    out.append(("whiten singular", lambda: moment(np.c_[X, X[:, :1]], Y, whiten=True), "error"))
    out.append(("gd lr=1e6 diverges", lambda: gd(X, Y, optimizer="gd", learning_rate=1e6), "error"))
    out.append(("gd adam lr=1e8 diverges", lambda: gd(X, Y, optimizer="adam", learning_rate=1e8), "either"))
    out.append(("gd learning_rate=inf", lambda: gd(X, Y, optimizer="gd", learning_rate=float("inf")), "error"))
    out.append(("gd alpha=-1", lambda: gd(X, Y, alpha=-1.0), "error"))
    out.append(("population_mse 1e200", lambda: population_mse(ReLUNetwork(np.eye(5)[:2] * 1e200, [1.0, -1.0]), T),
                "error"))
    out.append(("population_variance 1e200",
                lambda: population_variance(ReLUNetwork(np.eye(5)[:2] * 1e200, [1.0, 1.0])),
                "error"))
    out.append(("population_variance 1e100", lambda: np.isclose(population_variance(
        ReLUNetwork(np.eye(5)[:1] * 1e100, [1.0])), 1e200 * (0.5 - 1 / (2 * np.pi)), rtol=1e-12), "ok"))
    out.append(("population_mse dims", lambda: population_mse(T, Teacher.random(n_features=4, n_neurons=2)), "error"))
    out.append(("Teacher n_features=0", lambda: Teacher.random(n_features=0, n_neurons=1), "error"))
    out.append(("Teacher n_neurons=2.5", lambda: Teacher.random(n_features=3, n_neurons=2.5), "error"))
    out.append(("Teacher sample(-1)", lambda: T.sample(-1), "error"))
    out.append(("ReLUNetwork nan weight", lambda: ReLUNetwork([[np.nan]], [1.0]), "error"))
    for argv in (["demo", "--seed", "-1"], ["demo", "--n", "5"], ["demo", "--d", "nan"],
                 ["bench", "recovery", "--n", "10"], ["bench", "recovery", "--json", "/missing/dir/x.json"],
                 ["bench", "sample-complexity", "--n-min", "nan"], ["bench", "sample-complexity", "--n-max", "inf"],
                 ["bench", "sample-complexity", "--noise", "inf"], ["bench", "sample-complexity", "--n-jobs", "0"],
                 ["bench", "sample-complexity", "--out", "/proc/x"], ["bench", "perf", "--n", "0"],
                 ["bench", "perf", "--json", "/missing/x.json"], ["bench", "race", "--noise", "nan"],
                 ["bench", "race", "--sizes", "10:x:1"], ["bench", "safran-shamir", "--k", "0"],
                 ["bench", "safran-shamir", "--json", "/missing/x.json"], ["bench", "nosuch"]):
        out.append(("cli " + " ".join(argv), lambda a=argv: cli(a), "exit2"))
    return out + command_probes()


# issue 23: fits that must say when they are wrong (targets outside the model, too few neurons,
# corrupted labels, hostile oracles, inputs that are not N(0, I), too few rows for the neurons)


def caught(fn):
    """Run ``fn`` recording every warning; returns (result, warnings)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = fn()
    return result, record


def warns(fn, category, *phrases, quiet=()):
    """True when ``fn`` raises a ``category`` warning whose message holds every phrase, and no
    warning of the ``quiet`` categories."""
    _, record = caught(fn)
    hit = [w for w in record if issubclass(w.category, category) and all(p in str(w.message) for p in phrases)]
    return bool(hit) and not any(issubclass(w.category, quiet) for w in record) if quiet else bool(hit)


def silent(fn, *categories):
    """True when ``fn`` raises no warning of the ``categories``."""
    _, record = caught(fn)
    return not any(issubclass(w.category, categories) for w in record)


def fit_diagnostic_probes():
    """The probes of issue 23 on the learner side (name, callable, kind), as in :func:`probes`."""
    from narrowrelu.conditioning import LabelOutlierWarning
    from narrowrelu.conditioning.gaussianity import NonGaussianInputWarning
    from narrowrelu.learner.residual_diagnostic import ModelMisfitWarning
    from narrowrelu.learner.workload import FitWorkloadWarning

    rng = np.random.default_rng(23)
    Xd = rng.standard_normal((30_000, 10))
    U = rng.standard_normal((4, 10))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    lam, beta = rng.standard_normal(3), rng.standard_normal(3)
    targets = {
        "sin(2u.x) + 0.5 sin(v.x)": (np.sin(2 * Xd @ U[0]) + 0.5 * np.sin(Xd @ U[1]), 3),
        "4-unit tanh network": (np.tanh(2 * Xd @ U.T) @ rng.standard_normal(4), 4),
        "ReLU teacher with biases": (np.maximum(Xd @ U[:3].T + beta, 0.0) @ lam, 3),
    }
    out = []
    for label, (yd, k) in targets.items():
        out.append((f"misfit {label} warns 'outside the model'", lambda yd=yd, k=k: warns(
            lambda: MomentReLURegressor(n_neurons=k, random_state=0).fit(Xd, yd), ModelMisfitWarning,
            "outside the model"), "ok"))
    six = Teacher.random(20, 6, random_state=4)
    X6, y6 = six.sample(30_000, random_state=5)
    out.append(("misfit k=6 teacher, n_neurons=3 warns 'more neurons'", lambda: warns(
        lambda: MomentReLURegressor(n_neurons=3, random_state=0).fit(X6, y6), ModelMisfitWarning,
        "more neurons"), "ok"))
    out.append(("clean fit: no misfit or label warning", lambda: silent(
        lambda: moment(X, Y), ModelMisfitWarning, LabelOutlierWarning), "ok"))
    noisy = Y + np.std(Y) * 0.3 * np.random.default_rng(1).standard_t(5, Y.size)
    out.append(("t5 label noise: no label warning", lambda: silent(
        lambda: moment(X, noisy), LabelOutlierWarning), "ok"))
    for label, value in (("1e4 std(y)", 1e4 * np.std(Y)), ("1e6", 1e6)):
        out.append((f"y[5] = {label} warns naming row 5", lambda v=value: warns(
            lambda: moment(X, with_entry(Y, 5, v)), LabelOutlierWarning, "row 5", "robust SDs"), "ok"))
    fast = dict(n_neurons=2, **FAST)

    def spike(Z):
        y = T(Z)
        y[0] = 1e12
        return y

    def oracle_fit(oracle, n=20_000):
        return MomentReLURegressor(**fast).fit_oracle(oracle, n, 5).network_

    out.append(("fit_oracle one 1e12 per chunk", lambda: oracle_fit(spike), "error"))
    out.append(("fit_oracle complex outputs", lambda: oracle_fit(lambda Z: T(Z).astype(complex)), "error"))
    out.append(("fit_oracle complex with imaginary part", lambda: oracle_fit(lambda Z: T(Z) + 1j), "error"))
    out.append(("fit_oracle string outputs", lambda: oracle_fit(lambda Z: np.full(len(Z), "a")), "error"))
    out.append(("fit_oracle inf in a chunk", lambda: oracle_fit(lambda Z: np.where(Z[:, 0] > 3, np.inf, T(Z))),
                "error"))
    for c in (1e300, 1e-300, 3.0):
        out.append((f"fit_oracle {c:g} f", lambda c=c: population_mse(
            scaled(oracle_fit(lambda Z: c * T(Z)), yf=c), T) < 1e-8 * VAR, "ok"))
    out.append(("fit_oracle 1e12 + f", lambda: population_mse(
        scaled_shift(oracle_fit(lambda Z: 1e12 + T(Z)), 1e12), T) < 1e-6 * VAR, "ok"))
    X100 = X.copy()
    X100[:, 0] *= 100
    out.append(("X[:, 0] *= 100 advice names whiten=True", lambda: warns(
        lambda: moment(X100, Y), NonGaussianInputWarning, "whiten=True", quiet=RuntimeWarning), "ok"))
    for value in (1.0, 0.0):
        out.append((f"constant column of {value:g}s named, no RuntimeWarning, good fit",
                    lambda v=value: constant_column_probe(v, NonGaussianInputWarning), "ok"))

    def repeated_rows():
        _, record = caught(lambda: moment(np.repeat(X[:1000], 10, axis=0), np.repeat(Y[:1000], 10)))
        messages = [str(w.message) for w in record if issubclass(w.category, NonGaussianInputWarning)]
        return any("repeat" in m for m in messages) and not any("has mean" in m for m in messages)

    out.append(("rows repeated 10 times said plainly, not a shifted mean", repeated_rows, "ok"))
    X30, y30 = Teacher.random(30, 30, random_state=0).sample(100, random_state=1)

    def at_once():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("error", FitWorkloadWarning)
            try:
                MomentReLURegressor(n_neurons=30, random_state=0).fit(X30, y30)
            except FitWorkloadWarning as w:
                return "cannot support" in str(w) and time.perf_counter() - start < 5.0
        return False

    out.append(("d = k = 30 with 100 rows says so at once", at_once, "ok"))
    return out


def scaled_shift(net, shift):
    return ReLUNetwork(net.hidden_weights, net.output_weights, net.linear_weights, net.intercept - shift)


def constant_column_probe(value, category):
    """A constant column added to X: named in a ``category`` warning, no RuntimeWarning, an accurate fit
    (scored on fresh rows with the same constant column: the model may use it as a bias)."""
    net, record = caught(lambda: moment(np.c_[X, np.full(len(X), value)], Y))
    Xt, yt = T.sample(20_000, random_state=7)
    error = np.mean((net(np.c_[Xt, np.full(len(Xt), value)]) - yt) ** 2)
    named = any(issubclass(w.category, category) and "constant" in str(w.message) for w in record)
    quiet = not any(issubclass(w.category, RuntimeWarning) for w in record)
    return named and quiet and error < 1e-6 * VAR


def tiny_sweep(out, *extra):
    """A one-cell sweep of a few seconds writing to ``out``."""
    return ["bench", "sample-complexity", "--families", "random", "--k", "1", "--d", "3", "--n-min", "200",
            "--n-max", "200", "--seeds", "1", "--methods", "moment_refined", "--n-jobs", "1", "--no-progress",
            "--out", str(out), *extra]


def quiet(fn, *args):
    """``fn(*args)`` with its stdout discarded."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def with_lock(pid):
    """A fresh --out directory whose sweep.lock names ``pid`` on this host."""
    out = tempfile.mkdtemp(prefix="probe-lock-")
    with open(os.path.join(out, "sweep.lock"), "w") as fh:
        json.dump({"pid": pid, "host": socket.gethostname(), "started": "earlier"}, fh)
    return out


def stale_lock_taken_over():
    out = with_lock(dead_pid())
    with contextlib.redirect_stdout(io.StringIO()):
        status = cli(tiny_sweep(out))
    return status == 0 and not os.path.exists(os.path.join(out, "sweep.lock"))


def mixed_versions_said():
    out = tempfile.mkdtemp(prefix="probe-versions-")
    with contextlib.redirect_stdout(io.StringIO()):
        cli(tiny_sweep(out))
    path = os.path.join(out, "cells.jsonl")
    records = [json.loads(line) for line in open(path)]
    for r in records:
        r["version"] = "0.0.1"
    with open(path, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        cli(tiny_sweep(out, "--n-max", "400", "--n-per-decade", "3"))
    from narrowrelu import __version__

    return f"mixes cells of narrowrelu versions (0.0.1: 1 cells, {__version__}: 1 cells)" in err.getvalue()


def failed_cell_recorded_and_sweep_goes_on():
    """With 400 MB free (the free-memory reading replaced), a 1e3..1e6 grid at d = 20: the cells up
    to 1e5 run, the one at 1e6 is recorded as failed with its memory reason, the sweep exits 0."""
    import narrowrelu.bench._memory as memory

    out = tempfile.mkdtemp(prefix="probe-memory-")
    argv = ["bench", "sample-complexity", "--families", "random", "--k", "1", "--d", "20", "--n-min", "1e3",
            "--n-max", "1e6", "--n-per-decade", "1", "--seeds", "1", "--methods", "moment_refined", "--n-jobs", "1",
            "--no-progress", "--out", out]
    real = memory.available_bytes
    memory.available_bytes = lambda: 400 * 2**20
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            status = cli(argv)
    finally:
        memory.available_bytes = real
    records = {r["n"]: r for r in map(json.loads, open(os.path.join(out, "cells.jsonl")))}
    failed = {n for n, r in records.items() if r["error"]}
    return status == 0 and failed == {1_000_000} and "MemoryError: not run" in records[1_000_000]["error"]


def slope_artefacts_gone():
    """No slope of the stored d = 50 sweep reads 0.00 (a flat n* is not a slope of 0)."""
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        cli(["bench", "report", os.path.join(os.path.dirname(__file__), "..", "docs", "results", "d50"),
             "--tables", "slopes"])
    return "| 0.00 |" not in text.getvalue() and "the grid does not resolve a slope" in text.getvalue()


def per_n_table_titled():
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        cli(tiny_sweep(tempfile.mkdtemp(prefix="probe-title-")))
    lines = text.getvalue().splitlines()
    return lines[0].startswith("per n: ") and lines[1].split()[:3] == ["family", "d", "k"]


def success_lines_distinct():
    """Two methods with the same success rates at every n: their lines in success_rate.png differ."""
    import matplotlib

    matplotlib.use("Agg")
    from narrowrelu.bench.sample_complexity import plots

    rows = [{"family": "random", "k": 1, "d": 3, "method": m, "n": n, "success_rate": 0.5}
            for m in ("moment_refined", "gd_2k") for n in (100, 1000)]
    captured = []
    real = plots._save
    plots._save = lambda plt, fig, path: captured.append(fig) or path
    try:
        plots.plot_success(rows, 1e-3, os.devnull, ["moment_refined", "gd_2k"])
    finally:
        plots._save = real
    lines = [tuple(map(tuple, line.get_xydata())) for ax in captured[0].get_axes() for line in ax.get_lines()
             if line.get_label() in ("moment_refined", "gd_2k")]
    return len(lines) == 2 and lines[0] != lines[1]


def command_probes():
    """The probes of issue 23's commands part: memory, seeds, the --out lock, versions, small ones."""
    sweep = ["bench", "sample-complexity", "--n-jobs", "1", "--no-progress"]
    out = []
    # the n = 3e8, d = 20 cell needs about 94 GB: a clear error on a machine with less free memory
    for name, argv in (
            ("--n-min 1e12 --n-max 1e12", sweep + ["--n-min", "1e12", "--n-max", "1e12"]),
            ("--n-min 3e8 --n-max 3e8 --d 20 (one cell)",
             sweep + ["--n-min", "3e8", "--n-max", "3e8", "--d", "20", "--families", "random", "--k", "1",
                      "--seeds", "1", "--methods", "moment_refined"])):
        argv = argv + ["--out", tempfile.mkdtemp(prefix="probe-")]
        out.append((f"cli bench sample-complexity {name}", lambda a=argv: cli(a), "exit2:available"))
    out.append(("cli demo --n 1e9", lambda: cli(["demo", "--n", "1e9"]), "exit2:available"))
    out.append(("cli sweep: a cell too large for memory is recorded failed, the sweep goes on",
                failed_cell_recorded_and_sweep_goes_on, "ok"))
    out.append(("cli bench sample-complexity --seeds 100000000", lambda: cli(
        sweep + ["--seeds", "100000000", "--out", tempfile.mkdtemp(prefix="probe-")]), "exit2:at most 10000"))
    out.append(("cli bench sample-complexity --n-per-decade 1e8", lambda: cli(
        sweep + ["--n-per-decade", "100000000", "--out", tempfile.mkdtemp(prefix="probe-")]), "exit2:fits"))
    holder = os.getppid()
    out.append(("cli sweep on an --out locked by a live pid", lambda: quiet(cli, tiny_sweep(with_lock(holder))),
                f"exit2:pid {holder}"))
    out.append(("cli sweep on an --out with a stale lock (dead pid)", stale_lock_taken_over, "ok"))
    out.append(("cli sweep says when --out mixes package versions", mixed_versions_said, "ok"))
    out.append(("cli per-n table has a title line", per_n_table_titled, "ok"))
    out.append(("cli report: no 0.00 slope artefacts", slope_artefacts_gone, "ok"))
    out.append(("plot: coincident success-rate lines stay distinct", success_lines_distinct, "ok"))
    for name, fn in (("Teacher.random", lambda r: Teacher.random(5, 2, random_state=r)),
                     ("Teacher.sample", lambda r: T.sample(10, random_state=r)),
                     ("MomentReLURegressor", lambda r: MomentReLURegressor(n_neurons=2, random_state=r).fit(X, Y)),
                     ("GDReLURegressor", lambda r: GDReLURegressor(n_neurons=2, random_state=r).fit(X, Y)),
                     ("monte_carlo_mse", lambda r: monte_carlo_mse(T, T, 100, random_state=r))):
        for bad in (-1, 1.5):
            out.append((f"{name} random_state={bad}", lambda f=fn, b=bad: f(b), "error:random_state"))
    return out


class Hang(Exception):
    """A probe ran past its time limit."""


def _alarm(signum, frame):
    raise Hang()


def classify(fn, kind, timeout=120):
    """The outcome of one probe: clear error, correct result, silent wrong result, traceback or hang.

    ``kind`` is ``"ok"`` (``fn`` returns True), ``"either"``, ``"error"`` (a clear ValueError),
    ``"exit2"`` (argparse's exit 2 with one error line), or ``"error:TEXT"`` / ``"exit2:TEXT"``
    (the message must also contain TEXT).
    """
    kind, _, needed = kind.partition(":")
    err = io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(err):
            warnings.simplefilter("ignore")
            result = fn()
    except Hang:
        return "hang", [f"no answer within {timeout} s"]
    except SystemExit as exc:
        text = err.getvalue()
        ok = exc.code == 2 and "Traceback" not in text and text.count("error:") == 1 and needed in text
        return ("clear error" if ok and kind == "exit2" else "traceback"), text.strip().splitlines()[-1:]
    except ValueError as exc:
        if kind in ("error", "either") and not any(u in str(exc) for u in UNCLEAR) and needed in str(exc):
            return "clear error", [str(exc)[:150]]
        return "traceback", [f"{type(exc).__name__}: {exc}"[:150]]
    except Exception as exc:  # noqa: BLE001 - any other exception is what the probes look for
        return "traceback", [f"{type(exc).__name__}: {exc}"[:150]]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if isinstance(result, (bool, np.bool_)):
        result = bool(result)
    if kind in ("ok", "either") and (result is True or (kind == "either" and result is not False)):
        return "correct result", []
    return "silent wrong result", [repr(result)[:150]]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="print every probe, not only the bad ones")
    parser.add_argument("--only", metavar="TEXT", default=None, help="run only the probes whose name contains TEXT")
    parser.add_argument("--timeout", type=int, default=120,
                        help="seconds before a probe counts as a hang (default 120)")
    args = parser.parse_args(argv)
    verbose = args.verbose
    counts = {"clear error": 0, "correct result": 0, "silent wrong result": 0, "traceback": 0, "hang": 0}
    for name, fn, kind in probes() + fit_diagnostic_probes():
        if args.only is not None and args.only not in name:
            continue
        outcome, note = classify(fn, kind, args.timeout)
        counts[outcome] += 1
        if verbose or outcome in ("silent wrong result", "traceback", "hang"):
            print(f"{outcome:>20}  {name}  {' '.join(note)}")
    print(f"{sum(counts.values())} probes: " + ", ".join(f"{v} {k}s" for k, v in counts.items()))


if __name__ == "__main__":
    main()
