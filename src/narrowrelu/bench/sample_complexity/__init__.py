"""``narrowrelu bench sample-complexity``: how many samples each learner needs, per k.

For each teacher family, k, n on a geometric grid and seed, the sweep draws noisy data
:math:`y = f(x) + \\xi`, :math:`\\sigma = \\text{noise}\\cdot\\mathrm{std} f`, fits every chosen method
and scores it by its excess population MSE against the clean teacher. Per (family, k, method) it
reports :math:`n^*(k)`, the smallest n at which at least 90 % of the seeds reach excess MSE
:math:`\\le` target :math:`\\cdot\\,\\mathrm{Var} f`, beside the medians per n and the ratio to the
parametric rate :math:`\\sigma^2 p / n` (:math:`p = k(d+1) + d + 1`), and per (family, method)
the slope of :math:`\\log n^*` against :math:`\\log k`.

The pieces: :mod:`.options` (the command line, its quick and ``--full`` presets),
:mod:`.methods` (the learners, their scoring and memory estimates), :mod:`.sweep` (cells, the
resumable store, local / joblib / dask execution), :mod:`.lock` (one sweep per ``--out``),
:mod:`.summary` (tables, CSV, JSON), :mod:`.slopes` (the n*(k) slopes) and :mod:`.plots` (PNG
figures). ``narrowrelu bench report`` (:mod:`narrowrelu.bench.report`) prints the tables of a
stored sweep again.
"""

import os
import platform
import sys
import time

from .. import _memory
from .lock import DirectoryLocked, SweepLock
from .methods import method_caps
from .options import add_parser as _add_parser
from .options import canonical_command, check_args, resolve_n_jobs
from .plots import write_plots
from .slopes import format_slope_table, slope_rows
from .summary import (
    SUCCESS_FRACTION,
    format_nstar_table,
    format_per_n_table,
    mixed_versions_note,
    nstar_rows,
    per_n_rows,
    write_outputs,
)
from .sweep import (
    CellStore,
    execute,
    geometric_grid,
    job_bytes,
    pending_jobs,
    plan_jobs,
    teacher_sizes,
)


def add_parser(commands):
    """Add ``narrowrelu bench sample-complexity`` (options: :mod:`.options`)."""
    return _add_parser(commands, run)


def environment(args):
    """Versions, threads and machine, for the record."""
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for name in ("narrowrelu", "numpy", "scipy", "scikit-learn", "numba", "joblib", "threadpoolctl", "dask",
                 "distributed"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return {
        "versions": versions,
        "threads": {"blas_per_fit": 1, "numba_per_fit": 1, "n_jobs": args.n_jobs,
                    "dask_scheduler": args.dask_scheduler, "cpu_count": os.cpu_count()},
        "machine": {"platform": platform.platform(), "machine": platform.machine(),
                    "processor": platform.processor(), "node": platform.node()},
    }


def run(args, parser):
    """Run (or resume) the sweep, then print the tables and write every output from all stored cells.

    The ``--out`` directory is locked for the run (:class:`.lock.SweepLock`); a second sweep on it
    exits with status 2 naming the first one's pid.
    """
    methods = check_args(args, parser)
    try:
        with SweepLock(args.out):
            return _sweep(args, parser, methods)
    except DirectoryLocked as exc:
        parser.error(f"--out {exc}")


def _sweep(args, parser, methods):
    ns = geometric_grid(args.n_min, args.n_max, args.n_per_decade)
    for family, sizes in teacher_sizes(args.families, args.k, args.d).items():
        remapped = [f"{asked}->{k}" for asked, k, _ in sizes if asked != k]
        if remapped:
            print(f"note: {family} teachers use k {', '.join(remapped)}", file=sys.stderr)
    all_caps = method_caps(methods, args.n_max_gd, dict(args.n_cap or []))
    jobs = plan_jobs(args.families, args.k, args.d, ns, args.seeds, args.noise, methods, caps=all_caps)
    store = CellStore(args.out)
    stored = store.load()
    if store.skipped:
        print(f"note: skipped {store.skipped} unreadable line(s) of {store.path} (cut short, not UTF-8 JSON, or "
              "fields of the wrong type); their cells are computed again", file=sys.stderr)
    todo = pending_jobs(jobs, stored, retry_failed=args.retry_failed)
    _check_memory(todo, parser)
    n_cells = sum(len(j.methods) for j in jobs)
    n_todo = sum(len(j.methods) for j in todo)
    print(f"{n_cells} cells ({len(jobs)} fits); {n_cells - n_todo} already in {args.out}, computing {n_todo} "
          f"in {len(todo)} fits", file=sys.stderr)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    try:
        new, seconds = execute(todo, store, n_jobs=resolve_n_jobs(args.n_jobs, len(todo)),
                               dask_scheduler=args.dask_scheduler, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {len(store.load())} cells are stored in {args.out}; run the same command to "
              "compute the rest", file=sys.stderr)
        return 130
    stored = store.load()
    wanted = {key for job in jobs for key in job.cell_keys()}
    records = [rec for key, rec in stored.items() if key in wanted]
    if note := mixed_versions_note(records, args.out):
        print(note, file=sys.stderr)
    rows = per_n_rows(records, args.target)
    caps = {m: cap for m, cap in all_caps.items() if cap is not None and cap < ns[-1]}
    nstar = nstar_rows(rows, methods, caps)
    slopes = slope_rows(nstar, methods)
    tables = "\n\n".join((format_per_n_table(rows, args.target), format_nstar_table(nstar, args.target),
                           format_slope_table(slopes)))
    print(tables)
    meta = {
        "command": canonical_command(args, methods), "argv": sys.argv, "started": started,
        "sweep_seconds": seconds, "cells_computed": len(new), "cells_total": len(records), "n_grid": ns,
        "n_max_gd": args.n_max_gd, "n_caps": {m: c for m, c in all_caps.items() if c is not None},
        "capped_methods": list(caps),
        "target": args.target, "noise": args.noise, "success_fraction": SUCCESS_FRACTION, **environment(args),
    }
    paths = write_outputs(args.out, records, rows, nstar, slopes, meta, tables)
    paths += write_plots(args.out, rows, nstar, slopes, args.target, methods)
    print(f"wrote {', '.join(os.path.basename(p) for p in paths)} to {args.out}", file=sys.stderr)
    return report_failures(records)


def report_failures(records, most=20):
    """Name the failed cells and their reasons on stderr; 1 when every cell failed, else 0."""
    failed = [r for r in records if r.get("error")]
    if not failed:
        return 0
    print(f"{len(failed)} of {len(records)} cells failed (rerun with --retry-failed to compute them again):",
          file=sys.stderr)
    for r in failed[:most]:
        print(f"  {r['method']} {r['family']} d={r['d']} k={r['k']} n={r['n']} seed={r['seed']}: {r['error']}",
              file=sys.stderr)
    if len(failed) > most:
        print(f"  ... and {len(failed) - most} more", file=sys.stderr)
    if len(failed) == len(records):
        print("error: every fit failed", file=sys.stderr)
        return 1
    return 0


def _check_memory(jobs, parser):
    """Exit with status 2 when no fit of ``jobs`` fits in the available memory; note on stderr how
    many do not (they are recorded as failed when their turn comes, see :func:`.sweep.run_job`)."""
    available = _memory.available_bytes()
    if available is None or not jobs:
        return
    over = [job for job in jobs if job_bytes(job) > available]
    if not over:
        return
    free = _memory.format_bytes(available)
    smallest, largest = min(over, key=job_bytes), max(over, key=job_bytes)
    if len(over) == len(jobs):
        parser.error(f"no fit of this sweep fits in memory: the {smallest.fitter} fit at n={smallest.n}, "
                     f"d={smallest.d} needs about {_memory.format_bytes(job_bytes(smallest))} of memory, {free} "
                     "available; lower --n-max")
    print(f"note: {len(over)} of {len(jobs)} fits need more memory than the {free} available (the largest, "
          f"{largest.fitter} at n={largest.n}, d={largest.d}, about {_memory.format_bytes(job_bytes(largest))}): "
          "they are recorded as failed, not run", file=sys.stderr)
