"""The baselines a bias-learning moment learner has to beat (issue 22): GD with hidden biases and
scikit-learn's MLPRegressor on a biased teacher.

Usage::

    python benchmarks/biased_probe.py [--d 20] [--k 4] [--n 100000] [--noise 0.1] [--seeds 0 1 2]

Teacher: ``make_teacher("biased", d, k, seed)`` (unit directions, beta ~ N(0, 1)); data: n draws
with label noise sigma = noise * std f. Methods: ``GDReLURegressor(hidden_biases=True)`` (L-BFGS, at
most 1000 iterations) at width k and 2k, and ``MLPRegressor`` at width 4k (relu, lbfgs, at most 2000
iterations, tol 1e-8: the sweep's ``mlp_4k``). Every model is scored exactly: a one-hidden-layer
``MLPRegressor`` is the network b + sum_j a_j relu(w_j.x + c_j), so ``population_mse`` covers it.
Prints per fit the relative excess MSE, the excess over the parametric rate sigma^2 p / n with
p = k(d+2)+d+1, and the fit time as a multiple of one ``X.T @ X`` on the same data (timed in the run).
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.neural_network import MLPRegressor

from narrowrelu import ReLUNetwork, population_mse, population_variance
from narrowrelu.baseline.estimator import GDReLURegressor
from narrowrelu.network import n_parameters
from narrowrelu.teacher import make_teacher


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


def fits(k, seed):
    yield "gd_k", k, lambda: GDReLURegressor(n_neurons=k, hidden_biases=True, max_iter=1000, history_every=None,
                                              random_state=seed)
    yield "gd_2k", 2 * k, lambda: GDReLURegressor(n_neurons=2 * k, hidden_biases=True, max_iter=1000,
                                                   history_every=None, random_state=seed)
    yield "mlp_4k", 4 * k, lambda: MLPRegressor(hidden_layer_sizes=(4 * k,), activation="relu", solver="lbfgs",
                                                 max_iter=2000, tol=1e-8, random_state=seed)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--d", type=int, default=20)
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    d, k, n = args.d, args.k, args.n
    params = n_parameters(k, d, biased=True)
    print(f"biased teacher d={d} k={k} (beta ~ N(0,1)), n={n}, noise {args.noise} std f, p = k(d+2)+d+1 = {params}")
    print(f"{'seed':>4} {'method':>7} {'width':>5} {'rel MSE':>10} {'excess/rate':>11} {'seconds':>8} {'x ref':>8}")
    for seed in args.seeds:
        teacher = make_teacher("biased", d, k, seed)
        var = population_variance(teacher)
        sigma = args.noise * np.sqrt(var)
        X, y = teacher.with_noise(sigma).sample(n, random_state=10_000 + seed)
        rate = sigma**2 * params / n
        for name, width, build in fits(k, seed):
            ref = reference_seconds(X)
            model = build()
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X, y)
            seconds = time.perf_counter() - start
            net = mlp_network(model) if isinstance(model, MLPRegressor) else model.relu_network()
            mse = population_mse(net, teacher)
            print(f"{seed:>4} {name:>7} {width:>5} {mse / var:>10.3e} {mse / rate:>11.2f} {seconds:>8.1f} "
                  f"{seconds / ref:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
