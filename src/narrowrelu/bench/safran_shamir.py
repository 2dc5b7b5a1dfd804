"""``narrowrelu bench safran-shamir``: reproduce the failure rates of population GD.

Protocol of Safran & Shamir (ICML 2018): orthonormal teacher :math:`f(x) = \\sum_{i\\le k}
\\mathrm{relu}(e_i\\cdot x)` in :math:`d = k` dimensions; student of width :math:`n` with all
output weights fixed to 1 and no intercept; Xavier initialisation
:math:`W = (\\mathrm{randn}(d, n)/\\sqrt d)^T`; plain GD with step 0.1 on the exact objective
:math:`\\tfrac12\\mathrm{MSE}` until the gradient norm is at most :math:`10^{-9}` (or an iteration
cap). A run fails when its final objective is at least :math:`10^{-3}`.

Each (k, width) cell reports failures/runs with a Wilson score 95 % interval, beside the rate the
authors found (``narrowrelu/data/safran_shamir_2018.csv``, 1000 runs a cell) and its own
interval. Every run draws its initialisation from ``SeedSequence([seed, k, width, run])``, so
results do not depend on ``--n-jobs``.
"""

import csv
import json
import sys
import time
from importlib import resources

import numpy as np
from joblib import Parallel, delayed
from scipy.stats import norm
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ..baseline.objectives import (
    PopulationObjective,
    decay_vector,
    trained_mask,
    xavier_init,
)
from ..baseline.population_loss import teacher_terms
from ..baseline.solvers import TrainingHistory, population_gradient_descent
from ..network import pack_parameters
from ..teacher import Teacher
from ._args import check_output_file, count, integer

STEP = 0.1
GRADIENT_TOL = 1e-9
FAILURE_OBJECTIVE = 1e-3
ANCHOR_FILE = "safran_shamir_2018.csv"


def load_anchors():
    """The authors' results: ``{(k, n): {"bad_runs", "runs", "mse_bad_min"}}``."""
    text = resources.files("narrowrelu").joinpath("data", ANCHOR_FILE).read_text()
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {
        (int(r["k"]), int(r["n"])): {
            "bad_runs": int(r["bad_runs"]), "runs": int(r["runs"]), "mse_bad_min": float(r["mse_bad_min"]),
        }
        for r in rows
    }


def wilson_interval(successes, trials, confidence=0.95):
    """Wilson score interval for a binomial proportion.

    .. math::

        \\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}
    """
    z = norm.ppf(0.5 + confidence / 2)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials**2)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def run_batch(k, width, seed, runs, max_iter):
    """Population GD from ``len(runs)`` Xavier starts; per run ``(objective, n_iter, converged)``."""
    terms = teacher_terms(Teacher.orthonormal(k))
    objective = PopulationObjective(terms, width, decay_vector(width, k, 0.0, False))
    mask = trained_mask(width, k, False, False)
    out = []
    with threadpool_limits(limits=1, user_api="blas"):
        for run in runs:
            rng = np.random.default_rng(np.random.SeedSequence([seed, k, width, run]))
            theta = pack_parameters(xavier_init(k, width, rng), np.ones(width), None, 0.0)
            result = population_gradient_descent(
                theta, objective, mask, STEP, max_iter, GRADIENT_TOL, TrainingHistory(width, k, None)
            )
            out.append((result.objective, result.n_iter, result.converged))
    return out


def cell_record(k, width, results, anchors, seconds):
    """Summary of one (k, width) cell; MSE figures are absolute (twice the objective)."""
    objective = np.array([r[0] for r in results])
    iters = np.array([r[1] for r in results])
    converged = np.array([r[2] for r in results])
    failed = objective >= FAILURE_OBJECTIVE
    runs = len(results)
    low, high = wilson_interval(int(failed.sum()), runs)
    anchor = anchors.get((k, width))
    record = {
        "k": k,
        "width": width,
        "runs": runs,
        "failures": int(failed.sum()),
        "rate": float(failed.mean()),
        "ci_low": low,
        "ci_high": high,
        "interval": "wilson 95%",
        "anchor_rate": None,
        "anchor_runs": None,
        "anchor_ci_low": None,
        "anchor_ci_high": None,
        "anchor_in_ci": None,
        "min_failure_mse": float(2 * objective[failed].min()) if failed.any() else None,
        "anchor_mse_bad_min": None,
        "mean_iterations": float(iters.mean()),
        "max_iterations": int(iters.max()),
        "not_converged": int((~converged).sum()),
        "seconds": seconds,
    }
    if anchor is not None:
        rate = anchor["bad_runs"] / anchor["runs"]
        a_low, a_high = wilson_interval(anchor["bad_runs"], anchor["runs"])
        record.update(
            anchor_rate=rate, anchor_runs=anchor["runs"], anchor_ci_low=a_low, anchor_ci_high=a_high,
            anchor_in_ci=bool(low <= rate <= high), anchor_mse_bad_min=anchor["mse_bad_min"],
        )
    return record


def format_table(records):
    head = (
        f"{'k':>3}{'width':>6}{'failed/runs':>13}{'rate':>8}  {'95% CI (Wilson)':<17}"
        f"{'anchor':>8}  {'anchor 95% CI':<17}{'agree':>6}{'min bad MSE':>13}{'anchor min':>12}"
        f"{'mean iter':>11}{'capped':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in records:
        anchor = "" if r["anchor_rate"] is None else f"{r['anchor_rate']:.3f}"
        a_ci = "" if r["anchor_rate"] is None else f"[{r['anchor_ci_low']:.3f}, {r['anchor_ci_high']:.3f}]"
        agree = "" if r["anchor_in_ci"] is None else ("yes" if r["anchor_in_ci"] else "NO")
        bad = "" if r["min_failure_mse"] is None else f"{r['min_failure_mse']:.4f}"
        a_bad = "" if r["anchor_mse_bad_min"] is None else f"{r['anchor_mse_bad_min']:.4f}"
        lines.append(
            f"{r['k']:>3}{r['width']:>6}{str(r['failures']) + '/' + str(r['runs']):>13}{r['rate']:>8.3f}  "
            f"{'[' + format(r['ci_low'], '.3f') + ', ' + format(r['ci_high'], '.3f') + ']':<17}"
            f"{anchor:>8}  {a_ci:<17}{agree:>6}{bad:>13}{a_bad:>12}{r['mean_iterations']:>11.0f}{r['not_converged']:>8}"
        )
    return "\n".join(lines)


def add_parser(commands):
    p = commands.add_parser(
        "safran-shamir",
        help="reproduce the Safran-Shamir (2018) failure rates of population GD",
        description="Plain GD (step 0.1) on the exact population objective MSE/2 for the orthonormal "
        "teacher d = k, output weights fixed to 1, Xavier init; a run fails when the objective ends "
        ">= 1e-3. Prints failures/runs, the rate with a Wilson 95% interval, and the authors' rate.",
    )
    p.add_argument("--k", nargs="+", type=count(1), default=[6, 8, 10, 12], help="teacher sizes (default: 6 8 10 12)")
    width = p.add_mutually_exclusive_group()
    width.add_argument("--width", nargs="+", type=count(1), help="student widths (default: k)")
    width.add_argument("--extra-width", nargs="+", type=integer(), metavar="OFFSET",
                       help="student widths k + OFFSET (e.g. --extra-width 0 1)")
    p.add_argument("--runs", type=count(1), default=200, help="initialisations per (k, width) (default: 200)")
    p.add_argument("--max-iter", type=count(1), default=100_000, help="GD iteration cap per run (default: 100000)")
    p.add_argument("--seed", type=integer(0), default=0, help="base seed (default: 0)")
    p.add_argument("--n-jobs", type=count(1), default=1, help="parallel worker processes (default: 1)")
    p.add_argument("--json", metavar="PATH", help="write one record per (k, width) as JSON")
    p.set_defaults(func=run)
    return p


def cells(args):
    if args.width is not None:
        return [(k, w) for k in args.k for w in args.width]
    offsets = args.extra_width if args.extra_width is not None else [0]
    return [(k, k + o) for k in args.k for o in offsets]


def check_args(args, parser):
    if any(k < 1 for k in args.k):
        parser.error(f"--k values must be >= 1, got {args.k}")
    if args.width is not None and any(w < 1 for w in args.width):
        parser.error(f"--width values must be >= 1, got {args.width}")
    if args.extra_width is not None and any(k + o < 1 for k in args.k for o in args.extra_width):
        parser.error(f"--extra-width offsets must leave width k + offset >= 1, got {args.extra_width}")
    if args.runs < 1:
        parser.error(f"--runs must be >= 1, got {args.runs}")
    if args.max_iter < 1:
        parser.error(f"--max-iter must be >= 1, got {args.max_iter}")
    if args.n_jobs < 1:
        parser.error(f"--n-jobs must be >= 1, got {args.n_jobs}")
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    check_output_file(args.json, parser)


def run(args, parser):
    check_args(args, parser)
    anchors = load_anchors()
    todo = cells(args)
    n_batches = min(args.runs, max(20, 8 * args.n_jobs))
    records = []
    with tqdm(total=len(todo) * args.runs, desc="GD runs", unit="run", file=sys.stderr) as progress:
        for k, width in todo:
            start = time.perf_counter()
            batches = [b.tolist() for b in np.array_split(np.arange(args.runs), n_batches) if b.size]
            results = []
            jobs = Parallel(n_jobs=args.n_jobs, return_as="generator")(
                delayed(run_batch)(k, width, args.seed, batch, args.max_iter) for batch in batches
            )
            for batch_results in jobs:
                results.extend(batch_results)
                progress.update(len(batch_results))
            records.append(cell_record(k, width, results, anchors, time.perf_counter() - start))
    print(format_table(records))
    print(
        f"failure: objective MSE/2 >= {FAILURE_OBJECTIVE:g}; GD step {STEP}, stop at gradient norm <= "
        f"{GRADIENT_TOL:g} or --max-iter {args.max_iter}; 'agree': the anchor rate lies in our interval; "
        "'capped': runs stopped by --max-iter"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=1)
    return 0
