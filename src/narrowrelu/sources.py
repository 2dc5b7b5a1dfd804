"""Replayable streams of row blocks, each split into training and held-out rows.

Every stage of the moment learner is a pass over a source. A source yields the same blocks at
every pass, so in-memory data and oracle mode run the same code. Each block is
``(X_train, y_train, X_validation, y_validation)``, all C-contiguous views: no stage copies
rows to separate them. An oracle source regenerates its Gaussian inputs from a fixed seed at
each pass (sampling is cheap next to the moment work) and queries the oracle again; memory
stays bounded by the chunk size whatever the sample count.
"""

import numpy as np

from ._validation import check_finite_array


class ArraySource:
    """Blocks of in-memory data with a fixed held-out subset of rows.

    The training and held-out rows are gathered once into two arrays (one copy of the data),
    so that every later pass reads contiguous views.
    """

    def __init__(self, X, y, validation_mask, chunk_size):
        train, validation = np.flatnonzero(~validation_mask), np.flatnonzero(validation_mask)
        # np.take with indices gathers rows ten times faster than boolean indexing
        self.X_train, self.y_train = np.take(X, train, axis=0), np.take(y, train)
        self.X_validation, self.y_validation = np.take(X, validation, axis=0), np.take(y, validation)
        self.chunk_size = chunk_size
        self.n_passes = 0

    @property
    def n_samples(self):
        return self.X_train.shape[0] + self.X_validation.shape[0]

    @property
    def n_features(self):
        return self.X_train.shape[1]

    def chunks(self):
        self.n_passes += 1
        n_blocks = self.n_chunks()
        t_edges = np.linspace(0, self.X_train.shape[0], n_blocks + 1).astype(int)
        v_edges = np.linspace(0, self.X_validation.shape[0], n_blocks + 1).astype(int)
        for b in range(n_blocks):
            t, v = slice(t_edges[b], t_edges[b + 1]), slice(v_edges[b], v_edges[b + 1])
            yield self.X_train[t], self.y_train[t], self.X_validation[v], self.y_validation[v]

    def n_chunks(self):
        return max(1, -(-self.n_samples // self.chunk_size))


class OracleSource:
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
        self.n_passes = 0

    def chunks(self):
        self.n_passes += 1
        rng_x = np.random.default_rng(self._seed_x)
        for s in range(0, self.n_samples, self.chunk_size):
            m = min(self.chunk_size, self.n_samples - s)
            X = rng_x.standard_normal((m, self.n_features))
            y = self.query(X)
            v = int(round(self.validation_fraction * m))
            yield X[v:], y[v:], X[:v], y[:v]

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
