"""Networks with hidden biases: evaluation, packing, and their exact Gaussian scoring
(narrowrelu.network, narrowrelu.biased_kernel, narrowrelu.metrics)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

from narrowrelu import ReLUNetwork, monte_carlo_mse, population_inner_product, population_mse, population_variance
from narrowrelu.biased_kernel import biased_relu_kernel, biased_relu_mean, bivariate_normal_cdf
from narrowrelu.metrics import population_mean, relu_kernel
from narrowrelu.network import n_parameters, pack_parameters, unpack_parameters

N_SE = 4.0  # statistical tolerance, in standard errors


def biased_network(rng, d, k, bias_bound, affine=True):
    """Random directions and norms, output weights of both signs, biases uniform in ``[-bias_bound, bias_bound]``."""
    U = rng.standard_normal((k, d)) * rng.uniform(0.3, 2.0, size=(k, 1))
    lam = rng.uniform(0.5, 1.5, size=k) * rng.choice([-1.0, 1.0], size=k)
    beta = rng.uniform(-bias_bound, bias_bound, size=k) * np.linalg.norm(U, axis=1)
    w = 0.3 * rng.standard_normal(d) if affine else None
    return ReLUNetwork(U, lam, w, float(rng.standard_normal()) if affine else 0.0, beta)


# ------------------------------------------------------------------ the network


def test_network_evaluates_biases_inside_the_relu():
    rng = np.random.default_rng(0)
    net = biased_network(rng, 4, 3, 2.0)
    X = rng.standard_normal((50, 4))
    hidden = np.maximum(X @ net.hidden_weights.T + net.hidden_biases, 0)
    expected = net.intercept + X @ net.linear_weights + hidden @ net.output_weights
    np.testing.assert_allclose(net(X), expected, rtol=1e-13, atol=1e-13)
    # the BLAS path (many neurons or a non-contiguous X) agrees with the numba projection path
    np.testing.assert_allclose(net.evaluate_trusted(np.asfortranarray(X)), expected, rtol=1e-13, atol=1e-13)
    assert net.has_biases and "biased" in repr(net)
    assert not ReLUNetwork(net.hidden_weights, net.output_weights, hidden_biases=np.zeros(3)).has_biases


def test_network_biases_are_validated_and_copied():
    biases = np.array([0.5, -1.0])
    net = ReLUNetwork(np.eye(2), [1.0, 1.0], hidden_biases=biases)
    biases[0] = 7.0
    assert net.hidden_biases[0] == 0.5
    with pytest.raises(ValueError, match="hidden_biases has 3 entries"):
        ReLUNetwork(np.eye(2), [1.0, 1.0], hidden_biases=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="hidden_biases"):
        ReLUNetwork(np.eye(2), [1.0, 1.0], hidden_biases=[np.nan, 0.0])


def test_packing_with_and_without_biases():
    rng = np.random.default_rng(1)
    net = biased_network(rng, 3, 2, 1.0)
    free = ReLUNetwork(net.hidden_weights, net.output_weights, net.linear_weights, net.intercept)
    # bias-free vectors are unchanged: (vec U, lambda, w, b)
    theta = free.to_vector()
    np.testing.assert_array_equal(
        theta, np.concatenate([net.hidden_weights.ravel(), net.output_weights, net.linear_weights, [net.intercept]])
    )
    assert theta.size == n_parameters(2, 3) == 2 * 4 + 4
    with pytest.raises(ValueError, match="biased=True"):
        net.to_vector()
    theta_b = net.to_vector(biased=True)
    assert theta_b.size == n_parameters(2, 3, biased=True) == 2 * (3 + 2) + 3 + 1
    back = ReLUNetwork.from_vector(theta_b, 2, 3, biased=True)
    for name in ("hidden_weights", "output_weights", "linear_weights", "hidden_biases"):
        np.testing.assert_array_equal(getattr(back, name), getattr(net, name))
    assert back.intercept == net.intercept
    # the bias-free reader reads U, lambda, w, b of a biased vector (beta sits just before b)
    U, lam, w, b = unpack_parameters(theta_b, 2, 3)
    np.testing.assert_array_equal(U, net.hidden_weights)
    np.testing.assert_array_equal(lam, net.output_weights)
    np.testing.assert_array_equal(w, net.linear_weights)
    assert b == net.intercept
    # without a linear part
    packed = pack_parameters(net.hidden_weights, net.output_weights, None, 0.5, net.hidden_biases)
    *_, beta = unpack_parameters(packed, 2, 3, linear=False, biased=True)
    np.testing.assert_array_equal(beta, net.hidden_biases)
    with pytest.raises(ValueError, match="expected"):
        ReLUNetwork.from_vector(theta_b, 2, 3)


# ------------------------------------------------------------------ the closed forms


def test_bivariate_normal_cdf_matches_scipy_including_zeros_and_degenerate_correlations():
    worst = 0.0
    for h in (-3.0, -0.7, 0.0, 0.4, 2.5):
        for k in (-2.0, 0.0, 1.3):
            for rho in (-0.999, -0.5, 0.0, 0.3, 0.95):
                ref = multivariate_normal([0, 0], [[1, rho], [rho, 1]]).cdf([h, k])
                worst = max(worst, abs(ref - bivariate_normal_cdf(h, k, rho)))
    # scipy's Genz integration is accurate to about 1e-8 here; the closed form is exact
    assert worst < 1e-7
    from scipy.special import ndtr
    np.testing.assert_allclose(bivariate_normal_cdf([0.3, -1.0], [1.0, 0.5], 1.0), ndtr([0.3, -1.0]), rtol=1e-15)
    np.testing.assert_allclose(bivariate_normal_cdf([0.3, -1.0, 1.0], [1.0, 0.5, -0.2], -1.0),
                               [ndtr(0.3) - ndtr(-1.0), 0.0, ndtr(1.0) - ndtr(0.2)], rtol=1e-14)


def test_biased_kernel_at_zero_bias_is_the_bias_free_kernel():
    rng = np.random.default_rng(2)
    U, V = rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    V[0] = 2.0 * U[1]
    V[1] = -0.5 * U[2]
    np.testing.assert_allclose(biased_relu_kernel(U, np.zeros(4), V, np.zeros(3)), relu_kernel(U, V),
                               rtol=1e-14, atol=1e-15)


def test_biased_kernel_degenerate_rows_in_closed_form():
    from scipy.special import ndtr
    from scipy.stats import norm

    u = np.array([[0.6, 0.8]])
    # a zero row is the constant relu(alpha): K = relu(alpha) E[relu(v.x + beta)]
    mean = 1.0 * norm.pdf(0.5) + 0.5 * ndtr(0.5)
    assert biased_relu_kernel(np.zeros((1, 2)), [1.5], u, [0.5])[0, 0] == pytest.approx(1.5 * mean, rel=1e-15)
    assert biased_relu_kernel(np.zeros((1, 2)), [-1.5], u, [0.5])[0, 0] == 0.0
    assert biased_relu_kernel(np.zeros((1, 2)), [2.0], np.zeros((1, 2)), [3.0])[0, 0] == 6.0
    assert biased_relu_mean(np.array([1.0, 0.0]), [0.5, -2.0]) == pytest.approx([mean, 0.0], rel=1e-15)
    # parallel rows: E[relu(t+h) relu(t+k)] = (1+hk) Phi(min) + max(h,k) phi(min)
    h, k = 0.3, -0.4
    expected = (1 + h * k) * ndtr(k) + h * norm.pdf(k)
    assert biased_relu_kernel(u, [h], 2 * u, [2 * k])[0, 0] == pytest.approx(2 * expected, rel=1e-14)
    # opposite rows: relu(t+h) relu(-t+k) = 0 unless h + k > 0
    assert biased_relu_kernel(u, [-0.5], -u, [0.3])[0, 0] == 0.0
    expected = (h * 0.5 - 1) * (ndtr(h) - ndtr(-0.5)) + 0.5 * norm.pdf(h) + h * norm.pdf(0.5)
    assert biased_relu_kernel(u, [h], -u, [0.5])[0, 0] == pytest.approx(expected, rel=1e-13)


def test_biased_kernel_against_monte_carlo():
    rng = np.random.default_rng(3)
    d = 4
    U = rng.standard_normal((3, d))
    V = np.vstack([rng.standard_normal((2, d)), U[0], -1.5 * U[1], np.zeros(d)])
    alpha = rng.uniform(-2, 2, 3)
    beta = np.concatenate([rng.uniform(-2, 2, 2), [0.7 * alpha[0], -0.3, 0.4]])
    K = biased_relu_kernel(U, alpha, V, beta)
    n = 400_000
    X = rng.standard_normal((n, d))
    A, B = np.maximum(X @ U.T + alpha, 0), np.maximum(X @ V.T + beta, 0)
    prod = A[:, :, None] * B[:, None, :]
    mc, se = prod.mean(0), prod.std(0) / np.sqrt(n)
    assert np.all(np.abs(K - mc) <= N_SE * se + 1e-12)


@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 6), ka=st.integers(0, 3), kb=st.integers(0, 3),
       bias_bound=st.sampled_from([0.5, 1.0, 3.0]), shared=st.booleans())
def test_population_mse_with_biases_matches_monte_carlo(seed, d, ka, kb, bias_bound, shared):
    """The issue's first "must show": |beta| up to 3, random directions and signs; ``shared`` puts
    a parallel and an opposite copy of a neuron of ``a`` in ``b`` (correlations +-1)."""
    rng = np.random.default_rng(seed)
    a = biased_network(rng, d, ka, bias_bound)
    b = biased_network(rng, d, kb, bias_bound)
    if shared and ka:
        b = ReLUNetwork(np.vstack([b.hidden_weights, 0.5 * a.hidden_weights[:1], -a.hidden_weights[:1]]),
                        np.concatenate([b.output_weights, [1.0, -0.7]]), b.linear_weights, b.intercept,
                        np.concatenate([b.hidden_biases, [0.3, a.hidden_biases[0]]]))
    exact = population_mse(a, b)
    mc = monte_carlo_mse(a, b, n_samples=100_000, random_state=seed % 1000)
    assert abs(exact - mc.mean) <= N_SE * mc.stderr + 1e-12 * (1 + exact)


@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 6), k=st.integers(1, 4))
def test_mean_and_variance_with_biases_match_monte_carlo(seed, d, k):
    rng = np.random.default_rng(seed)
    net = biased_network(rng, d, k, 3.0)
    X = rng.standard_normal((100_000, d))
    y = net(X)
    se_mean = y.std() / np.sqrt(y.size)
    assert abs(population_mean(net) - y.mean()) <= N_SE * se_mean
    centred_sq = (y - population_mean(net)) ** 2
    assert abs(population_variance(net) - centred_sq.mean()) <= N_SE * centred_sq.std() / np.sqrt(y.size) + 1e-12


@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 6), ka=st.integers(0, 4), kb=st.integers(0, 4))
def test_biased_path_at_zero_bias_agrees_with_the_bias_free_closed_form(seed, d, ka, kb):
    from _helpers import random_network

    from narrowrelu.metrics import _biased_unit_inner_product, _normalised_terms

    rng = np.random.default_rng(seed)
    a, b = random_network(rng, d, ka, True), random_network(rng, d, kb, True)
    ta, tb = _normalised_terms(a)[1:], _normalised_terms(b)[1:]
    free = population_inner_product(a, b) * np.exp(-_normalised_terms(a)[0] - _normalised_terms(b)[0])
    assert _biased_unit_inner_product(ta, tb) == pytest.approx(free, rel=1e-13, abs=1e-14)
    # and a network with explicit zero biases is the same network, scored by the same formulas
    zero = ReLUNetwork(a.hidden_weights, a.output_weights, a.linear_weights, a.intercept, np.zeros(ka))
    assert population_mse(zero, b) == population_mse(a, b)


def test_biased_population_mse_zero_on_rescaled_neurons():
    """relu(c(u.x + beta)) = c relu(u.x + beta) for c > 0: a neuron split into two rescaled halves."""
    rng = np.random.default_rng(4)
    a = biased_network(rng, 5, 3, 2.0)
    U, lam, beta = a.hidden_weights, a.output_weights, a.hidden_biases
    split = ReLUNetwork(np.vstack([U, 3.0 * U[:1]]), np.concatenate([0.25 * lam[:1], lam[1:], 0.25 * lam[:1]]),
                        a.linear_weights, a.intercept, np.concatenate([beta, 3.0 * beta[:1]]))
    assert population_mse(a, split) <= 1e-13 * population_inner_product(a, a)
    assert population_mse(a, a) == 0.0
