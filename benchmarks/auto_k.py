"""Auto k and wrong k, measured: what ``MomentReLURegressor`` does when k is not given or not right.

Three tables (each row one fit on fresh data; times are ratios between fits of the same run):

``--table auto``: the default call ``n_neurons=None`` against the fit told the true k, on teachers of
the sweep's families; columns: the k chosen, the refined excess population MSE of each over the
parametric rate sigma^2 p / n (p = k(d+1)+d+1 at the true k), the time of the auto fit over the
told fit's, the paired z of the first k the search did not keep ("-": it stopped otherwise) and,
where k was missed, the z the told fit would score against the auto fit on fresh rows as many as
the search holds out (``attainable_z``: at most 3 there, no held-out test at the search's threshold
tells the true k, even given the fit told it).

``--table over``: ``n_neurons`` = a multiple of the true k; the neurons kept, the relative
population MSE of both fits and their ratio, and the time ratios (wall and CPU).

``--table under``: ``n_neurons`` below the true k: whether the under-specification is reported.

Usage::

    python benchmarks/auto_k.py --table auto --families random close_pair clusters --d 20 \
        --k 2 4 6 8 --noise 0.1 0.3 --rows-per-parameter 30 300 --seeds 2
    python benchmarks/auto_k.py --table over --families random --d 20 50 --k 3 6 --factors 2 4 \
        --noise 0 0.1 --n 5e4 --seeds 1
"""
import argparse
import time
import warnings

import numpy as np

from narrowrelu import MomentReLURegressor, population_mse, population_variance
from narrowrelu.learner.rounds import AUTO_K_Z
from narrowrelu.teacher import make_teacher


# a fit "reaches the rate" when its excess is at most this multiple of sigma^2 p / n (the 1.2)
RATE_FACTOR = 1.2


def n_parameters(k, d):
    return k * (d + 1) + d + 1


def data(family, d, k, n, noise, seed):
    teacher = make_teacher(family, d, k, seed)
    X, y = teacher.sample(n, random_state=1000 + seed)
    var = population_variance(teacher)
    sigma = noise * np.sqrt(var)
    y = y + sigma * np.random.default_rng([seed, 77]).standard_normal(n)
    return teacher, X, y, var, sigma


def timed_fit(X, y, **params):
    """The fitted model, its wall seconds and its warnings; its CPU seconds (this process, every
    thread) in ``model.cpu_seconds_``, a steadier measure on a shared machine."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start, cpu = time.perf_counter(), time.process_time()
        model = MomentReLURegressor(**params).fit(X, y)
        seconds = time.perf_counter() - start
        model.cpu_seconds_ = time.process_time() - cpu
    return model, seconds, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def table_auto(args):
    print(f"{'family':<11}{'d':>4}{'k':>4}{'noise':>6}{'n':>8}{'seed':>5}{'k auto':>7}{'told/rate':>10}"
          f"{'auto/rate':>10}{'t told':>8}{'t auto':>8}{'ratio':>7}{'z next':>8}{'z told':>8}")
    right = total = 0
    ratios, excess, missed, z_right = [], [], [], []
    for family in args.families:
        for k in args.k:
            if family == "clusters" and k % 2:
                continue
            if family == "close_pair" and k < 2:
                continue
            for noise in args.noise:
                for mult in args.rows_per_parameter:
                    n = int(mult * n_parameters(k, args.d))
                    for seed in range(args.seed0, args.seed0 + args.seeds):
                        teacher, X, y, var, sigma = data(family, args.d, k, n, noise, seed)
                        rate = sigma**2 * n_parameters(k, args.d) / n
                        told, t_told = best_of(args.repeats, X, y, n_neurons=k, random_state=seed)
                        auto, t_auto = best_of(args.repeats, X, y, random_state=seed)
                        e_told = population_mse(told, teacher) / rate
                        e_auto = population_mse(auto, teacher) / rate
                        total += 1
                        right += auto.n_neurons_ == k
                        z_next = rejected_z(auto)
                        z_told = None
                        if auto.n_neurons_ == k:
                            excess.append(e_auto)
                            z_right.append(z_next)
                        else:
                            z_told = attainable_z(teacher, sigma, auto, told, auto.validation_fraction * n, seed)
                            missed.append((e_told, e_auto, z_next, z_told))
                        ratios.append(t_auto / t_told)
                        print(f"{family:<11}{args.d:>4}{k:>4}{noise:>6g}{n:>8}{seed:>5}{auto.n_neurons_:>7}"
                              f"{e_told:>10.3g}{e_auto:>10.3g}{t_told:>8.2f}{t_auto:>8.2f}{t_auto / t_told:>7.2f}"
                              f"{'-' if z_next is None else format(z_next, '.2f'):>8}"
                              f"{'-' if z_told is None else format(z_told, '.2f'):>8}", flush=True)
    where = (f"where right, auto excess/rate median {np.median(excess):.3g}, max {np.max(excess):.3g}"
             if excess else "right nowhere")
    print(f"true k chosen: {right}/{total}; {where}; time auto/told median {np.median(ratios):.2f}, "
          f"max {np.max(ratios):.2f}")
    if missed:
        told_off = sum(e_told > RATE_FACTOR for e_told, _, _, _ in missed)
        no_worse = sum(e_auto <= RATE_FACTOR * e_told for e_told, e_auto, _, _ in missed)
        zs = [z for _, _, z, _ in missed if z is not None]
        attainable = sum(z > AUTO_K_Z for _, _, _, z in missed)
        print(f"where k was missed ({len(missed)}): the fit told k is itself above {RATE_FACTOR}x the rate on "
              f"{told_off}; the auto fit's excess is within {RATE_FACTOR}x the told fit's on {no_worse}; the paired "
              f"z of the first k not kept is below 2 on {sum(z < 2 for z in zs)} and below 0 on "
              f"{sum(z < 0 for z in zs)} of the {len(zs)} searches that stopped on it; the fit told k would pass "
              f"the search's test (z > {AUTO_K_Z:g} on as many fresh rows as it holds out) on {attainable}")
        print(threshold_bound(right, total, z_right, [z for _, _, _, z in missed]))


def threshold_bound(right, total, z_right, z_told, thresholds=(3.0, 2.5, 2.0, 1.5, 1.0, 0.5, 0.0)):
    """What another threshold of the paired test could do, at most, for the true k: at a threshold
    t, a fit that chose the true k keeps it only if its next k scored at most t (its ``z next``;
    a search that stopped otherwise keeps it), and a miss can be mended at best where the fit told
    the true k scores above t against it (its ``z told``; the search's own model of that k is
    no better). An upper bound, from the same fits."""
    parts = []
    for t in thresholds:
        kept = sum(z is None or z <= t for z in z_right)
        mended = sum(z is not None and z > t for z in z_told)
        parts.append(f"{t:g}: {kept + mended}")
    return (f"true k at most, with the test's threshold at t (t: fits of {total}; {right} at {AUTO_K_Z:g}): "
            + ", ".join(parts))


def attainable_z(teacher, sigma, smaller, larger, m, seed, rows=200_000):
    """The z the paired test of ``larger`` against ``smaller`` (both fitted) has in expectation on
    ``m`` fresh held-out rows: with :math:`D = (y - g_s(x))^2 - (y - g_l(x))^2` on ``rows`` fresh
    noisy rows of ``teacher``, :math:`\\bar D/s_D\\cdot\\sqrt m`. Given the fit told the true k as
    ``larger``, the best the search's test could do on its own held-out rows."""
    X, f = teacher.sample(rows, random_state=np.random.SeedSequence([seed, 91]))
    y = f + sigma * np.random.default_rng([seed, 92]).standard_normal(rows)
    D = (y - smaller.predict(X)) ** 2 - (y - larger.predict(X)) ** 2
    spread = D.std()
    return 0.0 if spread == 0.0 else float(D.mean() / spread * np.sqrt(m))


def rejected_z(model):
    """The paired z of the first k the search did not keep (the last one it tried), or ``None``
    when it stopped for another reason (a held-out fit within tolerance, its limit)."""
    tried = model.k_search_
    if len(tried) > 1 and tried[-1]["z"] is not None and not tried[-1]["z"] > AUTO_K_Z:
        return float(tried[-1]["z"])
    return None


def best_of(repeats, X, y, **params):
    """:func:`timed_fit` ``repeats`` times: the last model, with the least wall and CPU seconds of
    them (the fit is deterministic; the least time is the one least slowed by other jobs)."""
    walls, cpus = [], []
    for _ in range(repeats):
        model, seconds, _ = timed_fit(X, y, **params)
        walls.append(seconds)
        cpus.append(model.cpu_seconds_)
    model.cpu_seconds_ = min(cpus)
    return model, min(walls)


def table_over(args):
    """``--table over``: for each d of ``--d``, true k of ``--k`` and factor of ``--factors`` (asked
    = factor k, at most d), the fit told k and the fit asked; rows at ``--n`` or, with
    ``--rows-per-asked-parameter``, at that many rows per parameter of the asked model. The
    ratio columns are the asked fit's wall and CPU seconds over the told fit's (same data, same
    run; with ``--repeats``, the least of that many fits each)."""
    print(f"{'family':<11}{'d':>4}{'k':>4}{'asked':>6}{'noise':>6}{'n':>8}{'seed':>5}{'kept':>5}{'rel told':>10}"
          f"{'rel asked':>10}{'mse ratio':>10}{'t told':>8}{'t asked':>8}{'ratio':>7}{'cpu ratio':>10}")
    ratios, cpu_ratios, mse_ratios, kept_right, total = [], [], [], 0, 0
    for family in args.families:
        for d in args.d_values:
            for k in args.k:
                for factor in args.factors:
                    asked = factor * k
                    if asked > d:
                        continue
                    n = int(args.n if args.rows_per_asked_parameter is None
                            else args.rows_per_asked_parameter * n_parameters(asked, d))
                    for noise in args.noise:
                        for seed in range(args.seed0, args.seed0 + args.seeds):
                            teacher, X, y, var, sigma = data(family, d, k, n, noise, seed)
                            told, t_told = best_of(args.repeats, X, y, n_neurons=k, random_state=seed)
                            over, t_over = best_of(args.repeats, X, y, n_neurons=asked, random_state=seed)
                            e_told, e_over = population_mse(told, teacher) / var, population_mse(over, teacher) / var
                            # noiseless fits are exact to rounding: errors below 1e-12 Var f are equal
                            mse_ratio = max(e_over, 1e-12) / max(e_told, 1e-12)
                            ratios.append(t_over / t_told)
                            cpu_ratios.append(over.cpu_seconds_ / told.cpu_seconds_)
                            mse_ratios.append(mse_ratio)
                            total += 1
                            kept_right += over.n_neurons_ == k
                            print(f"{family:<11}{d:>4}{k:>4}{asked:>6}{noise:>6g}{n:>8}{seed:>5}"
                                  f"{over.n_neurons_:>5}{e_told:>10.2e}{e_over:>10.2e}{mse_ratio:>10.2f}{t_told:>8.2f}"
                                  f"{t_over:>8.2f}{t_over / t_told:>7.2f}{cpu_ratios[-1]:>10.2f}", flush=True)
    print(f"kept the true k: {kept_right}/{total}; rel MSE asked/told (floored at 1e-12): median "
          f"{np.median(mse_ratios):.2f}, max {np.max(mse_ratios):.2f}; time asked/told: median "
          f"{np.median(ratios):.2f}, max {np.max(ratios):.2f}; CPU time asked/told: median "
          f"{np.median(cpu_ratios):.2f}, max {np.max(cpu_ratios):.2f}")


def table_under(args):
    print(f"{'family':<11}{'d':>4}{'k':>4}{'asked':>6}{'noise':>6}{'n':>8}{'seed':>5}{'reported':>9}")
    flagged = total = 0
    for family in args.families:
        for k in args.k:
            for asked in range(max(1, k - 2), k):
                for noise in args.noise:
                    for seed in range(args.seed0, args.seed0 + args.seeds):
                        teacher, X, y, var, sigma = data(family, args.d, k, int(args.n), noise, seed)
                        model, _, _ = timed_fit(X, y, n_neurons=asked, random_state=seed)
                        hit = bool(model.underfit_)
                        flagged += hit
                        total += 1
                        print(f"{family:<11}{args.d:>4}{k:>4}{asked:>6}{noise:>6g}{int(args.n):>8}{seed:>5}"
                              f"{'yes' if hit else 'NO':>9}", flush=True)
    print(f"under-specification reported: {flagged}/{total}")


def compare_cells(before, after, target=1e-3):
    """Cells of two sweeps' ``cells.jsonl`` (same command, two versions): on the cells both hold,
    how many moment_refined excess MSEs are equal, and the successes (excess <= target Var f)."""
    import json

    def load(path):
        out = {}
        with open(path) as fh:
            for line in fh:
                rec = json.loads(line)
                out[(rec["family"], rec["k"], rec["n"], rec["seed"], rec["method"])] = rec
        return out

    a, b = load(before), load(after)
    common = sorted(set(a) & set(b))
    same = sum(a[key]["mse"] == b[key]["mse"] for key in common)
    ok_a = sum(a[key]["mse"] <= target * a[key]["var_f"] for key in common)
    ok_b = sum(b[key]["mse"] <= target * b[key]["var_f"] for key in common)
    ratios = [b[key]["mse"] / a[key]["mse"] for key in common if a[key]["mse"] > 0 and a[key]["mse"] != b[key]["mse"]]
    t_a = np.median([a[key]["fit_seconds"] for key in common])
    t_b = np.median([b[key]["fit_seconds"] for key in common])
    print(f"{len(common)} common cells; excess MSE equal on {same}; successes (<= {target:g} Var f) before {ok_a}, "
          f"after {ok_b}; median fit seconds before {t_a:.2f}, after {t_b:.2f}")
    for key in common:
        if a[key]["mse"] != b[key]["mse"]:
            print(f"  {key}: before {a[key]['mse']:.3e}, after {b[key]['mse']:.3e}, seconds "
                  f"{a[key]['fit_seconds']:.2f} -> {b[key]['fit_seconds']:.2f}")
    if ratios:
        print(f"changed cells: after/before excess MSE median {np.median(ratios):.3g}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", choices=("auto", "over", "under", "cells"), default="auto")
    parser.add_argument("--cells", nargs=2, metavar=("BEFORE", "AFTER"), help="--table cells: two cells.jsonl files")
    parser.add_argument("--families", nargs="+", default=["random", "close_pair", "clusters"])
    parser.add_argument("--d", type=int, nargs="+", default=[20], dest="d_values",
                        help="features (several for --table over; the first elsewhere)")
    parser.add_argument("--rows-per-asked-parameter", type=float, default=None,
                        help="--table over: n = this many rows per parameter of the asked model (instead of --n)")
    parser.add_argument("--k", type=int, nargs="+", default=[2, 4, 6, 8])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.3])
    parser.add_argument("--rows-per-parameter", type=float, nargs="+", default=[30, 300])
    parser.add_argument("--factors", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--n", type=float, default=2e5)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1,
                        help="--table auto and over: time each fit this many times, keep the least")
    parser.add_argument("--seed0", type=int, default=100, help="first seed (fresh seeds: not the sweep's 0..4)")
    args = parser.parse_args()
    args.d = args.d_values[0]
    if args.table == "cells":
        compare_cells(*args.cells)
        return
    {"auto": table_auto, "over": table_over, "under": table_under}[args.table](args)


if __name__ == "__main__":
    main()
