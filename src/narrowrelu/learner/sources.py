"""Replayable streams of row blocks, each with a mask of its held-out rows.

Every stage of the moment learner is a pass over a source. A source yields the same blocks at
every pass, so in-memory data and oracle mode run the same code. Each block is
``(X, y, held_out)``: contiguous rows, their targets and a boolean mask of the rows kept out of
training. No stage copies rows to separate them: the training sums weight the held-out rows by
zero. An oracle source regenerates its Gaussian inputs from a fixed seed at each pass and
queries the oracle again; memory stays bounded by the chunk size whatever the sample count.

A pass is a *fold*: ``source.fold(acc, fn)`` calls ``fn(acc, X, y, held_out)`` on every block in
order, ``fn`` adding the block's sums into the accumulator ``acc``. The sources here run it as a
loop on the caller's thread; a dask source (:mod:`narrowrelu.learner.dask_source`) runs ``fn``
where each block lives, on a fresh copy of ``acc``, and merges the copies with ``acc.merge``.
A pass that also keeps per-row projections passes a ``cache``; ``fn`` then gets a fifth argument,
``keep(Z, y, held_out)``, that stores rows in it.
"""

import numpy as np

from .._validation import check_finite_array
from ..conditioning import check_numeric, check_outliers


def fold(source, acc, fn, progress=None, cache=None):
    """``source.fold(acc, fn, progress, cache)`` when the source has its own; otherwise the loop over
    ``source.chunks()`` (any replayable source)."""
    own = getattr(source, "fold", None)
    if own is not None:
        return own(acc, fn, progress, cache)
    return fold_chunks(source, acc, fn, progress, cache)


def fold_chunks(source, acc, fn, progress=None, cache=None):
    """``fn(acc, X, y, held_out[, cache.add])`` on every chunk of one pass, in order; returns ``acc``."""
    extra = () if cache is None else (cache.add,)
    for X, y, held in source.chunks():
        fn(acc, X, y, held, *extra)
        if progress is not None:
            progress.update(1)
    return acc


class _LocalFold:
    """A pass is a loop over :meth:`chunks` on the caller's thread."""

    def fold(self, acc, fn, progress=None, cache=None):
        return fold_chunks(self, acc, fn, progress, cache)


class ArraySource(_LocalFold):
    """Blocks of in-memory data (views, no copy) with a fixed held-out subset of rows."""

    def __init__(self, X, y, validation_mask, chunk_size):
        self.X, self.y = X, y
        self.held_out = np.asarray(validation_mask, dtype=bool)
        self.chunk_size = chunk_size
        self.n_validation = int(self.held_out.sum())
        self.n_passes = 0

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    @property
    def n_train(self):
        return self.n_samples - self.n_validation

    @property
    def data_bytes(self):
        """Memory the data take (the projection cache may take up to half as much)."""
        return self.X.nbytes

    def chunks(self):
        self.n_passes += 1
        for s in range(0, self.n_samples, self.chunk_size):
            e = min(s + self.chunk_size, self.n_samples)
            yield self.X[s:e], self.y[s:e], self.held_out[s:e]

    def n_chunks(self):
        return max(1, -(-self.n_samples // self.chunk_size))


class OracleSource(_LocalFold):
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
    """

    def __init__(self, oracle, n_samples, n_features, chunk_size, validation_fraction, seed):
        self.oracle = oracle
        self.n_samples = n_samples
        self.n_features = n_features
        self.chunk_size = chunk_size
        self.validation_fraction = validation_fraction
        # spawn once: SeedSequence.spawn is stateful, and every pass must replay the same stream
        (self._seed_x,) = seed.spawn(1)
        self.n_validation = sum(self._held_out_count(m) for m in self._chunk_lengths())
        self.n_passes = 0

    @property
    def n_train(self):
        return self.n_samples - self.n_validation

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
