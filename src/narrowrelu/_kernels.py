"""Numba kernels of the top-level modules (input conditioning).

Kernels trust their inputs, fill arrays the caller allocated and draw no random numbers; each
has a NumPy reference in ``tests/test_kernels.py``.
"""

from numba import njit, types

_IN2 = types.Array(types.float64, 2, "C", readonly=True)
_OUT1 = types.float64[::1]


@njit(types.void(_IN2, _OUT1, _OUT1), cache=True, nogil=True)
def column_extremes(X, top, bottom):
    """Fold the rows of ``X`` into the running column maxima ``top`` and minima ``bottom`` (one
    pass, row by row: ``X.max(axis=0)`` and ``X.min(axis=0)`` read the data twice)."""
    n, d = X.shape
    for i in range(n):
        for c in range(d):
            v = X[i, c]
            if v > top[c]:
                top[c] = v
            if v < bottom[c]:
                bottom[c] = v
