"""``narrowrelu bench diagnose``: which stage of the moment learner lost a fit.

For a fit against a known teacher, each teacher neuron :math:`t_i` (a unit direction, a point of
projective space: the even moments do not see its sign) is followed through the pipeline, in
projective distance :math:`\\delta(a, b) = 1 - |\\hat a\\cdot\\hat b|` (the candidates are lifted out of
:math:`P` by the rounds, so a span estimate that misses a neuron need not lose it):

``span``
    the sine :math:`s_i` of the angle between :math:`t_i` and the span estimate :math:`P`
    (``subspace_``); the best candidate inside :math:`P` is then at least :math:`s_i^2/2` away;
``candidates``
    :math:`\\delta` to the nearest direction of the selected round's candidate pool (``candidates_``);
``raw``
    :math:`\\delta` to the nearest neuron of the raw moment solution (``raw_network_``);
``refined``
    :math:`\\delta` to the nearest neuron of the refined network (``network_``).

A teacher neuron counts as *resolved* at a stage when that distance is at most
:math:`\\tau_i = \\min(0.05, \\delta_{\\min,i}/2)`: nearer to it than half its distance to the
nearest other teacher neuron (a close pair at cosine 0.99 needs 5e-3), so that the neuron found is
attributed to it without ambiguity. A fit that misses the target
(excess MSE :math:`> \\epsilon\\,\\mathrm{Var} f`) is charged, going back from the end, to
``refinement`` when the raw solution resolved every neuron (right start, wrong basin or excess);
else to ``clustering`` (the pool had every neuron, the raw solution lost one, and its nearest raw
neuron stands between it and another teacher neuron: merged) or ``selection`` (the pool had it, the output fit did not
choose it); else to ``candidates`` when the span estimate held every neuron, and to ``span``
when it did not.
"""

import json
import sys
import time

import numpy as np

from ..learner.estimator import MomentReLURegressor
from ..metrics import population_mse, population_variance
from ..teacher import FAMILIES, make_teacher
from ._args import check_output_file, count, real

STAGES = ("span", "candidates", "clustering", "selection", "refinement")
RESOLUTION = 5e-2


def _unit(rows):
    rows = np.atleast_2d(np.asarray(rows, dtype=float))
    norms = np.linalg.norm(rows, axis=1)
    return rows[norms > 0] / norms[norms > 0, None]


def projective_distance_to_nearest(targets, rows):
    """For each unit row of ``targets``, :math:`\\min_j 1 - |t\\cdot \\hat r_j|` over ``rows``
    (1 when ``rows`` is empty)."""
    R = _unit(rows)
    if R.shape[0] == 0:
        return np.ones(targets.shape[0]), np.full(targets.shape[0], -1)
    dist = 1.0 - np.abs(targets @ R.T)
    return dist.min(axis=1), dist.argmin(axis=1)


def resolution(targets):
    """:math:`\\tau_i = \\min(0.05, \\delta_{\\min,i}/2)` for the unit teacher neurons ``targets``."""
    if targets.shape[0] < 2:
        return np.full(targets.shape[0], RESOLUTION)
    sep = 1.0 - np.abs(targets @ targets.T)
    np.fill_diagonal(sep, np.inf)
    return np.minimum(RESOLUTION, sep.min(axis=1) / 2.0)


def _merged(T, raw, raw_match, tau):
    """Whether a lost teacher neuron :math:`t_i` shares its nearest raw neuron :math:`r` with
    another teacher neuron :math:`t_j`, :math:`r` lying between them:
    :math:`\\delta(t_i, r) \\le \\delta(t_i, t_j)/2` (a merge at the pair's centre gives about a quarter)."""
    sep = 1.0 - np.abs(T @ T.T)
    for i in np.flatnonzero(raw > tau):
        for j in np.flatnonzero(raw_match == raw_match[i]):
            if j != i and raw[i] <= sep[i, j] / 2:
                return True
    return False


def diagnose_fit(model, teacher, target=1e-3):
    """Per-stage distances of a fitted :class:`MomentReLURegressor` to ``teacher`` and the stage
    charged with a miss (see the module docstring).

    Returns
    -------
    dict
        ``excess`` (population MSE / Var f of the refined and of the raw network), the worst
        ratio distance / :math:`\\tau` per stage (``span_ratio`` uses :math:`s_i^2/2`), and
        ``stage``: ``"ok"`` when the refined network meets ``target``, else the stage charged.
    """
    T = _unit(teacher.hidden_weights)
    tau = resolution(T)
    var = population_variance(teacher)
    P = model.subspace_
    outside = T - (T @ P) @ P.T
    span = 0.5 * np.sum(outside**2, axis=1)
    cand, _ = projective_distance_to_nearest(T, model.candidates_)
    raw, raw_match = projective_distance_to_nearest(T, model.raw_network_.hidden_weights)
    refined, _ = projective_distance_to_nearest(T, model.network_.hidden_weights)
    out = {
        "refined_rel_mse": float(population_mse(model, teacher) / var),
        "raw_rel_mse": float(population_mse(model.raw_network_, teacher) / var),
        "span_ratio": float(np.max(span / tau)),
        "candidates_ratio": float(np.max(cand / tau)),
        "raw_ratio": float(np.max(raw / tau)),
        "refined_ratio": float(np.max(refined / tau)),
        "rounds": len(model.rounds_),
    }
    if out["refined_rel_mse"] <= target:
        out["stage"] = "ok"
    elif np.all(raw <= tau):
        out["stage"] = "refinement"
    elif np.all(cand <= tau):
        out["stage"] = "clustering" if _merged(T, raw, raw_match, tau) else "selection"
    elif np.all(span <= tau):
        out["stage"] = "candidates"
    else:
        out["stage"] = "span"
    return out


def diagnose_cell(family, d, k, n, seed, noise, target=1e-3, **params):
    """Fit the default moment learner on one sweep cell (the sweep's data and seeds) and diagnose it."""
    teacher = make_teacher(family, d, k, seed)
    sigma = noise * np.sqrt(population_variance(teacher))
    X, y = teacher.with_noise(sigma).sample(n, random_state=10_000 + seed)
    start = time.perf_counter()
    model = MomentReLURegressor(n_neurons=teacher.n_neurons, random_state=seed, **params).fit(X, y)
    seconds = time.perf_counter() - start
    record = {"family": family, "d": teacher.n_features, "k": teacher.n_neurons, "n": n, "seed": seed,
              "noise": noise, "fit_seconds": seconds}
    record.update(diagnose_fit(model, teacher, target))
    return record


def format_table(records):
    head = (f"{'family':<12}{'d':>4}{'k':>4}{'n':>8}{'seed':>5}{'ref rel':>10}{'raw rel':>10}"
            f"{'span/tau':>10}{'cand/tau':>10}{'raw/tau':>10}{'ref/tau':>10}{'rounds':>7}  stage")
    lines = [head]
    for r in records:
        lines.append(f"{r['family']:<12}{r['d']:>4}{r['k']:>4}{r['n']:>8}{r['seed']:>5}{r['refined_rel_mse']:>10.2e}"
                     f"{r['raw_rel_mse']:>10.2e}{r['span_ratio']:>10.2g}{r['candidates_ratio']:>10.2g}"
                     f"{r['raw_ratio']:>10.2g}{r['refined_ratio']:>10.2g}{r['rounds']:>7}  {r['stage']}")
    counts = {s: sum(r["stage"] == s for r in records) for s in ("ok",) + STAGES}
    lines.append("stages charged: " + ", ".join(f"{s} {c}" for s, c in counts.items()))
    return "\n".join(lines)


def add_parser(commands):
    p = commands.add_parser(
        "diagnose", help="which stage of the moment learner lost each fit of a sweep cell",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
    )
    p.add_argument("--families", nargs="+", default=["clusters"], choices=FAMILIES)
    p.add_argument("--k", nargs="+", type=count(1), default=[4])
    p.add_argument("--d", type=count(2), default=20)
    p.add_argument("--n", nargs="+", type=count(10), default=[1974, 7696])
    p.add_argument("--seeds", type=count(1), default=5, help="teacher seeds 0 .. seeds-1 (the sweep's)")
    p.add_argument("--noise", type=real(0), default=0.1, help="label noise in units of std f (default 0.1)")
    p.add_argument("--target", type=real(0, closed="neither"), default=1e-3,
                   help="success: relative excess MSE <= target")
    p.add_argument("--refine-starts", type=int, choices=(1, 2), default=2,
                   help="the estimator's refine_starts (1: the selected moment solution only, as before it existed)")
    p.add_argument("--failures-only", action="store_true", help="print only the fits that miss the target")
    p.add_argument("--json", metavar="PATH", help="write the records as a JSON list")
    p.set_defaults(func=run)
    return p


def run(args, parser):
    check_output_file(args.json, parser)
    records = []
    for family in args.families:
        for k in args.k:
            for n in args.n:
                for seed in range(args.seeds):
                    print(f"# {family} k={k} n={n} seed={seed}", file=sys.stderr, flush=True)
                    records.append(diagnose_cell(family, args.d, k, n, seed, args.noise, args.target,
                                                settings={"refine_starts": args.refine_starts}))
    shown = [r for r in records if r["stage"] != "ok"] if args.failures_only else records
    print(format_table(shown))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=1)
    return 0
