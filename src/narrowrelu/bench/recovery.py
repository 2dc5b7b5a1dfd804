"""``narrowrelu bench recovery``: how well the moment learner recovers planted teachers.

Per teacher family, k, n and seed: exact population MSE (relative and absolute) of the raw
moment solution and of the refined one, the matched cosine between teacher and learned neurons,
and the fit time. Summaries count the seeds reaching a target and fit log-log slopes of the
raw MSE against n.
"""

import json
import time

import numpy as np

from ..learner.estimator import MomentReLURegressor
from ..metrics import matched_cosine, population_mse, population_variance
from ..teacher import FAMILIES, make_teacher
from ._args import check_output_file, count, real
from ..network import n_parameters


def recovery_record(family, n_features, n_neurons, n_samples, seed, noise=0.0, **params):
    """Fit the moment learner once and score it exactly against its teacher.

    ``noise`` is the label-noise standard deviation relative to :math:`\\mathrm{std}\\,f`.
    """
    teacher = make_teacher(family, n_features, n_neurons, seed)
    var = population_variance(teacher)
    sigma = noise * np.sqrt(var)
    X, y = teacher.with_noise(sigma).sample(n_samples, random_state=10_000 + seed)
    start = time.perf_counter()
    model = MomentReLURegressor(n_neurons=teacher.n_neurons, random_state=seed, **params).fit(X, y)
    seconds = time.perf_counter() - start
    raw = population_mse(model.raw_network_, teacher)
    refined = population_mse(model, teacher)
    d = teacher.n_features
    p = n_parameters(teacher.n_neurons, d)
    return {
        "family": family,
        "d": d,
        "k": teacher.n_neurons,
        "n": n_samples,
        "seed": seed,
        "noise": noise,
        "var_f": var,
        "raw_mse": raw,
        "raw_rel_mse": raw / var,
        "refined_mse": refined,
        "refined_rel_mse": refined / var,
        "parametric_rate": sigma**2 * p / n_samples,
        "raw_cosine": matched_cosine(model.raw_network_, teacher),
        "refined_cosine": matched_cosine(model.network_, teacher),
        "fit_seconds": seconds,
        "refine_seconds": model.timings_.get("refinement", 0.0),
        "rounds": len(model.rounds_),
    }


def loglog_slope(ns, values):
    """Least-squares slope of :math:`\\log v` against :math:`\\log n`."""
    return float(np.polyfit(np.log(ns), np.log(values), 1)[0])


def summarise(records, target):
    """Per (family, k, n, noise): seeds, seeds at relative MSE <= target raw and refined, medians."""
    groups = {}
    for r in records:
        groups.setdefault((r["family"], r["k"], r["n"], r["noise"]), []).append(r)
    rows = []
    for (family, k, n, noise), rs in sorted(groups.items()):
        raw = np.array([r["raw_rel_mse"] for r in rs])
        ref = np.array([r["refined_rel_mse"] for r in rs])
        rows.append(
            {
                "family": family,
                "k": k,
                "n": n,
                "noise": noise,
                "seeds": len(rs),
                "raw_ok": int(np.sum(raw <= target)),
                "refined_ok": int(np.sum(ref <= target)),
                "raw_rel_median": float(np.median(raw)),
                "refined_rel_median": float(np.median(ref)),
                "raw_abs_median": float(np.median([r["raw_mse"] for r in rs])),
                "refined_abs_median": float(np.median([r["refined_mse"] for r in rs])),
                "excess_over_rate_median": float(np.median([r["refined_mse"] / r["parametric_rate"] for r in rs]))
                if noise > 0
                else None,
                "cosine_min": float(min(r["refined_cosine"] for r in rs)),
                "fit_seconds_median": float(np.median([r["fit_seconds"] for r in rs])),
            }
        )
    return rows


def format_table(rows, target):
    head = (
        f"{'family':<12}{'k':>3}{'n':>10}{'noise':>6}  "
        f"{'raw<=' + format(target, 'g'):>10}{'ref<=' + format(target, 'g'):>10}"
        f"{'raw rel':>10}{'ref rel':>10}{'raw abs':>10}{'ref abs':>10}{'ref/rate':>9}{'min cos':>9}{'time s':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        rate = "" if r["excess_over_rate_median"] is None else f"{r['excess_over_rate_median']:.2f}"
        lines.append(
            f"{r['family']:<12}{r['k']:>3}{r['n']:>10}{r['noise']:>6g}  "
            f"{str(r['raw_ok']) + '/' + str(r['seeds']):>10}{str(r['refined_ok']) + '/' + str(r['seeds']):>10}"
            f"{r['raw_rel_median']:>10.2e}{r['refined_rel_median']:>10.2e}{r['raw_abs_median']:>10.2e}"
            f"{r['refined_abs_median']:>10.2e}{rate:>9}{r['cosine_min']:>9.5f}{r['fit_seconds_median']:>8.2f}"
        )
    return "\n".join(lines)


def add_parser(commands):
    p = commands.add_parser(
        "recovery",
        help="recovery of planted teachers by the moment learner (raw and refined), exact MSE",
        description="Fit MomentReLURegressor to planted teachers and score it exactly. For each family, k, "
        "n and seed prints raw and refined population MSE, matched cosine and fit time; then the "
        "count of seeds at relative MSE <= --target and the log-log slope of the raw MSE in n.",
    )
    p.add_argument("--families", nargs="+", default=["random"], choices=FAMILIES,
                   help="teacher families (default: random)")
    p.add_argument("--k", nargs="+", type=count(1), default=[1, 2, 3, 4, 6],
                   help="numbers of neurons (default: 1 2 3 4 6)")
    p.add_argument("--n", nargs="+", type=count(1), default=[30_000],
                   help="sample sizes, each at least d + k + 2 (default: 3e4)")
    p.add_argument("--d", type=count(1), default=20, help="input dimension (default: 20; orthonormal uses d = k)")
    p.add_argument("--seeds", type=count(1), default=10, help="seeds per cell (default: 10)")
    p.add_argument("--noise", type=real(0), default=0.0, help="label noise std relative to std f (default: 0)")
    p.add_argument("--target", type=real(0, closed="neither"), default=1e-3,
                   help="relative MSE counted as success (default: 1e-3)")
    p.add_argument("--no-refine", action="store_true", help="skip the refinement (raw moment solution only)")
    p.add_argument("--json", metavar="PATH", help="write every record and the summary as JSON")
    p.set_defaults(func=run)
    return p


def run(args, parser):
    if any(k < 1 for k in args.k):
        parser.error("--k values must be >= 1")
    if any(k > args.d for k in args.k) and set(args.families) - {"orthonormal"}:
        parser.error(f"--k values must be <= --d = {args.d}")
    for family in args.families:
        for k in args.k:
            t = make_teacher(family, args.d, k, 0)
            need = MomentReLURegressor(n_neurons=t.n_neurons).required_samples(t.n_features)
            if min(args.n) < need:
                parser.error(f"--n values must be at least d + k + 2 = {need} for the {family} teacher with "
                             f"d={t.n_features}, k={t.n_neurons}; got {min(args.n)}")
    check_output_file(args.json, parser)
    records = []
    for family in args.families:
        for k in args.k:
            for n in args.n:
                for seed in range(args.seeds):
                    records.append(
                        recovery_record(family, args.d, k, int(n), seed, args.noise, refine=not args.no_refine)
                    )
    rows = summarise(records, args.target)
    print(format_table(rows, args.target))
    slopes = {}
    for family in args.families:
        for k in args.k:
            rs = [r for r in rows if r["family"] == family and r["k"] == k]
            if len(rs) >= 2:
                slopes[f"{family} k={k}"] = loglog_slope([r["n"] for r in rs], [r["raw_rel_median"] for r in rs])
    for name, slope in slopes.items():
        print(f"raw MSE log-log slope in n, {name}: {slope:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"records": records, "summary": rows, "raw_slopes": slopes}, fh, indent=1)
    return 0
