"""Neurons beside a large linear part: f = w.x + sum_i lambda_i relu(u_i.x), |w| from --norms.

The teacher is ``Teacher.random(d, k)`` with a random linear part of norm |w| added (the
model class holds it: a skip connection, or a trend in the data), label noise ``--noise`` times
the standard deviation of the neurons' part (not of f: the linear part would otherwise drown
the neurons in noise). Each fit on one thread after an untimed warm-up fit; a row per norm and
call (``n_neurons=None`` and told k): the seconds and their ratio to one ``X.T @ X`` on the same
array, timed just before the fit; the k the search tried first, the k kept, the rounds of the k
kept, the held-out MSE of the first round over sigma^2, and the refined excess population MSE over
the parametric rate sigma^2 p / n (p = k(d+1)+d+1).

    python benchmarks/linear_part.py --d 20 --k 3 6 --n 3e4 --norms 0 3 30 100
"""

import argparse
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from narrowrelu import MomentReLURegressor, Teacher, population_mse, population_variance


def linear_part_teacher(d, k, norm, noise, seed):
    """``Teacher.random(d, k)`` plus a random linear part of norm ``norm``, with label noise of
    ``noise`` times the neurons' standard deviation; returns it and that noise's sigma."""
    neurons = Teacher.random(d, k, random_state=seed)
    w = np.random.default_rng([seed, 3]).standard_normal(d)
    sigma = noise * float(np.sqrt(population_variance(neurons)))
    teacher = Teacher(neurons.hidden_weights, neurons.output_weights,
                      neurons.linear_weights + norm * w / np.linalg.norm(w), neurons.intercept, noise_std=sigma)
    return teacher, sigma


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--k", type=int, nargs="+", default=[3, 6])
    parser.add_argument("--n", type=float, default=3e4)
    parser.add_argument("--norms", type=float, nargs="+", default=[0.0, 3.0, 30.0, 100.0])
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    n, d = int(args.n), args.d
    print(f"{'k':>3}{'|w|':>7}{'n_neurons':>10}{'seconds':>9}{'/ XtX':>7}{'first k':>8}{'kept':>5}{'rounds':>7}"
          f"{'round 1/s2':>11}{'excess/rate':>12}")
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        teacher, _ = linear_part_teacher(d, args.k[0], 1.0, args.noise, args.seed)
        MomentReLURegressor(random_state=0).fit(*teacher.sample(2000, random_state=0))
        for k in args.k:
            for norm in args.norms:
                teacher, sigma = linear_part_teacher(d, k, norm, args.noise, args.seed)
                X, y = teacher.sample(n, random_state=args.seed + 1)
                rate = sigma**2 * (k * (d + 1) + d + 1) / n
                for told in (None, k):
                    start = time.perf_counter()
                    X.T @ X
                    reference = time.perf_counter() - start
                    start = time.perf_counter()
                    model = MomentReLURegressor(n_neurons=told, random_state=0).fit(X, y)
                    seconds = time.perf_counter() - start
                    first = model.k_search_[0]["k"] if model.k_search_ else "-"
                    # the rounds' held-out MSE is in the fit's standard units of y
                    round_one = model.rounds_[0].validation_mse * model.scaling_["y_scale"] ** 2 / sigma**2
                    excess = population_mse(model, teacher) / rate
                    print(f"{k:>3}{norm:>7g}{'None' if told is None else told:>10}{seconds:>9.2f}"
                          f"{seconds / reference:>7.0f}{first:>8}"
                          f"{model.n_neurons_:>5}{len(model.rounds_):>7}{round_one:>11.3g}{excess:>12.3g}",
                          flush=True)


if __name__ == "__main__":
    main()
