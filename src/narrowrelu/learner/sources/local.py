"""The sources of a fit in this process: in-memory arrays and an oracle queried on Gaussian
inputs drawn chunk by chunk (the :class:`~narrowrelu.learner.sources.Source` protocol).

Each pass is a loop over :meth:`LocalSource.chunks` on the caller's thread. An oracle source
regenerates its Gaussian inputs from a fixed seed at each pass and queries the oracle again;
memory stays bounded by the chunk size whatever the sample count.
"""

import numpy as np

from ..._validation import check_finite_array
from ...conditioning.standard_units import check_numeric, check_outliers
from .projection_cache import ProjectionCache


class LocalSource:
    """What the local sources share: a pass is a loop over :meth:`chunks`, the projections of a
    round are kept in a :class:`~narrowrelu.learner.sources.projection_cache.ProjectionCache`."""

    data_bytes = 0

    @property
    def n_train(self):
        return self.n_samples - self.n_validation

    def fold(self, acc, fn, progress=None, cache=None):
        """``fn(acc, X, y, held_out[, cache.add])`` on every chunk of one pass, in order, or until
        ``acc.full`` (an accumulator of the first rows only: an oracle's later chunks are then
        neither drawn nor queried); returns ``acc``."""
        extra = () if cache is None else (cache.add,)
        for X, y, held in self.chunks():
            fn(acc, X, y, held, *extra)
            if progress is not None:
                progress.update(1)
            if getattr(acc, "full", False):
                break
        return acc

    def projection_cache(self, max_train, max_validation, max_width):
        return ProjectionCache(max_train, max_validation, max_width)

    def rows_in_memory(self):
        return None


class ArraySource(LocalSource):
    """Blocks of in-memory data (views, no copy) with a fixed held-out subset of rows."""

    def __init__(self, X, y, validation_mask, chunk_size):
        self.X, self.y = X, y
        self.held_out = np.asarray(validation_mask, dtype=bool)
        self.chunk_size = chunk_size
        self.n_validation = int(self.held_out.sum())
        self.n_passes = 0
        # (limit, X, y) of the last first_training_rows
        self._training_rows = None
        self._scratch = None

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    @property
    def data_bytes(self):
        """Memory the data take (the projection cache may take up to half as much)."""
        return self.X.nbytes

    def rows_in_memory(self):
        return self.X, self.y

    def row_buffers(self, width, count):
        """``count`` float64 scratch arrays of shape ``(n_samples, width)``, views of one
        allocation this source keeps and hands out again to later calls (fresh pages are slow to
        fault in): their contents last until the next call."""
        step = self.n_samples * width
        if self._scratch is None or self._scratch.size < count * step:
            self._scratch = np.empty(count * step)
        return [self._scratch[i * step:(i + 1) * step].reshape(self.n_samples, width) for i in range(count)]

    def first_training_rows(self, limit, progress=None):
        """The first ``limit`` rows not held out, as arrays ``(X, y)``: one copy of them (counted
        as a pass), kept until another ``limit`` is asked, so that the two models of a paired test
        fitted on the same rows share it (read-only: callers never modify their inputs). A pass
        that gathers them block by block and joins the blocks copies them twice, and each copy of
        40 000 rows of d = 200 took 5 ``X.T @ X`` of the whole array here (memory first touched)."""
        kept = self._training_rows
        if kept is not None and kept[0] == limit:
            return kept[1], kept[2]
        rows = np.flatnonzero(~self.held_out)[:limit]
        self.n_passes += 1
        if progress is not None:
            progress.update(self.n_chunks())
        X, y = self.X.take(rows, axis=0), self.y.take(rows)
        X.flags.writeable = y.flags.writeable = False
        self._training_rows = (limit, X, y)
        return X, y

    def head(self, m, into_memory=True):
        """The first ``m`` rows (views), none held out."""
        return ArraySource(self.X[:m], self.y[:m], np.zeros(m, dtype=bool), self.chunk_size)

    def chunks(self):
        self.n_passes += 1
        for s in range(0, self.n_samples, self.chunk_size):
            e = min(s + self.chunk_size, self.n_samples)
            yield self.X[s:e], self.y[s:e], self.held_out[s:e]

    def n_chunks(self):
        return max(1, -(-self.n_samples // self.chunk_size))


class OracleSource(LocalSource):
    """Gaussian inputs drawn from ``seed`` in chunks, labelled by ``oracle(X)``.

    Parameters
    ----------
    oracle : callable
        ``oracle(X) -> y`` for ``X`` of shape ``(m, n_features)``; must return ``m`` finite values.
    n_samples, n_features, chunk_size : int
    validation_fraction : float
    seed : numpy.random.SeedSequence
        Spawns the input stream, replayed identically at each pass. The first
        ``validation_fraction`` of each chunk's rows are held out (the inputs are i.i.d.).
    refine_seed : numpy.random.SeedSequence, optional
        Draws the inputs of :meth:`head`.
    """

    def __init__(self, oracle, n_samples, n_features, chunk_size, validation_fraction, seed, refine_seed=None):
        self.oracle = oracle
        self.n_samples = n_samples
        self.n_features = n_features
        self.chunk_size = chunk_size
        self.validation_fraction = validation_fraction
        # spawn once: SeedSequence.spawn is stateful, and every pass must replay the same stream
        (self._seed_x,) = seed.spawn(1)
        self.refine_seed = refine_seed
        self.n_validation = sum(self._held_out_count(m) for m in self._chunk_lengths())
        self.n_passes = 0

    def _chunk_lengths(self):
        full, last = divmod(self.n_samples, self.chunk_size)
        return [self.chunk_size] * full + ([last] if last else [])

    def _held_out_count(self, m):
        return int(round(self.validation_fraction * m))

    def chunks(self):
        self.n_passes += 1
        rng_x = np.random.default_rng(self._seed_x)
        for m in self._chunk_lengths():
            X = rng_x.standard_normal((m, self.n_features))
            held_out = np.zeros(m, dtype=bool)
            held_out[: self._held_out_count(m)] = True
            yield X, self.query(X), held_out

    def query(self, X):
        return query_oracle(self.oracle, X)

    def n_chunks(self):
        return len(self._chunk_lengths())

    def head(self, m, into_memory=True):
        """A fresh draw of ``m`` inputs from ``refine_seed``, labelled by the oracle (:func:`fresh_draw`)."""
        return fresh_draw(self.query, m, self.n_features, self.chunk_size, self.refine_seed)


def fresh_draw(query, m, n_features, chunk_size, seed):
    """An :class:`ArraySource` of ``m`` fresh Gaussian inputs from ``seed``, labelled by ``query``
    chunk by chunk, none held out (the rows an oracle fit's dense refinement holds in memory)."""
    X = np.random.default_rng(seed).standard_normal((m, n_features))
    y = np.concatenate([query(X[s:s + chunk_size]) for s in range(0, m, chunk_size)])
    return ArraySource(X, y, np.zeros(m, dtype=bool), chunk_size)


def query_oracle(oracle, X):
    """``oracle(X)`` as a finite float vector of ``X.shape[0]`` values, or a ``ValueError`` saying why
    not: an exception of the oracle, a wrong shape, complex or non-numeric values, NaN or infinity,
    or a value more than :data:`narrowrelu.conditioning.OUTLIER_FACTOR` robust standard deviations
    from the chunk's median (a corrupted output)."""
    try:
        y = oracle(X)
    except Exception as exc:
        raise ValueError(f"the oracle failed on a chunk of shape {X.shape}: {exc}") from exc
    y = np.asarray(y)
    if y.shape not in ((X.shape[0],), (X.shape[0], 1)):
        raise ValueError(f"the oracle returned shape {y.shape} for {X.shape[0]} inputs; expected ({X.shape[0]},)")
    check_numeric(y, f"the oracle's output (on a chunk of {X.shape[0]} rows)")
    y = check_finite_array(y.reshape(-1), "the oracle's output")
    check_outliers(y, f"the oracle's output (on a chunk of {X.shape[0]} rows)")
    return y


class ScaledOracle:
    """``(oracle(X) - shift) / scale``, the oracle in the standard units a fit runs in (picklable
    when ``oracle`` is)."""

    def __init__(self, oracle, scale, shift=0.0):
        self.oracle, self.scale, self.shift = oracle, scale, shift

    def __call__(self, X):
        y = query_oracle(self.oracle, X)
        return (y - self.shift) / self.scale if self.shift else y / self.scale
