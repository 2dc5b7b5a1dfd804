"""Time one implicit order-4 contraction against ``X.T @ X`` on the same array, one thread.

Prints, for ``X`` of shape ``(n, d)`` (default ``n = 1e6``, ``d = 100``, float64):

* the best-of-``repeats`` time of ``X.T @ X`` (numpy) and of scipy's ``dsyrk`` on the same ``X``
  (to check that numpy's product is itself a symmetric rank update, so the reference is fair);
* the best-of-``repeats`` time of ``hermite_moment_contraction(X, y, g, order=4)`` with one
  direction ``g``, for a few chunk sizes, and its ratio to ``X.T @ X`` measured in the same run.

BLAS is pinned to one thread with threadpoolctl. Target: ratio <= 1.5 at the default chunk size.

Usage::

    python benchmarks/bench_contraction.py            # n = 1e6, d = 100
    python benchmarks/bench_contraction.py --n 200000 --d 50 --repeats 3
"""

import argparse
import os
import platform

import numpy as np
from scipy.linalg.blas import dsyrk
from threadpoolctl import threadpool_info, threadpool_limits

from narrowrelu import Teacher, hermite_moment_contraction
from narrowrelu.bench.perf import best_time
from narrowrelu.moments.contraction import DEFAULT_CHUNK_SIZE


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e6, help="number of rows (default 1e6)")
    parser.add_argument("--d", type=int, default=100, help="number of columns (default 100)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per timing; the best is kept")
    parser.add_argument(
        "--chunk-sizes", type=str, default=None,
        help="comma-separated chunk sizes to time (default: the library default and a few others)",
    )
    args = parser.parse_args(argv)
    n, d = int(args.n), args.d
    if args.chunk_sizes:
        chunk_sizes = [int(c) for c in args.chunk_sizes.split(",")]
    else:
        chunk_sizes = sorted({DEFAULT_CHUNK_SIZE, 256, 1024, 16384})

    teacher = Teacher.random(n_features=d, n_neurons=5, random_state=0)
    X, y = teacher.sample(n, random_state=1)
    g = np.random.default_rng(2).standard_normal(d)
    g /= np.linalg.norm(g)

    blas = [(i["internal_api"], i["version"],
             i.get("architecture")) for i in threadpool_info() if i["user_api"] == "blas"]
    print(f"n = {n}, d = {d}, repeats = {args.repeats} (best of), 1 BLAS thread")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus; BLAS: {blas}")
    print(f"OPENBLAS_CORETYPE = {os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")

    with threadpool_limits(limits=1, user_api="blas"):
        hermite_moment_contraction(X[:1000], y[:1000], g, order=4)  # compile / load numba kernels
        t_gram = best_time(lambda: X.T @ X, args.repeats)
        # X.T is a Fortran-ordered (d, n) view: no copy; dsyrk computes its a a^T = X^T X
        t_syrk = best_time(lambda: dsyrk(1.0, X.T, trans=0), args.repeats)
        print(f"X.T @ X (numpy)          : {t_gram:8.3f} s")
        print(f"dsyrk(X.T) (scipy)       : {t_syrk:8.3f} s   ratio to X.T @ X: {t_syrk / t_gram:5.2f}")
        for c in chunk_sizes:
            t = best_time(lambda: hermite_moment_contraction(X, y, g, order=4, chunk_size=c), args.repeats)
            tag = " (default)" if c == DEFAULT_CHUNK_SIZE else ""
            print(f"order-4 contraction, chunk_size={c:6d}: {t:8.3f} s   ratio to X.T @ X: {t / t_gram:5.2f}{tag}")


if __name__ == "__main__":
    main()
