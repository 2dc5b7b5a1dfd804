"""Where the rows of a fit come from: replayable streams of row blocks, each with a mask of its
held-out rows.

Every stage of the moment learner is a pass over a source. A source yields the same blocks at
every pass, so in-memory data, an oracle and a dask cluster run the same stages. Each block is
``(X, y, held_out)``: contiguous rows, their targets and a boolean mask of the rows kept out of
training. No stage copies rows to separate them: the training sums weight the held-out rows by
zero.

A pass is a *fold*: ``source.fold(acc, fn)`` calls ``fn(acc, X, y, held_out)`` on every block
in order, ``fn`` adding the block's sums into the accumulator ``acc``. A local source
(:mod:`~narrowrelu.learner.sources.local`) runs it as a loop on the caller's thread; a dask
source (:mod:`narrowrelu.learner.dask.sources`) runs ``fn`` where each block lives, on a fresh
copy of ``acc``, and merges the copies with ``acc.merge``. A pass that also keeps per-row
projections passes a ``cache`` made by ``source.projection_cache``; ``fn`` then gets a fifth
argument, ``keep(Z, y, held_out)``, that stores rows in it.

- :mod:`~narrowrelu.learner.sources.local`: :class:`ArraySource`, :class:`OracleSource`;
- :mod:`~narrowrelu.learner.sources.held_out`: the held-out split, block by block;
- :mod:`~narrowrelu.learner.sources.projection_cache`: the projections a round keeps.
"""

from typing import Protocol, runtime_checkable

from .local import ArraySource, LocalSource, OracleSource, fresh_draw, query_oracle


@runtime_checkable
class Source(Protocol):
    """The interface every stage reads rows through.

    Attributes
    ----------
    n_samples, n_features, n_validation, n_train : int
        Rows, columns, held-out rows, training rows.
    n_passes : int
        Passes made so far (each call of :meth:`fold` is one).
    data_bytes : int
        Memory the rows take where they live, 0 when they are generated at each pass; a round
        may keep projections of up to half as much.
    """

    n_samples: int
    n_features: int
    n_validation: int
    n_passes: int
    data_bytes: int

    @property
    def n_train(self) -> int: ...

    def n_chunks(self) -> int:
        """Blocks per pass (the progress bar's unit)."""

    def fold(self, acc, fn, progress=None, cache=None):
        """One pass: ``fn(acc, X, y, held_out[, keep])`` over every block, merged in a fixed order
        (a local source may stop once ``acc.full`` is true)."""

    def projection_cache(self, max_train, max_validation, max_width):
        """Buffers where a pass with ``cache`` keeps the projections of the first rows."""

    def rows_in_memory(self):
        """``(X, y)`` when every row is a NumPy array in this process (the dense refinements
        need them), else ``None``. Such a source (an :class:`ArraySource`) also lends scratch
        rows, ``row_buffers(width, count)``, which the Gauss–Newton passes keep projections in."""

    def head(self, m, into_memory=True):
        """The source the refinement runs on when it takes ``m`` rows
        (:func:`~narrowrelu.learner.settings.refinement_rows`): the first ``m`` rows, or for an
        oracle a fresh draw of ``m``; in memory when ``into_memory``."""


__all__ = ["ArraySource", "LocalSource", "OracleSource", "Source", "fresh_draw", "query_oracle"]
