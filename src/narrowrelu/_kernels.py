"""Numba kernels of the top-level modules (input conditioning).

Kernels trust their inputs, fill arrays the caller allocated and draw no random numbers; each
has a NumPy reference in ``tests/test_kernels.py``.
"""

from numba import njit, types

_IN1 = types.Array(types.float64, 1, "C", readonly=True)
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


@njit(types.void(_IN2, _IN1, _OUT1, _OUT1), cache=True, nogil=True)
def central_moment_sums(S, mean, cubes, fourths):
    """``cubes[j]`` :math:`= \\sum_i (s_{ij} - \\bar s_j)^3` and ``fourths[j]`` :math:`= \\sum_i
    (s_{ij} - \\bar s_j)^4` (overwritten), ``mean`` the column means: one pass, row by row, with no
    temporary of the data's size (NumPy's three took 3.4 ms on 10⁴ rows of 20 columns)."""
    m, d = S.shape
    cubes[:] = 0.0
    fourths[:] = 0.0
    for i in range(m):
        for j in range(d):
            c = S[i, j] - mean[j]
            c2 = c * c
            cubes[j] += c2 * c
            fourths[j] += c2 * c2
