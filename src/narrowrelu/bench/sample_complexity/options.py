"""The options of ``narrowrelu bench sample-complexity``: the parser, the two presets (the quick
default and ``--full``), the checks run before any fit, and the command line that reproduces a sweep.

The quick preset is the README's first command: chosen, by measurement, to print its tables and
write its plots within a minute on two cores, numba compilation in a fresh environment included.
``--full`` restores the comparison of every method over the four families.
"""

import argparse
import os
import shlex

from ...teacher import BIAS_FREE_FAMILIES, FAMILIES
from .._args import count, integer, real
from .methods import METHODS, capped_methods, fitters_for
from .sweep import check_scheduler, grid_size, teacher_sizes

#: The quick default: random teachers, the refined moment learner against GD at width 2k and the
#: MLP at width k, two seeds, three n (about 40 s of CPU in a fresh environment, numba's
#: compilation included; close pairs cost the moment learner 2-5 times more per fit).
QUICK = {"families": ["random"], "k": [1, 2, 4], "d": 20, "n_min": 1000.0, "n_max": 10000.0,
         "n_per_decade": 2, "seeds": 2, "methods": ["moment_refined", "gd_2k", "mlp_k"]}
#: ``--full``: every bias-free family and every method, three seeds (``--families biased`` adds the
#: teachers with hidden biases).
FULL = {**QUICK, "families": list(BIAS_FREE_FAMILIES), "seeds": 3, "methods": list(METHODS)}
#: Most seeds per (family, k, n): n* is the share of seeds reaching the target, which 10 000
#: seeds already resolve to 0.01 %, and every seed is one more fit per method.
MAX_SEEDS = 10_000
#: Most fits in one sweep (the plan is held in memory; days of work even at 0.1 s a fit).
MAX_FITS = 1_000_000


def _preset_help(name, text=None):
    quick, full = QUICK[name], FULL[name]
    show = (lambda v: " ".join(map(str, v)) if isinstance(v, list) else f"{v:g}" if isinstance(v, float) else v)
    return f"(default: {text or show(quick)}" + ("" if quick == full else f"; with --full: {show(full)}") + ")"


def add_parser(commands, run):
    """Add the ``sample-complexity`` sub-command, whose ``func`` is ``run``."""
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
            "results.json, meta.json, table.txt, success_rate.png and nstar.png to --out. Each finished fit is "
            "stored in --out/cells.jsonl at once: rerunning a killed sweep computes only the missing cells. "
            "The defaults are a quick comparison (about 40 s of CPU, numba's compilation in a fresh environment "
            "included, spread over the cores); --full runs every method on every family (about 420 s of CPU). "
            "Methods: " + method_lines + "."
        ),
    )
    p.add_argument("--full", action="store_true",
                   help="the full comparison: every family, every method, 3 seeds (about 420 s of CPU); options given "
                   "explicitly still apply")
    p.add_argument("--families", nargs="+", default=None, choices=FAMILIES, metavar="FAMILY",
                   help=f"teacher families, from {', '.join(FAMILIES)} {_preset_help('families')}. close_pair has at "
                   "least 2 neurons and clusters is built from pairs (k // 2 of them), so some k map to the same "
                   "teacher; orthonormal uses d = k; biased is random with hidden biases beta ~ N(0, 1), fitted by "
                   "the moment learner and the GD baselines with biases and rated with p = k(d+2)+d+1")
    p.add_argument("--k", nargs="+", type=count(1), default=None, metavar="K",
                   help=f"numbers of teacher neurons, each 1 <= K <= --d {_preset_help('k')}")
    p.add_argument("--d", type=count(1), default=None, help=f"input dimension {_preset_help('d')}")
    p.add_argument("--n-min", type=real(10), default=None,
                   help=f"smallest sample size of the geometric n grid {_preset_help('n_min')}")
    p.add_argument("--n-max", type=real(10), default=None,
                   help=f"largest sample size of the grid, >= --n-min {_preset_help('n_max')}")
    p.add_argument("--n-per-decade", type=count(1), default=None,
                   help=f"grid points per factor of ten in n {_preset_help('n_per_decade')}")
    p.add_argument("--seeds", type=count(1, maximum=MAX_SEEDS, why="n* is a share of seeds, which 10000 seeds "
                                          "resolve to 0.01%, and each seed is one more fit per method"),
                   default=None,
                   help="seeds per (family, k, n); each seed draws its own teacher (the orthonormal one is fixed), "
                   f"data and initialisation {_preset_help('seeds')}; n* needs >= 90%% of them, so with fewer than "
                   f"10 seeds it needs all; at most {MAX_SEEDS}")
    p.add_argument("--noise", type=real(0), default=0.1,
                   help="label noise std relative to std f (default: 0.1). Noiseless data cannot tell methods "
                   "apart (every method reaching the right basin ends at ~1e-16); at 0.1 the parametric rate "
                   "0.01 p/n relative to Var f crosses the default target near n = 10 p, inside the default grid, "
                   "so a method fitting at the rate has a finite n* and one stuck in a local minimum does not")
    p.add_argument("--target", type=real(0, closed="neither"), default=1e-3,
                   help="success threshold: excess population MSE <= TARGET * Var f (default: 1e-3); the "
                   "absolute MSE is reported beside it")
    p.add_argument("--n-max-gd", type=real(10), default=None, metavar="N",
                   help="the largest n for the GD and MLP methods, which are much slower at large n: their cells "
                   "above N are not run, and their n* reads '> M' with M the largest n they ran "
                   "(default: no cap)")
    p.add_argument("--methods", nargs="+", default=None, choices=list(METHODS), metavar="METHOD",
                   help=f"methods to compare, from {', '.join(METHODS)} "
                   f"{_preset_help('methods', ' '.join(QUICK['methods']))}")
    p.add_argument("--out", default="sample-complexity-out", metavar="DIR",
                   help="directory for the cell store and every output; created if missing; cells already "
                   "stored there are skipped; one sweep at a time (DIR/sweep.lock holds its pid) "
                   "(default: ./sample-complexity-out)")
    p.add_argument("--n-jobs", type=integer(1, allowed=(-1,)), default=-1,
                   help="fits run in parallel by joblib processes, each with BLAS and numba pinned to one "
                   "thread (default: -1, every core; 1 runs them in this process)")
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


def apply_preset(args):
    """Fill every option left unset from the quick preset, or from :data:`FULL` with ``--full``."""
    preset = FULL if args.full else QUICK
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, list(value) if isinstance(value, list) else value)
    return args


def check_args(args, parser):
    """Validate the options; on a bad one exit with status 2 and one line naming it. Returns the methods."""
    apply_preset(args)
    if any(k > args.d for k in args.k) and set(args.families) - {"orthonormal"}:
        parser.error(f"--k values must be <= --d = {args.d}, got {max(args.k)}")
    if args.n_max < args.n_min:
        parser.error(f"the n grid is empty: --n-max {args.n_max:g} is below --n-min {args.n_min:g}")
    methods = list(dict.fromkeys(args.methods))
    if args.n_max_gd is not None and args.n_max_gd < args.n_min and capped_methods(methods):
        parser.error(f"--n-max-gd {args.n_max_gd:g} is below --n-min {args.n_min:g}: "
                     f"{', '.join(capped_methods(methods))} would run no cell")
    fits = (sum(len(s) for s in teacher_sizes(args.families, args.k, args.d).values())
            * grid_size(args.n_min, args.n_max, args.n_per_decade) * args.seeds * len(fitters_for(methods)))
    if fits > MAX_FITS:
        parser.error(f"this sweep would run {fits:.3g} fits, more than the {MAX_FITS:.0e} one sweep is built for "
                     "(its plan is held in memory, and it would take days even at 0.1 s a fit): lower --seeds, "
                     "--n-per-decade, --k or --families")
    if args.dask_scheduler is not None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            parser.error("--dask-scheduler needs dask.distributed: pip install 'narrowrelu[dask]'")
        if problem := check_scheduler(args.dask_scheduler):
            parser.error(f"--dask-scheduler: {problem}")
    _check_writable(args.out, parser)
    return methods


def _check_writable(directory, parser):
    try:
        os.makedirs(directory, exist_ok=True)
        probe = os.path.join(directory, f".write-test-{os.getpid()}")
        with open(probe, "w") as fh:
            fh.write("ok")
        os.remove(probe)
    except OSError as exc:
        parser.error(f"--out {directory!r} is not writable: {exc.strerror or exc}")


def resolve_n_jobs(n_jobs, n_fits):
    """The worker processes to start: ``-1`` is every core, and never more than the fits to run."""
    wanted = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    return max(1, min(wanted, n_fits))


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

