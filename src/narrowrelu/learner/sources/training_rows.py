"""The training rows of a source as arrays, up to a count (one pass): for the fits that need rows in
memory and must not see the held-out ones (the models the search for k compares)."""

import numpy as np

from .local import ArraySource


class _TrainingRows:
    """The training rows of a pass, up to ``limit`` of them (an accumulator for ``source.fold``)."""

    def __init__(self, limit):
        self.limit, self.X, self.y, self.n = limit, [], [], 0

    def add(self, X, y):
        take = min(self.limit - self.n, X.shape[0])
        if take > 0:
            self.X.append(X[:take])
            self.y.append(y[:take])
            self.n += take

    @property
    def full(self):
        return self.n >= self.limit

    def merge(self, other):
        for X, y in zip(other.X, other.y):
            self.add(X, y)
        return self


def training_rows(source, limit, progress=None):
    """The first ``limit`` training rows of ``source`` as arrays ``(X, y)`` (one pass; of rows in
    memory, :meth:`~narrowrelu.learner.sources.local.ArraySource.first_training_rows`: one copy)."""
    if isinstance(source, ArraySource):
        return source.first_training_rows(limit, progress)
    acc = source.fold(_TrainingRows(limit), _add_training_rows, progress)
    return np.concatenate(acc.X), np.concatenate(acc.y)


def _add_training_rows(acc, X, y, held):
    if not acc.full:
        acc.add(X[~held], y[~held])
