"""Summaries of a sample-complexity sweep: per-n medians, success rates and n*(k), as tables and files."""

import csv
import json
import math
import os

import numpy as np

SUCCESS_FRACTION = 0.9

CELL_COLUMNS = (
    "family", "d", "k", "n", "seed", "noise", "method", "width", "var_f", "sigma", "mse", "mse_stderr", "rel_mse",
    "scoring", "parametric_rate", "n_params", "mse_over_rate", "fit_seconds", "converged", "error", "version",
)


def success(record, target):
    """Whether a record's excess MSE is at most ``target`` times :math:`\\mathrm{Var} f`."""
    return bool(np.isfinite(record["mse"]) and record["rel_mse"] <= target)


def per_n_rows(records, target):
    """One row per ``(family, k, method, n)``: seeds, success rate and medians over seeds."""
    groups = {}
    for r in records:
        groups.setdefault((r["family"], r["k"], r["method"], r["n"]), []).append(r)
    rows = []
    for (family, k, method, n), rs in sorted(groups.items(), key=lambda kv: _sort_key(kv[0])):
        ok = sum(success(r, target) for r in rs)
        rates = [r["mse_over_rate"] for r in rs if r["mse_over_rate"] is not None]
        rows.append(
            {
                "family": family, "k": k, "method": method, "n": n, "d": rs[0]["d"], "seeds": len(rs),
                "successes": ok, "success_rate": ok / len(rs),
                "median_rel_mse": _median([r["rel_mse"] for r in rs]),
                "median_mse": _median([r["mse"] for r in rs]),
                "median_mse_over_rate": _median(rates) if rates else None,
                "parametric_rate": rs[0]["parametric_rate"],
                "median_fit_seconds": _median([r["fit_seconds"] for r in rs]),
                "errors": sum(r["error"] is not None for r in rs),
            }
        )
    return rows


def nstar_rows(rows, methods_order, caps=None):
    """One row per ``(family, k, method)``: n*(k), the smallest n where at least 90 % of the
    seeds reach the target, and the medians there (at the largest n when no n does).

    Each row carries the smallest and largest n its method ran (``n_min``, ``n_max``), the cap
    of ``caps`` (method to ``--n-max-gd``) that applied to it (``n_cap``), its ``status``
    (``reached``; ``floor``: reached at ``n_min``, so n* may be smaller; ``not reached`` up to
    ``n_max``) and ``n_star_label`` (``1974``, ``<= 1000``, ``> 3162``).
    """
    caps = caps or {}
    groups = {}
    for row in rows:
        groups.setdefault((row["family"], row["k"], row["method"]), []).append(row)
    out = []
    for (family, k, method), rs in sorted(groups.items(), key=lambda kv: _sort_key(kv[0], methods_order)):
        rs = sorted(rs, key=lambda r: r["n"])
        hit = next((r for r in rs if r["success_rate"] >= SUCCESS_FRACTION - 1e-12), None)
        at = hit or rs[-1]
        n_min, n_max = rs[0]["n"], rs[-1]["n"]
        status = "not reached" if hit is None else "floor" if hit["n"] == n_min else "reached"
        out.append(
            {
                "family": family, "k": k, "method": method, "d": at["d"],
                "n_star": hit["n"] if hit else None, "n_star_label": nstar_label(status, at["n"]),
                "status": status, "n_min": n_min, "n_max": n_max, "n_cap": caps.get(method),
                "success_at_n_max": rs[-1]["success_rate"], "seeds": at["seeds"],
                "median_rel_mse": at["median_rel_mse"], "median_mse": at["median_mse"],
                "median_mse_over_rate": at["median_mse_over_rate"], "median_fit_seconds": at["median_fit_seconds"],
                "at_n": at["n"],
            }
        )
    return out


def nstar_label(status, n):
    """How an n* reads: ``n`` when reached, ``<= n`` at the floor, ``> n`` when not reached by ``n``."""
    return {"reached": str(n), "floor": f"<= {n}", "not reached": f"> {n}"}[status]


def family_dimension(rows):
    """The input dimension of a family's rows as text: the one d, or ``k`` when d = k varies
    with k (the orthonormal family)."""
    dims = {r["d"] for r in rows}
    if len(dims) == 1:
        return str(dims.pop())
    if all(r["d"] == r["k"] for r in rows):
        return "k"
    return f"{min(dims)}-{max(dims)}"


def _sort_key(key, methods_order=None):
    family, k, method = key[0], key[1], key[2]
    rank = methods_order.index(method) if methods_order and method in methods_order else 0
    return (family, k, rank, method) + tuple(key[3:])


def _median(values):
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    arr = arr[~np.isnan(arr)]
    return float(np.median(arr)) if arr.size else float("nan")


def format_number(value, spec=".2e"):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return format(value, spec)


def version_counts(records):
    """Package version to number of records (``None``: stored before cells recorded a version)."""
    counts = {}
    for r in records:
        version = r.get("version") or None
        counts[version] = counts.get(version, 0) + 1
    return counts


def mixed_versions_note(records, directory):
    """One line saying that ``records`` (the cells of ``directory``) come from more than one package
    version, with the count of each; ``None`` when they do not."""
    counts = version_counts(records)
    if len(counts) < 2:
        return None
    parts = ", ".join(f"{v or 'unrecorded'}: {n} cells" for v, n in sorted(counts.items(), key=lambda kv: str(kv[0])))
    return (f"note: {directory} mixes cells of narrowrelu versions ({parts}); a fresh --out computes them all "
            "with this one")


def format_per_n_table(rows, target):
    """The per-n table as aligned text, under a title line."""
    title = (f"per n: seeds reaching excess MSE <= {target:g} Var f ('ok'), and medians over seeds of the relative "
             "and absolute excess MSE, of the MSE over the parametric rate and of the fit time")
    head = (f"{'family':<12}{'d':>4}{'k':>3} {'method':<15}{'n':>9}{'ok':>7}{'med rel MSE':>13}{'med abs MSE':>13}"
            f"{'MSE/rate':>10}{'fit s':>8}")
    lines = [title, head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['family']:<12}{r['d']:>4}{r['k']:>3} {r['method']:<15}{r['n']:>9}"
            f"{str(r['successes']) + '/' + str(r['seeds']):>7}"
            f"{format_number(r['median_rel_mse']):>13}{format_number(r['median_mse']):>13}"
            f"{format_number(r['median_mse_over_rate'], '.2f'):>10}"
            f"{format_number(r['median_fit_seconds'], '.2f'):>8}"
        )
    return "\n".join(lines)


def format_nstar_table(rows, target):
    """The n*(k) table as aligned text: ``<= N`` for an n* at the smallest n run, ``> N`` for
    one not reached up to the largest n that method ran, and a note naming the capped methods."""
    head = (f"{'family':<12}{'d':>4}{'k':>3} {'method':<15}{'n*':>10}{'ok@nmax':>9}{'at n':>9}{'med rel MSE':>13}"
            f"{'med abs MSE':>13}{'MSE/rate':>10}{'fit s':>8}")
    title = (f"n*(k): smallest n where >= {SUCCESS_FRACTION:.0%} of seeds reach excess MSE <= {target:g} Var f "
             "('<= N': already at the smallest n; '> N': not by N, the largest n that method ran)")
    lines = [title, head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['family']:<12}{r['d']:>4}{r['k']:>3} {r['method']:<15}{r['n_star_label']:>10}"
            f"{r['success_at_n_max']:>9.0%}{r['at_n']:>9}"
            f"{format_number(r['median_rel_mse']):>13}{format_number(r['median_mse']):>13}"
            f"{format_number(r['median_mse_over_rate'], '.2f'):>10}"
            f"{format_number(r['median_fit_seconds'], '.2f'):>8}"
        )
    lines += _cap_notes(rows)
    return "\n".join(lines)


def _cap_notes(rows):
    caps = {}
    for r in rows:
        if r.get("n_cap") is not None:
            caps.setdefault(r["n_cap"], []).append(r["method"])
    return [f"cap {cap:g} (--n-max-gd, --n-cap): {', '.join(dict.fromkeys(methods))} ran no n above {cap:g}"
            for cap, methods in caps.items()]


def write_csv(path, rows, columns):
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})


def write_outputs(directory, records, rows, nstar, slopes, meta, tables):
    """Write ``cells.csv``, ``per_n.csv``, ``nstar.csv``, ``slopes.csv``, ``results.json``,
    ``meta.json`` and ``table.txt``.

    Returns
    -------
    paths : list of str
    """
    paths = []
    cell_rows = sorted(records, key=lambda r: (r["family"], r["k"], r["method"], r["n"], r["seed"]))
    for name, data, columns in (
        ("cells.csv", cell_rows, CELL_COLUMNS),
        ("per_n.csv", rows, tuple(rows[0]) if rows else ()),
        ("nstar.csv", nstar, tuple(nstar[0]) if nstar else ()),
        ("slopes.csv", slopes, tuple(slopes[0]) if slopes else ()),
    ):
        path = os.path.join(directory, name)
        write_csv(path, data, columns)
        paths.append(path)
    for name, data in (("results.json", {"meta": meta, "nstar": nstar, "slopes": slopes, "per_n": rows,
                                         "cells": cell_rows}), ("meta.json", meta)):
        path = os.path.join(directory, name)
        with open(path, "w") as fh:
            json.dump(data, fh, indent=1, default=_jsonable)
        paths.append(path)
    path = os.path.join(directory, "table.txt")
    with open(path, "w") as fh:
        fh.write(tables + "\n")
    paths.append(path)
    return paths


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
