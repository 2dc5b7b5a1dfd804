"""Biased teachers (issue 22): the moment learner with hidden biases against scikit-learn's
MLPRegressor and GD with biases, on the same data.

Usage::

    python benchmarks/biased_fits.py [--d 20 30] [--k 4 6] [--bias-scale 0.5 1] [--n 100000] \
        [--noise 0.1] [--seeds 0 1 2] [--beta-one] [--methods moment moment_auto mlp_4k gd_2k]

Teacher: ``Teacher.random(d, k, bias_scale=s, random_state=seed)`` (unit directions,
beta ~ N(0, s^2); with ``--beta-one`` the first neuron's bias is exactly 1, where its order-4
Hermite weight vanishes); data: n draws with label noise sigma = noise * std f. Methods:

- ``moment``: ``MomentReLURegressor(n_neurons=k, hidden_biases=True)``;
- ``moment_auto``: the same with ``n_neurons=None`` (k not given);
- ``moment_nobias``: the default ``MomentReLURegressor(n_neurons=k)``, without biases (with
  ``--bias-scale 0``: what ``hidden_biases=True`` costs on a bias-free teacher);
- ``mlp_4k``: ``MLPRegressor`` of width 4k (relu, lbfgs, at most 2000 iterations, tol 1e-8: the
  sweep's ``mlp_4k``);
- ``gd_k``, ``gd_2k``: ``GDReLURegressor(hidden_biases=True)`` (L-BFGS, at most 1000 iterations).

Every model is scored exactly (a one-hidden-layer ``MLPRegressor`` is the network
b + sum_j a_j relu(w_j.x + c_j), so ``population_mse`` covers it). Per fit: the relative excess MSE,
the excess over the parametric rate sigma^2 p / n with p = k(d+2)+d+1 (noiseless: the relative
MSE), the neurons, and the fit time as a multiple of one ``X.T @ X`` on the same data (timed in
the run). Per teacher, ``moment`` against ``mlp_4k``: error ratio and speed-up; at the end, the
worst of each over the teachers.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.neural_network import MLPRegressor

from narrowrelu import MomentReLURegressor, ReLUNetwork, population_mse, population_variance
from narrowrelu.baseline.estimator import GDReLURegressor
from narrowrelu.network import n_parameters
from narrowrelu.teacher import Teacher


def mlp_network(model):
    """The :class:`ReLUNetwork` of a fitted one-hidden-layer relu ``MLPRegressor``."""
    (W, V), (c, b) = model.coefs_, model.intercepts_
    return ReLUNetwork(W.T, V[:, 0], None, float(b[0]), c)


def reference_seconds(X, repeats=3):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        X.T @ X
        best = min(best, time.perf_counter() - start)
    return best


BUILDERS = {
    "moment": lambda k, seed: MomentReLURegressor(n_neurons=k, hidden_biases=True, random_state=seed),
    "moment_auto": lambda k, seed: MomentReLURegressor(hidden_biases=True, random_state=seed),
    "moment_nobias": lambda k, seed: MomentReLURegressor(n_neurons=k, random_state=seed),
    "mlp_4k": lambda k, seed: MLPRegressor(hidden_layer_sizes=(4 * k,), activation="relu", solver="lbfgs",
                                           max_iter=2000, tol=1e-8, random_state=seed),
    "gd_k": lambda k, seed: GDReLURegressor(n_neurons=k, hidden_biases=True, max_iter=1000, history_every=None,
                                            random_state=seed),
    "gd_2k": lambda k, seed: GDReLURegressor(n_neurons=2 * k, hidden_biases=True, max_iter=1000,
                                             history_every=None, random_state=seed),
}


def fitted_network(model):
    if isinstance(model, MLPRegressor):
        return mlp_network(model)
    return model.network_ if isinstance(model, MomentReLURegressor) else model.relu_network()


def raw_cosine(model, teacher):
    """The smallest over the teacher's neurons of the largest |cosine| with a direction of the raw
    moment solution (``nan`` for other methods)."""
    if not isinstance(model, MomentReLURegressor):
        return float("nan")
    T, R = teacher.hidden_weights, model.raw_network_.hidden_weights
    C = np.abs((T / np.linalg.norm(T, axis=1, keepdims=True)) @ (R / np.linalg.norm(R, axis=1, keepdims=True)).T)
    return float(C.max(axis=1).min())


def make_biased_teacher(d, k, scale, seed, beta_one):
    teacher = Teacher.random(d, k, bias_scale=scale, random_state=seed)
    if not beta_one:
        return teacher
    beta = teacher.hidden_biases.copy()
    beta[0] = np.linalg.norm(teacher.hidden_weights[0])  # |beta| = 1 on the unit direction: c_4(1) = 0
    return Teacher(teacher.hidden_weights, teacher.output_weights, teacher.linear_weights, teacher.intercept,
                   hidden_biases=beta)


def run_teacher(d, k, scale, seed, args):
    teacher = make_biased_teacher(d, k, scale, seed, args.beta_one)
    var = population_variance(teacher)
    sigma = args.noise * np.sqrt(var)
    X, y = teacher.with_noise(sigma).sample(args.n, random_state=10_000 + seed)
    rate = sigma**2 * n_parameters(k, d, biased=True) / args.n
    scores = {}
    ref = reference_seconds(X, repeats=5)
    for name in args.methods:
        model = BUILDERS[name](k, seed)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        seconds = time.perf_counter() - start
        net = fitted_network(model)
        mse = population_mse(net, teacher)
        score = mse / rate if rate > 0 else mse / var
        scores[name] = (score, seconds)
        print(f"{d:>3} {k:>3} {scale:>5.2f} {seed:>4} {name:>11} {net.n_neurons:>5} {mse / var:>10.3e} {score:>11.3g} "
              f"{raw_cosine(model, teacher):>8.5f} {seconds:>8.2f} {seconds / ref:>8.0f}", flush=True)
    return scores


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--d", type=int, nargs="+", default=[20])
    p.add_argument("--k", type=int, nargs="+", default=[4])
    p.add_argument("--bias-scale", type=float, nargs="+", default=[1.0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--beta-one", action="store_true",
                   help="set the first neuron's bias to exactly 1 (its order-4 weight c_4(1) vanishes)")
    p.add_argument("--methods", nargs="+", default=["moment", "moment_auto", "mlp_4k"], choices=sorted(BUILDERS))
    args = p.parse_args()
    measure = "excess/rate" if args.noise > 0 else "rel MSE"
    print(f"biased teachers, n={args.n}, noise {args.noise} std f, rate sigma^2 p/n with p = k(d+2)+d+1")
    print(f"{'d':>3} {'k':>3} {'beta':>5} {'seed':>4} {'method':>11} {'width':>5} {'rel MSE':>10} {measure:>11} "
          f"{'raw cos':>8} {'seconds':>8} {'x ref':>8}")
    worst_error, worst_speedup = [], []
    for d in args.d:
        for k in args.k:
            for scale in args.bias_scale:
                for seed in args.seeds:
                    scores = run_teacher(d, k, scale, seed, args)
                    if "moment" in scores and "mlp_4k" in scores:
                        error = scores["moment"][0] / scores["mlp_4k"][0]
                        speedup = scores["mlp_4k"][1] / scores["moment"][1]
                        worst_error.append(error)
                        worst_speedup.append(speedup)
                        print(f"    moment vs mlp_4k: error ratio {error:.3g}, speed-up {speedup:.2f}x")
    if worst_error:
        print(f"over {len(worst_error)} teachers, moment vs mlp_4k: largest error ratio {max(worst_error):.3g}, "
              f"smallest speed-up {min(worst_speedup):.2f}x")


if __name__ == "__main__":
    main()
