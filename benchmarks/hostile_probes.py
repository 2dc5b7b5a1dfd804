"""Probes of hostile input against the estimators, Teacher, the scores and the CLI; prints the
count of clear errors, correct results, silent wrong results and tracebacks.

    PYTHONPATH=src python benchmarks/hostile_probes.py [-v]

A probe either expects a clear error (ValueError, or argparse's exit 2, whose message names the
input: no LinAlgError, OverflowError, "internal error" or deep numpy message) or a correct result
(checked against the teacher, or against the unscaled fit). Anything else is counted as a
traceback (an unexpected exception) or a silent wrong result (a result that fails its check).
"""

import contextlib
import io
import sys
import warnings

import numpy as np

from narrowrelu import GDReLURegressor, MomentReLURegressor, ReLUNetwork, Teacher, population_mse, population_variance
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
        out.append((f"moment y*{c:g}", lambda c=c: population_mse(scaled(moment(X, c * Y), yf=c), T) < 1e-8 * VAR, "ok"))
        out.append((f"moment X*{c:g}", lambda c=c: population_mse(scaled(moment(c * X, Y), xf=c), T) < 1e-8 * VAR, "ok"))
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
    out.append(("population_variance 1e200", lambda: population_variance(ReLUNetwork(np.eye(5)[:2] * 1e200, [1.0, 1.0])),
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
    return out


def classify(fn, kind):
    err = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(err):
            warnings.simplefilter("ignore")
            result = fn()
    except SystemExit as exc:
        text = err.getvalue()
        ok = exc.code == 2 and "Traceback" not in text and text.count("error:") == 1
        return ("clear error" if ok and kind == "exit2" else "traceback"), text.strip().splitlines()[-1:]
    except ValueError as exc:
        if kind in ("error", "either") and not any(u in str(exc) for u in UNCLEAR):
            return "clear error", [str(exc)[:150]]
        return "traceback", [f"{type(exc).__name__}: {exc}"[:150]]
    except Exception as exc:  # noqa: BLE001 - any other exception is what the probes look for
        return "traceback", [f"{type(exc).__name__}: {exc}"[:150]]
    if isinstance(result, (bool, np.bool_)):
        result = bool(result)
    if kind in ("ok", "either") and (result is True or (kind == "either" and result is not False)):
        return "correct result", []
    return "silent wrong result", [repr(result)[:150]]


def main():
    verbose = "-v" in sys.argv
    counts = {"clear error": 0, "correct result": 0, "silent wrong result": 0, "traceback": 0}
    for name, fn, kind in probes():
        outcome, note = classify(fn, kind)
        counts[outcome] += 1
        if verbose or outcome in ("silent wrong result", "traceback"):
            print(f"{outcome:>20}  {name}  {' '.join(note)}")
    print(f"{sum(counts.values())} probes: " + ", ".join(f"{v} {k}s" for k, v in counts.items()))


if __name__ == "__main__":
    main()
