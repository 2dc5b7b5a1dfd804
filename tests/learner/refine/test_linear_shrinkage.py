"""Tests of the James–Stein shrinkage of the refined linear part
(narrowrelu.learner.refine.linear_shrinkage): against a NumPy reference built from the
pseudo-inverse of the whole Fisher matrix, the correction's orthogonality, the turned neurons,
the cases it leaves alone, and its risk against the least-squares fit's on simulated data."""

import numpy as np
import pytest

from narrowrelu import MomentReLURegressor, ReLUNetwork, Teacher, population_mse, population_variance
from narrowrelu.learner.refine.fisher import gauge_directions, gaussian_fisher
from narrowrelu.learner.refine.gauss_newton import gauss_newton_arrays
from narrowrelu.learner.refine.linear_shrinkage import shrink_linear_part, turn_neurons, wald_statistic
from narrowrelu.learner.refine.normal_equations import information_matrix, levenberg_marquardt
from narrowrelu.network import n_parameters, unpack_parameters

N_SE = 3.0  # statistical tolerance, in standard errors


def random_network(seed, d=8, k=3, linear_scale=0.05):
    rng = np.random.default_rng(seed)
    return ReLUNetwork(rng.standard_normal((k, d)), rng.choice([-1.0, 1.0], k) * rng.uniform(0.5, 1.5, k),
                       linear_scale * rng.standard_normal(d), 0.3)


def reference_shrinkage(network, mse, n):
    """The statistic, factor and shrunk parameters from the pseudo-inverse of the whole Fisher
    matrix: S^{-1} = [F^+]_ww, T = n w'Sw / sigma^2, delta = [F^+]_{:,w} S (factor - 1) w."""
    k, d = network.n_neurons, network.n_features
    p = n_parameters(k, d)
    theta = network.to_vector()
    F = gaussian_fisher(network.hidden_weights, network.output_weights)
    P = np.linalg.pinv(F, rcond=1e-12, hermitian=True)
    w_index = np.arange(k * d + k, k * d + k + d)
    S = np.linalg.inv(P[np.ix_(w_index, w_index)])
    w = theta[w_index]
    nu = n - p
    sigma2 = mse * n / nu
    statistic = n * w @ S @ w / sigma2
    factor = max(0.0, 1.0 - (d - 2) * nu / ((nu + 2) * statistic))
    delta = P[:, w_index] @ S @ ((factor - 1.0) * w)
    return statistic, factor, theta + delta


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("linear_scale", [0.01, 0.05, 0.3])
def test_matches_the_pseudo_inverse_reference(seed, linear_scale):
    network = random_network(seed, linear_scale=linear_scale)
    n, mse = 5000, 0.04
    shrunk, report = shrink_linear_part(network, mse, n)
    statistic, factor, theta = reference_shrinkage(network, mse, n)
    assert report["turned"] == [] and report["skipped"] == ""
    assert report["statistic"] == pytest.approx(statistic, rel=1e-8)
    assert report["factor"] == pytest.approx(factor, abs=1e-8)
    np.testing.assert_allclose(shrunk.linear_weights, report["factor"] * network.linear_weights, rtol=1e-12)
    # the two steps may differ along the gauge directions (which leave f unchanged): compare
    # them with those components taken out
    G = gauge_directions(network.hidden_weights, network.output_weights).T
    start = network.to_vector()
    apart = (shrunk.to_vector() - start) - (theta - start)
    apart -= G @ np.linalg.lstsq(G, apart, rcond=None)[0]
    assert np.linalg.norm(apart) <= 1e-7 * np.linalg.norm(theta - start)


@pytest.mark.parametrize("seed", range(4))
def test_the_correction_is_orthogonal_to_the_other_parameters(seed):
    """F_{eta theta} delta = 0: the other parameters take up what they can of the linear change,
    so the excess splits into theirs (unchanged) and the linear part's."""
    network = random_network(seed, linear_scale=0.03)
    shrunk, report = shrink_linear_part(network, 0.04, 5000)
    assert 0.0 < report["factor"] < 1.0
    k, d = network.n_neurons, network.n_features
    F = gaussian_fisher(network.hidden_weights, network.output_weights)
    delta = shrunk.to_vector() - network.to_vector()
    w_index = np.zeros(delta.size, dtype=bool)
    w_index[k * d + k: k * d + k + d] = True
    assert np.abs(F[~w_index] @ delta).max() <= 1e-8 * np.abs(F[w_index] @ delta).max()
    assert np.abs(delta[~w_index]).max() > 0  # the correction moved them


def test_a_mirrored_neuron_is_turned_back():
    """lam relu(u.x) = lam relu(-u.x) + lam u.x: a fit in the mirrored form is turned back before
    the shrinkage, and the shrinkage acts as on the unmirrored form."""
    network = random_network(3, linear_scale=0.02)
    U, lam, w = network.hidden_weights.copy(), network.output_weights, network.linear_weights
    U[1] = -U[1]
    mirrored = ReLUNetwork(U, lam, w - lam[1] * U[1], network.intercept)
    assert population_mse(mirrored, network) <= 1e-24 * population_variance(network)
    n, mse = 5000, 0.04
    turned, which, _ = turn_neurons(mirrored, n, mse * n / (n - n_parameters(3, 8)))
    assert which == [1]
    np.testing.assert_allclose(turned.hidden_weights, network.hidden_weights, atol=1e-15)
    np.testing.assert_allclose(turned.linear_weights, network.linear_weights, atol=1e-15)
    a, report = shrink_linear_part(mirrored, mse, n)
    b, plain = shrink_linear_part(network, mse, n)
    assert report["turned"] == [1] and plain["turned"] == []
    assert report["factor"] == pytest.approx(plain["factor"], rel=1e-12)
    # equal to the rounding of the closed-form MSE, far below what the shrinkage moves
    assert population_mse(a, b) <= 1e-13 * population_variance(network) < 1e-6 * population_mse(b, network)


def test_a_large_linear_part_is_left_nearly_alone():
    network = random_network(0, linear_scale=1.0)
    shrunk, report = shrink_linear_part(network, 0.04, 5000)
    assert report["statistic"] > 1e4
    assert 1.0 - 1e-3 < report["factor"] <= 1.0


@pytest.mark.parametrize("case, why", [
    ("biases", "hidden biases"),
    ("narrow", "fewer than 3 features"),
    ("few rows", "no more rows than parameters"),
    ("zero loss", "no residual"),
    ("nan loss", "no residual"),
])
def test_what_it_leaves_alone(case, why):
    network = random_network(1)
    mse, n = 0.04, 5000
    if case == "biases":
        network = ReLUNetwork(network.hidden_weights, network.output_weights, network.linear_weights,
                              network.intercept, hidden_biases=[0.1, 0.0, -0.2])
    elif case == "narrow":
        network = random_network(1, d=2)
    elif case == "few rows":
        n = n_parameters(3, 8)
    elif case == "zero loss":
        mse = 0.0
    else:
        mse = float("nan")
    shrunk, report = shrink_linear_part(network, mse, n)
    assert shrunk is network
    assert report["factor"] == 1.0 and why in report["skipped"]


def test_wald_statistic_of_a_zero_linear_part_is_zero():
    network = random_network(2, linear_scale=0.0)
    statistic, _, z = wald_statistic(network, 1000, 0.1)
    assert statistic == 0.0 and not np.any(z)
    shrunk, report = shrink_linear_part(network, 0.1, 1000)
    assert report["factor"] == 0.0
    np.testing.assert_array_equal(shrunk.to_vector(), network.to_vector())


def excess_pairs(teacher, n, sigma, seeds):
    """Population excess of the least-squares fit (Gauss–Newton from the teacher) and of its
    shrinkage, one pair per seed."""
    pairs = []
    for seed in seeds:
        X, y = teacher.with_noise(sigma).sample(n, random_state=seed)
        fit = gauss_newton_arrays(teacher, X, y)
        shrunk, _ = shrink_linear_part(fit.network, fit.loss, n)
        pairs.append((population_mse(fit.network, teacher), population_mse(shrunk, teacher)))
    return np.array(pairs)


def test_the_shrinkage_lowers_the_excess_where_the_linear_part_is_zero():
    """At w = 0 the linear block's excess drops from about d to below 2 (units sigma^2 / n): the
    paired gain is positive by more than N_SE standard errors, and the shrunk fit's mean excess
    is below the least-squares fit's by at least a third of the (d - 2) sigma^2 / n it can save."""
    d, k, n = 10, 2, 3000
    teacher = Teacher.random(d, k, random_state=5)
    sigma = 0.3 * np.sqrt(population_variance(teacher))
    pairs = excess_pairs(teacher, n, sigma, range(40))
    gain = pairs[:, 0] - pairs[:, 1]
    se = gain.std(ddof=1) / np.sqrt(gain.size)
    assert gain.mean() > N_SE * se
    assert gain.mean() > (d - 2) * sigma**2 / n / 3


def test_the_shrinkage_costs_nothing_where_the_linear_part_is_large():
    """Far from w = 0 the factor is near 1: the paired change of the excess is within N_SE
    standard errors of zero or a gain."""
    d, k, n = 10, 2, 3000
    base = Teacher.random(d, k, random_state=5)
    teacher = Teacher(base.hidden_weights, base.output_weights, np.full(d, 0.5), 0.0)
    sigma = 0.3 * np.sqrt(population_variance(teacher))
    pairs = excess_pairs(teacher, n, sigma, range(40))
    gain = pairs[:, 0] - pairs[:, 1]
    se = gain.std(ddof=1) / np.sqrt(gain.size)
    assert gain.mean() > -N_SE * se


def test_the_estimator_reports_it_and_the_knob_turns_it_off():
    teacher = Teacher.random(6, 2, random_state=0)
    X, y = teacher.with_noise(0.2).sample(4000, random_state=1)
    shrunk = MomentReLURegressor(n_neurons=2, random_state=0).fit(X, y)
    plain = MomentReLURegressor(n_neurons=2, random_state=0, settings={"shrink_linear_part": False}).fit(X, y)
    report = shrunk.refinement_["linear_shrinkage"]
    assert 0.0 <= report["factor"] < 1.0 and report["skipped"] == ""
    assert plain.refinement_["linear_shrinkage"] is None
    w_plain = plain.network_.linear_weights
    assert np.linalg.norm(shrunk.network_.linear_weights) < np.linalg.norm(w_plain)
    # the least-squares fit: the training gradient is zero along the linear part
    r = plain.predict(X) - y
    assert np.abs(X.T @ r).max() <= 1e-3 * np.sqrt(r @ r) * np.sqrt(X.shape[0])


# ----------------------------------------------------------------------------- hidden biases
def biased_network(seed, d=8, k=3, linear_scale=0.05):
    base = random_network(seed, d, k, linear_scale)
    beta = np.random.default_rng(seed + 100).normal(0.0, 0.7, k)
    return ReLUNetwork(base.hidden_weights, base.output_weights, base.linear_weights, base.intercept, beta)


def empirical_information(X, y):
    """J^TJ / n of a network on the rows (X, y), in the layout of to_vector(biased=True)."""
    return lambda network: information_matrix(network, X, y)


@pytest.mark.parametrize("seed", range(4))
def test_biased_matches_the_pseudo_inverse_reference(seed):
    """With hidden biases the information is the fit's J^TJ / n: the statistic, the factor and
    the step are those of its pseudo-inverse, and the step is orthogonal to the other parameters
    in that metric."""
    network = biased_network(seed)
    X, y = Teacher(network.hidden_weights, network.output_weights, network.linear_weights, network.intercept,
                   hidden_biases=network.hidden_biases).with_noise(0.3).sample(3000, random_state=seed)
    information = empirical_information(X, y)
    n, mse = y.size, 0.09
    shrunk, report = shrink_linear_part(network, mse, n, information)
    k, d = network.n_neurons, network.n_features
    p = n_parameters(k, d, biased=True)
    M = information(network)
    P = np.linalg.pinv(M, rcond=1e-10, hermitian=True)
    w_index = np.arange(k * d + k, k * d + k + d)
    S = np.linalg.inv(P[np.ix_(w_index, w_index)])
    w = network.linear_weights
    nu = n - p
    statistic = n * w @ S @ w / (mse * n / nu)
    factor = max(0.0, 1.0 - (d - 2) * nu / ((nu + 2) * statistic))
    assert report["skipped"] == "" and report["turned"] == []
    assert report["statistic"] == pytest.approx(statistic, rel=1e-8)
    assert report["factor"] == pytest.approx(factor, abs=1e-8)
    assert shrunk.has_biases
    delta = shrunk.to_vector(biased=True) - network.to_vector(biased=True)
    np.testing.assert_allclose(delta, P[:, w_index] @ S @ ((report["factor"] - 1.0) * w), rtol=1e-6, atol=1e-12)
    others = np.ones(p, dtype=bool)
    others[w_index] = False
    assert np.abs(M[others] @ delta).max() <= 1e-8 * np.abs(M[~others] @ delta).max()


def test_a_mirrored_biased_unit_is_turned_back():
    """lam relu(u.x + beta) = lam relu(-u.x - beta) + lam u.x + lam beta."""
    network = biased_network(5, linear_scale=0.02)
    X, y = Teacher(network.hidden_weights, network.output_weights, network.linear_weights, network.intercept,
                   hidden_biases=network.hidden_biases).with_noise(0.3).sample(3000, random_state=1)
    U, lam, beta = network.hidden_weights.copy(), network.output_weights, network.hidden_biases.copy()
    U[2], beta[2] = -U[2], -beta[2]
    mirrored = ReLUNetwork(U, lam, network.linear_weights - lam[2] * U[2], network.intercept - lam[2] * beta[2], beta)
    assert population_mse(mirrored, network) <= 1e-13 * population_variance(network)
    information = empirical_information(X, y)
    a, report = shrink_linear_part(mirrored, 0.09, y.size, information)
    b, plain = shrink_linear_part(network, 0.09, y.size, information)
    assert report["turned"] == [2] and plain["turned"] == []
    assert report["factor"] == pytest.approx(plain["factor"], rel=1e-9)
    assert population_mse(a, b) <= 1e-13 * population_variance(network) < 1e-6 * population_mse(b, network)


def test_the_biased_shrinkage_lowers_the_excess_where_the_linear_part_is_zero():
    """The risk check of the bias-free case, on least-squares fits with hidden biases."""
    d, k, n = 10, 2, 3000
    base = Teacher.random(d, k, random_state=5)
    teacher = Teacher(base.hidden_weights, base.output_weights, hidden_biases=[0.5, -0.3])
    sigma = 0.3 * np.sqrt(population_variance(teacher))
    pairs = []
    for seed in range(40):
        X, y = teacher.with_noise(sigma).sample(n, random_state=seed)
        fit = levenberg_marquardt(teacher, X, y, noise_tol=1e-2, biased=True)
        shrunk, _ = shrink_linear_part(fit.network, fit.loss, n, empirical_information(X, y))
        pairs.append((population_mse(fit.network, teacher), population_mse(shrunk, teacher)))
    gain = np.subtract(*np.array(pairs).T)
    se = gain.std(ddof=1) / np.sqrt(gain.size)
    assert gain.mean() > N_SE * se
    assert gain.mean() > (d - 2) * sigma**2 / n / 3


@pytest.mark.parametrize("perturbation", [0.0, 1e-3])
def test_a_near_antiparallel_pair_is_left_alone(perturbation):
    """Neurons along u and -u can make any linear part between them (moving u_a by v / lam_a and
    u_b by v / lam_b adds v.x to first order), so w is nearly unidentified: T is tiny and the
    neurons would absorb w at first order only. The step would move f far beyond its second-order
    prediction, and it is refused."""
    base = random_network(0, d=6, linear_scale=0.05)
    U = base.hidden_weights.copy()
    U[2] = -U[0] + perturbation * np.random.default_rng(1).standard_normal(6)
    network = ReLUNetwork(U, base.output_weights, base.linear_weights, base.intercept)
    shrunk, report = shrink_linear_part(network, 0.04, 5000)
    assert shrunk is network
    assert report["factor"] == 1.0 and "second-order prediction" in report["skipped"]
    assert report["statistic"] < 1.0


def test_a_refused_step_returns_the_network_given_even_after_a_turn():
    """A mirrored neuron beside a near-antiparallel pair: the turn is tried, the step refused, and
    the network handed back is the one given (its form and report agree)."""
    base = random_network(0, d=6, linear_scale=0.05)
    U = base.hidden_weights.copy()
    U[2] = -U[0]
    lam = base.output_weights
    # neuron 1 in its mirrored form: w takes lam_1 u_1 (then -u_1 is stored)
    w = base.linear_weights + lam[1] * U[1]
    U[1] = -U[1]
    network = ReLUNetwork(U, lam, w, base.intercept)
    shrunk, report = shrink_linear_part(network, 0.04, 5000)
    assert "second-order prediction" in report["skipped"]
    assert shrunk is network and report["turned"] == []
