"""whiten=True on correlated Gaussian inputs against the white case, at the same n.

    PYTHONPATH=src python benchmarks/whiten_correlated.py [--n N] [--seeds S]

Teacher: Teacher.random(d=20, k=4) on z ~ N(0, I); correlated inputs x = Sigma^{1/2} z with a
random rotation and eigenvalues from 1 to 10 (condition number 10), the same teacher seen in
x-coordinates (y is the same function of z); label noise 0.1 std f. Every fit is scored by its
exact relative population MSE in z-coordinates (a network of x is one of z through x = Sigma^{1/2} z).
"""

import argparse
import warnings

import numpy as np

from narrowrelu import MomentReLURegressor, ReLUNetwork, Teacher, population_mse, population_variance

D, K, NOISE = 20, 4, 0.1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=30_000, help="rows per fit (default 30000)")
    parser.add_argument("--seeds", type=int, default=3, help="teachers, one per seed (default 3)")
    args = parser.parse_args(argv)
    N, SEEDS = int(args.n), args.seeds
    print(f"d={D} k={K} n={N} noise={NOISE} std f, condition number 10; relative population MSE")
    print(f"{'seed':>4} {'white, whiten=False':>20} {'correlated, whiten=True':>24} {'correlated, whiten=False':>25}")
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        teacher = Teacher.random(n_features=D, n_neurons=K, random_state=seed)
        var = population_variance(teacher)
        Z, y = teacher.with_noise(NOISE * np.sqrt(var)).sample(N, random_state=100 + seed)
        Q = np.linalg.qr(rng.standard_normal((D, D)))[0]
        root = (Q * np.sqrt(np.geomspace(1, 10, D))) @ Q.T  # Sigma^{1/2}, symmetric
        X = Z @ root  # rows x = Sigma^{1/2} z
        row = []
        for inputs, whiten in ((Z, False), (X, True), (X, False)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = MomentReLURegressor(n_neurons=K, whiten=whiten, random_state=seed).fit(inputs, y).network_
            if inputs is X:  # f(x) with x = root z is a network of z with hidden rows u @ root
                net = ReLUNetwork(net.hidden_weights @ root, net.output_weights, net.linear_weights @ root,
                                  net.intercept)
            row.append(population_mse(net, teacher) / var)
        print(f"{seed:>4} {row[0]:>20.3e} {row[1]:>24.3e} {row[2]:>25.3e}")


if __name__ == "__main__":
    main()
