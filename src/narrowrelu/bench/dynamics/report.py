"""Fits and printed tables of ``narrowrelu bench dynamics``.

Escape times are fitted per (teacher, width, escape :math:`j`: from the saddle with :math:`j - 1`
teacher neurons learned, see :func:`.runs.escapes_by_saddle`) by least squares,
:math:`t_j = c + \\beta_j\\ln(1/s)` over every start that has a :math:`j`-th escape, with the
standard error of :math:`\\beta_j` from the residuals (:math:`n - 2` degrees of freedom); the
ratio :math:`\\sigma_1/\\sigma_2` at the first escape as :math:`\\ln(\\sigma_1/\\sigma_2) = c + \\gamma\\ln(1/s)`.
"""

from collections import defaultdict

import numpy as np

#: The excess population MSE over Var f that the weight-decay summary asks for.
EXCESS_TARGET = 1e-3
#: Fewest init scales for a fit of escape iterations on ln(1/s).
MIN_INITS = 3
#: The sigma_1/sigma_2 that the first escape is expected to reach.
RATIO_TARGET = 10.0


def line_fit(x, y):
    """Least-squares line: ``(slope, slope_se, intercept, r2, n)`` (``nan`` where undefined)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = x.size
    if n < 2 or np.ptp(x) == 0:
        return float("nan"), float("nan"), float("nan"), float("nan"), n
    xm, ym = x.mean(), y.mean()
    sxx = np.sum((x - xm) ** 2)
    slope = float(np.sum((x - xm) * (y - ym)) / sxx)
    intercept = float(ym - slope * xm)
    resid = y - intercept - slope * x
    sst = np.sum((y - ym) ** 2)
    r2 = float(1 - np.sum(resid**2) / sst) if sst > 0 else float("nan")
    se = float(np.sqrt(np.sum(resid**2) / (n - 2) / sxx)) if n > 2 else float("nan")
    return slope, se, intercept, r2, n


def cell_key(record):
    return (record["family"], record["k"], record["width"])


def teacher_label(family, k):
    return f"{family} k={k}"


def group(records, key):
    out = defaultdict(list)
    for r in records:
        out[key(r)].append(r)
    return out


def escape_fits(records, predictions):
    """One fit per (teacher, width, escape) over every start, and one per start (the random
    directions of a start are the same at every init scale, so a start's escapes trace one path);
    ``predictions[(family, k)]`` is the predicted slope of the first escape. Fits need
    :data:`MIN_INITS` init scales."""
    fits = []
    for (family, k, width), runs in sorted(group(records, cell_key).items()):
        for j in range(k):
            hit = [r for r in runs if r["escapes"][j] is not None]
            inits = len({r["init_scale"] for r in hit})
            if inits < MIN_INITS:
                continue
            slope, se, intercept, r2, n = line_fit([np.log(1 / r["init_scale"]) for r in hit],
                                                   [r["escapes"][j] for r in hit])
            per_start = []
            for rep in sorted({r["rep"] for r in runs}):
                mine = [r for r in hit if r["rep"] == rep]
                ok = len({r["init_scale"] for r in mine}) >= MIN_INITS
                per_start.append(line_fit([np.log(1 / r["init_scale"]) for r in mine],
                                          [r["escapes"][j] for r in mine])[0] if ok else None)
            fits.append({
                "family": family, "k": k, "width": width, "escape": j + 1, "runs": n, "inits": inits,
                "slope": slope, "slope_se": se, "intercept": intercept, "r2": r2, "time_slope": slope * runs[0]["step"],
                "per_start": per_start, "predicted": predictions.get((family, k)) if j == 0 else None,
            })
    return fits


def ratio_fits(records):
    """Per (teacher, width): the fit of :math:`\\ln(\\sigma_1/\\sigma_2)` at the first escape on
    :math:`\\ln(1/s)`, the smallest ratio and the inits where it is below :data:`RATIO_TARGET`."""
    out = []
    for (family, k, width), runs in sorted(group(records, cell_key).items()):
        pts = [(np.log(1 / r["init_scale"]), r["sigma_ratio_escape1"]) for r in runs
               if r["sigma_ratio_escape1"] is not None and np.isfinite(r["sigma_ratio_escape1"])]
        slope, se, _, _, n = line_fit([p[0] for p in pts], [np.log(p[1]) for p in pts]) if pts else (np.nan,) * 4 + (0,)
        low = sorted({r["init_scale"] for r in runs
                      if r["sigma_ratio_escape1"] is not None and r["sigma_ratio_escape1"] < RATIO_TARGET})
        out.append({"family": family, "k": k, "width": width, "exponent": slope, "exponent_se": se, "runs": n,
                    "min_ratio": min((p[1] for p in pts), default=float("nan")), "inits_below_target": low})
    return out


def _order_text(order):
    return "".join(str(i + 1) for i in order) or "-"


def agrees(record):
    """Whether the neurons learned are the largest-|λ| ones, in the order of |λ|."""
    return record["order"] == record["lambda_order"][:len(record["order"])]


def format_dynamics_table(records):
    head = (f"{'teacher':<16}{'width':>6}{'init':>8}  {'plateaus':<10}{'escapes by saddle (median)':<32}"
            f"{'s1/s2 at esc 1':<20}{'order learned':<22}{'as |λ|':>7}{'all k':>7}")
    lines = [head, "-" * len(head)]
    for (family, k, width, init), runs in sorted(group(records, lambda r: (*cell_key(r), -r["init_scale"])).items()):
        init = -init
        hits = [[r["escapes"][j] for r in runs if r["escapes"][j] is not None] for j in range(k)]
        med = [str(int(np.median(h))) if h else "-" for h in hits]
        ratios = [r["sigma_ratio_escape1"] for r in runs if r["sigma_ratio_escape1"] is not None]
        ratio = f"{min(ratios):.3g}..{max(ratios):.3g}" if ratios else "-"
        lines.append(
            f"{teacher_label(family, k):<16}{width:>6}{init:>8.0e}  "
            f"{' '.join(str(len(r['plateaus'])) for r in runs):<10}"
            f"{' '.join(med):<32}{ratio:<20}"
            f"{' '.join(_order_text(r['order']) for r in runs):<22}"
            f"{sum(agrees(r) for r in runs):>5}/{len(runs)}"
            f"{sum(len(r['order']) == r['k'] for r in runs):>5}/{len(runs)}"
        )
    return "\n".join(lines)


def _se(value, spec):
    return format(value, spec) if np.isfinite(value) else "- (2 points)"


def format_fit_table(fits):
    head = (f"{'teacher':<16}{'width':>6}{'escape':>7}{'runs':>6}{'inits':>6}  {'slope (iter per ln(1/s))':<26}"
            f"{'η·slope':>8}{'R^2':>7}{'predicted':>10}  per start")
    lines = [head, "-" * len(head)]
    for f in fits:
        slope = f"{f['slope']:.2f} ± {_se(f['slope_se'], '.2f')}" if np.isfinite(f["slope"]) else "-"
        pred = f"{f['predicted']:.2f}" if f["predicted"] is not None else ""
        r2 = f"{f['r2']:.3f}" if np.isfinite(f["r2"]) else "-"
        starts = " ".join("-" if s is None else f"{s:.1f}" for s in f["per_start"])
        lines.append(f"{teacher_label(f['family'], f['k']):<16}{f['width']:>6}{f['escape']:>7}{f['runs']:>6}"
                     f"{f['inits']:>6}  {slope:<26}{f['time_slope']:>8.3f}{r2:>7}{pred:>10}  {starts}")
    return "\n".join(lines)


def format_ratio_table(fits):
    head = (f"{'teacher':<16}{'width':>6}{'runs':>6}  {'exponent γ (ratio ~ s^-γ)':<28}{'smallest ratio':>15}"
            f"  inits with ratio < {RATIO_TARGET:g}")
    lines = [head, "-" * len(head)]
    for f in fits:
        exp = f"{f['exponent']:.3f} ± {_se(f['exponent_se'], '.3f')}" if np.isfinite(f["exponent"]) else "-"
        low = " ".join(f"{s:.0e}" for s in f["inits_below_target"]) or "none"
        lines.append(f"{teacher_label(f['family'], f['k']):<16}{f['width']:>6}{f['runs']:>6}  {exp:<28}"
                     f"{f['min_ratio']:>15.3g}  {low}")
    return "\n".join(lines)


def format_decay_table(records):
    head = (f"{'teacher':<16}{'width':>6}{'alpha':>9}{'active units':>14}{'directions':>12}{'rank':>6}"
            f"{'eff. rank':>11}{'excess MSE/Var f':>18}{'grad norm':>11}")
    lines = [head, "-" * len(head)]
    for r in records:
        lines.append(f"{teacher_label(r['family'], r['k']):<16}{r['width']:>6}{r['alpha']:>9.0e}{r['active_units']:>14}"
                     f"{r['active_directions']:>12}{r['numerical_rank']:>6}{r['effective_rank']:>11.2f}"
                     f"{r['excess_mse']:>18.2e}{r['gradient_norm']:>11.1e}")
    return "\n".join(lines)


def decay_summary(records):
    """Per teacher: the alphas where the active directions, the numerical rank (and, separately,
    the active units) equal k with excess MSE at most :data:`EXCESS_TARGET` Var f."""
    lines = []
    for (family, k), runs in sorted(group(records, lambda r: (r["family"], r["k"])).items()):
        good = [r["alpha"] for r in runs if r["excess_mse"] <= EXCESS_TARGET]
        dirs = [r["alpha"] for r in runs
                if r["alpha"] in good and r["active_directions"] == k and r["numerical_rank"] == k]
        units = [r["alpha"] for r in runs if r["alpha"] in good and r["active_units"] == k]
        lines.append(f"{teacher_label(family, k)}: excess <= {EXCESS_TARGET:g} Var f and k directions, rank k at "
                     f"alpha in {_alphas(dirs)}; and k active units at alpha in {_alphas(units)}")
    return "\n".join(lines)


def _alphas(values):
    return "{" + ", ".join(f"{a:g}" for a in sorted(values)) + "}" if values else "{} (none)"
