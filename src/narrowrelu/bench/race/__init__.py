"""``narrowrelu bench race``: time to accuracy, side by side, in one run.

For each size ``n:d:k`` a random teacher (:meth:`narrowrelu.teacher.Teacher.random`) labels
``n`` Gaussian inputs with noise :math:`\\sigma` = ``--noise`` x :math:`\\mathrm{std}\\,f`; then, on
the same data and each on one thread:

``moment``
    :class:`narrowrelu.MomentReLURegressor` told ``k``, every other default (refinement on), in
    this process;
``moment_auto``
    ``MomentReLURegressor()`` as a user calls it without ``k`` (``n_neurons=None``), in this process;
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
import sys

import numpy as np

from .._args import count, integer, output_file_problem, real
from ...teacher import FAMILIES
from .contestants import RATE_FACTOR, _row_time, race_size

METHODS = ("moment", "moment_auto", "gd_k", "gd_2k", "mlp_4k", "mlp_default")
OURS = ("moment", "moment_auto")
PEERS = tuple(m for m in METHODS if m not in OURS)
DEFAULT_SIZES = ("1e6:100:5", "5e4:200:3")
SPEEDUP_GOAL = 3.0


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
        auto = next((r for r in rs if r["method"] == "moment_auto"), None)
        ok_peers = [r for r in rs if r["method"] in PEERS and r["status"] == "ok" and r["reached"]]
        best = min(ok_peers, key=lambda r: r["seconds"]) if ok_peers else None
        row = {"n": n, "d": d, "k": k, "fastest_peer": None, "peer_seconds": None, "moment_seconds": None,
               "moment_reached": None, "speedup": None, "goal": SPEEDUP_GOAL, "goal_met": None,
               "timed_out": [r["method"] for r in rs if r["timed_out"]], "auto_seconds": None,
               "auto_reached": None, "auto_k": None, "auto_speedup": None}
        if auto is not None and auto["status"] == "ok":
            row.update(auto_seconds=auto["seconds"], auto_reached=auto["reached"], auto_k=auto["k_chosen"])
        if moment is not None and moment["status"] == "ok":
            row["moment_seconds"] = moment["seconds"]
            row["moment_reached"] = moment["reached"]
        if best is not None:
            row["fastest_peer"] = best["method"]
            row["peer_seconds"] = best["seconds"]
            if row["moment_seconds"]:
                row["speedup"] = best["seconds"] / row["moment_seconds"]
                row["goal_met"] = bool(row["speedup"] >= SPEEDUP_GOAL and row["moment_reached"])
            if row["auto_seconds"]:
                row["auto_speedup"] = best["seconds"] / row["auto_seconds"]
        out.append(row)
    return out


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
            lines.append(f"{r.get('family', 'random')} n={r['n']:.3g} d={r['d']} k={r['k']}  p={r['p']}  "
                         f"sigma={r['sigma']:.4g} "
                         f"({r['noise']:g} std f)  rate sigma^2 p/n={r['rate']:.3e}  "
                         f"X.T@X={r['reference_seconds']:.4g} s "
                         f"(after the methods: {r['reference_seconds_after']:.4g} s)")
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
            if r["method"] in OURS:
                note = (f"k {r['k_chosen']}, "
                        f"raw excess/rate {r['raw_excess_over_rate']:.3g}, refinement {r['refine_seconds']:.3g} s, "
                        f"{r['rounds']} round(s)")
            elif "n_iter" in r:
                note = f"{r['n_iter']}/{r['max_iter']} iterations"
                if r.get("converged") is False:
                    note += ", not converged"
        lines.append(f"{r['method']:<12}{_row_time(r):>10}{ratio:>10}{excess:>11}{err:>10}{over:>9}{reached:>7}"
                     f"  {note}")
    return "\n".join(lines)


def format_summary(rows):
    lines = []
    for s in rows:
        head = f"n={s['n']:.3g} d={s['d']} k={s['k']}: "
        if s["fastest_peer"] is None:
            text = f"no peer reached {RATE_FACTOR:g}x the rate"
            if s["moment_seconds"] is not None:
                reached = "reached" if s["moment_reached"] else "did NOT reach"
                text += f"; moment {s['moment_seconds']:.2f} s ({reached} it)"
        else:
            text = f"fastest peer at <= {RATE_FACTOR:g}x the rate: {s['fastest_peer']} {s['peer_seconds']:.2f} s"
            if s["speedup"] is not None:
                text += (f"; moment {s['moment_seconds']:.2f} s"
                         f"{'' if s['moment_reached'] else ' (did NOT reach the rate)'}"
                         f", speed-up {s['speedup']:.1f}x (goal >= {SPEEDUP_GOAL:g}x: "
                         f"{'met' if s['goal_met'] else 'NOT met'})")
        if s["auto_seconds"] is not None:
            text += (f"; moment_auto {s['auto_seconds']:.2f} s, k = {s['auto_k']}"
                     f"{'' if s['auto_reached'] else ' (did NOT reach the rate)'}")
            if s["auto_speedup"] is not None:
                text += f", speed-up {s['auto_speedup']:.1f}x"
        if s["timed_out"]:
            text += f" [timed out: {', '.join(s['timed_out'])}]"
        lines.append(head + text)
    return "\n".join(lines)


# ------------------------------------------------------------------ command line
def add_parser(subparsers):
    p = subparsers.add_parser(
        "race",
        help="time to accuracy: the moment learner against GD (L-BFGS) and scikit-learn's MLPRegressor",
        description="Time to accuracy, side by side, in one run. Each method on the same data and one thread; "
        "wall time as a ratio to X.T @ X, excess MSE against the parametric rate sigma^2 p / n; peers in child "
        "processes with a time budget.",
    )
    p.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), metavar="N:D:K",
                   help=f"sizes n:d:k (default: {' '.join(DEFAULT_SIZES)})")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, metavar="METHOD",
                   help=f"methods to run, from {', '.join(METHODS)} (default: all)")
    p.add_argument("--noise", type=real(0, closed="neither"), default=0.1,
                   help="label noise std relative to std f (default: 0.1)")
    p.add_argument("--seed", type=integer(0), default=0, help="teacher and estimator seed (default: 0)")
    p.add_argument("--family", choices=FAMILIES, default="random",
                   help=f"teacher family, from {', '.join(FAMILIES)} (default: random)")
    p.add_argument("--max-peer-seconds", type=real(0, closed="neither"), default=600.0,
                   help="kill a peer's child process after this many seconds (default: 600)")
    p.add_argument("--max-iter", type=count(1), default=None,
                   help="max_iter of gd_k, gd_2k and mlp_4k (default: each estimator's own; "
                        "mlp_default is left as it comes)")
    p.add_argument("--mc-samples", type=count(2), default=2e5,
                   help="Monte Carlo samples of the MLPs' excess MSE (default: 2e5)")
    p.add_argument("--json", metavar="PATH", help="write the records and the summary as JSON")
    p.set_defaults(func=run)
    return p


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
    if args.json and (problem := output_file_problem(args.json)):
        parser.error(problem)
    methods = [m for m in METHODS if m in args.methods]  # the table's order, each once

    def log(msg):
        print(f"# {msg}", file=sys.stderr, flush=True)

    records = []
    for n, d, k in sizes:
        records += race_size(n, d, k, args.seed, args.noise, methods, args.max_peer_seconds, args.max_iter,
                             int(args.mc_samples), log, args.family)
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
