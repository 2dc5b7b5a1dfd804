"""Solvers of the GD baseline (narrowrelu.baseline.solvers): fixed-step GD on the population loss
in the numba kernel agrees with the Python loop, checkpoints do not change the iterates, and
mini-batches cover every row once per pass."""

import numpy as np
import pytest

from _helpers import random_network
from narrowrelu.baseline.objectives import PopulationObjective, decay_vector, trained_mask, xavier_init
from narrowrelu.network import pack_parameters
from narrowrelu.baseline.population_loss import teacher_terms
from narrowrelu.baseline.solvers import MiniBatches, TrainingHistory, first_order_descent, population_gradient_descent


def population_problem(alpha, train_output, fit_intercept, m=3, d=4):
    rng = np.random.default_rng(7)
    terms = teacher_terms(random_network(rng, d, 2))
    objective = PopulationObjective(terms, m, decay_vector(m, d, alpha, train_output))
    theta = pack_parameters(xavier_init(d, m, rng), rng.standard_normal(m), None, 0.1)
    return objective, theta, trained_mask(m, d, train_output, fit_intercept), m, d


@pytest.mark.parametrize("alpha, train_output, fit_intercept", [(0.0, True, True), (0.1, False, True),
                                                                (0.05, True, False)])
def test_kernel_gd_equals_python_gd_and_ignores_checkpoints(alpha, train_output, fit_intercept):
    objective, theta, mask, m, d = population_problem(alpha, train_output, fit_intercept)
    runs = {}
    for every in (None, 7):
        history = TrainingHistory(m, d, every)
        runs[every] = population_gradient_descent(theta.copy(), objective, mask, 0.05, 60, 0.0, history)
    # the kernel is called in chunks between checkpoints: the iterates are the same bits
    assert np.array_equal(runs[None].theta, runs[7].theta)
    assert runs[None].history.loss == runs[7].history.loss
    assert runs[7].history.steps == list(range(0, 61, 7)) + [60]
    python = first_order_descent(theta.copy(), objective, mask, "gd", 0.05, 60, 0.0, TrainingHistory(m, d, 7))
    assert python.history.steps == runs[7].history.steps  # the same checkpoints
    np.testing.assert_allclose(python.history.singular_values, runs[7].history.singular_values, rtol=1e-10)
    assert python.n_iter == runs[None].n_iter == 60
    np.testing.assert_allclose(runs[None].theta, python.theta, rtol=0, atol=1e-12)
    np.testing.assert_allclose(runs[None].history.loss, python.history.loss, rtol=1e-12)
    assert np.array_equal(runs[None].theta[~mask], theta[~mask])  # untrained entries stay


@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (5, 8)])
def test_mini_batches_cover_every_row_once_per_pass(n, batch_size):
    batches = MiniBatches(n, batch_size, np.random.default_rng(0))
    for _ in range(3):
        seen = []
        while True:
            rows = next(batches)
            seen.extend(rows.tolist())
            if batches.epoch_end():
                break
        assert sorted(seen) == list(range(n))
