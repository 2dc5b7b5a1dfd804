"""Two sweeps compared: one method's n* and successes per n before and now, against a reference
method, as the markdown table of docs/results.

Per (family, k) of the method in the newer sweep: n* before and now, the reference method's n*,
the verdict of now against it (``better``: smaller n*; ``tie``; ``**worse**``; ``n/a`` when the
reference has no such cell; an unreached n* counts as infinite and reads ``—``), and the
successes per n, before → now. Then the counts of verdicts and every (family, k) whose success
count falls by more than one seed as n grows.
"""

import math
from collections import Counter

from ...teacher import FAMILIES
from .tables import markdown

VERDICTS = ("better", "tie", "worse", "n/a")


def nstar_of(sweep, method):
    """(family, k) to the n* of ``method`` (``inf`` when not reached)."""
    return {(r["family"], r["k"]): math.inf if r["n_star"] is None else float(r["n_star"])
            for r in sweep.nstar if r["method"] == method}


def successes_of(sweep, method):
    """(family, k) to the success counts of ``method``, by increasing n."""
    out = {}
    for r in sorted((r for r in sweep.rows if r["method"] == method), key=lambda r: r["n"]):
        out.setdefault((r["family"], r["k"]), []).append(r["successes"])
    return out


def largest_drop(counts):
    """The largest fall of the success count below its best at a smaller n."""
    best, drop = 0, 0
    for c in counts:
        drop = max(drop, best - c)
        best = max(best, c)
    return drop


def verdict(now, reference):
    if reference is None:
        return "n/a"
    return "better" if now < reference else "tie" if now == reference else "worse"


def _label(n):
    return "—" if n is None or math.isinf(n) else f"{n:.0f}"


def comparison(before, after, reference, method, against):
    """The comparison as text (a markdown table and its summary lines).

    Parameters
    ----------
    before, after, reference : StoredSweep
        The earlier and the newer sweep of ``method``, and the sweep holding ``against``'s cells.
    method, against : str
    """
    old, now, ref = nstar_of(before, method), nstar_of(after, method), nstar_of(reference, against)
    s_old, s_now = successes_of(before, method), successes_of(after, method)
    order = {family: i for i, family in enumerate(FAMILIES)}
    counts = Counter()
    rows = []
    for key in sorted(now, key=lambda key: (order.get(key[0], len(order)), key[0], key[1])):
        v = verdict(now[key], ref.get(key))
        counts[v] += 1
        pairs = " ".join(f"{a}→{b}" for a, b in zip(s_old.get(key, []), s_now.get(key, [])))
        rows.append([key[0], key[1], _label(old.get(key)), _label(now[key]), _label(ref.get(key)),
                     "**worse**" if v == "worse" else v, pairs])
    header = ["family", "k", "n* before", "n* now", f"{against} n*", f"now vs {against}",
              "successes per n, before → now"]
    lines = [markdown(header, rows), "", ", ".join(f"{v}: {counts[v]}" for v in VERDICTS if counts[v])]
    drops = {key: largest_drop(c) for key, c in s_now.items()}
    lines.append(f"largest fall of the success count as n grows ({method}, now): {max(drops.values(), default=0)} "
                 "seed(s)")
    lines += [f"  {key[0]} k={key[1]}: falls by {drop}: {s_now[key]}" for key, drop in sorted(drops.items())
              if drop > 1]
    return "\n".join(lines)
