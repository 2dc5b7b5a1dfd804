"""The output fit on biased units (narrowrelu.learner.biases.output) against NumPy least squares."""

import numpy as np

from narrowrelu.learner.biases.output import biased_output_pass
from narrowrelu.learner.sources import ArraySource


def test_equals_numpy_least_squares():
    rng = np.random.default_rng(3)
    n, d, k = 3000, 5, 3
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n) + np.maximum(X[:, 0] + 0.5, 0)
    D = rng.standard_normal((k, d))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    beta = np.array([0.5, -1.0, 0.0])
    held = rng.random(n) < 0.2
    net = biased_output_pass(ArraySource(X, y, held, 512), D, beta)
    F = np.hstack([np.ones((n, 1)), X, np.maximum(X @ D.T + beta, 0)])
    coef = np.linalg.lstsq(F, y, rcond=None)[0]
    np.testing.assert_allclose(net.intercept, coef[0], atol=1e-8)
    np.testing.assert_allclose(net.linear_weights, coef[1:1 + d], atol=1e-8)
    np.testing.assert_allclose(net.output_weights, coef[1 + d:], atol=1e-8)
    np.testing.assert_array_equal(net.hidden_biases, beta)
    np.testing.assert_array_equal(net.hidden_weights, D)
