"""Replayable streams of (X, y, validation mask) chunks: from arrays, or from an oracle.

Every stage of the moment learner is a pass over a source. A source yields the same chunks at
every pass, so in-memory data and oracle mode run the same code. An oracle source regenerates its
Gaussian inputs from a fixed seed at each pass (sampling is cheap next to the moment work) and
queries the oracle again; memory stays bounded by the chunk size whatever the sample count.
"""

import numpy as np

from ._validation import check_finite_array


class ArraySource:
    """Chunks of in-memory data ``X``, ``y`` with a fixed held-out mask."""

    def __init__(self, X, y, validation_mask, chunk_size):
        self.X = X
        self.y = y
        self.validation_mask = validation_mask
        self.chunk_size = chunk_size
        self.n_passes = 0

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    def chunks(self):
        self.n_passes += 1
        for s in range(0, self.n_samples, self.chunk_size):
            e = s + self.chunk_size
            yield self.X[s:e], self.y[s:e], self.validation_mask[s:e]

    def n_chunks(self):
        return -(-self.n_samples // self.chunk_size)


class OracleSource:
    """Gaussian inputs drawn from ``seed`` in chunks, labelled by ``oracle(X)``.

    Parameters
    ----------
    oracle : callable
        ``oracle(X) -> y`` for ``X`` of shape ``(m, n_features)``; must return ``m`` finite values.
    n_samples, n_features, chunk_size : int
    validation_fraction : float
    seed : numpy.random.SeedSequence
        Spawns the input stream and the held-out mask stream; replayed identically at each pass.
    """

    def __init__(self, oracle, n_samples, n_features, chunk_size, validation_fraction, seed):
        self.oracle = oracle
        self.n_samples = n_samples
        self.n_features = n_features
        self.chunk_size = chunk_size
        self.validation_fraction = validation_fraction
        # spawn once: SeedSequence.spawn is stateful, and every pass must replay the same stream
        self._seed_x, self._seed_mask = seed.spawn(2)
        self.n_passes = 0

    def chunks(self):
        self.n_passes += 1
        rng_x = np.random.default_rng(self._seed_x)
        rng_mask = np.random.default_rng(self._seed_mask)
        for s in range(0, self.n_samples, self.chunk_size):
            m = min(self.chunk_size, self.n_samples - s)
            X = rng_x.standard_normal((m, self.n_features))
            y = self.query(X)
            yield X, y, rng_mask.random(m) < self.validation_fraction

    def query(self, X):
        try:
            y = self.oracle(X)
        except Exception as exc:
            raise ValueError(f"the oracle failed on a chunk of shape {X.shape}: {exc}") from exc
        y = np.asarray(y)
        if y.shape not in ((X.shape[0],), (X.shape[0], 1)):
            raise ValueError(f"the oracle returned shape {y.shape} for {X.shape[0]} inputs; expected ({X.shape[0]},)")
        y = check_finite_array(y.reshape(-1), "the oracle's output")
        return y

    def n_chunks(self):
        return -(-self.n_samples // self.chunk_size)
