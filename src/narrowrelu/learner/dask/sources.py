"""Sources whose row blocks live on a dask cluster: each pass is a tree reduction of per-block sums.

A pass of the moment learner is ``source.fold(acc, fn)`` (:class:`narrowrelu.learner.sources.Source`):
``fn(acc, X, y, held_out)`` adds one block's sums into the accumulator ``acc``. Here each block
is one task, run where the block lives, on a fresh copy of ``acc`` (it starts at zero); the
partial accumulators are merged (``acc.merge``) in a tree of fixed shape, ``MERGE_FAN_IN``
blocks at a time in block order, and only the root, :math:`O(d^2)` numbers at most, comes back
to the client. The tree depends on the blocks alone, never on the workers or on the order in
which tasks finish, so a fit is bit-identical on any scheduler and any number of workers. The
graph runs on the active ``distributed.Client``, or on dask's default scheduler when there is none.

Two sources:

* :class:`DaskArraySource`: the blocks of a dask array (all columns in one chunk); each task
  rebuilds the held-out mask of its rows (:mod:`narrowrelu.learner.sources.held_out`: the split of a NumPy
  fit of the same rows and ``random_state``), so the split never needs the whole array.
* :class:`DaskOracleSource`: block ``b`` draws its Gaussian inputs from a seed derived from the
  fit's seed and ``b`` and queries the oracle in the task; its first rows are held out (the
  inputs are i.i.d.).

The projection pass keeps the projections of the first rows (up to the cache's capacity, as
:class:`narrowrelu.learner.sources.projection_cache.ProjectionCache` does) on the workers, persisted,
one piece per block; :class:`DaskProjectionCache` computes the output regression's Gram
statistics from them as a further tree reduction. A lost worker's blocks (and stored pieces)
are recomputed by dask from their lineage.
"""

import copy
import itertools
import uuid
from abc import ABC, abstractmethod

import numpy as np

from ..._parallel import one_blas_thread
from ..sources.held_out import block_seed, held_out_count, held_out_mask, split_counts
from ..sources.local import ArraySource, fresh_draw, query_oracle
from ..sources.projection_cache import STORAGE_DTYPE

# partial sums merged per task of the reduction tree
MERGE_FAN_IN = 8

def tree_merge(items, fan_in=MERGE_FAN_IN):
    """A delayed merge of ``items`` (delayed accumulators) in a tree of fixed shape, in order."""
    from dask import delayed

    level = list(items)
    while len(level) > 1:
        level = [delayed(_merged, pure=False)(*level[i:i + fan_in]) for i in range(0, len(level), fan_in)]
    return level[0]


def _merged(*accs):
    out = copy.deepcopy(accs[0])
    for acc in accs[1:]:
        out.merge(acc)
    return out


class _Pass:
    """What every task of one pass shares (one key of the graph): the empty accumulator, the
    block function, whether the pass keeps rows, and the source's own context (the oracle)."""

    def __init__(self, acc, fn, keeps, context=None):
        self.acc, self.fn, self.keeps, self.context = acc, fn, keeps, context

    def run(self, X, y, held, store):
        """``fn`` on a copy of the accumulator; with ``store``, ``(acc, kept rows)``."""
        with one_blas_thread():
            acc = copy.deepcopy(self.acc)
            if not self.keeps:
                self.fn(acc, X, y, held)
                return acc
            if store is None:
                self.fn(acc, X, y, held, _discard)
                return acc
            keeper = _BlockStore(*store)
            self.fn(acc, X, y, held, keeper.keep)
            return acc, keeper.result()


def _discard(Z, y, held_out):
    """The ``keep`` of a block whose rows the cache has no room for."""


class _BlockStore:
    """The rows one block keeps for the projection cache: its first ``take_train`` training and
    ``take_validation`` held-out rows, in single precision."""

    def __init__(self, take_train, take_validation, width):
        self.take = {"train": take_train, "validation": take_validation}
        self.Z = {name: np.empty((t, width), dtype=STORAGE_DTYPE) for name, t in self.take.items()}
        self.y = {name: np.empty(t) for name, t in self.take.items()}
        self.fill = {"train": 0, "validation": 0}

    def keep(self, Z, y, held_out):
        for name, rows in (("train", ~held_out), ("validation", held_out)):
            start = self.fill[name]
            idx = np.flatnonzero(rows)[: self.take[name] - start]
            if idx.size:
                self.Z[name][start:start + idx.size] = Z[idx]
                self.y[name][start:start + idx.size] = y[idx]
                self.fill[name] = start + idx.size

    def result(self):
        return {name: (self.Z[name][: self.fill[name]], self.y[name][: self.fill[name]]) for name in self.Z}


def _part_statistics(part, name, fn, start, stride):
    Z, y = part[name]
    with one_blas_thread():
        return fn(Z[start::stride], y[start::stride])


class DaskProjectionCache:
    """The projection cache of a dask source: the same capacity and the same rows as
    :class:`~narrowrelu.learner.sources.projection_cache.ProjectionCache` (the first ``max_train``
    training and ``max_validation`` held-out rows of the pass), kept on the workers."""

    def __init__(self, max_train, max_validation, max_width):
        self._capacity = {"train": max_train, "validation": max_validation}
        self.max_width = max_width
        self.width = 0
        self.complete = True
        self._parts = []
        self._fill = {"train": 0, "validation": 0}

    def start(self, width):
        """Forget the stored rows; the next pass stores ``width`` columns."""
        if width > self.max_width:
            raise ValueError(f"internal error: projection width {width} exceeds the cache's {self.max_width}")
        self.width = width
        self._parts = []
        self._fill = {"train": 0, "validation": 0}
        self.complete = True

    def plan(self, train_counts, validation_counts):
        """Per block, ``(take_train, take_validation, width)`` (``None`` for a block that keeps
        nothing) and, per block that keeps rows, the offsets of its rows among the stored ones."""
        plans, offsets = [], []
        fill = {"train": 0, "validation": 0}
        for counts in zip(train_counts, validation_counts):
            takes = {}
            for name, c in zip(("train", "validation"), counts):
                takes[name] = min(c, self._capacity[name] - fill[name])
                self.complete &= takes[name] == c
            if takes["train"] or takes["validation"]:
                plans.append((takes["train"], takes["validation"], self.width))
                offsets.append((dict(fill), takes))
            else:
                plans.append(None)
            for name in fill:
                fill[name] += takes[name]
        self._fill = fill
        return plans, offsets

    def keep(self, parts, offsets):
        """Hold the persisted pieces (one per block that keeps rows) and their offsets."""
        self._parts = list(zip(parts, offsets))

    def statistics(self, name, fn, max_rows=None):
        """``fn(Z, y)`` summed over the stored ``name`` rows (every ``s``-th of them as
        :meth:`ProjectionCache.statistics <narrowrelu.learner.sources.projection_cache.ProjectionCache.statistics>`
        picks them); ``fn`` returns a mergeable accumulator."""
        import dask
        from dask import delayed

        total = self._fill[name]
        stride = -(-total // max_rows) if max_rows is not None and total > max_rows else 1
        leaves = []
        for part, (fill, takes) in self._parts:
            start = (-fill[name]) % stride
            if start < takes[name]:
                leaves.append(delayed(_part_statistics, pure=False)(part, name, fn, start, stride))
        if not leaves:
            return fn(np.empty((0, self.width), dtype=STORAGE_DTYPE), np.empty(0))
        (stats,) = dask.compute(tree_merge(leaves))
        return stats


class DaskSource(ABC):
    """What the dask sources share: blocks of known lengths with known held-out counts, and
    :meth:`fold`, which runs a pass as a tree reduction."""

    data_bytes = 0

    def __init__(self, n_features, lengths, held_counts, seed):
        self.n_features = n_features
        self.lengths = [int(m) for m in lengths]
        self.held_counts = [int(h) for h in held_counts]
        self.seed = seed
        self.n_samples = sum(self.lengths)
        self.n_validation = sum(self.held_counts)
        self.n_passes = 0

    @property
    def n_train(self):
        return self.n_samples - self.n_validation

    def n_chunks(self):
        return len(self.lengths)

    def projection_cache(self, max_train, max_validation, max_width):
        return DaskProjectionCache(max_train, max_validation, max_width)

    def rows_in_memory(self):
        return None

    @abstractmethod
    def _leaf(self, shared, b, store):
        """The delayed task of block ``b``: its rows, ``shared`` work on them, its cache share."""

    def _context(self):
        return None

    def fold(self, acc, fn, progress=None, cache=None):
        """One pass: ``fn`` on a fresh copy of ``acc`` for every block, where the block lives,
        the copies merged in a fixed tree; returns the merged accumulator."""
        import dask
        from dask import delayed

        self.n_passes += 1
        shared = delayed(_Pass(acc, fn, cache is not None, self._context()), name=f"narrowrelu-pass-{uuid.uuid4().hex}")
        if cache is None:
            leaves = [self._leaf(shared, b, None) for b in range(self.n_chunks())]
            (result,) = dask.compute(tree_merge(leaves))
        else:
            train = [m - h for m, h in zip(self.lengths, self.held_counts)]
            plans, offsets = cache.plan(train, self.held_counts)
            leaves = [self._leaf(shared, b, plan) for b, plan in enumerate(plans)]
            accs = [leaf if plan is None else leaf[0] for leaf, plan in zip(leaves, plans)]
            parts = [leaf[1] for leaf, plan in zip(leaves, plans) if plan is not None]
            root, *parts = dask.persist(tree_merge(accs), *parts)
            cache.keep(parts, offsets)
            (result,) = dask.compute(root)
        if progress is not None:
            progress.update(self.n_chunks())
        return result


def _array_block(shared, X, y, split, b, start, store, check):
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
    if check and not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ValueError(f"X or y has non-finite values in block {b}: the data must be finite")
    seed, n, n_validation = split
    return shared.run(X, y, held_out_mask(seed, n, n_validation, start, start + X.shape[0]), store)


class DaskArraySource(DaskSource):
    """The row blocks of dask arrays ``X`` (all columns in one chunk) and ``y`` (the same row
    chunks), with the held-out split :func:`~narrowrelu.learner.sources.held_out.held_out_mask` of
    ``n_validation`` rows from ``seed`` (a :class:`numpy.random.SeedSequence`), whatever the
    chunks. The first pass checks that every block is finite."""

    def __init__(self, X, y, n_validation, seed, chunk_size=65536):
        lengths = X.chunks[0]
        self.starts = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        n = int(self.starts[-1])
        held = [held_out_count(seed, n, n_validation, int(a), int(b)) for a, b in itertools.pairwise(self.starts)]
        super().__init__(X.shape[1], lengths, held, seed)
        self.split = (seed, n, n_validation)
        self.data_bytes = self.n_samples * self.n_features * 8
        self.arrays = (X, y)
        self.chunk_size = chunk_size
        self._X = X.to_delayed().ravel().tolist()
        self._y = y.to_delayed().ravel().tolist()

    def _leaf(self, shared, b, store):
        from dask import delayed

        task = delayed(_array_block, pure=False, nout=None if store is None else 2)
        return task(shared, self._X[b], self._y[b], self.split, b, int(self.starts[b]), store, self.n_passes == 1)

    def head(self, m, into_memory=False):
        """The first ``m`` rows, none held out: a dask source of them, or with ``into_memory``
        an :class:`~narrowrelu.learner.sources.ArraySource` of them brought to the client."""
        import dask

        X, y = self.arrays
        if not into_memory:
            return DaskArraySource(X[:m], y[:m], 0, self.seed, self.chunk_size)
        Xm, ym = dask.compute(X[:m], y[:m])
        Xm = np.ascontiguousarray(Xm, dtype=np.float64)
        return ArraySource(Xm, np.asarray(ym, dtype=np.float64), np.zeros(m, dtype=bool), self.chunk_size)


def _oracle_block(shared, seed, b, m, d, h, store):
    X = np.random.default_rng(block_seed(seed, b)).standard_normal((m, d))
    held = np.zeros(m, dtype=bool)
    held[:h] = True
    return shared.run(X, query_oracle(shared.context, X), held, store)


class DaskOracleSource(DaskSource):
    """Gaussian inputs drawn in blocks of ``chunk_size`` rows, block ``b`` from the ``b``-th child
    of ``seed``, labelled by ``oracle`` in the task (it must be picklable: a
    :class:`narrowrelu.Teacher` is); the first rows of each block are held out,
    ``n_validation`` in all."""

    def __init__(self, oracle, n_samples, n_features, chunk_size, n_validation, seed, refine_seed=None):
        full, last = divmod(n_samples, chunk_size)
        lengths = [chunk_size] * full + ([last] if last else [])
        super().__init__(n_features, lengths, split_counts(n_validation, lengths), seed)
        self.oracle = oracle
        self.chunk_size = chunk_size
        self.refine_seed = refine_seed

    def query(self, X):
        return query_oracle(self.oracle, X)

    def head(self, m, into_memory=True):
        """A fresh draw of ``m`` inputs from ``refine_seed``, labelled here (:func:`fresh_draw`)."""
        return fresh_draw(self.query, m, self.n_features, self.chunk_size, self.refine_seed)

    def _context(self):
        return self.oracle

    def _leaf(self, shared, b, store):
        from dask import delayed

        task = delayed(_oracle_block, pure=False, nout=None if store is None else 2)
        return task(shared, self.seed, b, self.lengths[b], self.n_features, self.held_counts[b], store)
