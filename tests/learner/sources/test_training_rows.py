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


@given(seed=st.integers(0, 2**32 - 1), limit=st.integers(1, 40), chunk=st.integers(1, 9))
def test_rows_in_memory_are_taken_in_one_copy_as_the_pass_gathers_them(seed, limit, chunk):
    """ArraySource.first_training_rows (training_rows of rows in memory) gives the rows, in the
    order, that the pass gathering them block by block gives, counted as one pass; the source's
    arrays are left as they were."""
    from narrowrelu.learner.sources.training_rows import _add_training_rows, _TrainingRows

    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((30, 2)), rng.standard_normal(30)
    held = rng.random(30) < 0.3
    held[0] = False
    X0, y0 = X.copy(), y.copy()
    source = ArraySource(X, y, held, chunk)
    Xt, yt = training_rows(source, limit)
    assert source.n_passes == 1
    acc = source.fold(_TrainingRows(limit), _add_training_rows)
    np.testing.assert_array_equal(Xt, np.concatenate(acc.X))
    np.testing.assert_array_equal(yt, np.concatenate(acc.y))
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    # asked again for as many, the same read-only arrays, without a pass
    again = training_rows(source, limit)
    assert again[0] is Xt and again[1] is yt and source.n_passes == 2
    assert not Xt.flags.writeable and not yt.flags.writeable
    other = training_rows(source, limit + 1)
    assert other[0] is not Xt and source.n_passes == 3
