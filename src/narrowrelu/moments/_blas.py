"""scipy's BLAS ``dsyrk`` called through ctypes, which releases the GIL (scipy's f2py wrapper
holds it), so row chunks on several threads overlap."""

import ctypes
import threading

import numpy as np
from scipy.linalg import cython_blas

from ._kernels import split_rows_by_sign

# below this many columns one product (wX)^T X is as fast as the rows split by sign and two
# symmetric rank updates (65 536 rows: 2.2 and 2.5 X^TX at d = 20; 2.3 and 1.6 at d = 100, 2.1
# and 1.3 at d = 200)
SYRK_MIN_FEATURES = 64
# weighted_gram splits this many rows at a time into scratch buffers kept per thread: a buffer of
# all the rows, allocated afresh at each call, is filled through page faults (50 000 x 200 with the
# other core busy: 0.26 s to fill, 0.008 s for a warm buffer, 0.09 s for the two dsyrk)
GRAM_BLOCK_ROWS = 4096
_SCRATCH = threading.local()


def weighted_gram_upper(positive, negative, d, out=None):
    """Upper triangle of :math:`P^TP - N^TN` by two BLAS symmetric rank updates (``dsyrk``).

    ``positive`` and ``negative`` are C-contiguous row blocks; the result is a Fortran-ordered
    ``(d, d)`` array whose strict lower triangle is zero, or, given one, ``out`` (Fortran, upper
    triangle) with the updates added to it. The BLAS call releases the GIL, so chunks running on
    ``n_jobs`` threads overlap.
    """
    beta = 1.0
    if out is None:
        out, beta = np.zeros((d, d), order="F"), 0.0
    if positive.shape[0]:
        _syrk_upper(1.0, positive, beta, out)
        beta = 1.0
    if negative.shape[0]:
        _syrk_upper(-1.0, negative, beta, out)
    return out


def weighted_gram(X, w):
    """:math:`X^T\\mathrm{diag}(w)X` (symmetric, ``(d, d)``) of the rows ``X`` with weights ``w``: from
    ``SYRK_MIN_FEATURES`` columns by the rows split by sign (:func:`split_rows_by_sign`), ``GRAM_BLOCK_ROWS``
    at a time into scratch buffers kept per thread, each block added by two symmetric rank updates
    in row order (half the multiply-adds of one product); below, by one product."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    n, d = X.shape
    if d < SYRK_MIN_FEATURES:
        return (X * w[:, None]).T @ X
    positive, negative = scratch_rows(min(n, GRAM_BLOCK_ROWS), d)
    upper = np.zeros((d, d), order="F")
    for start in range(0, n, GRAM_BLOCK_ROWS):
        stop = min(start + GRAM_BLOCK_ROWS, n)
        n_pos, n_neg = split_rows_by_sign(X[start:stop], w[start:stop], positive[: stop - start],
                                          negative[: stop - start])
        weighted_gram_upper(positive[:n_pos], negative[:n_neg], d, out=upper)
    return upper + np.triu(upper, 1).T


def scratch_rows(rows, d):
    """Two ``(rows, d)`` C-contiguous buffers of this thread, reused across calls (no page faults):
    where :func:`weighted_gram` and :class:`~narrowrelu.moments.contraction.HermiteContractionAccumulator`
    split their rows by sign."""
    buffers = getattr(_SCRATCH, "buffers", None)
    if buffers is None or buffers[0].shape[0] < rows or buffers[0].shape[1] != d:
        buffers = _SCRATCH.buffers = (np.empty((rows, d)), np.empty((rows, d)))
    return buffers[0][:rows], buffers[1][:rows]


def _capsule_address(capsule):
    name = ctypes.pythonapi.PyCapsule_GetName
    name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    pointer = ctypes.pythonapi.PyCapsule_GetPointer
    pointer.restype, pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return pointer(capsule, name(capsule))


# scipy's BLAS dsyrk through its Cython API, called by ctypes (which releases the GIL; scipy's
# f2py wrapper ``scipy.linalg.blas.dsyrk`` holds it). Arguments, all by reference:
# uplo, trans, n, k, alpha, a, lda, beta, c, ldc.
_DSYRK = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int),
    ctypes.POINTER(ctypes.c_double), ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
    ctypes.POINTER(ctypes.c_double), ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
)(_capsule_address(cython_blas.__pyx_capi__["dsyrk"]))


def _syrk_upper(alpha, rows, beta, out):
    """``out := alpha * rows^T rows + beta * out`` on the upper triangle of the Fortran ``out``.

    ``rows`` (C-contiguous, ``(k, d)``) is, read column-major, the ``d x k`` matrix ``A`` with
    leading dimension ``d``, and ``A A^T = rows^T rows``.
    """
    k, d = rows.shape
    if not (rows.flags.c_contiguous and out.flags.f_contiguous and out.shape == (d, d)):
        raise ValueError("internal error: _syrk_upper needs C-contiguous rows and a Fortran (d, d) output")
    n_ = ctypes.c_int(d)
    _DSYRK(
        b"U", b"N", ctypes.byref(n_), ctypes.byref(ctypes.c_int(k)), ctypes.byref(ctypes.c_double(alpha)),
        rows.ctypes.data, ctypes.byref(n_), ctypes.byref(ctypes.c_double(beta)), out.ctypes.data, ctypes.byref(n_),
    )
