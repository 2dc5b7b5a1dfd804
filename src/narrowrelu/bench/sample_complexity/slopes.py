"""The headline of a sample-complexity sweep: how n*(k) grows with k, as a slope on log-log axes.

Per (family, method), the slope is the least-squares slope of :math:`\\log n^*` against
:math:`\\log k` over the k at which n* was reached strictly above the smallest n the method ran.
An n* at that floor is only a bound (:math:`n^* \\le n_{\\min}`) and an unreached one is only a
lower bound (:math:`n^* > n_{\\max}`), so both are left out of the fit and listed with the reason.
No slope is given (it reads ``—`` and why) with fewer than two points, or when n* is the same
grid point at every k used: a flat n* only says that the slope is too small for the grid to
resolve, not that it is 0.
"""

import numpy as np

from .summary import family_dimension

#: Fewest reached points a slope is fitted on.
MIN_POINTS = 2
NOT_ENOUGH = f"— (fewer than {MIN_POINTS} k with n* reached above the smallest n)"


def flat_label(n_star):
    """The slope label when n* is ``n_star`` at every k used."""
    return f"— (n* = {n_star} at every k used: the grid does not resolve a slope)"


def fit_slope(ks, n_stars):
    """Least-squares slope and intercept of :math:`\\log n^*` against :math:`\\log k`."""
    x, y = np.log(np.asarray(ks, dtype=float)), np.log(np.asarray(n_stars, dtype=float))
    centred = x - x.mean()
    slope = float(centred @ (y - y.mean()) / (centred @ centred))
    return slope, float(y.mean() - slope * x.mean())


def exclusion_reason(row):
    """Why an n* row is not a point of the fit (``None`` when it is)."""
    if row["status"] == "floor":
        return f"n* <= {row['n_min']}, the smallest n"
    if row["status"] == "not reached":
        capped = f" (capped at {row['n_cap']:g})" if row.get("n_cap") is not None else ""
        return f"not reached by n = {row['n_max']}{capped}"
    return None


def slope_rows(nstar, methods_order):
    """One row per (family, method) of the n* rows: the slope, the prefactor :math:`c` of
    :math:`n^* \\approx c\\,k^{\\text{slope}}`, the points used and the k left out with why.

    ``slope`` and ``prefactor`` are ``None`` with fewer than :data:`MIN_POINTS` reached points or
    an n* equal at every point (``slope_label`` then says which).
    """
    families = list(dict.fromkeys(r["family"] for r in nstar))
    out = []
    for family in families:
        of_family = [r for r in nstar if r["family"] == family]
        present = {r["method"] for r in of_family}
        for method in [m for m in methods_order if m in present] + sorted(present - set(methods_order)):
            rs = sorted((r for r in of_family if r["method"] == method), key=lambda r: r["k"])
            out.append(_slope_row(family, family_dimension(of_family), method, rs))
    return out


def _slope_row(family, d, method, rs):
    used = [r for r in rs if exclusion_reason(r) is None]
    slope = prefactor = None
    label = NOT_ENOUGH
    if len(used) >= MIN_POINTS and len({r["n_star"] for r in used}) == 1:
        label = flat_label(used[0]["n_star"])
    elif len(used) >= MIN_POINTS:
        slope, intercept = fit_slope([r["k"] for r in used], [r["n_star"] for r in used])
        prefactor = float(np.exp(intercept))
        label = f"{slope:.2f}"
    excluded = {}
    for r in rs:
        if exclusion_reason(r):
            excluded.setdefault(exclusion_reason(r), []).append(str(r["k"]))
    return {
        "family": family, "d": d, "method": method, "slope": slope, "prefactor": prefactor,
        "slope_label": label,
        "points": len(used), "ks": len(rs), "ks_used": " ".join(str(r["k"]) for r in used),
        "ks_excluded": "; ".join(f"k = {', '.join(ks)}: {why}" for why, ks in excluded.items()),
    }


def format_slope_table(rows):
    """The slope table as aligned text: points used of the k of the family, and the k left out."""
    width = max([len("slope")] + [len(r["slope_label"]) for r in rows])
    head = f"{'family':<12}{'d':>4} {'method':<15}{'points':>7}  {'slope':<{width}}  k excluded (why)"
    title = ("slope of log n* against log k: least squares over the k with n* reached above the smallest n "
             "(floor and unreached k excluded)")
    lines = [title, head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['family']:<12}{r['d']:>4} {r['method']:<15}{str(r['points']) + '/' + str(r['ks']):>7}  "
                     f"{r['slope_label']:<{width}}  {r['ks_excluded'] or '-'}")
    return "\n".join(lines)
