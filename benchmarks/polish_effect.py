"""The raw moment solution with and without the CP polish (``cp_polish``), against the parametric rate.

Data as in ``narrowrelu bench sample-complexity`` (the same teachers, label noise and data seeds):
for each family, k and seed, one ``MomentReLURegressor(refine=False)`` fit with ``cp_polish=True``
(the default) and one with ``cp_polish=False``, scored exactly against the teacher. Prints the
excess MSE over the rate :math:`\\sigma^2p/n`, the fit time and the rounds run::

    python benchmarks/polish_effect.py                       # d=50, k=16, n=3e5, random, seeds 0-2
    python benchmarks/polish_effect.py --k 4 8 12 16 --families random close_pair clusters
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from narrowrelu import MomentReLURegressor
from narrowrelu.bench.sample_complexity.sweep import DATA_SEED_OFFSET
from narrowrelu.metrics import population_mse, population_variance
from narrowrelu.teacher import FAMILIES, make_teacher


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=["random"], choices=FAMILIES)
    p.add_argument("--k", nargs="+", type=int, default=[16])
    p.add_argument("--d", type=int, default=50)
    p.add_argument("--n", type=float, default=3e5)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--max-rounds", type=int, default=None, help="the estimator's max_rounds (default: its default)")
    args = p.parse_args(argv)
    n = int(args.n)
    extra = {} if args.max_rounds is None else {"max_rounds": args.max_rounds}
    print(f"d = {args.d}, n = {n}, noise {args.noise} std f; excess MSE / (sigma^2 p / n)")
    print(f"{'family':<11} {'k':>3} {'seed':>4} {'polished':>9} {'plain':>9} {'s pol':>6} {'s plain':>7} {'rounds':>6}")
    worst = {}
    for family in args.families:
        for k in args.k:
            for seed in range(args.seeds):
                teacher = make_teacher(family, args.d, k, seed)
                sigma = args.noise * np.sqrt(population_variance(teacher))
                X, y = teacher.with_noise(sigma).sample(n, random_state=DATA_SEED_OFFSET + seed)
                d, kk = teacher.n_features, teacher.n_neurons
                rate = sigma**2 * (kk * (d + 1) + d + 1) / n
                out = {}
                for polish in (True, False):
                    start = time.perf_counter()
                    with threadpool_limits(1):
                        model = MomentReLURegressor(n_neurons=kk, refine=False, cp_polish=polish, random_state=seed,
                                                    **extra).fit(X, y)
                    out[polish] = (population_mse(model.network_, teacher) / rate, time.perf_counter() - start,
                                   len(model.rounds_))
                print(f"{family:<11} {kk:>3} {seed:>4} {out[True][0]:>9.2f} {out[False][0]:>9.2f} {out[True][1]:>6.1f} "
                      f"{out[False][1]:>7.1f} {out[True][2]:>6}", flush=True)
                key = (family, kk)
                worst[key] = max(worst.get(key, 0.0), out[True][0])
    print("worst seed, polished:", ", ".join(f"{f} k={k}: {v:.2f}x" for (f, k), v in worst.items()))


if __name__ == "__main__":
    main()
