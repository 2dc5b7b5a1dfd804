"""A stored sample-complexity sweep directory read back: its per-n rows, meta data and cells.

The sweep writes ``per_n.csv`` (one row per family, k, method and n), ``meta.json`` (the command,
the n grid, the caps) and, from its cell store, ``cells.csv`` and ``cells.jsonl``. The n*(k) and
slope tables are recomputed from ``per_n.csv`` by the sweep's own functions
(:func:`~narrowrelu.bench.sample_complexity.summary.nstar_rows`,
:func:`~narrowrelu.bench.sample_complexity.slopes.slope_rows`), so that a directory written before a
column was added (the n* labels, the slopes) reads the same as a new one.
"""

import csv
import json
import os
import shlex
from dataclasses import dataclass, field

from ..sample_complexity.methods import METHODS, method_caps
from ..sample_complexity.slopes import slope_rows
from ..sample_complexity.summary import nstar_rows
from ..sample_complexity.sweep import CELLS_FILE, CellStore

PER_N_FILE = "per_n.csv"
#: Column types of ``per_n.csv``; a column missing from an older file is left out of the rows.
PER_N_TYPES = {
    "family": str, "k": int, "method": str, "n": int, "d": int, "seeds": int, "successes": int,
    "success_rate": float, "median_rel_mse": float, "median_mse": float, "median_mse_over_rate": float,
    "parametric_rate": float, "median_fit_seconds": float, "errors": int,
}
#: The sweep's default success threshold, for a directory whose meta.json lacks it.
DEFAULT_TARGET = 1e-3


@dataclass
class StoredSweep:
    """The tables of one sweep directory.

    Attributes
    ----------
    directory : str
    rows : list of dict
        The per-n rows, typed as the sweep wrote them.
    methods : list of str
        The methods in the order of the sweep's ``--methods`` (else of :data:`METHODS`).
    caps : dict
        Method to its largest n, for the capped methods that ran below the grid's largest n.
    target : float
    nstar, slopes : list of dict
        Recomputed from ``rows``.
    cells : list of dict
        The stored cells (``cells.jsonl``, else ``cells.csv``; empty when neither is there).
    """

    directory: str
    rows: list
    methods: list
    caps: dict
    target: float
    nstar: list = field(default_factory=list)
    slopes: list = field(default_factory=list)
    cells: list = field(default_factory=list)


def sweep_problem(directory):
    """Why ``directory`` cannot be read as a sweep (``None`` when it can)."""
    if not os.path.isdir(directory):
        return f"{directory}: no such directory"
    if not os.path.exists(os.path.join(directory, PER_N_FILE)):
        return (f"{directory}: no {PER_N_FILE} (not a directory written by narrowrelu bench sample-complexity, "
                "or a sweep that has not finished once)")
    return None


def load_sweep(directory):
    """Read ``directory`` and recompute its n*(k) and slope tables (see :class:`StoredSweep`)."""
    rows = [_typed(row) for row in _csv_rows(os.path.join(directory, PER_N_FILE))]
    meta = _meta(directory)
    present = {r["method"] for r in rows}
    methods = [m for m in _command_methods(meta) + list(METHODS) if m in present]
    methods = list(dict.fromkeys(methods)) + sorted(present - set(methods))
    largest = max((r["n"] for r in rows), default=0)
    caps = {m: cap for m, cap in _caps(meta, [m for m in methods if m in METHODS]).items()
            if cap is not None and cap < largest}
    nstar = nstar_rows(rows, methods, caps)
    return StoredSweep(directory, rows, methods, caps, float(meta.get("target", DEFAULT_TARGET)), nstar,
                       slope_rows(nstar, methods), _cells(directory))


def _csv_rows(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _typed(row):
    out = {}
    for name, value in row.items():
        kind = PER_N_TYPES.get(name, str)
        out[name] = None if value == "" and kind is not str else kind(value)
    return out


def _meta(directory):
    path = os.path.join(directory, "meta.json")
    if not os.path.exists(path):
        return {}
    with open(path) as fh:
        return json.load(fh)


def _command_methods(meta):
    """The ``--methods`` of the sweep's command line, in its order."""
    words = shlex.split(meta.get("command", ""))
    if "--methods" not in words:
        return []
    rest = words[words.index("--methods") + 1:]
    return [w for w in rest[:next((i for i, w in enumerate(rest) if w.startswith("--")), len(rest))]]


def _caps(meta, methods):
    if meta.get("n_caps") is not None:
        return {m: meta["n_caps"].get(m) for m in methods}
    return method_caps(methods, meta.get("n_max_gd"))


def _cells(directory):
    if os.path.exists(os.path.join(directory, CELLS_FILE)):
        return list(CellStore(directory).load().values())
    return _csv_rows(os.path.join(directory, "cells.csv"))
