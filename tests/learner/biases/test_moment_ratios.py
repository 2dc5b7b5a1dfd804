"""Hidden biases from the order-3/order-2 moment ratio (narrowrelu.learner.biases.moment_ratios):
the pass against a NumPy reference, the exact ratio on population moments, and the estimate on a
sample within its standard error."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from narrowrelu import ReLUNetwork, Teacher
from narrowrelu.hermite import biased_relu_hermite_coefficient
from narrowrelu.learner.biases.moment_ratios import BIAS_LIMIT, biases_from_moments, projected_hermite_pass
from narrowrelu.learner.sources import ArraySource


def unit_rows(U):
    return U / np.linalg.norm(U, axis=1, keepdims=True)


def test_pass_equals_numpy_reference():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 5))
    y = rng.standard_normal(1000)
    D = unit_rows(rng.standard_normal((3, 5)))
    held = np.zeros(1000, dtype=bool)
    held[::7] = True
    w, b = rng.standard_normal(5), 0.3
    affine = ReLUNetwork(np.empty((0, 5)), np.empty(0), w, b)
    got = projected_hermite_pass(ArraySource(X, y, held, 128), D, affine)
    Z = X @ D.T
    r = y - X @ w - b
    r -= r.mean()
    want = np.array([r @ (Z**2 - 1), r @ (Z**3 - 3 * Z)]) / 1000
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@given(seed=st.integers(0, 10_000), k=st.integers(1, 4), scale=st.floats(0.0, 2.0))
def test_population_moments_give_the_biases_exactly(seed, k, scale):
    """a_m = sum_j (u_i.u_j)^m lambda_j c_m(beta_j) is what the ratio inverts: exact biases back."""
    rng = np.random.default_rng(seed)
    D = unit_rows(rng.standard_normal((k, 6)))
    if k > 1 and np.max(np.abs(D @ D.T - np.eye(k))) > 0.95:
        return
    beta = np.clip(scale * rng.standard_normal(k), -3, 3)
    lam = rng.choice([-1.0, 1.0], k) * rng.uniform(0.5, 2.0, k)
    G = D @ D.T
    a = [G**m @ (lam * np.array([biased_relu_hermite_coefficient(m, b) for b in beta])) for m in (2, 3)]
    got, mu = biases_from_moments(D, np.array(a))
    np.testing.assert_allclose(got, beta, atol=1e-8)
    np.testing.assert_allclose(mu[0], lam * np.exp(-beta**2 / 2) / np.sqrt(2 * np.pi), rtol=1e-8)


def test_a_flipped_direction_flips_the_bias():
    """(u, beta) and (-u, -beta) differ by an affine function: the estimate follows the sign of u."""
    D = unit_rows(np.array([[1.0, 0.2, 0.0], [0.0, 1.0, 0.5]]))
    beta, lam = np.array([0.7, -1.0]), np.array([1.0, -2.0])
    G = D @ D.T
    a = np.array([G**m @ (lam * [biased_relu_hermite_coefficient(m, b) for b in beta]) for m in (2, 3)])
    flipped = D * np.array([[1.0], [-1.0]])
    signs = np.array([1.0, -1.0])
    a_flipped = np.array([a[0], a[1] * signs])  # He_3 is odd
    got, _ = biases_from_moments(flipped, a_flipped)
    np.testing.assert_allclose(got, beta * signs, atol=1e-12)


def test_dead_unit_and_extreme_ratio():
    D = np.eye(2)
    got, _ = biases_from_moments(D, np.array([[0.0, 1e-3], [0.0, 1.0]]))
    assert got[0] == 0.0
    assert got[1] == -BIAS_LIMIT


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sample_estimate_within_its_standard_error(seed):
    """On 2e5 rows of a biased teacher with its own directions, each bias within 5 standard
    errors of the truth (the delta-method SE of -a_3/a_2 from per-row terms; orthonormal
    directions, so the systems are diagonal)."""
    d, k = 6, 3
    rng = np.random.default_rng(seed)
    D = np.linalg.qr(rng.standard_normal((d, k)))[0].T
    beta = rng.standard_normal(k)
    teacher = Teacher(D, rng.choice([-1.0, 1.0], k) * rng.uniform(1.0, 2.0, k), hidden_biases=beta)
    X, y = teacher.sample(200_000, random_state=seed + 10)
    source = ArraySource(X, y, np.zeros(len(y), dtype=bool), 8192)
    got, _ = biases_from_moments(D, projected_hermite_pass(source, D))
    Z = X @ D.T
    yc = (y - y.mean())[:, None]
    t2, t3 = yc * (Z**2 - 1), yc * (Z**3 - 3 * Z)
    a2, a3 = t2.mean(0), t3.mean(0)
    influence = -(t3 - a3) / a2 + a3 * (t2 - a2) / a2**2
    se = influence.std(0) / np.sqrt(len(y))
    assert np.all(np.abs(got - beta) < 5 * se), (got, beta, se)
