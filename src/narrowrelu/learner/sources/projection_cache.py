"""The projections :math:`z = S^Tx` of one pass, kept in memory for the later stages of a round.

Once the neurons' span is estimated, every later statistic of a round (Hermite tensors,
candidate columns :math:`|c\\cdot x|` for :math:`c` in the span, the linear part) is a function of
a handful of projections of each row. A pass that computes them for its own purposes stores
them here, training and held-out rows apart, so that the output regression of the round needs
no further pass over :math:`X`: its cost is :math:`O(n\\,p^2)` for :math:`p` columns instead of
:math:`O(n\\,d\\,p)`. The buffers are allocated once and reused by every round (fresh pages are
slow to fault in); in oracle mode their row count is capped, and the final weights then come
from one more pass.
"""

import numpy as np

# Projections are stored in single precision: half the memory, and half the fresh pages to fault
# in (the slowest part of filling the buffers on this kind of machine). Their relative rounding
# error, 6e-8, is far below the error of the moment estimates; the regression's sums run in
# double precision.
STORAGE_DTYPE = np.float32


class ProjectionCache:
    """Row buffers for up to ``max_train`` training and ``max_validation`` held-out rows of
    projections of width at most ``max_width``, with their targets.

    Each buffer is flat: the rows of the current width are one C-contiguous block at its start,
    so storing a block of rows is a single gather into contiguous memory. The projections are
    kept in single precision (``STORAGE_DTYPE``), the targets in double.
    """

    def __init__(self, max_train, max_validation, max_width):
        self._capacity = {"train": max_train, "validation": max_validation}
        self._flat = {name: np.empty(rows * max_width, dtype=STORAGE_DTYPE) for name, rows in self._capacity.items()}
        self._y = {name: np.empty(rows) for name, rows in self._capacity.items()}
        self.max_width = max_width
        self.width = 0
        self._fill = {"train": 0, "validation": 0}
        self.complete = True

    @staticmethod
    def bytes_per_row(width):
        """Memory a stored row of ``width`` projections takes, with its target."""
        return width * np.dtype(STORAGE_DTYPE).itemsize + np.dtype(np.float64).itemsize

    def start(self, width):
        """Forget the stored rows; the next pass stores ``width`` columns."""
        if width > self.max_width:
            raise ValueError(f"internal error: projection width {width} exceeds the cache's {self.max_width}")
        self.width = width
        self._fill = {"train": 0, "validation": 0}
        self.complete = True

    def _rows_view(self, name):
        rows = self._capacity[name]
        return self._flat[name][: rows * self.width].reshape(rows, self.width)

    def add(self, Z, y, held_out):
        """Append the rows of ``Z`` (``width`` columns) and ``y``, split by the boolean
        ``held_out``; rows past the capacity are dropped and :attr:`complete` becomes ``False``."""
        Z = Z.astype(STORAGE_DTYPE)
        for name, rows in (("train", ~held_out), ("validation", held_out)):
            start = self._fill[name]
            idx = np.flatnonzero(rows)
            take = min(idx.size, self._capacity[name] - start)
            if take < idx.size:
                self.complete = False
            if take:
                # mode="clip" writes straight into ``out`` (the default buffers a copy); the
                # indices come from flatnonzero, so none is clipped
                np.take(Z, idx[:take], axis=0, out=self._rows_view(name)[start:start + take], mode="clip")
                np.take(y, idx[:take], out=self._y[name][start:start + take], mode="clip")
                self._fill[name] = start + take

    def rows(self, name):
        """``(Z, y)`` of the stored ``"train"`` or ``"validation"`` rows (C-contiguous views)."""
        m = self._fill[name]
        return self._rows_view(name)[:m], self._y[name][:m]

    def statistics(self, name, fn, max_rows=None):
        """``fn(Z, y)`` on the stored ``name`` rows, or on every ``s``-th of them, ``s`` the smallest
        stride leaving at most ``max_rows`` (the output regression's Gram statistics)."""
        Z, y = self.rows(name)
        if max_rows is not None and Z.shape[0] > max_rows:
            stride = -(-Z.shape[0] // max_rows)
            Z, y = Z[::stride], y[::stride]
        return fn(Z, y)
