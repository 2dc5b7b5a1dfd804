"""The held-out split of a fit on data, defined block by block so that no step needs the whole array.

The rows are cut into consecutive *split blocks* of :data:`SPLIT_BLOCK` rows (the last one
shorter). The ``n_validation`` held-out rows are shared out over the blocks in proportion to
their lengths (block :math:`j` of rows :math:`[a_j, b_j)` gets
:math:`\\lfloor h\\,b_j/n\\rfloor - \\lfloor h\\,a_j/n\\rfloor`, an exact total), and block
:math:`j` draws its rows without replacement from the :math:`j`-th child of the fit's seed.
Any range of rows can rebuild its part of the mask from ``(seed, n, n_validation)`` alone, so a
NumPy array and a dask array of the same rows, however the latter is chunked, get the same split.
"""

import itertools

import numpy as np

# rows per split block (fixed: the split must not depend on chunk_size or on a dask array's chunks)
SPLIT_BLOCK = 65_536


def block_seed(seed, b):
    """The seed of block ``b``: the ``b``-th child of ``seed`` (what ``seed.spawn`` would give),
    derived without state so that any task can rebuild it."""
    return np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + (b,), pool_size=seed.pool_size)


def split_counts(total, lengths):
    """``total`` split over blocks of the given ``lengths`` in proportion, summing exactly to ``total``."""
    bounds = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    n = int(bounds[-1])
    cuts = [total * int(c) // max(n, 1) for c in bounds]
    return [b - a for a, b in itertools.pairwise(cuts)]


def held_out_rows(seed, b, m, h):
    """The held-out mask of block ``b`` (``m`` rows, ``h`` of them held out, drawn from its seed)."""
    mask = np.zeros(m, dtype=bool)
    if h:
        mask[np.random.default_rng(block_seed(seed, b)).choice(m, size=h, replace=False)] = True
    return mask


def held_out_mask(seed, n, n_validation, start=0, stop=None):
    """Rows ``start:stop`` of the held-out mask of ``n`` rows with ``n_validation`` held out."""
    stop = n if stop is None else stop
    if not 0 <= start <= stop <= n:
        raise ValueError(f"rows {start}:{stop} are not within the {n} rows of the split")
    pieces = []
    for j in range(start // SPLIT_BLOCK, -(-stop // SPLIT_BLOCK)):
        a, b = j * SPLIT_BLOCK, min((j + 1) * SPLIT_BLOCK, n)
        h = n_validation * b // n - n_validation * a // n
        block = held_out_rows(seed, j, b - a, h)
        pieces.append(block[max(start, a) - a: min(stop, b) - a])
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=bool)


def held_out_count(seed, n, n_validation, start, stop):
    """How many of rows ``start:stop`` are held out: the share of every split block inside the range,
    and the masks of the (at most two) blocks it cuts."""
    total = 0
    for j in range(start // SPLIT_BLOCK, -(-stop // SPLIT_BLOCK)):
        a, b = j * SPLIT_BLOCK, min((j + 1) * SPLIT_BLOCK, n)
        if start <= a and b <= stop:
            total += n_validation * b // n - n_validation * a // n
        else:
            total += int(held_out_mask(seed, n, n_validation, max(start, a), min(stop, b)).sum())
    return total
