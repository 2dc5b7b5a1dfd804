"""One statistical recovery suite run against every method (moment raw, moment refined, GD) on
small planted teachers with fixed seeds.

With label noise of standard deviation sigma, the excess population MSE (exact, against the
clean teacher) is compared with the parametric rate sigma^2 p / n, where p = k(d+1) + d + 1 is
the number of parameters of a k-neuron network with a linear part and an intercept:

* least squares over a model class that contains the teacher (the refined moment solution, k
  neurons; GD, 2k neurons, p_gd = 2k(d+1) + d + 1) has, asymptotically, n * excess / sigma^2
  distributed as chi-square with p degrees of freedom: mean p, standard deviation sqrt(2p). The
  bound is the mean plus N_SD = 4 standard deviations, sigma^2 p / n * (1 + 4 sqrt(2 / p)):
  exceeded with probability below 1e-3 at these p, while an estimator that misses a neuron or
  stops in a local minimum is off by a constant fraction of Var f (>= 30 rates here);
* the raw moment solution is not a least-squares fit of the directions: they come from
  fourth moments, whose sampling error is not reduced to the parametric rate. Its bound is a
  factor RAW_FACTOR = 30 times the rate: over 12 calibration fits (two teachers, six data
  seeds) the ratio was 1.2 to 10, and 44 in the one fit that missed a neuron (cosine 0.6),
  which this bound rejects.

On noiseless data the refined and GD models reach a small relative MSE (the raw one is limited
by the sampling error of the moments, which exists without label noise).
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from narrowrelu import GDReLURegressor, MomentReLURegressor, Teacher, population_mse, population_variance
from narrowrelu.network import n_parameters

N_SD = 4.0
RAW_FACTOR = 30.0
NOISE = 0.3  # label noise standard deviation, as a fraction of the teacher's standard deviation
N_SAMPLES = 10_000

TEACHERS = [
    pytest.param((5, 2, 11, 100), id="d5-k2"),
    pytest.param((8, 3, 12, 101), id="d8-k3", marks=pytest.mark.slow),
    pytest.param((10, 3, 13, 102), id="d10-k3", marks=pytest.mark.slow),
]
METHODS = ["moment_raw", "moment_refined", "gd"]


def fit(method, X, y, k):
    """The fitted network and the parameter count of the model class it was fitted in."""
    d = X.shape[1]
    if method == "gd":
        model = GDReLURegressor(n_neurons=2 * k, optimizer="lbfgs", n_restarts=3, max_iter=1000, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        return model.relu_network(), n_parameters(2 * k, d)
    model = MomentReLURegressor(n_neurons=k, refine=method == "moment_refined", random_state=0).fit(X, y)
    return (model.raw_network_ if method == "moment_raw" else model.network_), n_parameters(k, d)


def planted(spec, noise):
    d, k, teacher_seed, data_seed = spec
    teacher = Teacher.random(n_features=d, n_neurons=k, random_state=teacher_seed)
    sigma = noise * np.sqrt(population_variance(teacher))
    X, y = teacher.with_noise(sigma).sample(N_SAMPLES, random_state=data_seed)
    return teacher, sigma, X, y


@pytest.mark.parametrize("spec", TEACHERS)
@pytest.mark.parametrize("method", METHODS)
def test_excess_mse_within_the_parametric_rate(method, spec):
    teacher, sigma, X, y = planted(spec, NOISE)
    network, p = fit(method, X, y, spec[1])
    excess = population_mse(network, teacher)  # the teacher is the clean f: no noise term
    rate = sigma**2 * p / N_SAMPLES
    bound = RAW_FACTOR * rate if method == "moment_raw" else rate * (1 + N_SD * np.sqrt(2 / p))
    assert excess <= bound, f"excess {excess:.3g} = {excess / rate:.2f} rates, bound {bound / rate:.2f} rates"
    # the bound is far below what a wrong model costs: the teacher's own variance
    assert bound < 0.05 * population_variance(teacher)


@pytest.mark.parametrize("spec", TEACHERS)
@pytest.mark.parametrize("method, tolerance", [("moment_raw", 1e-2), ("moment_refined", 1e-10), ("gd", 1e-8)])
def test_noiseless_recovery(method, tolerance, spec):
    teacher, _, X, y = planted(spec, 0.0)
    network, _ = fit(method, X, y, spec[1])
    assert population_mse(network, teacher) <= tolerance * population_variance(teacher)
