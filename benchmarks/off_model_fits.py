"""Fits off the model: how long they take and what they say.

Two targets outside what the moment learner assumes, with ``--k`` neurons in ``--d`` features and
label noise of 0.1 std f: a teacher with biases inside its ReLUs (``Teacher.random(d, k,
bias_scale=1)``) fitted without ``hidden_biases``, and a bias-free teacher on uniform inputs of
unit variance (not Gaussian). Each is fitted with ``n_neurons=None`` (the default call), ``k``
and ``3k`` (at most d), on one thread after an untimed warm-up fit. A row: the seconds, the neurons kept,
the first k the search for k tried (``-`` without a search), the neurons added after the
refinement (or ``skip`` where the residual's odd-order structure stopped it), the error on
20 000 fresh inputs of the same law over Var f, and the warnings raised (``misfit``:
ModelMisfitWarning, ``gauss``: NonGaussianInputWarning, ``count``: NeuronCountWarning).

    python benchmarks/off_model_fits.py --d 20 --k 4 --n 2e4 2e5
"""

import argparse
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from narrowrelu import MomentReLURegressor, NonGaussianInputWarning, Teacher
from narrowrelu.learner.refine.surplus import NeuronCountWarning
from narrowrelu.learner.residual_diagnostic import ModelMisfitWarning

WARNINGS = {ModelMisfitWarning: "misfit", NonGaussianInputWarning: "gauss", NeuronCountWarning: "count"}
NOISE = 0.1
TEST_ROWS = 20_000


def biased_target(d, k, n, seed):
    """Inputs, noisy labels and the noiseless target of fresh inputs: biases inside the ReLUs."""
    teacher = Teacher.random(d, k, bias_scale=1.0, random_state=seed)
    X, f = teacher.sample(n, random_state=seed + 1)
    X_test, f_test = teacher.sample(TEST_ROWS, random_state=seed + 2)
    return X, f, X_test, f_test


def uniform_inputs(d, k, n, seed):
    """The same for a bias-free teacher on inputs uniform on [-sqrt 3, sqrt 3] (unit variance)."""
    network = Teacher.random(d, k, random_state=seed).relu_network()
    rng = np.random.default_rng(seed + 1)
    X, X_test = (rng.uniform(-np.sqrt(3), np.sqrt(3), (m, d)) for m in (n, TEST_ROWS))
    return X, network.evaluate_trusted(X), X_test, network.evaluate_trusted(X_test)


TARGETS = {"biased target": biased_target, "uniform x": uniform_inputs}


def fit(X, y, n_neurons, seed):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        model = MomentReLURegressor(n_neurons=n_neurons, random_state=seed).fit(X, y)
        seconds = time.perf_counter() - start
    said = sorted({name for category, name in WARNINGS.items() for w in caught if issubclass(w.category, category)})
    return model, seconds, said


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--n", type=float, nargs="+", default=[2e4, 2e5])
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    with threadpool_limits(limits=1):
        X, y = Teacher.random(args.d, 2, random_state=0).sample(3000, random_state=1)
        fit(X, y, None, 0)
        print(f"{'target':<15}{'n':>8}{'asked':>6}{'kept':>5}{'k0':>4}{'grown':>6}{'seconds':>9}{'err/Var f':>10}"
              "  warnings")
        for name, make in TARGETS.items():
            for n in (int(v) for v in args.n):
                X, f, X_test, f_test = make(args.d, args.k, n, args.seed)
                y = f + NOISE * np.std(f) * np.random.default_rng(args.seed + 3).standard_normal(n)
                for asked in dict.fromkeys((None, args.k, min(3 * args.k, args.d))):
                    model, seconds, said = fit(X, y, asked, args.seed)
                    err = np.mean((model.predict(X_test) - f_test) ** 2) / np.var(f_test)
                    first = model.k_search_[0]["k"] if model.k_search_ else "-"
                    grown = "skip" if model.refinement_.get("growth_skipped") else model.refinement_["grown"]
                    print(f"{name:<15}{n:>8}{str(asked):>6}{model.n_neurons_:>5}{first:>4}{grown:>6}{seconds:>9.2f}"
                          f"{err:>10.3g}  {' '.join(said) or '-'}", flush=True)


if __name__ == "__main__":
    main()
