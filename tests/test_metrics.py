"""Exact Gaussian scoring of ReLU networks and its Monte Carlo check (narrowrelu.metrics)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from narrowrelu import (
    ReLUNetwork,
    Teacher,
    monte_carlo_mse,
    population_inner_product,
    population_mse,
    population_variance,
)
from _helpers import random_network
from narrowrelu.metrics import difference_network, population_mean, relu_angles, relu_kernel, teacher_neuron_distances

N_SE = 4.0  # statistical tolerance, in standard errors


shapes = dict(
    seed=st.integers(0, 2**32 - 1),
    d=st.integers(1, 8),
    ka=st.integers(0, 4),
    kb=st.integers(0, 4),
    affine=st.booleans(),
)


@given(**shapes)
def test_population_mse_symmetric_and_nonnegative(seed, d, ka, kb, affine):
    rng = np.random.default_rng(seed)
    a = random_network(rng, d, ka, affine)
    b = random_network(rng, d, kb, affine)
    ab, ba = population_mse(a, b), population_mse(b, a)
    assert ab >= 0.0
    assert ab == pytest.approx(ba, rel=1e-12, abs=1e-14)


@given(**shapes)
def test_population_mse_zero_on_equal_networks(seed, d, ka, kb, affine):
    rng = np.random.default_rng(seed)
    a = random_network(rng, d, ka, affine)
    scale = population_inner_product(a, a) + 1e-300
    assert population_mse(a, a) <= 1e-12 * scale
    # the same function written differently: permuted neurons plus zero-weight neurons; a neuron
    # split into two parts, one of them rescaled (relu is positively homogeneous)
    if ka:
        perm = rng.permutation(ka)
        U, lam = a.hidden_weights, a.output_weights
        same = ReLUNetwork(
            np.vstack([U[perm], U[:1], 2.0 * U[:1]]),
            np.concatenate([lam[perm], [0.0, 0.0]]),
            a.linear_weights,
            a.intercept,
        )
        assert population_mse(a, same) <= 1e-12 * scale
        halves = ReLUNetwork(
            np.vstack([U, 2.0 * U[:1]]),
            np.concatenate([lam[:1] * 0.5, lam[1:], lam[:1] * 0.25]),
            a.linear_weights,
            a.intercept,
        )
        assert population_mse(a, halves) <= 1e-12 * scale


@given(**shapes)
@settings(max_examples=20)
def test_population_mse_matches_monte_carlo(seed, d, ka, kb, affine):
    rng = np.random.default_rng(seed)
    a = random_network(rng, d, ka, affine)
    b = random_network(rng, d, kb, affine)
    exact = population_mse(a, b)
    mc = monte_carlo_mse(a, b, n_samples=40_000, random_state=rng, chunk_size=7_000)
    assert mc.n_samples == 40_000
    assert abs(mc.mean - exact) <= N_SE * mc.stderr + 1e-12 * exact, (
        f"exact {exact}, Monte Carlo {mc.mean} +- {mc.stderr}: {abs(mc.mean - exact) / mc.stderr:.2f} SE"
    )


def test_population_mse_matches_monte_carlo_for_teachers():
    # the planted families, including nearly parallel neurons with opposite signs
    rng = np.random.default_rng(0)
    for teacher in (
        Teacher.close_pair(n_features=6, cosine=0.999, n_neurons=4, random_state=1),
        Teacher.clusters(n_features=6, n_clusters=2, cluster_size=3, cosine=0.9, random_state=2),
        Teacher.orthonormal(5),
    ):
        other = random_network(rng, teacher.n_features, 3)
        exact = population_mse(teacher, other)
        mc = monte_carlo_mse(teacher, other, n_samples=100_000, random_state=3)
        assert abs(mc.mean - exact) <= N_SE * mc.stderr


def test_population_mean_and_variance_match_samples():
    rng = np.random.default_rng(4)
    net = random_network(rng, 5, 3)
    X = rng.standard_normal((200_000, 5))
    f = net(X)
    se_mean = f.std(ddof=1) / np.sqrt(len(f))
    assert abs(f.mean() - population_mean(net)) <= N_SE * se_mean
    # SE of the sample variance ~ sqrt((m4 - var^2) / n)
    centred = f - f.mean()
    se_var = np.sqrt(np.var(centred**2) / len(f))
    assert abs(f.var() - population_variance(net)) <= N_SE * se_var


def test_relu_kernel_closed_form_values():
    u = np.array([[3.0, 4.0]])
    assert relu_kernel(u, u)[0, 0] == pytest.approx(25.0 / 2.0, rel=1e-14)  # theta = 0
    assert relu_kernel(u, -u)[0, 0] == pytest.approx(0.0, abs=1e-14)  # theta = pi
    v = np.array([[-4.0, 3.0]])  # orthogonal, same norm
    assert relu_kernel(u, v)[0, 0] == pytest.approx(25.0 / (2 * np.pi), rel=1e-14)
    assert relu_kernel(u, np.zeros((1, 2)))[0, 0] == 0.0


def test_relu_angles_accurate_for_nearly_parallel_rows():
    u = np.array([[1.0, 0.0, 0.0]])
    for eps in (1e-3, 1e-8, 1e-12):
        v = np.array([[np.cos(eps), np.sin(eps), 0.0]])
        assert relu_angles(u, v)[0, 0] == pytest.approx(eps, rel=1e-9)
        assert relu_angles(u, -v)[0, 0] == pytest.approx(np.pi - eps, rel=1e-12)


def test_close_pair_mse_is_accurate():
    # relu(u.x) - relu(v.x) for unit u, v at angle eps: E[(.)^2] = 1 - (sin e + (pi - e) cos e) / pi
    for eps in (1e-2, 1e-4, 1e-6):
        a = ReLUNetwork([[1.0, 0.0]], [1.0])
        b = ReLUNetwork([[np.cos(eps), np.sin(eps)]], [1.0])
        # exact: 2 * (1/2) - 2 * (sin e + (pi - e) cos e) / (2 pi)
        exact = 1.0 - (np.sin(eps) + (np.pi - eps) * np.cos(eps)) / np.pi
        series = eps**2 / 2 - eps**3 / (3 * np.pi)  # Taylor, to avoid cancellation in `exact`
        assert population_mse(a, b) == pytest.approx(series, rel=1e-3)
        assert population_mse(a, b) == pytest.approx(exact, rel=1e-3, abs=1e-15)


def test_flipped_neuron_with_linear_correction_is_the_same_function():
    # lambda relu(u.x) = lambda relu(-u.x) + lambda u.x
    t = Teacher.random(n_features=6, n_neurons=4, random_state=5)
    U, lam = t.hidden_weights, t.output_weights
    flipped = ReLUNetwork(-U, lam, lam @ U, 0.0)
    assert population_mse(t, flipped) <= 1e-14
    # without the linear correction it is a different function
    assert population_mse(t, ReLUNetwork(-U, lam)) > 0.1


def test_inner_product_is_bilinear():
    rng = np.random.default_rng(6)
    a, b, c = (random_network(rng, 4, 2) for _ in range(3))
    bc = ReLUNetwork(
        np.vstack([b.hidden_weights, c.hidden_weights]),
        np.concatenate([b.output_weights, 2.0 * c.output_weights]),
        b.linear_weights + 2.0 * c.linear_weights,
        b.intercept + 2.0 * c.intercept,
    )
    expected = population_inner_product(a, b) + 2.0 * population_inner_product(a, c)
    assert population_inner_product(a, bc) == pytest.approx(expected, rel=1e-12)


def test_difference_network():
    rng = np.random.default_rng(7)
    a, b = random_network(rng, 3, 2), random_network(rng, 3, 1)
    X = rng.standard_normal((50, 3))
    np.testing.assert_allclose(difference_network(a, b)(X), a(X) - b(X), rtol=1e-12, atol=1e-12)


def test_monte_carlo_reproducible_and_stderr_scales():
    rng = np.random.default_rng(8)
    a, b = random_network(rng, 3, 2), random_network(rng, 3, 2)
    m1 = monte_carlo_mse(a, b, n_samples=10_000, random_state=1)
    m2 = monte_carlo_mse(a, b, n_samples=10_000, random_state=1, chunk_size=10_000)
    assert m1.mean == pytest.approx(m2.mean, rel=1e-12)
    m3 = monte_carlo_mse(a, b, n_samples=40_000, random_state=1)
    assert m3.stderr == pytest.approx(m1.stderr / 2, rel=0.15)


def test_scoring_rejects_mismatched_dimensions_and_non_networks():
    a = ReLUNetwork(np.eye(3), np.ones(3))
    b = ReLUNetwork(np.eye(4), np.ones(4))
    for fn in (population_mse, population_inner_product, monte_carlo_mse, difference_network):
        with pytest.raises(ValueError, match="different input dimensions: 3 and 4"):
            fn(a, b)
    with pytest.raises(TypeError, match="not a ReLU network"):
        population_mse(a, np.eye(3))
    with pytest.raises(ValueError, match="n_samples"):
        monte_carlo_mse(a, a, n_samples=1)


def test_teacher_neuron_distances_zero_on_same_neurons():
    rng = np.random.default_rng(0)
    U = rng.standard_normal((3, 4))
    lam = np.array([1.0, -2.0, 0.5])
    perm = [2, 0, 1]
    same = teacher_neuron_distances(U[perm] * 2.0, lam[perm] / 2.0, U, lam)
    assert np.abs(same).max() <= 1e-12
    flipped = teacher_neuron_distances(U, -lam, U, lam)
    assert np.all(flipped > 0)
