"""The projection cache of a round (narrowrelu.learner.sources.projection_cache): rows split by their
held-out mask, in order, single precision; overflow marks the cache incomplete."""

import numpy as np
import pytest

from narrowrelu.learner.sources.projection_cache import ProjectionCache


def test_cache_splits_rows_by_mask_in_order():
    rng = np.random.default_rng(0)
    cache = ProjectionCache(100, 100, 5)
    cache.start(4)
    stored_Z, stored_y, stored_mask = [], [], []
    for m in (7, 1, 12):
        Z, y = rng.standard_normal((m, 4)), rng.standard_normal(m)
        held = rng.random(m) < 0.4
        cache.add(Z, y, held)
        stored_Z.append(Z), stored_y.append(y), stored_mask.append(held)
    Z, y, held = np.vstack(stored_Z), np.concatenate(stored_y), np.concatenate(stored_mask)
    assert cache.complete
    Zt, yt = cache.rows("train")
    Zv, yv = cache.rows("validation")
    assert np.array_equal(Zt, Z[~held].astype(np.float32)) and np.array_equal(yt, y[~held])
    assert np.array_equal(Zv, Z[held].astype(np.float32)) and np.array_equal(yv, y[held])
    assert Zt.flags.c_contiguous and Zv.flags.c_contiguous


def test_cache_overflow_drops_rows_and_marks_incomplete():
    rng = np.random.default_rng(1)
    cache = ProjectionCache(5, 2, 3)
    cache.start(3)
    Z, y = rng.standard_normal((6, 3)), rng.standard_normal(6)
    held = np.array([False, True, False, False, True, False])
    cache.add(Z, y, held)  # 4 training rows, 2 held-out: fits exactly
    assert cache.complete
    Z2, y2 = rng.standard_normal((4, 3)), rng.standard_normal(4)
    held2 = np.array([True, False, False, False])  # 3 more training rows, only 1 fits; 1 held-out, none fits
    cache.add(Z2, y2, held2)
    assert not cache.complete
    Zt, yt = cache.rows("train")
    assert np.array_equal(Zt, np.vstack([Z[~held], Z2[1:2]]).astype(np.float32))
    assert np.array_equal(yt, np.concatenate([y[~held], y2[1:2]]))
    Zv, yv = cache.rows("validation")
    assert np.array_equal(Zv, Z[held].astype(np.float32)) and np.array_equal(yv, y[held])
    cache.start(3)  # a new pass forgets the rows and the overflow
    assert cache.complete and cache.rows("train")[0].shape == (0, 3)


def test_cache_overflow_of_held_out_rows_alone_marks_incomplete():
    cache = ProjectionCache(10, 1, 2)
    cache.start(2)
    cache.add(np.ones((3, 2)), np.ones(3), np.array([True, True, False]))
    assert not cache.complete
    assert cache.rows("validation")[0].shape == (1, 2) and cache.rows("train")[0].shape == (1, 2)


def test_cache_narrower_width_after_wider_one():
    rng = np.random.default_rng(2)
    cache = ProjectionCache(20, 20, 6)
    cache.start(6)
    cache.add(rng.standard_normal((15, 6)), rng.standard_normal(15), rng.random(15) < 0.5)
    cache.start(3)
    Z, y = rng.standard_normal((9, 3)), rng.standard_normal(9)
    held = np.array([0, 1, 0, 0, 1, 0, 1, 0, 0], dtype=bool)
    cache.add(Z[:4], y[:4], held[:4])
    cache.add(Z[4:], y[4:], held[4:])
    Zt, yt = cache.rows("train")
    Zv, yv = cache.rows("validation")
    assert Zt.shape == (6, 3) and Zv.shape == (3, 3)
    assert np.array_equal(Zt, Z[~held].astype(np.float32)) and np.array_equal(yt, y[~held])
    assert np.array_equal(Zv, Z[held].astype(np.float32)) and np.array_equal(yv, y[held])


def test_cache_width_over_maximum_raises():
    cache = ProjectionCache(4, 4, 5)
    cache.start(5)
    with pytest.raises(ValueError, match="exceeds"):
        cache.start(6)

