"""The training rows of a source as arrays (narrowrelu.learner.sources.training_rows)."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from narrowrelu.learner.sources.local import ArraySource
from narrowrelu.learner.sources.training_rows import training_rows


@given(seed=st.integers(0, 2**32 - 1), limit=st.integers(1, 40), chunk=st.integers(1, 9))
def test_the_first_training_rows_in_order_and_no_held_out_one(seed, limit, chunk):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((30, 2)), rng.standard_normal(30)
    held = rng.random(30) < 0.3
    if held.all():
        held[0] = False
    Xt, yt = training_rows(ArraySource(X, y, held, chunk), limit)
    np.testing.assert_array_equal(Xt, X[~held][:limit])
    np.testing.assert_array_equal(yt, y[~held][:limit])
