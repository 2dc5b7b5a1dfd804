"""The raw moment solution with the joint tensor fit started from the CP polish (the default),
with the CP polish alone, with the fit alone and with neither, against the parametric rate.

Data as in ``narrowrelu bench sample-complexity`` (the same teachers, label noise and data seeds):
for each family, k and seed, four ``MomentReLURegressor(refine=False)`` fits, scored exactly
against the teacher: the default (candidate generators ``jennrich, cp_polish, tensor_fit``), without
``tensor_fit`` (the CP polish alone), without ``cp_polish`` (the fit from the current directions, without
tensorly) and both off. Prints the excess MSE over the
rate :math:`\\sigma^2p/n`, the fit times and the rounds run::

    python benchmarks/polish_effect.py                       # d=50, k=16, n=3e5, random, seeds 0-2
    python benchmarks/polish_effect.py --k 4 8 12 16 --families random close_pair clusters
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from narrowrelu import MomentReLURegressor
from narrowrelu.bench.sample_complexity.sweep import DATA_SEED_OFFSET
from narrowrelu.network import n_parameters
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
    settings = {"default": ("jennrich", "cp_polish", "tensor_fit"), "cp only": ("jennrich", "cp_polish"),
                "fit only": ("jennrich", "tensor_fit"), "neither": ("jennrich",)}
    print(f"{'family':<11} {'k':>3} {'seed':>4} " + " ".join(f"{name:>9}" for name in settings)
          + " " + " ".join(f"{'s ' + name:>10}" for name in settings) + f" {'rounds':>6}")
    worst = {}
    for family in args.families:
        for k in args.k:
            for seed in range(args.seeds):
                teacher = make_teacher(family, args.d, k, seed)
                sigma = args.noise * np.sqrt(population_variance(teacher))
                X, y = teacher.with_noise(sigma).sample(n, random_state=DATA_SEED_OFFSET + seed)
                d, kk = teacher.n_features, teacher.n_neurons
                rate = sigma**2 * n_parameters(kk, d) / n
                out = {}
                for name, generators in settings.items():
                    start = time.perf_counter()
                    with threadpool_limits(1):
                        model = MomentReLURegressor(n_neurons=kk, refine=False, random_state=seed,
                                                    settings={"candidate_generators": generators, **extra}).fit(X, y)
                    out[name] = (population_mse(model.network_, teacher) / rate, time.perf_counter() - start,
                                 len(model.rounds_))
                print(f"{family:<11} {kk:>3} {seed:>4} " + " ".join(f"{out[m][0]:>9.2f}" for m in settings) + " "
                      + " ".join(f"{out[m][1]:>10.1f}" for m in settings) + f" {out['default'][2]:>6}", flush=True)
                for m in settings:
                    worst[(m, family, kk)] = max(worst.get((m, family, kk), 0.0), out[m][0])
    for m in settings:
        print(f"worst seed, {m}:", ", ".join(f"{f} k={k}: {v:.2f}x" for (name, f, k), v in worst.items() if name == m))

if __name__ == "__main__":
    main()
