"""whiten=True on correlated Gaussian inputs against the white case, at the same n; with --mean, inputs with a mean.

    PYTHONPATH=src python benchmarks/whiten_correlated.py [--n N] [--seeds S]
    PYTHONPATH=src python benchmarks/whiten_correlated.py --mean 1 --noise 0 [--n N] [--seeds S]

Teacher: Teacher.random(d=20, k=4) on z ~ N(0, I); correlated inputs x = Sigma^{1/2} z with a
random rotation and eigenvalues from 1 to 10 (condition number 10), the same teacher seen in
x-coordinates (y is the same function of z); label noise 0.1 std f. Every fit is scored by its
exact relative population MSE in z-coordinates (a network of x is one of z through x = Sigma^{1/2} z).

With ``--mean M``: x = mu + Sigma^{1/2} z, mu of entries +-M (random signs), and the teacher is
bias-free in x's coordinates, y = f(x) (so in z it has a bias mu.u_i in each unit).
``MomentReLURegressor(whiten=True, hidden_biases=True)`` centres and whitens x and learns the biased
network; ``whiten=False, hidden_biases=True`` on the same rows is shown for comparison. Scored exactly
in z (x = mu + Sigma^{1/2} z maps a network of x to a biased one of z). Seconds per fit are also given
as a ratio to one X.T @ X on the same array (best of 5, one BLAS thread), timed in the same run.
"""

import argparse
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from narrowrelu import MomentReLURegressor, ReLUNetwork, Teacher, population_mse, population_variance


def in_z(net, root, mu=None):
    """The network of z that computes ``net`` at x = mu + root z."""
    mu = np.zeros(root.shape[0]) if mu is None else mu
    return ReLUNetwork(net.hidden_weights @ root, net.output_weights, net.linear_weights @ root,
                       net.intercept + net.linear_weights @ mu, net.hidden_biases + net.hidden_weights @ mu)


def covariance_root(rng, d):
    """Sigma^{1/2} (symmetric): a random rotation, eigenvalues of Sigma from 1 to 10."""
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    return (Q * np.sqrt(np.geomspace(1, 10, d))) @ Q.T


def x_gram_seconds(X, repeats=5):
    """The best of ``repeats`` timings of one X.T @ X, BLAS on one thread (as the fit runs it)."""
    best = np.inf
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(repeats):
            start = time.perf_counter()
            X.T @ X
            best = min(best, time.perf_counter() - start)
    return best


def fit(X, y, k, seed, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model = MomentReLURegressor(n_neurons=k, random_state=seed, **options).fit(X, y)
    return model, time.perf_counter() - start


def correlated_table(args):
    d, k, n = args.d, args.k, int(args.n)
    print(f"d={d} k={k} n={n} noise={args.noise} std f, condition number 10; relative population MSE")
    print(f"{'seed':>4} {'white, whiten=False':>20} {'correlated, whiten=True':>24} {'correlated, whiten=False':>25}")
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        teacher = Teacher.random(n_features=d, n_neurons=k, random_state=seed)
        var = population_variance(teacher)
        Z, y = teacher.with_noise(args.noise * np.sqrt(var)).sample(n, random_state=100 + seed)
        root = covariance_root(rng, d)
        X = Z @ root  # rows x = Sigma^{1/2} z
        row = []
        for inputs, whiten in ((Z, False), (X, True), (X, False)):
            net = fit(inputs, y, k, seed, whiten=whiten)[0].network_
            if inputs is X:  # f(x) with x = root z is a network of z with hidden rows u @ root
                net = in_z(net, root)
            row.append(population_mse(net, teacher) / var)
        print(f"{seed:>4} {row[0]:>20.3e} {row[1]:>24.3e} {row[2]:>25.3e}")


def mean_table(args):
    d, k, n = args.d, args.k, int(args.n)
    print(f"d={d} k={k} n={n} noise={args.noise} std f, mean entries +-{args.mean:g}, condition number 10; "
          "relative population MSE, scored in z")
    print(f"{'seed':>4} {'max|bias| in z':>14} {'raw, whiten+biases':>19} {'whiten=True, hidden_biases=True':>32} "
          f"{'s':>7} {'/ X.T@X':>8} {'whiten=False, hidden_biases=True':>33}")
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        teacher = Teacher.random(n_features=d, n_neurons=k, random_state=seed)  # bias-free in x
        root = covariance_root(rng, d)
        mu = args.mean * rng.choice([-1.0, 1.0], d)
        X = mu + np.random.default_rng(100 + seed).standard_normal((n, d)) @ root
        seen = in_z(teacher, root, mu)
        var = population_variance(seen)
        y = teacher(X) + args.noise * np.sqrt(var) * np.random.default_rng(200 + seed).standard_normal(n)
        reference = x_gram_seconds(X)
        model, seconds = fit(X, y, k, seed, whiten=True, hidden_biases=True)
        raw = population_mse(in_z(model.raw_network_, root, mu), seen) / var
        final = population_mse(in_z(model.network_, root, mu), seen) / var
        plain = fit(X, y, k, seed, whiten=False, hidden_biases=True)[0].network_
        other = population_mse(in_z(plain, root, mu), seen) / var
        biases = np.max(np.abs(seen.hidden_biases) / np.linalg.norm(seen.hidden_weights, axis=1))
        print(f"{seed:>4} {biases:>14.3f} {raw:>19.3e} {final:>32.3e} {seconds:>7.1f} {seconds / reference:>8.0f} "
              f"{other:>33.3e}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=30_000, help="rows per fit (default 30000)")
    parser.add_argument("--seeds", type=int, default=3, help="teachers, one per seed (default 3)")
    parser.add_argument("--d", type=int, default=20, help="input dimension (default 20)")
    parser.add_argument("--k", type=int, default=4, help="teacher's neurons (default 4)")
    parser.add_argument("--noise", type=float, default=0.1, help="label noise in units of std f (default 0.1)")
    parser.add_argument("--mean", type=float, default=None,
                        help="inputs x ~ N(mu, Sigma) with mu of entries +-MEAN, a teacher bias-free in x, fitted "
                             "with whiten=True, hidden_biases=True (default: no mean, the correlated table)")
    args = parser.parse_args(argv)
    if args.mean is None:
        correlated_table(args)
    else:
        mean_table(args)


if __name__ == "__main__":
    main()
