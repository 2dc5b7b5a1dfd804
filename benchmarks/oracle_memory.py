"""Oracle mode streams: peak memory of fit_oracle against the size of the data it saw.

Usage::

    python benchmarks/oracle_memory.py --n 1e7 --d 20 --k 4

Prints the wall time, the peak resident set size of the process (``ru_maxrss``), the bytes of the
Gaussian inputs it drew per pass (n * d * 8), and the exact population MSE of the fit.
"""

import argparse
import resource
import time

from narrowrelu import MomentReLURegressor, Teacher, population_mse, population_variance


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e7)
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--chunk-size", type=int, default=65536)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = int(args.n)
    teacher = Teacher.random(args.d, args.k, random_state=args.seed)
    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    model = MomentReLURegressor(n_neurons=args.k, random_state=args.seed, chunk_size=args.chunk_size, verbose=True)
    model.fit_oracle(teacher, n_samples=n)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    data_mb = n * args.d * 8 / 2**20
    var = population_variance(teacher)
    print(f"oracle mode: n = {n:.3g}, d = {args.d}, k = {args.k}, chunk_size = {args.chunk_size}")
    print(f"passes over the stream: {model.n_passes_} ({len(model.rounds_)} rounds); wall time {seconds:.1f} s")
    print(f"Gaussian inputs per pass: {data_mb:,.0f} MB; peak RSS of the process: {peak_mb:,.0f} MB "
          f"(before fitting: {baseline_mb:,.0f} MB); ratio data/peak = {data_mb / peak_mb:.1f}")
    print(f"relative population MSE: raw {population_mse(model.raw_network_, teacher) / var:.2e}, "
          f"refined {population_mse(model, teacher) / var:.2e}")
    print("stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in model.timings_.items()))


if __name__ == "__main__":
    main()
