"""Time population GD: one gradient at k = 10, and 1000 Safran-Shamir restarts at k = 10.

Run: ``python benchmarks/bench_population_gd.py [--restarts 1000] [--k 10]``. Single process,
BLAS limited to one thread. Goals: 1000 restarts in under 60 s; a gradient in tens of
microseconds.
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from narrowrelu import Teacher
from narrowrelu.baseline._kernels import population_loss_gradient_kernel
from narrowrelu.baseline.objectives import xavier_init
from narrowrelu.baseline.population_loss import loss_gradient_trusted, teacher_terms
from narrowrelu.bench.safran_shamir import FAILURE_OBJECTIVE, run_batch


def microseconds_per_call(fn, repeats):
    fn()
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--restarts", type=int, default=1000)
    parser.add_argument("--max-iter", type=int, default=100_000)
    args = parser.parse_args()
    k = args.k
    terms = teacher_terms(Teacher.orthonormal(k))
    W = xavier_init(k, k, np.random.default_rng(0))
    a = np.ones(k)
    scratch = (np.empty(k), np.empty((k, k)), np.empty((k, k)), np.empty(k))
    teacher_args = (
        terms.hidden_weights, terms.hidden_norms, terms.unit_hidden_weights, terms.output_weights,
        terms.linear_weights, terms.intercept, terms.relu_mean, terms.second_moment,
    )
    with threadpool_limits(limits=1, user_api="blas"):
        numpy_us = microseconds_per_call(lambda: loss_gradient_trusted(W, a, 0.0, terms), 2000)
        kernel_us = microseconds_per_call(
            lambda: population_loss_gradient_kernel(W, a, 0.0, *teacher_args, *scratch), 20000
        )
    print(f"one population loss + gradient, k = m = d = {k}: numpy {numpy_us:.1f} us, numba kernel {kernel_us:.1f} us "
          "(best of 5, including Python call overhead)")
    run_batch(k, k, 0, [0], args.max_iter)
    start = time.perf_counter()
    results = run_batch(k, k, 0, range(args.restarts), args.max_iter)
    seconds = time.perf_counter() - start
    iters = np.array([r[1] for r in results])
    failures = sum(r[0] >= FAILURE_OBJECTIVE for r in results)
    print(f"{args.restarts} population-GD restarts at k = {k} (step 0.1, gradient norm <= 1e-9): "
          f"{seconds:.1f} s on one core "
          f"({seconds / args.restarts * 1e3:.1f} ms a restart, {iters.mean():.0f} steps on average, "
          f"{seconds / iters.sum() * 1e6:.2f} us a step; {failures} failures)")


if __name__ == "__main__":
    main()
