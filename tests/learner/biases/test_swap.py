"""Moving a misplaced unit (narrowrelu.learner.biases.swap)."""

import numpy as np

from narrowrelu import ReLUNetwork, Teacher, population_mse, population_variance
from narrowrelu.learner.biases import refine_biased
from narrowrelu.learner.biases.moment_ratios import projected_hermite_pass
from narrowrelu.learner.biases.swap import grow_units, swap_misplaced_units, unit_along
from narrowrelu.learner.sources import ArraySource


def source_of(teacher, n, seed):
    X, y = teacher.sample(n, random_state=seed)
    return ArraySource(X, y, np.zeros(n, dtype=bool), 4096)


def test_residual_moments_equal_numpy():
    """The pass with a model: the centred Hermite moments of its residual y - g(x)."""
    teacher = Teacher.random(5, 2, bias_scale=1.0, random_state=0)
    source = source_of(teacher, 3000, 1)
    X, y = source.rows_in_memory()
    net = ReLUNetwork(np.eye(5)[:2], np.ones(2), hidden_biases=np.array([0.3, -0.2]))
    e = np.ones(5) / np.sqrt(5)
    r = y - net(X)
    r = r - r.mean()
    z = X @ e
    want = [r @ (z**2 - 1) / 3000, r @ (z**3 - 3 * z) / 3000]
    np.testing.assert_allclose(projected_hermite_pass(source, e[None], net)[:, 0], want, rtol=1e-10, atol=1e-14)


def test_a_unit_is_moved_to_the_missing_neuron():
    """Start: the teacher's first unit right and the second replaced by a dead unit (a bias of -30:
    active on no row, so no gradient moves it); the refinement alone keeps a residual with a
    missing neuron, the swap moves the unit there and the fit becomes exact (noiseless)."""
    teacher = Teacher.random(6, 2, bias_scale=1.0, random_state=3)
    source = source_of(teacher, 20_000, 4)
    U = teacher.hidden_weights.copy()
    U[1] = np.linalg.qr(np.vstack([teacher.hidden_weights, np.eye(6)]).T)[0][:, 2]
    start = ReLUNetwork(U, teacher.output_weights, teacher.linear_weights, teacher.intercept,
                        teacher.hidden_biases * np.array([1.0, 0.0]) + np.array([0.0, -30.0]))
    refined = refine_biased(start, source)
    result, swaps, structure = swap_misplaced_units(refined, source, lambda net: refine_biased(net, source))
    var = population_variance(teacher)
    assert population_mse(result.network, teacher) / var < 1e-12 < population_mse(refined.network, teacher) / var
    assert swaps >= 1 and not structure.significant


def test_unit_along_reads_a_single_neuron():
    """Residual = one biased unit lam relu(e.x + h): the suggested unit is (e, lam, h) to sampling error."""
    d = 5
    e = np.eye(d)[2]
    target = Teacher(e[None], np.array([1.5]), hidden_biases=np.array([-0.7]))
    source = source_of(target, 200_000, 5)
    _, lam, h = unit_along(ReLUNetwork(np.zeros((0, d)), np.zeros(0)), source, e)
    assert abs(h + 0.7) < 0.05 and abs(lam - 1.5) < 0.1


def test_a_missing_unit_is_grown_up_to_the_limit():
    """A one-unit fit of a two-neuron biased teacher (noise 0.1): the residual shows the second
    neuron, a unit is added along it and kept (it gains far more than a unit fitted to noise), and
    growth stops there, below the limit of 4, once the residual shows nothing."""
    teacher = Teacher.random(6, 2, bias_scale=1.0, random_state=3)
    sigma = 0.1 * np.sqrt(population_variance(teacher))
    X, y = teacher.with_noise(sigma).sample(20_000, random_state=5)
    source = ArraySource(X, y, np.zeros(len(y), dtype=bool), 4096)
    one = ReLUNetwork(teacher.hidden_weights[:1], teacher.output_weights[:1], teacher.linear_weights,
                      teacher.intercept, teacher.hidden_biases[:1])
    start = refine_biased(one, source)
    result, grown, structure = grow_units(start, source, lambda net: refine_biased(net, source), max_units=4)
    assert grown == 1 and result.network.n_neurons == 2 and not structure.significant
    assert population_mse(result.network, teacher) < 3 * sigma**2 * 22 / 20_000
