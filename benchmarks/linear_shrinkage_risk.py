"""The linear part's James–Stein shrinkage against the least-squares fit, as the linear part grows.

The refinement shrinks the fitted linear part w towards zero (``learner/refine/linear_shrinkage.py``,
docs/design/algorithm.md stage 9), which lowers the excess risk whatever w is, to the order of the
Gaussian approximation: a lot at w = 0, nothing once w is far above its standard error. This
script shows it on one grid. Teacher: ``Teacher.random(d, k)`` plus a random linear part of norm
|w| = c * sigma * sqrt(d / n) (``--scales`` gives c: about the norm of the least-squares
estimate's error in w, so c = 1 is a linear part at the detection limit), label noise sigma =
``--noise`` times the neurons' standard deviation. For each c and seed the same data are fitted
twice, ``MomentReLURegressor(n_neurons=k)`` with the shrinkage (the default) and with
``settings={"shrink_linear_part": False}``, each scored exactly; a row per c: the mean excess
population MSE over the parametric rate sigma^2 p / n (p = k(d+1)+d+1) of each, the mean James–Stein
factor, and the paired difference (least squares minus shrinkage) in standard errors.

    python benchmarks/linear_shrinkage_risk.py --d 20 --k 2 4 --n 1e4 --noise 0.3 --seeds 10
"""

import argparse
import warnings

import numpy as np

from narrowrelu import MomentReLURegressor, Teacher, population_mse, population_variance
from narrowrelu.network import n_parameters


def teacher_with_linear_part(d, k, scale, n, noise, seed):
    """``Teacher.random(d, k)`` plus a random linear part of norm ``scale * sigma * sqrt(d / n)``,
    and the noise's sigma (``noise`` times the neurons' standard deviation)."""
    neurons = Teacher.random(d, k, random_state=seed)
    sigma = noise * float(np.sqrt(population_variance(neurons)))
    w = np.random.default_rng([seed, 7]).standard_normal(d)
    w *= scale * sigma * np.sqrt(d / n) / np.linalg.norm(w)
    return Teacher(neurons.hidden_weights, neurons.output_weights, w, 0.0, noise_std=sigma), sigma


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--k", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--n", type=float, default=1e4)
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--scales", type=float, nargs="+", default=[0, 0.5, 1, 2, 4, 16, 64])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args(argv)
    n = int(args.n)
    if args.seeds < 2:
        parser.error("--seeds must be at least 2 (the paired difference needs a standard error)")
    print(f"d = {args.d}, n = {n}, noise {args.noise} of the neurons' std, {args.seeds} seeds; "
          f"|w| = c sigma sqrt(d/n)")
    print(f"{'k':>3}{'c':>7}{'LS/rate':>10}{'JS/rate':>10}{'factor':>8}{'gain/se':>9}")
    worst = np.inf
    for k in args.k:
        rate_p = n_parameters(k, args.d)
        for scale in args.scales:
            plain, shrunk, factors = [], [], []
            for seed in range(args.seeds):
                teacher, sigma = teacher_with_linear_part(args.d, k, scale, n, args.noise, seed)
                X, y = teacher.sample(n, random_state=1000 + seed)
                rate = sigma**2 * rate_p / n
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    a = MomentReLURegressor(n_neurons=k, random_state=seed).fit(X, y)
                    b = MomentReLURegressor(n_neurons=k, random_state=seed,
                                            settings={"shrink_linear_part": False}).fit(X, y)
                shrunk.append(population_mse(a, teacher) / rate)
                plain.append(population_mse(b, teacher) / rate)
                factors.append(a.refinement_["linear_shrinkage"]["factor"])
            gain = np.subtract(plain, shrunk)
            z = gain.mean() / (gain.std(ddof=1) / np.sqrt(gain.size)) if np.any(gain != gain[0]) else 0.0
            worst = min(worst, z)
            print(f"{k:>3}{scale:>7g}{np.mean(plain):>10.3f}{np.mean(shrunk):>10.3f}{np.mean(factors):>8.2f}"
                  f"{z:>9.2f}", flush=True)
    print(f"least squares minus shrinkage, in standard errors: lowest {worst:.2f} "
          f"(below -3 would mean the shrinkage made the fit worse)")


if __name__ == "__main__":
    main()
