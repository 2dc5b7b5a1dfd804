"""Choosing biased units from a candidate pool (narrowrelu.learner.biases.selection)."""

import numpy as np

from narrowrelu import Teacher
from narrowrelu.learner.biases.moment_ratios import BIAS_LIMIT, projected_hermite_pass, ratio_biases
from narrowrelu.learner.biases.selection import select_biased_units
from narrowrelu.learner.sources import ArraySource


def test_ratio_biases():
    got = ratio_biases(np.array([[2.0, 0.0, 1.0], [1.0, 3.0, -10.0]]))
    np.testing.assert_array_equal(got, [-0.5, 0.0, BIAS_LIMIT])


def test_the_teacher_directions_are_chosen_out_of_a_pool():
    """A pool of the teacher's 2 directions, 2 perturbed copies (cosine about 0.95) and 4 random
    ones: the subset regression on biased units selects exactly the teacher's, whatever the
    order, and a start from the wrong copies is swapped out of."""
    rng = np.random.default_rng(0)
    d = 6
    teacher = Teacher.random(d, 2, bias_scale=1.0, random_state=1)
    X, y = teacher.sample(20_000, random_state=2)
    held = rng.random(len(y)) < 0.2
    true = teacher.hidden_weights / np.linalg.norm(teacher.hidden_weights, axis=1, keepdims=True)
    copies = true + 0.3 * rng.standard_normal(true.shape) / np.sqrt(d)
    noise = rng.standard_normal((4, d))
    pool = np.vstack([copies, noise, true])
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    source = ArraySource(X, y, held, 4096)
    biases = ratio_biases(projected_hermite_pass(source, pool, train_only=True))
    chosen = select_biased_units(source, pool, biases, 2, starts=[[0, 1]])
    assert sorted(chosen.tolist()) == [6, 7]
