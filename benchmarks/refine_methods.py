"""The refinement methods (Gauss–Newton, Levenberg–Marquardt, L-BFGS), from the same moment solution.

Usage::

    python benchmarks/refine_methods.py [--n 1e5] [--seeds 3]

For each teacher (random k = 4 and a close pair at cosine 0.99 among k = 4, d = 20) and seed, fits
the moment learner once without refinement, then refines its raw network with each method and
prints iterations, seconds and the exact relative population MSE reached.
"""

import argparse
import time

from narrowrelu import MomentReLURegressor, population_mse, population_variance
import numpy as np

from narrowrelu.learner.refine import REFINE_METHODS, refine_network
from narrowrelu.learner.sources import ArraySource
from narrowrelu.teacher import make_teacher


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e5)
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'family':<12}{'seed':>5}{'method':>8}{'iters':>7}{'seconds':>9}{'rel MSE':>11}")
    for family in ("random", "close_pair"):
        for seed in range(args.seeds):
            teacher = make_teacher(family, args.d, 4, seed)
            X, y = teacher.sample(int(args.n), random_state=seed + 100)
            raw = MomentReLURegressor(n_neurons=4, refine=False, random_state=seed).fit(X, y).raw_network_
            var = population_variance(teacher)
            source = ArraySource(X, y, np.zeros(X.shape[0], dtype=bool), 65536)
            for name in REFINE_METHODS:
                start = time.perf_counter()
                result = refine_network(name, raw, source)
                seconds = time.perf_counter() - start
                rel = population_mse(result.network, teacher) / var
                print(f"{family:<12}{seed:>5}{name:>8}{result.n_iter:>7}{seconds:>9.2f}{rel:>11.2e}")


if __name__ == "__main__":
    main()
