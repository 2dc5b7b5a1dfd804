"""Benchmarks and reproductions that the ``narrowrelu bench`` command runs.

Each module listed in ``BENCH_MODULES`` defines ``add_parser(subparsers)``, which adds its
sub-command to ``narrowrelu bench`` and sets ``func`` to the function that runs it.
"""

BENCH_MODULES = [
    "recovery",
    "sample_complexity",
    "safran_shamir",
    "perf",
    "race",
    "diagnose",
    "scale",
    "dynamics",
    "report",
]
