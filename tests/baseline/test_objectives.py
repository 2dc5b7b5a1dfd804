"""Objectives of the GD baseline over one flat parameter vector (narrowrelu.baseline.objectives)."""

import numpy as np
import pytest

from _helpers import random_student
from narrowrelu.baseline.objectives import empirical_loss_gradient
from narrowrelu.network import pack_parameters, unpack_parameters


def test_empirical_gradient_matches_central_differences():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((50, 3)), rng.standard_normal(50)
    W, a, b = random_student(rng, 3, 2)
    _, gW, ga, gb = empirical_loss_gradient(W, a, b, X, y)
    h = 1e-6
    E = np.zeros_like(W)
    E[1, 2] = h
    numeric = (empirical_loss_gradient(W + E, a, b, X, y)[0] - empirical_loss_gradient(W - E, a, b, X, y)[0]) / (2 * h)
    assert gW[1, 2] == pytest.approx(numeric, rel=1e-5)
    assert gb == pytest.approx(
        (empirical_loss_gradient(W, a, b + h, X,
                                 y)[0] - empirical_loss_gradient(W, a, b - h, X, y)[0]) / (2 * h), rel=1e-6
    )


def test_pack_unpack_round_trip():
    rng = np.random.default_rng(0)
    W, a, b = random_student(rng, 4, 3)
    theta = pack_parameters(W, a, None, b)
    assert theta.shape == (3 * 4 + 3 + 1,)
    W2, a2, w2, b2 = unpack_parameters(theta, 3, 4, linear=False)
    assert np.array_equal(W2, W) and np.array_equal(a2, a) and w2 is None and b2 == b
