"""The held-out split of a fit on data (:mod:`narrowrelu.learner.sources.held_out`): exact counts, any range of
rows rebuilt alone equal to the same range of the whole mask, counts per split block in
proportion to the block lengths, and nothing but ``(seed, n, n_validation)`` deciding the mask.
Split blocks are made small (``SPLIT_BLOCK`` patched) so that small ``n`` spans many of them."""

import contextlib
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from narrowrelu.learner.sources import held_out as split
from narrowrelu.learner.sources.held_out import (
    block_seed,
    held_out_count,
    held_out_mask,
    held_out_rows,
    split_counts,
)


@contextlib.contextmanager
def split_block(size):
    # a context, not the monkeypatch fixture: hypothesis runs many examples in one test call
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(split, "SPLIT_BLOCK", size)
        yield


@st.composite
def splits(draw):
    """``(block, n, n_validation, start, stop, entropy)`` with ``0 <= start <= stop <= n``."""
    block = draw(st.integers(1, 64))
    n = draw(st.integers(1, 600))
    h = draw(st.integers(0, n))
    start = draw(st.integers(0, n))
    stop = draw(st.integers(start, n))
    return block, n, h, start, stop, draw(st.integers(0, 2**63 - 1))


@given(splits())
def test_mask_holds_out_exactly_n_validation_rows(case):
    block, n, h, _, _, entropy = case
    with split_block(block):
        mask = held_out_mask(np.random.SeedSequence(entropy), n, h)
    assert mask.dtype == bool and mask.shape == (n,)
    assert int(mask.sum()) == h


@given(splits())
def test_any_range_of_rows_is_the_same_range_of_the_whole_mask(case):
    block, n, h, start, stop, entropy = case
    seed = np.random.SeedSequence(entropy)
    with split_block(block):
        whole = held_out_mask(seed, n, h)
        part = held_out_mask(seed, n, h, start, stop)
        count = held_out_count(seed, n, h, start, stop)
    np.testing.assert_array_equal(part, whole[start:stop])
    assert count == int(whole[start:stop].sum())


@given(splits(), st.integers(1, 8))
def test_masks_pieced_together_from_any_chunks_are_the_whole_mask(case, n_cuts):
    # what a dask fit does: each chunk rebuilds its rows, the client counts them in advance
    block, n, h, _, _, entropy = case
    seed = np.random.SeedSequence(entropy)
    cuts = np.unique(np.r_[0, np.random.default_rng(entropy % 2**32).integers(0, n + 1, n_cuts), n])
    with split_block(block):
        whole = held_out_mask(seed, n, h)
        pieces = [held_out_mask(seed, n, h, a, b) for a, b in itertools.pairwise(cuts)]
        counts = [held_out_count(seed, n, h, a, b) for a, b in itertools.pairwise(cuts)]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    assert counts == [int(p.sum()) for p in pieces] and sum(counts) == h


@given(splits())
def test_each_split_block_holds_out_its_share(case):
    block, n, h, _, _, entropy = case
    with split_block(block):
        mask = held_out_mask(np.random.SeedSequence(entropy), n, h)
    for a in range(0, n, block):
        m = min(block, n - a)
        assert abs(int(mask[a:a + m].sum()) - h * m / n) < 1


def test_mask_depends_on_the_seed_n_and_n_validation_only(monkeypatch):
    monkeypatch.setattr(split, "SPLIT_BLOCK", 100)
    n, h = 1234, 300
    reference = held_out_mask(np.random.SeedSequence(42), n, h)
    seed = np.random.SeedSequence(42)
    seed.spawn(3)  # a used seed (spawn counts its children) gives the same split
    np.random.seed(7)  # the global random state plays no part
    rng = np.random.default_rng(0)
    for start, stop in [(0, n), (1133, 1234), (50, 151), (0, 0), (99, 101)]:
        np.testing.assert_array_equal(held_out_mask(seed, n, h, start, stop), reference[start:stop])
        rng.random(10)
    np.testing.assert_array_equal(held_out_mask(np.random.SeedSequence(42), n, h), reference)


def test_different_seeds_give_different_masks(monkeypatch):
    monkeypatch.setattr(split, "SPLIT_BLOCK", 100)
    masks = [held_out_mask(np.random.SeedSequence(s), 1000, 200) for s in range(5)]
    for i in range(5):
        for j in range(i + 1, 5):
            assert not np.array_equal(masks[i], masks[j])
    # and so do different spawn keys of one entropy (the children block_seed builds)
    child = np.random.SeedSequence(0, spawn_key=(1,))
    assert not np.array_equal(held_out_mask(child, 1000, 200), masks[0])


def test_rows_outside_the_split_are_refused():
    seed = np.random.SeedSequence(0)
    for start, stop in [(-1, 5), (5, 4), (0, 11)]:
        with pytest.raises(ValueError, match="not within the 10 rows"):
            held_out_mask(seed, 10, 3, start, stop)


def test_default_split_block_and_a_large_split():
    # the real block size: 200 003 rows span four split blocks, the last one short
    assert split.SPLIT_BLOCK == 65_536
    seed = np.random.SeedSequence(9)
    mask = held_out_mask(seed, 200_003, 40_000)
    assert int(mask.sum()) == 40_000
    np.testing.assert_array_equal(held_out_mask(seed, 200_003, 40_000, 65_000, 140_000), mask[65_000:140_000])
    assert held_out_count(seed, 200_003, 40_000, 65_000, 140_000) == int(mask[65_000:140_000].sum())


def test_block_seed_is_the_spawned_child():
    seed = np.random.SeedSequence(5)
    children = np.random.SeedSequence(5).spawn(4)
    for b, child in enumerate(children):
        np.testing.assert_array_equal(block_seed(seed, b).generate_state(4), child.generate_state(4))


def test_split_counts_sum_exactly_and_follow_the_lengths():
    lengths = [1000, 1000, 500, 7]
    counts = split_counts(301, lengths)
    assert sum(counts) == 301
    assert all(0 <= c <= m for c, m in zip(counts, lengths))
    assert all(abs(c - 301 * m / 2507) < 1 for c, m in zip(counts, lengths))


def test_held_out_rows_depend_on_the_block_only():
    seed = np.random.SeedSequence(5)
    a = held_out_rows(seed, 3, 100, 20)
    assert a.sum() == 20
    assert np.array_equal(a, held_out_rows(np.random.SeedSequence(5), 3, 100, 20))
    assert not np.array_equal(a, held_out_rows(seed, 4, 100, 20))
