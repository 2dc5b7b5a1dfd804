"""The markdown tables of one stored sweep (as in docs/results): n* per family and k, the slopes of
log n* on log k, the excess MSE over the parametric rate per seed at the largest n, and the per-n
medians."""

from collections import defaultdict

from ..sample_complexity.summary import SUCCESS_FRACTION, format_number

#: Methods whose per-seed excess MSE over the parametric rate is tabulated at the largest n.
EXCESS_METHODS = ("moment_raw", "moment_refined")


def markdown(header, rows):
    """A markdown table: ``header`` (list of str) and ``rows`` (lists of cells, turned to text)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def nstar_table(sweep):
    """n* per (family, k), one column per method, with the sweep's labels (``<= N``, ``> N``)."""
    labels = {(r["family"], r["k"], r["method"]): r["n_star_label"] for r in sweep.nstar}
    dims = {(r["family"], r["k"]): r["d"] for r in sweep.nstar}
    title = (f"n*(k): smallest n where >= {SUCCESS_FRACTION:.0%} of seeds reach excess MSE <= {sweep.target:g} "
             "Var f ('<= N': already at the smallest n; '> N': not by N, the largest n that method ran)")
    rows = [[family, dims[(family, k)], k] + [labels.get((family, k, m), "") for m in sweep.methods]
            for family, k in sorted(dims)]
    return title + "\n\n" + markdown(["family", "d", "k", *sweep.methods], rows)


def slope_table(sweep):
    """The slope of log n* on log k per (family, method), with the k used and the k left out."""
    title = ("slope of log n* against log k: least squares over the k with n* reached above the smallest n "
             "(floor and unreached k excluded)")
    rows = [[r["family"], r["d"], r["method"], r["slope_label"], r["points"], r["ks_used"], r["ks_excluded"]]
            for r in sweep.slopes]
    return title + "\n\n" + markdown(["family", "d", "method", "slope", "points", "k used", "k left out"], rows)


def excess_table(sweep, methods=EXCESS_METHODS):
    """Per (family, k, method), the excess MSE over the parametric rate of each seed at the largest n."""
    cells = [c for c in sweep.cells if c["method"] in methods]
    if not cells:
        return f"(no cells of {' or '.join(methods)} stored in {sweep.directory}: no per-seed table)"
    n_top = max(int(c["n"]) for c in cells)
    per = defaultdict(dict)
    for c in cells:
        if int(c["n"]) == n_top and c.get("mse_over_rate") not in ("", None):
            per[(c["family"], int(c["k"]), c["method"])][int(c["seed"])] = float(c["mse_over_rate"])
    rows = [[family, k, method, " ".join(f"{by_seed[s]:.2f}" for s in sorted(by_seed)),
             f"{max(by_seed.values()):.2f}"] for (family, k, method), by_seed in sorted(per.items())]
    return (f"excess MSE / parametric rate at n = {n_top}, per seed\n\n"
            + markdown(["family", "k", "method", "seeds", "worst"], rows))


def per_n_table(sweep):
    """Successes and medians over seeds per (family, k, method, n)."""
    title = (f"per n: seeds with excess MSE <= {sweep.target:g} Var f, and medians over seeds "
             "(relative and absolute excess MSE, MSE over the parametric rate, fit seconds)")
    rows = [[r["family"], r["d"], r["k"], r["method"], r["n"], f"{r['successes']}/{r['seeds']}",
             format_number(r.get("median_rel_mse")), format_number(r.get("median_mse")),
             format_number(r.get("median_mse_over_rate"), ".2f"), format_number(r.get("median_fit_seconds"), ".2f")]
            for r in sweep.rows]
    header = ["family", "d", "k", "method", "n", "ok", "med rel MSE", "med abs MSE", "MSE/rate", "fit s"]
    return title + "\n\n" + markdown(header, rows)


TABLES = {"nstar": nstar_table, "slopes": slope_table, "excess": excess_table, "per-n": per_n_table}
