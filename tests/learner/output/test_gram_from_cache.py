"""The output regression of a round on the stored projections (narrowrelu.learner.output.gram_from_cache),
and the final regression pass over every row (narrowrelu.learner.passes) that it must agree with."""

import numpy as np
import pytest

import narrowrelu.learner.output.gram_from_cache as regression
from _helpers import assert_close_to_scale, feature_matrix, projection_cache_for, projection_setup
from narrowrelu.learner.passes import final_regression_pass, projection_pass
from narrowrelu.learner.output.gram_from_cache import cached_gram_statistics


def regression_setup(seed=19, n=1003):
    rng, X, y, mask, model, source, P, extra, L = projection_setup(seed=seed, n=n)
    cache = projection_cache_for(L, 2, 2, n)
    layout = projection_pass(source, model, extra, L, P.shape[1], (4,), cache, 64, 1)
    new_coords = rng.standard_normal((3, P.shape[1]))
    new_coords /= np.linalg.norm(new_coords, axis=1, keepdims=True)
    candidates = np.vstack([model.hidden_weights, extra, new_coords @ P.T])
    return X, y, mask, source, L, cache, layout, new_coords, candidates


def test_regression_stage_equals_explicit_gram(monkeypatch):
    X, y, mask, _, L, cache, layout, new_coords, candidates = regression_setup()
    expected = {}
    for name, rows in (("train", ~mask), ("validation", mask)):
        F = feature_matrix(X[rows], L, candidates)
        expected[name] = (F.T @ F, F.T @ y[rows], y[rows] @ y[rows], rows.sum())
    for block_rows in (regression.REGRESSION_BLOCK_ROWS, 7):
        monkeypatch.setattr(regression, "REGRESSION_BLOCK_ROWS", block_rows)
        for stats, name in zip(cached_gram_statistics(cache, layout, new_coords), ("train", "validation")):
            gram, moment, yy, n = expected[name]
            assert stats.n == n
            assert_close_to_scale(stats.gram, gram, rel=1e-6)  # projections stored in single precision
            assert_close_to_scale(stats.moment, moment, rel=1e-6)
            assert stats.yy == pytest.approx(yy, rel=1e-12)


def test_regression_stage_max_rows_takes_a_strided_subsample():
    X, y, mask, _, L, cache, layout, new_coords, candidates = regression_setup(seed=20)
    n_train, n_val = (~mask).sum(), mask.sum()
    max_rows = 150
    train, validation = cached_gram_statistics(cache, layout, new_coords, max_rows=max_rows)
    for stats, rows, n in ((train, ~mask, n_train), (validation, mask, n_val)):
        stride = -(-n // max_rows)
        assert stride > 1
        assert stats.n == -(-n // stride) <= max_rows
        F = feature_matrix(X[rows][::stride], L, candidates)
        assert_close_to_scale(stats.gram, F.T @ F, rel=1e-6)
        assert_close_to_scale(stats.moment, F.T @ y[rows][::stride], rel=1e-6)
    # one part only, in the order asked
    (only_validation,) = cached_gram_statistics(cache, layout, new_coords, max_rows=max_rows, parts=("validation",))
    assert only_validation.n == validation.n and np.array_equal(only_validation.gram, validation.gram)
    swapped = cached_gram_statistics(cache, layout, new_coords, parts=("validation", "train"))
    assert (swapped[0].n, swapped[1].n) == (n_val, n_train)
    # max_rows above the row count: every row
    full, _ = cached_gram_statistics(cache, layout, new_coords)
    everything, _ = cached_gram_statistics(cache, layout, new_coords, max_rows=n_train)
    assert everything.n == n_train and np.array_equal(everything.gram, full.gram)


@pytest.mark.parametrize("columns", [[0, 3, 5], [1, 2], [4, 6], [0, 1, 2, 3, 4, 5, 6], []])
def test_regression_stage_columns_give_the_sub_gram(columns):
    """Columns 0-1 are the stored neurons, 2-3 the extra directions, 4-6 the new ones."""
    X, y, mask, _, L, cache, layout, new_coords, _ = regression_setup(seed=21)
    n_base = 1 + L.shape[1]
    keep = np.concatenate([np.arange(n_base), n_base + np.asarray(columns, dtype=int)])
    full = cached_gram_statistics(cache, layout, new_coords)
    sub = cached_gram_statistics(cache, layout, new_coords, columns=np.asarray(columns, dtype=int))
    for f, s in zip(full, sub):
        assert s.gram.shape == (keep.size, keep.size)
        assert s.n == f.n and s.yy == f.yy
        assert_close_to_scale(s.gram, f.gram[np.ix_(keep, keep)], rel=1e-14)
        assert_close_to_scale(s.moment, f.moment[keep], rel=1e-14)


def test_final_regression_stage_uses_every_row():
    X, y, mask, source, L, cache, layout, new_coords, candidates = regression_setup(seed=22)
    directions = candidates[[1, 5]]
    stats = final_regression_pass(source, L, directions)
    F = feature_matrix(X, L, directions)
    assert stats.n == X.shape[0]
    assert_close_to_scale(stats.gram, F.T @ F)
    assert_close_to_scale(stats.moment, F.T @ y)
    assert stats.yy == pytest.approx(y @ y, rel=1e-12)
    # and equals the cached train + validation statistics of the same columns
    train, validation = cached_gram_statistics(cache, layout, new_coords, columns=np.array([1, 5]))
    both = train + validation
    assert both.n == stats.n
    assert_close_to_scale(both.gram, stats.gram, rel=1e-6)


