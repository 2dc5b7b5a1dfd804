"""The dask sources on dask's synchronous and threaded schedulers: the held-out rows of each
block, the reduction tree, the projection cache kept per block, and ``fit`` on a dask array
against ``fit`` on the same NumPy rows. Split blocks are made small (``SPLIT_BLOCK`` patched) so
that the chunks cut several of them."""

import numpy as np
import pytest

from narrowrelu import MomentReLURegressor, Teacher
from narrowrelu.learner import rounds
from narrowrelu.learner.sources import held_out as split
from narrowrelu.learner.dask.sources import (
    DaskArraySource,
    DaskOracleSource,
    DaskProjectionCache,
    tree_merge,
)
from narrowrelu.learner.passes import linear_pass, projection_pass
from narrowrelu.learner.sources.projection_cache import ProjectionCache
from narrowrelu.learner.output.gram_from_cache import cached_gram_statistics
from narrowrelu.learner.sources import ArraySource
from narrowrelu.learner.sources.held_out import held_out_mask
from narrowrelu.network import ReLUNetwork

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

# rows per split block in these tests: the chunks below (2300, 700, 3700, ...) cut many of them
SPLIT_BLOCK = 1000


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="sync"):
        yield


@pytest.fixture
def small_split_blocks(monkeypatch):
    monkeypatch.setattr(split, "SPLIT_BLOCK", SPLIT_BLOCK)


def data(n=12_000, d=6, k=2, seed=0, noise=0.05):
    teacher = Teacher.random(n_features=d, n_neurons=k, random_state=seed)
    X, y = teacher.sample(n, random_state=seed + 1)
    return teacher, X, y + noise * np.random.default_rng(seed + 2).standard_normal(n)


def in_memory(X, y, source):
    """The NumPy source of the same rows with the held-out split of a NumPy fit (the dask source's)."""
    mask = held_out_mask(source.seed, X.shape[0], source.n_validation)
    chunks = np.cumsum(source.lengths)[:-1]
    # the counts the client computed per chunk are those of the mask each task rebuilds
    assert source.held_counts == [int(part.sum()) for part in np.split(mask, chunks)]
    return ArraySource(X, y, mask, source.lengths[0])


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


def test_linear_stage_matches_the_in_memory_source(small_split_blocks):
    _, X, y = data()
    source = DaskArraySource(da.from_array(X, chunks=(2300, 6)), da.from_array(y, chunks=2300), 2400,
                             np.random.SeedSequence(1))
    assert source.n_validation == 2400 and source.n_chunks() == 6
    local = linear_pass(in_memory(X, y, source))
    remote = linear_pass(source)
    assert remote.n_train == local.n_train == 12_000 - 2400
    np.testing.assert_allclose(remote.mean_yx, local.mean_yx, rtol=1e-12, atol=1e-15)
    assert remote.var_y == pytest.approx(local.var_y, rel=1e-12)


def test_dask_cache_keeps_the_same_rows_as_the_in_memory_cache(small_split_blocks):
    _, X, y = data(n=5000, d=5)
    source = DaskArraySource(da.from_array(X, chunks=(700, 5)), da.from_array(y, chunks=700), 1000,
                             np.random.SeedSequence(2))
    local_source = in_memory(X, y, source)
    rng = np.random.default_rng(0)
    L = np.linalg.qr(rng.standard_normal((5, 3)))[0]
    model = ReLUNetwork(np.empty((0, 5)), np.empty(0), L[:, 0], 0.1)
    extra = rng.standard_normal((2, 5))
    # room for part of the rows only: the first ones of the pass are kept, as in memory
    caches = [ProjectionCache(2500, 300, 5), DaskProjectionCache(2500, 300, 5)]
    layouts = [projection_pass(s, model, extra, L, 2, (4,), c, 256, 1)
               for s, c in zip((local_source, source), caches)]
    assert not caches[0].complete and not caches[1].complete
    for m in (4,):
        np.testing.assert_allclose(layouts[1].tensors[m], layouts[0].tensors[m], rtol=1e-10, atol=1e-12)
    new_coords = rng.standard_normal((2, 2))
    for kwargs in ({}, {"max_rows": 700}, {"columns": np.array([0, 3])}):
        for a, b in zip(*(cached_gram_statistics(c, layout, new_coords, **kwargs) for c,
                          layout in zip(caches, layouts))):
            assert a.n == b.n
            np.testing.assert_allclose(b.gram, a.gram, rtol=1e-10)
            np.testing.assert_allclose(b.moment, a.moment, rtol=1e-10)


def assert_same_fit(model, reference, X):
    """``model`` (a fit on a dask array) is ``reference`` (the NumPy fit of the same rows): the
    same passes, scaling and predictions within 1e-10 relative. Observed: 3e-16 to 3e-14 in these
    tests, ~1e-13 at most in others. Not bit-identical: the dask fit adds the same numbers in
    another order (per dask chunk, merged in a tree, against NumPy chunks of ``chunk_size`` rows)."""
    assert model.n_passes_ == reference.n_passes_
    assert model.refinement_["n_passes"] == reference.refinement_["n_passes"]
    for name in ("y_shift", "y_scale", "x_scale"):
        assert model.scaling_[name] == pytest.approx(reference.scaling_[name], rel=1e-12), name
    assert (model.scaling_["whitener"] is None) == (reference.scaling_["whitener"] is None)
    expected = reference.predict(X)
    got = model.predict(X)
    assert np.abs(got - expected).max() <= 1e-10 * np.abs(expected).max()


@pytest.mark.parametrize("n_features, n_neurons, whiten, x_factor, chunks", [
    (8, 3, False, 1.0, 3700),
    (6, 2, True, 1.0, 2900),
    (6, 2, False, 3.0, (5000, 333, 7667, 7000)),
    (5, 2, True, 3.0, 4100),
])
def test_fit_on_a_dask_array_equals_the_numpy_fit(small_split_blocks, n_features, n_neurons, whiten, x_factor,
                                                  chunks):
    _, X, y = data(n=20_000, d=n_features, k=n_neurons, seed=3)
    X = X * x_factor  # 3: the standardisation rescales X (x_scale != 1)
    Xd, yd = da.from_array(X, chunks=(chunks, n_features)), da.from_array(y, chunks=(chunks,))
    settings = {"n_neurons": n_neurons, "whiten": whiten, "random_state": 0}
    reference = MomentReLURegressor(**settings).fit(X, y)
    # the threaded scheduler: dask's default for arrays when no distributed client is active
    with dask.config.set(scheduler="threads"):
        model = MomentReLURegressor(**settings).fit(Xd, yd)
    assert (reference.scaling_["x_scale"] != 1.0) == (x_factor != 1.0)
    assert_same_fit(model, reference, X)
    # bit-identical to the same fit on the synchronous scheduler: the reduction tree is fixed
    synchronous = MomentReLURegressor(**settings).fit(Xd, yd)
    assert np.array_equal(synchronous.network_.to_vector(), model.network_.to_vector())


@pytest.mark.parametrize("split_block", [SPLIT_BLOCK, None])
def test_fit_with_a_partial_projection_cache_equals_the_numpy_fit(monkeypatch, split_block):
    # the projections of only part of the rows fit: rounds select on them, a final pass fits;
    # split_block None: the real SPLIT_BLOCK, one split block cut by every chunk
    monkeypatch.setattr(rounds, "ORACLE_CACHE_BYTES", 2**16)
    if split_block is not None:
        monkeypatch.setattr(split, "SPLIT_BLOCK", split_block)
    _, X, y = data(n=20_000, d=4, k=2, seed=3)
    reference = MomentReLURegressor(n_neurons=2, random_state=0).fit(X, y)
    model = MomentReLURegressor(n_neurons=2, random_state=0).fit(da.from_array(X, chunks=(3000, 4)),
                                                                 da.from_array(y, chunks=3000))
    assert_same_fit(model, reference, X)


def misaligned(block):
    """A copy of ``block`` whose buffer is not aligned to its dtype, as a block received from another
    worker may be."""
    raw = np.empty(block.nbytes + 1, dtype=np.uint8)
    copy = np.frombuffer(raw.data, dtype=block.dtype, count=block.size, offset=1).reshape(block.shape)
    copy[...] = block
    assert not copy.flags.aligned
    return copy


@pytest.mark.parametrize("x_factor", [1.0, 3.0])
def test_fit_does_not_depend_on_the_alignment_of_the_blocks(x_factor):
    # numpy's matmul skips BLAS on unaligned data (other roundings): the whitening sums and the
    # whitened blocks must not see it, or a fit on a cluster would differ from the same fit here
    _, X, y = data(n=12_000)
    Xd, yd = da.from_array(X * x_factor, chunks=(2300, 6)), da.from_array(y, chunks=2300)
    aligned = MomentReLURegressor(n_neurons=2, whiten=True, random_state=0).fit(Xd, yd)
    unaligned = MomentReLURegressor(n_neurons=2, whiten=True, random_state=0).fit(Xd.map_blocks(misaligned),
                                                                                 yd.map_blocks(misaligned))
    assert np.array_equal(unaligned.network_.to_vector(), aligned.network_.to_vector())


@pytest.mark.parametrize("x_dtype, y_dtype", [(np.int8, np.float64), (np.float32, np.int64)])
def test_fit_on_other_dtypes_equals_the_numpy_fit(x_dtype, y_dtype):
    # converted to float64 as a NumPy fit converts them (int8 squares would overflow)
    _, X, y = data(n=12_000)
    X = np.clip(np.round(X * 20), -127, 127).astype(x_dtype)
    y = np.round(y * 100).astype(y_dtype)
    reference = MomentReLURegressor(n_neurons=2, random_state=0).fit(X, y)
    model = MomentReLURegressor(n_neurons=2, random_state=0).fit(da.from_array(X, chunks=(2300, 6)),
                                                                 da.from_array(y, chunks=2300))
    assert model.scaling_["x_scale"] == pytest.approx(reference.scaling_["x_scale"], rel=1e-12)
    expected = reference.predict(X.astype(np.float64))
    got = model.predict(X.astype(np.float64))
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
    model = MomentReLURegressor(n_neurons=2, random_state=0, settings={"refine_method": "lm",
                                                                       "refine_max_samples": 3000})
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
    Xd, yd = da.from_array(X, chunks=(1000, 6)), da.from_array(y, chunks=1000)
    # fit refuses it while standardising (tests/test_dask_conditioning.py); the source on its own
    # refuses it in its first pass, naming the block
    with pytest.raises(ValueError, match="^X has non-finite values"):
        MomentReLURegressor(n_neurons=2).fit(Xd, yd)
    with pytest.raises(ValueError, match="non-finite values in block 2"):
        linear_pass(DaskArraySource(Xd, yd, 300, np.random.SeedSequence(0)))


def test_oracle_source_blocks_are_replayable_and_hold_out_their_first_rows():
    teacher = Teacher.random(n_features=4, n_neurons=1, random_state=0)
    source = DaskOracleSource(teacher, 2500, 4, 1000, 500, np.random.SeedSequence(3))
    assert source.lengths == [1000, 1000, 500] and source.held_counts == [200, 200, 100]
    a, b = linear_pass(source), linear_pass(source)
    assert np.array_equal(a.mean_yx, b.mean_yx) and a.n_train == 2000 and source.n_passes == 2
