"""Compare one method's n* and success counts between two sample-complexity sweeps, against a
reference method, as the markdown table of docs/results/sample_complexity_d20.md.

    python benchmarks/compare_sweeps.py --before docs/results/d20_gn --after docs/results/d20_polish \\
        --reference docs/results/d20

Each directory holds the ``nstar.csv`` and ``per_n.csv`` a sweep writes. Prints one row per
(family, k): n* before and after, the reference's n*, the verdict of after against the
reference, and the successes per n (before -> after); then the counts of better / tie / worse
and every (family, k) whose success count falls by more than one seed as n grows.
"""

import argparse
import csv
import math
import os
from collections import defaultdict


def _nstar(directory, method):
    out = {}
    with open(os.path.join(directory, "nstar.csv")) as f:
        for row in csv.DictReader(f):
            if row["method"] == method:
                value = row.get("n_star")
                out[(row["family"], int(row["k"]))] = float(value) if value not in ("", None) else math.inf
    return out


def _successes(directory, method):
    out = defaultdict(list)
    with open(os.path.join(directory, "per_n.csv")) as f:
        for row in csv.DictReader(f):
            if row["method"] == method:
                out[(row["family"], int(row["k"]))].append((int(row["n"]), int(row["successes"])))
    return {key: [s for _, s in sorted(v)] for key, v in out.items()}


def _label(n):
    return "—" if n is None or math.isinf(n) else f"{n:.0f}"


def largest_drop(counts):
    """The largest fall of the success count below its best at a smaller n."""
    best, drop = 0, 0
    for c in counts:
        drop = max(drop, best - c)
        best = max(best, c)
    return drop


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True)
    p.add_argument("--after", required=True)
    p.add_argument("--reference", required=True, help="directory holding the reference method's cells")
    p.add_argument("--method", default="moment_refined")
    p.add_argument("--against", default="gd_2k")
    args = p.parse_args(argv)
    before, after = _nstar(args.before, args.method), _nstar(args.after, args.method)
    reference = _nstar(args.reference, args.against)
    s_before, s_after = _successes(args.before, args.method), _successes(args.after, args.method)
    order = {"random": 0, "orthonormal": 1, "close_pair": 2, "clusters": 3}
    print(f"| family | k | n* before | n* now | {args.against} n* | now vs {args.against} | successes per n, before → now |")
    print("|---|---|---|---|---|---|---|")
    verdicts = defaultdict(int)
    for key in sorted(after, key=lambda key: (order.get(key[0], 9), key[0], key[1])):
        ref = reference.get(key)
        now = after[key]
        verdict = "n/a" if ref is None else "better" if now < ref else "tie" if now == ref else "**worse**"
        verdicts[verdict.strip("*")] += 1
        pairs = " ".join(f"{a}→{b}" for a, b in zip(s_before.get(key, []), s_after.get(key, [])))
        print(f"| {key[0]} | {key[1]} | {_label(before.get(key))} | {_label(now)} | {_label(ref)} | {verdict} | {pairs} |")
    print()
    print(", ".join(f"{v}: {verdicts[v]}" for v in ("better", "tie", "worse", "n/a") if verdicts[v]))
    drops = {key: largest_drop(c) for key, c in s_after.items()}
    worst = max(drops.values(), default=0)
    print(f"largest fall of the success count as n grows ({args.method}, now): {worst} seed(s)")
    for key, drop in sorted(drops.items()):
        if drop > 1:
            print(f"  {key[0]} k={key[1]}: falls by {drop}: {s_after[key]}")


if __name__ == "__main__":
    main()
