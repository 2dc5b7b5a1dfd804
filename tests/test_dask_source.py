"""The dask sources on dask's synchronous scheduler: the block split, the held-out rows, the
reduction tree, the projection cache kept per block, and the fit against the in-memory pipeline
on the same rows with the same held-out split."""

import numpy as np
import pytest

from narrowrelu import MomentReLURegressor, Teacher
from narrowrelu._validation import as_generator
from narrowrelu.learner import rounds
from narrowrelu.learner.dask_source import (
    DaskArraySource,
    DaskOracleSource,
    DaskProjectionCache,
    held_out_rows,
    split_counts,
    tree_merge,
)
from narrowrelu.learner.passes import linear_stage, projection_stage
from narrowrelu.learner.projection_cache import ProjectionCache
from narrowrelu.learner.regression import regression_stage
from narrowrelu.learner.sources import ArraySource
from narrowrelu.network import ReLUNetwork

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="sync"):
        yield


def data(n=12_000, d=6, k=2, seed=0, noise=0.05):
    teacher = Teacher.random(n_features=d, n_neurons=k, random_state=seed)
    X, y = teacher.sample(n, random_state=seed + 1)
    return teacher, X, y + noise * np.random.default_rng(seed + 2).standard_normal(n)


def same_split(source):
    """The held-out mask of a dask array source, for the in-memory reference."""
    return np.concatenate([held_out_rows(source.seed, b, m, h)
                           for b, (m, h) in enumerate(zip(source.lengths, source.held_counts))])


def test_split_counts_sum_exactly_and_follow_the_lengths():
    lengths = [1000, 1000, 500, 7]
    counts = split_counts(301, lengths)
    assert sum(counts) == 301
    assert all(0 <= c <= m for c, m in zip(counts, lengths))
    assert abs(counts[0] - 301 * 1000 / 2507) < 1


def test_held_out_rows_depend_on_the_block_only():
    seed = np.random.SeedSequence(5)
    a = held_out_rows(seed, 3, 100, 20)
    assert a.sum() == 20
    assert np.array_equal(a, held_out_rows(np.random.SeedSequence(5), 3, 100, 20))
    assert not np.array_equal(a, held_out_rows(seed, 4, 100, 20))


class Sum:
    def __init__(self, value=0.0):
        self.value = value

    def merge(self, other):
        self.value += other.value
        return self


def test_tree_merge_keeps_the_block_order():
    # non-associative additions: the tree's shape fixes the result
    values = [1e16, 1.0, -1e16, 1.0] * 5
    leaves = [dask.delayed(Sum)(v) for v in values]
    (root,) = dask.compute(tree_merge(leaves, fan_in=2))
    expected = [Sum(v) for v in values]
    while len(expected) > 1:
        expected = [Sum(a.value + b.value) if b is not None else a
                    for a, b in zip(expected[::2], expected[1::2] + [None] * (len(expected) % 2))]
    assert root.value == expected[0].value


def test_linear_stage_matches_the_in_memory_source():
    _, X, y = data()
    source = DaskArraySource(da.from_array(X, chunks=(2500, 6)), da.from_array(y, chunks=2500), 2400,
                             np.random.SeedSequence(1))
    assert source.n_validation == 2400 and source.n_chunks() == 5
    local = linear_stage(ArraySource(X, y, same_split(source), 2500))
    remote = linear_stage(source)
    assert remote.n_train == local.n_train == 12_000 - 2400
    np.testing.assert_allclose(remote.mean_yx, local.mean_yx, rtol=1e-12, atol=1e-15)
    assert remote.var_y == pytest.approx(local.var_y, rel=1e-12)


def test_dask_cache_keeps_the_same_rows_as_the_in_memory_cache():
    _, X, y = data(n=5000, d=5)
    source = DaskArraySource(da.from_array(X, chunks=(700, 5)), da.from_array(y, chunks=700), 1000,
                             np.random.SeedSequence(2))
    local_source = ArraySource(X, y, same_split(source), 700)
    rng = np.random.default_rng(0)
    L = np.linalg.qr(rng.standard_normal((5, 3)))[0]
    model = ReLUNetwork(np.empty((0, 5)), np.empty(0), L[:, 0], 0.1)
    extra = rng.standard_normal((2, 5))
    # room for part of the rows only: the first ones of the pass are kept, as in memory
    caches = [ProjectionCache(2500, 300, 5), DaskProjectionCache(2500, 300, 5)]
    layouts = [projection_stage(s, model, extra, L, 2, (4,), c, 256, 1)
               for s, c in zip((local_source, source), caches)]
    assert not caches[0].complete and not caches[1].complete
    for m in (4,):
        np.testing.assert_allclose(layouts[1].tensors[m], layouts[0].tensors[m], rtol=1e-10, atol=1e-12)
    new_coords = rng.standard_normal((2, 2))
    for kwargs in ({}, {"max_rows": 700}, {"columns": np.array([0, 3])}):
        for a, b in zip(*(regression_stage(c, layout, new_coords, **kwargs) for c, layout in zip(caches, layouts))):
            assert a.n == b.n
            np.testing.assert_allclose(b.gram, a.gram, rtol=1e-10)
            np.testing.assert_allclose(b.moment, a.moment, rtol=1e-10)


@pytest.mark.parametrize("n_features, n_neurons, small_cache", [(8, 3, False), (4, 2, True)])
def test_fit_equals_the_in_memory_pipeline_on_the_same_split(monkeypatch, n_features, n_neurons, small_cache):
    if small_cache:
        # the projections of only part of the rows fit: rounds select on them, a final pass fits
        monkeypatch.setattr(rounds, "ORACLE_CACHE_BYTES", 2**16)
    _, X, y = data(n=20_000, d=n_features, k=n_neurons, seed=3)
    Xd, yd = da.from_array(X, chunks=(3000, n_features)), da.from_array(y, chunks=3000)
    model = MomentReLURegressor(n_neurons=n_neurons, random_state=0).fit(Xd, yd)
    # the reference: the in-memory pipeline on the same rows, split as the dask fit split them
    reference = MomentReLURegressor(n_neurons=n_neurons, random_state=0)
    rng = as_generator(0)
    seed = np.random.SeedSequence(int(rng.integers(2**63)))
    split = same_split(DaskArraySource(Xd, yd, reference._n_validation(*X.shape), seed))
    source = ArraySource(X, y, split, reference.chunk_size)
    reference._fit_source(source, rng, lambda: source)
    assert model.n_passes_ == reference.n_passes_
    assert model.refinement_["n_passes"] == reference.refinement_["n_passes"]
    expected = reference.predict(X)
    got = model.predict(X)
    assert np.abs(got - expected).max() <= 1e-10 * np.abs(expected).max()


def test_fit_rechunks_columns_and_accepts_numpy_targets():
    _, X, y = data(n=8000)
    a = MomentReLURegressor(n_neurons=2, random_state=1).fit(da.from_array(X, chunks=(2000, 3)), y)
    b = MomentReLURegressor(n_neurons=2, random_state=1).fit(da.from_array(X, chunks=(2000, 6)),
                                                             da.from_array(y[:, None], chunks=(2000, 1)))
    assert np.array_equal(a.network_.to_vector(), b.network_.to_vector())
    prediction = a.predict(da.from_array(X, chunks=(3000, 2)))
    assert isinstance(prediction, da.Array)
    np.testing.assert_array_equal(prediction.compute(), a.predict(X))


def test_dense_refinement_brings_the_first_rows_to_the_client():
    _, X, y = data(n=6000)
    model = MomentReLURegressor(n_neurons=2, random_state=0, refine_method="lm", refine_max_samples=3000)
    model.fit(da.from_array(X, chunks=(1000, 6)), da.from_array(y, chunks=1000))
    assert model.refinement_["n_samples"] == 3000 and model.refinement_["method"] == "lm"


@pytest.mark.parametrize("bad, message", [
    (lambda X, y: (X, y[:-1]), "must have shape"),
    (lambda X, y: (X[:, 0], y), "2-dimensional"),
    (lambda X, y: (X.astype(bool), y), "real numbers"),
    (lambda X, y: (X[X[:, 0] > 0], y), "unknown chunk sizes"),
    (lambda X, y: (X.compute(), y), "X must be a dask array"),
])
def test_bad_dask_inputs_are_refused(bad, message):
    _, X, y = data(n=3000)
    Xd, yd = da.from_array(X, chunks=(1000, 6)), da.from_array(y, chunks=1000)
    with pytest.raises(ValueError, match=message):
        MomentReLURegressor(n_neurons=2).fit(*bad(Xd, yd))


def test_non_finite_blocks_are_refused_in_the_first_pass():
    _, X, y = data(n=3000)
    X[2500, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite values in block 2"):
        MomentReLURegressor(n_neurons=2).fit(da.from_array(X, chunks=(1000, 6)), da.from_array(y, chunks=1000))


def test_oracle_source_blocks_are_replayable_and_hold_out_their_first_rows():
    teacher = Teacher.random(n_features=4, n_neurons=1, random_state=0)
    source = DaskOracleSource(teacher, 2500, 4, 1000, 500, np.random.SeedSequence(3))
    assert source.lengths == [1000, 1000, 500] and source.held_counts == [200, 200, 100]
    a, b = linear_stage(source), linear_stage(source)
    assert np.array_equal(a.mean_yx, b.mean_yx) and a.n_train == 2000 and source.n_passes == 2
