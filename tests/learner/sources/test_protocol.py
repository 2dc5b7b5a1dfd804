"""One conformance suite run over every source (narrowrelu.learner.sources.Source): in-memory
arrays, an oracle, a dask array and a dask oracle. Each is a Source, a pass (``fold``) visits every
row once in a fixed order with its held-out mask, ``head`` gives the refinement's rows, and the
declared capabilities (``data_bytes``, ``rows_in_memory``, ``projection_cache``) hold."""

import numpy as np
import pytest

from narrowrelu import Teacher
from narrowrelu.learner.sources import ArraySource, OracleSource, Source
from narrowrelu.learner.sources.held_out import held_out_mask

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

N, D, CHUNK = 2300, 4, 700
TEACHER = Teacher.random(n_features=D, n_neurons=2, random_state=0)


def array_source():
    X, y = TEACHER.sample(N, random_state=1)
    seed = np.random.SeedSequence(3)
    return ArraySource(X, y, held_out_mask(seed, N, 400), CHUNK)


def oracle_source():
    return OracleSource(TEACHER, N, D, CHUNK, 0.2, np.random.SeedSequence(3), np.random.SeedSequence(4))


def dask_array_source():
    from narrowrelu.learner.dask.sources import DaskArraySource

    X, y = TEACHER.sample(N, random_state=1)
    return DaskArraySource(da.from_array(X, chunks=(CHUNK, D)), da.from_array(y, chunks=CHUNK), 400,
                           np.random.SeedSequence(3), CHUNK)


def dask_oracle_source():
    from narrowrelu.learner.dask.sources import DaskOracleSource

    return DaskOracleSource(TEACHER, N, D, CHUNK, 400, np.random.SeedSequence(3), np.random.SeedSequence(4))


SOURCES = {"array": array_source, "oracle": oracle_source, "dask array": dask_array_source,
           "dask oracle": dask_oracle_source}


class RowSums:
    """An accumulator of a pass: row counts, sums of y and of X over training and held-out rows."""

    def __init__(self):
        self.rows = np.zeros(2)
        self.y = np.zeros(2)
        self.X = np.zeros((2, D))

    def merge(self, other):
        for name in ("rows", "y", "X"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


def add_block(acc, X, y, held):
    for part, rows in enumerate((~held, held)):
        acc.rows[part] += rows.sum()
        acc.y[part] += y[rows].sum()
        acc.X[part] += X[rows].sum(axis=0)


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="sync"):
        yield


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
def test_every_source_is_a_source(make):
    source = make()
    assert isinstance(source, Source)
    assert (source.n_samples, source.n_features) == (N, D)
    assert source.n_train + source.n_validation == N and 0 < source.n_validation < N
    assert source.n_chunks() == -(-N // CHUNK)
    assert source.data_bytes >= 0


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
def test_a_pass_visits_every_row_once_with_its_mask(make):
    source = make()
    first = source.fold(RowSums(), add_block)
    second = source.fold(RowSums(), add_block)
    assert source.n_passes == 2
    assert first.rows.tolist() == [source.n_train, source.n_validation]
    np.testing.assert_array_equal(first.y, second.y)  # replayed identically
    np.testing.assert_array_equal(first.X, second.X)
    mean_x = first.X.sum(axis=0) / N
    assert np.all(np.abs(mean_x) < 5 / np.sqrt(N))  # Gaussian rows: 5 standard errors


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
def test_head_gives_the_refinements_rows(make):
    source = make()
    m = 1000
    for into_memory in (False, True):
        head = source.head(m, into_memory=into_memory)
        assert isinstance(head, Source)
        assert (head.n_samples, head.n_features, head.n_validation) == (m, D, 0)
        if into_memory:
            X, y = head.rows_in_memory()
            assert X.shape == (m, D) and X.flags.c_contiguous
            np.testing.assert_allclose(y, TEACHER(X))
        sums = head.fold(RowSums(), add_block)
        assert sums.rows.tolist() == [m, 0]


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
def test_declared_capabilities(make):
    source = make()
    rows = source.rows_in_memory()
    if isinstance(source, ArraySource):
        assert rows[0].shape == (N, D) and source.data_bytes == rows[0].nbytes
    else:
        assert rows is None
    cache = source.projection_cache(100, 50, 3)
    assert callable(getattr(cache, "statistics", None))
