"""The performance suite: a thin wrapper around ``narrowrelu bench perf``.

Usage::

    python benchmarks/bench_perf.py                       # n = 1e6, d = 100, k = 5; oracle n = 1e8, d = 50
    python benchmarks/bench_perf.py --oracle-n 1e7 --json perf.json --check
    python benchmarks/bench_perf.py --n 2e5 --d 50 --oracle-n 1e6 --skip compile

See :mod:`narrowrelu.bench.perf` (and ``docs/performance.md``) for what is measured.
"""

import sys

from narrowrelu.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "perf", *sys.argv[1:]]))
