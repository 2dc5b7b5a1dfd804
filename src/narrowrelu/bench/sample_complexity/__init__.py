"""``narrowrelu bench sample-complexity``: how many samples each learner needs, per k.

For each teacher family, k, n on a geometric grid and seed, the sweep draws noisy data
:math:`y = f(x) + \\xi`, :math:`\\sigma = \\text{noise}\\cdot\\mathrm{std} f`, fits every chosen method
and scores it by its excess population MSE against the clean teacher. Per (family, k, method) it
reports :math:`n^*(k)`, the smallest n at which at least 90 % of the seeds reach excess MSE
:math:`\\le` target :math:`\\cdot\\,\\mathrm{Var} f`, beside the medians per n and the ratio to the
parametric rate :math:`\\sigma^2 p / n` (:math:`p = k(d+1) + d + 1`), and per (family, method)
the slope of :math:`\\log n^*` against :math:`\\log k`.

The pieces: :mod:`.methods` (the learners and their scoring), :mod:`.sweep` (cells, the
resumable store, local / joblib / dask execution), :mod:`.summary` (tables, CSV, JSON),
:mod:`.slopes` (the n*(k) slopes) and :mod:`.plots` (PNG figures).
"""

import argparse
import os
import platform
import shlex
import sys
import time

from ...teacher import BIAS_FREE_FAMILIES, FAMILIES
from .._args import count, integer, real
from .methods import METHODS, capped_methods, method_caps
from .plots import write_plots
from .slopes import format_slope_table, slope_rows
from .summary import (
    SUCCESS_FRACTION,
    format_nstar_table,
    format_per_n_table,
    nstar_rows,
    per_n_rows,
    write_outputs,
)
from .sweep import (
    CellStore,
    check_scheduler,
    execute,
    geometric_grid,
    pending_jobs,
    plan_jobs,
    teacher_sizes,
)

DEFAULTS = {
    "families": list(BIAS_FREE_FAMILIES),
    "k": [1, 2, 4],
    "d": 20,
    "n_min": 1000.0,
    "n_max": 10000.0,
    "n_per_decade": 2,
    "seeds": 3,
    "noise": 0.1,
    "target": 1e-3,
    "n_max_gd": None,
    "out": "sample-complexity-out",
}


def add_parser(commands):
    method_lines = "; ".join(f"{name}: {spec.description}" for name, spec in METHODS.items())
    p = commands.add_parser(
        "sample-complexity",
        help="samples needed per k by the moment learner, GD and MLPRegressor (n*(k), tables, plots)",
        description=(
            "For each teacher family, k, n on a geometric grid and seed: draw n noisy samples, fit every "
            "chosen method and score it by its exact excess population MSE against the clean teacher "
            "(MLPRegressor by Monte Carlo). Reports per (family, k, method) n*(k), the smallest n at which "
            ">= 90% of seeds reach excess MSE <= TARGET * Var f, the median MSE per n (relative and "
            "absolute), the fit time, and the MSE over the parametric rate sigma^2 p / n; per (family, method) "
            "the least-squares slope of log n* against log k over the k where n* was reached above the "
            "smallest n. Writes the tables to stdout and cells.csv, per_n.csv, nstar.csv, slopes.csv, "
            "results.json, meta.json, table.txt, success_rate.png and nstar.png to --out. Each finished fit is stored in --out/cells.jsonl at once: rerunning a "
            "killed sweep computes only the missing cells. Methods: " + method_lines + "."
        ),
    )
    p.add_argument("--families", nargs="+", default=DEFAULTS["families"], choices=FAMILIES, metavar="FAMILY",
                   help=f"teacher families, from {', '.join(FAMILIES)} (default: all but biased). close_pair has at "
                   "least 2 neurons and clusters is built from pairs (k // 2 of them), so some k map to the same "
                   "teacher; "
                   "orthonormal uses d = k; biased is random with hidden biases beta ~ N(0, 1), fitted by the GD "
                   "baselines with biases and rated with p = k(d+2)+d+1")
    p.add_argument("--k", nargs="+", type=count(1), default=DEFAULTS["k"], metavar="K",
                   help="numbers of teacher neurons, each 1 <= K <= --d (default: 1 2 4)")
    p.add_argument("--d", type=count(1), default=DEFAULTS["d"], help="input dimension (default: 20)")
    p.add_argument("--n-min", type=real(10), default=DEFAULTS["n_min"],
                   help="smallest sample size of the geometric n grid (default: 1000)")
    p.add_argument("--n-max", type=real(10), default=DEFAULTS["n_max"],
                   help="largest sample size of the grid, >= --n-min (default: 10000)")
    p.add_argument("--n-per-decade", type=count(1), default=DEFAULTS["n_per_decade"],
                   help="grid points per factor of ten in n (default: 2)")
    p.add_argument("--seeds", type=count(1), default=DEFAULTS["seeds"],
                   help="seeds per (family, k, n); each seed draws its own teacher (the orthonormal one is "
                   "fixed), data and initialisation "
                   "(default: 3; n* needs >= 90%% of them, so with fewer than 10 seeds it needs all)")
    p.add_argument("--noise", type=real(0), default=DEFAULTS["noise"],
                   help="label noise std relative to std f (default: 0.1). Noiseless data cannot tell methods "
                   "apart (every method reaching the right basin ends at ~1e-16); at 0.1 the parametric rate "
                   "0.01 p/n relative to Var f crosses the default target near n = 10 p, inside the default grid, "
                   "so a method fitting at the rate has a finite n* and one stuck in a local minimum does not")
    p.add_argument("--target", type=real(0, closed="neither"), default=DEFAULTS["target"],
                   help="success threshold: excess population MSE <= TARGET * Var f (default: 1e-3); the "
                   "absolute MSE is reported beside it")
    p.add_argument("--n-max-gd", type=real(10), default=DEFAULTS["n_max_gd"], metavar="N",
                   help="the largest n for the GD and MLP methods, which are much slower at large n: their cells "
                   "above N are not run, and their n* reads '> M' with M the largest n they ran "
                   "(default: no cap)")
    p.add_argument("--methods", nargs="+", default=None, choices=list(METHODS), metavar="METHOD",
                   help=f"methods to compare, from {', '.join(METHODS)} (default: all that this install can run; "
                   "the gd methods need narrowrelu.baseline.estimator)")
    p.add_argument("--out", default=DEFAULTS["out"], metavar="DIR",
                   help="directory for the cell store and every output; created if missing; cells already "
                   "stored there are skipped (default: ./sample-complexity-out)")
    p.add_argument("--n-jobs", type=integer(1, allowed=(-1,)), default=1,
                   help="fits run in parallel by joblib processes, each with BLAS and numba pinned to one "
                   "thread (default: 1; -1 uses every core)")
    p.add_argument("--dask-scheduler", metavar="ADDRESS", default=None,
                   help="address of a running dask scheduler (e.g. tcp://host:8786); the fits go to its workers "
                   "through joblib's dask backend and --n-jobs is ignored (needs the 'dask' extra)")
    p.add_argument("--n-cap", action="append", type=_method_cap, default=None, metavar="METHOD=N",
                   help="the largest n for one method (any method; for a GD or MLP one it replaces --n-max-gd); "
                   "repeat for several, e.g. --n-cap mlp_4k=3e4")
    p.add_argument("--retry-failed", action="store_true",
                   help="compute again the stored cells whose fit raised (they are kept, and skipped, otherwise)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown on stderr by default)")
    p.set_defaults(func=run)
    return p


def _method_cap(text):
    method, sep, value = text.partition("=")
    if not sep or method not in METHODS:
        raise argparse.ArgumentTypeError(f"expected METHOD=N with METHOD one of {', '.join(METHODS)}, got {text!r}")
    return method, real(10)(value)


def check_args(args, parser):
    """Validate the options; on a bad one exit with status 2 and one line naming it."""
    if any(k < 1 for k in args.k):
        parser.error(f"--k values must be >= 1, got {min(args.k)}")
    if args.d < 1:
        parser.error(f"--d must be >= 1, got {args.d}")
    if any(k > args.d for k in args.k) and set(args.families) - {"orthonormal"}:
        parser.error(f"--k values must be <= --d = {args.d}, got {max(args.k)}")
    if args.n_min < 10:
        parser.error(f"--n-min must be >= 10, got {args.n_min:g}")
    if args.n_max < args.n_min:
        parser.error(f"the n grid is empty: --n-max {args.n_max:g} is below --n-min {args.n_min:g}")
    if args.n_per_decade < 1:
        parser.error(f"--n-per-decade must be >= 1, got {args.n_per_decade}")
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    if not args.noise >= 0:
        parser.error(f"--noise must be >= 0, got {args.noise}")
    if not args.target > 0:
        parser.error(f"--target must be > 0, got {args.target}")
    if args.n_jobs == 0 or args.n_jobs < -1:
        parser.error(f"--n-jobs must be >= 1 or -1, got {args.n_jobs}")
    methods = list(dict.fromkeys(args.methods)) if args.methods else list(METHODS)
    if args.n_max_gd is not None and args.n_max_gd < args.n_min and capped_methods(methods):
        parser.error(f"--n-max-gd {args.n_max_gd:g} is below --n-min {args.n_min:g}: "
                     f"{', '.join(capped_methods(methods))} would run no cell")
    if args.dask_scheduler is not None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            parser.error("--dask-scheduler needs dask.distributed: pip install 'narrowrelu[dask]'")
        problem = check_scheduler(args.dask_scheduler)
        if problem:
            parser.error(f"--dask-scheduler: {problem}")
    _check_writable(args.out, parser)
    return methods


def _check_writable(directory, parser):
    try:
        os.makedirs(directory, exist_ok=True)
        probe = os.path.join(directory, ".write-test")
        with open(probe, "w") as fh:
            fh.write("ok")
        os.remove(probe)
    except OSError as exc:
        parser.error(f"--out {directory!r} is not writable: {exc.strerror or exc}")


def canonical_command(args, methods):
    """The full command line, every option spelled out, that reproduces this sweep."""
    parts = ["narrowrelu", "bench", "sample-complexity", "--families", *args.families, "--k", *map(str, args.k),
             "--d", str(args.d), "--n-min", f"{args.n_min:g}", "--n-max", f"{args.n_max:g}",
             "--n-per-decade", str(args.n_per_decade), "--seeds", str(args.seeds), "--noise", f"{args.noise:g}",
             "--target", f"{args.target:g}", "--methods", *methods, "--out", args.out, "--n-jobs", str(args.n_jobs)]
    if args.n_max_gd is not None:
        parts += ["--n-max-gd", f"{args.n_max_gd:g}"]
    for method, cap in getattr(args, "n_cap", None) or []:
        parts += ["--n-cap", f"{method}={cap:g}"]
    if getattr(args, "retry_failed", False):
        parts.append("--retry-failed")
    if args.dask_scheduler:
        parts += ["--dask-scheduler", args.dask_scheduler]
    return shlex.join(parts)


def environment(args):
    """Versions, threads and machine, for the record."""
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for name in ("narrowrelu", "numpy", "scipy", "scikit-learn", "numba", "joblib", "threadpoolctl", "dask",
                 "distributed"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return {
        "versions": versions,
        "threads": {"blas_per_fit": 1, "numba_per_fit": 1, "n_jobs": args.n_jobs,
                    "dask_scheduler": args.dask_scheduler, "cpu_count": os.cpu_count()},
        "machine": {"platform": platform.platform(), "machine": platform.machine(),
                    "processor": platform.processor(), "node": platform.node()},
    }


def run(args, parser):
    """Run (or resume) the sweep, then print the tables and write every output from all stored cells."""
    methods = check_args(args, parser)
    ns = geometric_grid(args.n_min, args.n_max, args.n_per_decade)
    for family, sizes in teacher_sizes(args.families, args.k, args.d).items():
        remapped = [f"{asked}->{k}" for asked, k, _ in sizes if asked != k]
        if remapped:
            print(f"note: {family} teachers use k {', '.join(remapped)}", file=sys.stderr)
    all_caps = method_caps(methods, args.n_max_gd, dict(args.n_cap or []))
    jobs = plan_jobs(args.families, args.k, args.d, ns, args.seeds, args.noise, methods, caps=all_caps)
    store = CellStore(args.out)
    stored = store.load()
    if store.skipped:
        print(f"note: skipped {store.skipped} unreadable line(s) of {store.path} (cut short, not UTF-8 JSON, or "
              "fields of the wrong type); their cells are computed again", file=sys.stderr)
    todo = pending_jobs(jobs, stored, retry_failed=args.retry_failed)
    n_cells = sum(len(j.methods) for j in jobs)
    n_todo = sum(len(j.methods) for j in todo)
    print(f"{n_cells} cells ({len(jobs)} fits); {n_cells - n_todo} already in {args.out}, computing {n_todo} "
          f"in {len(todo)} fits", file=sys.stderr)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    try:
        new, seconds = execute(todo, store, n_jobs=args.n_jobs, dask_scheduler=args.dask_scheduler,
                               progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {len(store.load())} cells are stored in {args.out}; run the same command to "
              "compute the rest", file=sys.stderr)
        return 130
    stored = store.load()
    wanted = {key for job in jobs for key in job.cell_keys()}
    records = [rec for key, rec in stored.items() if key in wanted]
    rows = per_n_rows(records, args.target)
    caps = {m: cap for m, cap in all_caps.items() if cap is not None and cap < ns[-1]}
    nstar = nstar_rows(rows, methods, caps)
    slopes = slope_rows(nstar, methods)
    tables = "\n\n".join((format_per_n_table(rows), format_nstar_table(nstar, args.target),
                           format_slope_table(slopes)))
    print(tables)
    meta = {
        "command": canonical_command(args, methods), "argv": sys.argv, "started": started,
        "sweep_seconds": seconds, "cells_computed": len(new), "cells_total": len(records), "n_grid": ns,
        "n_max_gd": args.n_max_gd, "n_caps": {m: c for m, c in all_caps.items() if c is not None},
        "capped_methods": list(caps),
        "target": args.target, "noise": args.noise, "success_fraction": SUCCESS_FRACTION, **environment(args),
    }
    paths = write_outputs(args.out, records, rows, nstar, slopes, meta, tables)
    paths += write_plots(args.out, rows, nstar, slopes, args.target, methods)
    print(f"wrote {', '.join(os.path.basename(p) for p in paths)} to {args.out}", file=sys.stderr)
    return report_failures(records)


def report_failures(records, most=20):
    """Name the failed cells and their reasons on stderr; 1 when every cell failed, else 0."""
    failed = [r for r in records if r.get("error")]
    if not failed:
        return 0
    print(f"{len(failed)} of {len(records)} cells failed (rerun with --retry-failed to compute them again):",
          file=sys.stderr)
    for r in failed[:most]:
        print(f"  {r['method']} {r['family']} d={r['d']} k={r['k']} n={r['n']} seed={r['seed']}: {r['error']}",
              file=sys.stderr)
    if len(failed) > most:
        print(f"  ... and {len(failed) - most} more", file=sys.stderr)
    if len(failed) == len(records):
        print("error: every fit failed", file=sys.stderr)
        return 1
    return 0
