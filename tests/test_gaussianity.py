"""The Gaussianity check of the inputs (narrowrelu.learner.gaussianity)."""

import numpy as np
import pytest

from narrowrelu.learner.gaussianity import non_gaussian_message
from narrowrelu.learner.passes import linear_stage
from narrowrelu.learner.sources import ArraySource


def statistics(X):
    y = np.random.default_rng(0).standard_normal(X.shape[0])
    return linear_stage(ArraySource(X, y, np.zeros(X.shape[0], dtype=bool), 4096))


@pytest.mark.parametrize("seed", range(5))
def test_standard_gaussian_passes(seed):
    X = np.random.default_rng(seed).standard_normal((20_000, 10))
    assert non_gaussian_message(statistics(X)) is None


@pytest.mark.parametrize("shift, scale, what", [(1.0, 1.0, "|mean|"), (0.0, 3.0, "|variance - 1|")])
def test_shifted_or_scaled_inputs_warn(shift, scale, what):
    X = shift + scale * np.random.default_rng(1).standard_normal((20_000, 10))
    message = non_gaussian_message(statistics(X))
    assert message is not None and what in message and "N(0, I)" in message
