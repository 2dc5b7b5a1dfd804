"""Hermite coefficients of the ReLU and the Hermite polynomials (narrowrelu.hermite)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.polynomial import hermite_e as npherm
from scipy import integrate

from narrowrelu import hermite_e, relu_hermite_coefficient
from narrowrelu.hermite import (
    directional_hermite,
    hermite_from_raw_moments,
    hermite_tensor,
    pairings,
    symmetric_outer_sum,
)


def _phi(t):
    return np.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)


@pytest.mark.parametrize("m", range(13))
def test_relu_coefficient_matches_quadrature(m):
    # a_m = E[relu(t) He_m(t)] = int_0^inf t He_m(t) phi(t) dt
    unit = np.zeros(m + 1)
    unit[m] = 1.0
    value, err = integrate.quad(lambda t: t * npherm.hermeval(t, unit) * _phi(t), 0.0, 40.0, epsabs=1e-11,
                                epsrel=1e-11, limit=200)
    assert err < 1e-9
    assert relu_hermite_coefficient(m) == pytest.approx(value, rel=1e-9, abs=1e-10)


def test_relu_coefficient_known_values():
    r = 1.0 / math.sqrt(2.0 * math.pi)
    assert relu_hermite_coefficient(0) == pytest.approx(r)
    assert relu_hermite_coefficient(1) == 0.5
    assert relu_hermite_coefficient(2) == pytest.approx(r)
    assert relu_hermite_coefficient(4) == pytest.approx(-r)
    assert relu_hermite_coefficient(6) == pytest.approx(3 * r)
    assert relu_hermite_coefficient(8) == pytest.approx(-15 * r)
    for m in (3, 5, 7, 9, 11):
        assert relu_hermite_coefficient(m) == 0.0


def test_relu_expansion_reconstructs_relu():
    # relu(t) = sum_m a_m He_m(t) / m!  (L2(phi) convergence; check the truncated series on [-2, 2])
    t = np.linspace(-2.0, 2.0, 41)
    series = sum(relu_hermite_coefficient(m) * hermite_e(m, t) / math.factorial(m) for m in range(61))
    assert np.max(np.abs(series - np.maximum(t, 0.0))) < 0.05


@given(
    m=st.integers(0, 15),
    t=st.lists(st.floats(-6, 6, allow_nan=False), min_size=1, max_size=20),
)
def test_hermite_e_matches_numpy(m, t):
    t = np.array(t)
    unit = np.zeros(m + 1)
    unit[m] = 1.0
    expected = npherm.hermeval(t, unit)
    scale = max(1.0, np.max(np.abs(expected)))
    np.testing.assert_allclose(hermite_e(m, t), expected, rtol=0, atol=1e-12 * scale)


def test_hermite_e_orthogonality():
    # E[He_m He_n] = m! delta_mn, by Gauss-HermiteE quadrature (exact for these degrees)
    nodes, weights = npherm.hermegauss(30)
    weights = weights / weights.sum()
    for m in range(8):
        for n in range(8):
            value = weights @ (hermite_e(m, nodes) * hermite_e(n, nodes))
            assert value == pytest.approx(math.factorial(m) if m == n else 0.0, abs=1e-9)


def test_hermite_e_does_not_modify_input_and_keeps_shape():
    t = np.arange(6.0).reshape(2, 3)
    t.setflags(write=False)
    out = hermite_e(3, t)
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(t, np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(out, t**3 - 3 * t)


@given(m=st.integers(0, 10), s=st.floats(-5, 5), q=st.floats(0.01, 4.0))
def test_directional_hermite_is_homogeneous_hermite(m, s, q):
    # H_m(s; |g|^2) = |g|^m He_m(s / |g|)
    norm = math.sqrt(q)
    expected = norm**m * hermite_e(m, s / norm)
    assert float(directional_hermite(m, s, q)) == pytest.approx(float(expected), rel=1e-10, abs=1e-10)


def test_directional_hermite_at_zero_norm_is_power():
    s = np.linspace(-2, 2, 7)
    for m in range(7):
        np.testing.assert_allclose(directional_hermite(m, s, 0.0), s**m, rtol=1e-14, atol=1e-14)


def test_pairings_count():
    # number of ways to pick p disjoint pairs from m slots: m! / ((m-2p)! p! 2^p)
    for m in range(7):
        for p in range(m // 2 + 1):
            got = list(pairings(tuple(range(m)), p))
            expected = math.factorial(m) // (math.factorial(m - 2 * p) * math.factorial(p) * 2**p)
            assert len(got) == expected
            assert len(set(got)) == expected


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 6])
def test_hermite_tensor_along_unit_direction_is_scalar_hermite(order):
    # He_m(x)(g, ..., g) = He_m(g.x) for a unit g; and the tensor is symmetric
    rng = np.random.default_rng(order)
    d = 3
    x = rng.standard_normal(d)
    g = rng.standard_normal(d)
    g /= np.linalg.norm(g)
    T = hermite_tensor(x, order)
    assert T.shape == (d,) * order
    contracted = T
    for _ in range(order):
        contracted = contracted @ g
    assert float(contracted) == pytest.approx(float(hermite_e(order, x @ g)), rel=1e-12, abs=1e-12)
    perm = tuple(np.roll(np.arange(order), 1))
    np.testing.assert_allclose(T, np.transpose(T, perm), rtol=0, atol=1e-12)
    if order >= 2:
        np.testing.assert_allclose(T, np.swapaxes(T, 0, 1), rtol=0, atol=1e-12)


def test_hermite_tensor_order_4_explicit():
    # He_4(x)_{abcd} = x_a x_b x_c x_d - (6 terms x x delta) + (3 terms delta delta)
    rng = np.random.default_rng(0)
    d = 3
    x = rng.standard_normal(d)
    I = np.eye(d)
    xx = np.einsum("a,b->ab", x, x)
    expected = np.einsum("a,b,c,d->abcd", x, x, x, x)
    for spec in ("ab,cd->abcd", "ac,bd->abcd", "ad,bc->abcd", "bc,ad->abcd", "bd,ac->abcd", "cd,ab->abcd"):
        expected -= np.einsum(spec, xx, I)
    for spec in ("ab,cd->abcd", "ac,bd->abcd", "ad,bc->abcd"):
        expected += np.einsum(spec, I, I)
    np.testing.assert_allclose(hermite_tensor(x, 4), expected, rtol=0, atol=1e-12)


def test_hermite_from_raw_moments_of_gaussian_vanishes():
    # E[He_m(z)] = 0 for m >= 1: feed the exact Gaussian raw moments E[z^{(x)j}] (j = 0, 2, 4)
    k = 3
    I = np.eye(k)
    raw = {
        0: np.array(1.0),
        2: I.copy(),
        4: np.einsum("ab,cd->abcd", I, I) + np.einsum("ac,bd->abcd", I, I) + np.einsum("ad,bc->abcd", I, I),
    }
    np.testing.assert_allclose(hermite_from_raw_moments(raw, 4), 0.0, atol=1e-14)
    np.testing.assert_allclose(hermite_from_raw_moments(raw, 2), 0.0, atol=1e-14)


def test_symmetric_outer_sum():
    U = np.array([[1.0, 0.0], [0.6, 0.8]])
    lam = [2.0, -1.0]
    T = symmetric_outer_sum(lam, U, 3)
    expected = 2.0 * np.einsum("a,b,c->abc", U[0], U[0], U[0]) - np.einsum("a,b,c->abc", U[1], U[1], U[1])
    np.testing.assert_allclose(T, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("bad", [-1, 2.5, "3", True, None])
def test_bad_order_raises(bad):
    with pytest.raises(ValueError, match="m must be an integer"):
        relu_hermite_coefficient(bad)
    with pytest.raises(ValueError, match="m must be an integer"):
        hermite_e(bad, 0.5)
