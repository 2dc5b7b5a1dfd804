"""The markdown tables of a sample-complexity sweep directory (as in docs/results/sample_complexity_d50.md).

    python benchmarks/sweep_tables.py docs/results/d50

Prints (1) n* per family and k, one column per method, with the labels the sweep writes
("<= n_min", "> n_max"); (2) the slope of log n* against log k per family and method, with the
k it used; (3) from ``cells.csv`` when present, the excess MSE over the parametric rate of each
seed of ``moment_raw`` (and ``moment_refined``) at the largest n, per family and k.
"""

import argparse
import csv
import os
from collections import defaultdict

ORDER = ("moment_raw", "moment_refined", "gd_2k", "mlp_4k", "mlp_default", "gd_k", "mlp_k")


def _rows(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def nstar_table(rows):
    methods = [m for m in ORDER if any(r["method"] == m for r in rows)]
    cells = {(r["family"], int(r["k"]), r["method"]): r["n_star_label"] for r in rows}
    dims = {r["family"]: r["d"] for r in rows}
    keys = sorted({(r["family"], int(r["k"])) for r in rows})
    out = ["| family | d | k | " + " | ".join(methods) + " |", "|---|---|---|" + "---|" * len(methods)]
    for family, k in keys:
        out.append(f"| {family} | {dims[family]} | {k} | " + " | ".join(cells.get((family, k, m), "") for m in methods) + " |")
    return "\n".join(out)


def slope_table(rows):
    out = ["| family | d | method | slope | points | k used | k left out |", "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["family"], ORDER.index(r["method"]) if r["method"] in ORDER else 99)):
        out.append(f"| {r['family']} | {r['d']} | {r['method']} | {r['slope_label']} | {r['points']} | "
                   f"{r['ks_used']} | {r['ks_excluded']} |")
    return "\n".join(out)


def raw_table(cells, methods=("moment_raw", "moment_refined")):
    if not cells:
        return "(no cells.csv)"
    n_top = max(int(c["n"]) for c in cells if c["method"] in methods)
    per = defaultdict(dict)
    for c in cells:
        if c["method"] in methods and int(c["n"]) == n_top and c.get("mse_over_rate") not in ("", None):
            per[(c["family"], int(c["k"]), c["method"])][int(c["seed"])] = float(c["mse_over_rate"])
    out = [f"excess MSE / parametric rate at n = {n_top}, per seed", "",
           "| family | k | method | seeds | worst |", "|---|---|---|---|---|"]
    for (family, k, method), by_seed in sorted(per.items()):
        values = " ".join(f"{by_seed[s]:.2f}" for s in sorted(by_seed))
        out.append(f"| {family} | {k} | {method} | {values} | {max(by_seed.values()):.2f} |")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("directory")
    args = p.parse_args(argv)
    print(nstar_table(_rows(args.directory, "nstar.csv")))
    print()
    print(slope_table(_rows(args.directory, "slopes.csv")))
    print()
    print(raw_table(_rows(args.directory, "cells.csv")))


if __name__ == "__main__":
    main()
