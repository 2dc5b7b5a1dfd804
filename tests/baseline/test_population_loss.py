"""Exact Gaussian population loss of a ReLU student and its gradient
(narrowrelu.baseline.population_loss); the numba kernel is checked in ``test_kernels.py``."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import random_network, random_student
from narrowrelu import ReLUNetwork, Teacher, monte_carlo_mse, population_mse
from narrowrelu.baseline.population_loss import (
    loss_gradient_trusted,
    population_loss,
    population_loss_gradient,
    teacher_terms,
)

N_SE = 4  # Monte Carlo tolerance, in standard errors


networks = dict(
    seed=st.integers(0, 2**32 - 1),
    d=st.integers(1, 6),
    k=st.integers(1, 4),
    m=st.integers(1, 4),
    affine=st.booleans(),
)


@settings(max_examples=20)
@given(**networks)
def test_population_loss_matches_monte_carlo(seed, d, k, m, affine):
    rng = np.random.default_rng(seed)
    teacher = random_network(rng, d, k, affine)
    W, a, b = random_student(rng, d, m)
    loss = population_loss(W, a, b, teacher)
    estimate = monte_carlo_mse(ReLUNetwork(W, a, None, b), teacher, n_samples=40_000, random_state=seed)
    assert abs(2 * loss - estimate.mean) <= 4 * estimate.stderr + 1e-12


@given(**networks)
def test_population_loss_is_half_population_mse(seed, d, k, m, affine):
    rng = np.random.default_rng(seed)
    teacher = random_network(rng, d, k, affine)
    W, a, b = random_student(rng, d, m)
    mse = population_mse(ReLUNetwork(W, a, None, b), teacher)
    assert population_loss(W, a, b, teacher) == pytest.approx(mse / 2, rel=1e-10, abs=1e-12)


@given(**networks)
def test_gradient_matches_central_differences(seed, d, k, m, affine):
    rng = np.random.default_rng(seed)
    teacher = random_network(rng, d, k, affine)
    W, a, b = random_student(rng, d, m)
    terms = teacher_terms(teacher)
    _, gW, ga, gb = population_loss_gradient(W, a, b, terms)
    h = 1e-6
    theta = np.concatenate([W.ravel(), a, [b]])

    def loss_at(t):
        return loss_gradient_trusted(t[: m * d].reshape(m, d), t[m * d : m * d + m], t[-1], terms)[0]

    numeric = np.array([(loss_at(theta + h * e) - loss_at(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    analytic = np.concatenate([gW.ravel(), ga, [gb]])
    scale = 1.0 + np.abs(analytic).max()
    np.testing.assert_allclose(analytic, numeric, atol=1e-6 * scale)


def test_zero_loss_and_gradient_at_the_teacher():
    teacher = Teacher.orthonormal(4)
    perm = np.random.default_rng(0).permutation(4)
    loss, gW, ga, gb = population_loss_gradient(np.eye(4)[perm], np.ones(4), 0.0, teacher)
    assert loss <= 1e-14
    assert np.abs(gW).max() <= 1e-14 and np.abs(ga).max() <= 1e-14 and abs(gb) <= 1e-14


def test_population_loss_needs_a_matching_teacher():
    with pytest.raises(ValueError, match="teacher has input dimension 3 but the student has 2"):
        population_loss(np.ones((2, 2)), np.ones(2), 0.0, Teacher.orthonormal(3))
    with pytest.raises(ValueError, match="a teacher is required"):
        population_loss(np.ones((2, 2)), np.ones(2), 0.0, None)
    with pytest.raises(ValueError, match="hidden_weights has 2 neurons"):
        population_loss(np.ones((2, 2)), np.ones(3), 0.0, Teacher.orthonormal(2))
