"""Hermite coefficients of relu(t + beta) and the exact Hermite moments of a network with hidden
biases (narrowrelu.hermite, narrowrelu.moments.model)."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from narrowrelu import ReLUNetwork
from narrowrelu.hermite import biased_relu_hermite_coefficient, directional_hermite, hermite_e, relu_hermite_coefficient
from narrowrelu.moments.model import network_hermite_contraction, network_projected_tensor

N_SE = 4.0  # statistical tolerance, in standard errors


@pytest.mark.parametrize("beta", [-3.0, -1.0, -0.3, 0.0, 0.5, 1.0, 2.5])
def test_biased_coefficients_match_quadrature(beta):
    for m in range(9):
        value, _ = quad(lambda t, m=m: (t + beta) * float(hermite_e(m, t)) * norm.pdf(t), -beta, np.inf,
                        epsabs=1e-13, epsrel=1e-12)
        assert float(biased_relu_hermite_coefficient(m, beta)) == pytest.approx(value, rel=1e-9, abs=1e-12)


def test_biased_coefficients_reduce_to_the_bias_free_ones_and_vectorise():
    for m in range(12):
        expected = relu_hermite_coefficient(m)
        assert float(biased_relu_hermite_coefficient(m, 0.0)) == pytest.approx(expected, rel=1e-15, abs=1e-16)
    betas = np.array([-1.0, 1.0, 0.4])
    # |beta| = 1 is blind at order 4 (He_2(1) = 0); c_3 = -beta phi(beta) carries the sign
    np.testing.assert_allclose(biased_relu_hermite_coefficient(4, betas)[:2], 0.0, atol=1e-17)
    np.testing.assert_allclose(biased_relu_hermite_coefficient(3, betas), -betas * norm.pdf(betas), rtol=1e-15)
    # the reading of beta across orders: c_3/c_2 = -beta, c_4/c_2 = beta^2 - 1
    c2, c3, c4 = (biased_relu_hermite_coefficient(m, betas) for m in (2, 3, 4))
    np.testing.assert_allclose(c3 / c2, -betas, rtol=1e-14)
    np.testing.assert_allclose(c4 / c2, betas**2 - 1, rtol=1e-14, atol=1e-15)
    with pytest.raises(ValueError, match="m"):
        biased_relu_hermite_coefficient(-1, 0.0)


def test_biased_model_moments_match_monte_carlo():
    rng = np.random.default_rng(0)
    d, k, n = 3, 3, 400_000
    U = rng.standard_normal((k, d)) * np.array([[0.5], [1.0], [2.0]])
    beta = np.array([-0.8, 1.0, 1.5]) * np.linalg.norm(U, axis=1)
    net = ReLUNetwork(U, [1.0, -0.7, 0.5], 0.3 * rng.standard_normal(d), 0.2, beta)
    X = rng.standard_normal((n, d))
    y = net(X)
    G = rng.standard_normal((2, d))
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    for order in (2, 3, 4, 5):
        for j, g in enumerate(G):
            sample = y * directional_hermite(order, X @ g, 1.0)
            mc, se = sample.mean(), sample.std() / np.sqrt(n)
            exact = network_projected_tensor(net, g[:, None], order).item()
            assert abs(exact - mc) <= N_SE * se, (order, j)
            # the contraction along g, read on g itself, is the same number
            contracted = g @ network_hermite_contraction(net, G, order)[j] @ g
            assert contracted == pytest.approx(exact, rel=1e-12, abs=1e-14)


def test_zero_bias_moments_are_the_bias_free_ones_bit_for_bit():
    rng = np.random.default_rng(1)
    U, lam = rng.standard_normal((3, 4)), rng.standard_normal(3)
    free = ReLUNetwork(U, lam)
    zero = ReLUNetwork(U, lam, hidden_biases=np.zeros(3))
    P = np.linalg.qr(rng.standard_normal((4, 2)))[0]
    for order in (2, 4):
        np.testing.assert_array_equal(network_projected_tensor(free, P, order),
                                      network_projected_tensor(zero, P, order))
    # a zero row with a bias is a constant: no moment of order >= 2
    const = ReLUNetwork(np.zeros((1, 4)), [1.0], hidden_biases=[2.0])
    assert np.all(network_projected_tensor(const, P, 3) == 0.0)
    assert np.all(network_hermite_contraction(const, P.T, 2) == 0.0)
