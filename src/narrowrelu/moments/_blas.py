"""Weighted Gram matrices by symmetric rank updates.

:math:`X^T\\mathrm{diag}(w)X = P^TP - N^TN`, with :math:`P` the rows of positive weight scaled by
:math:`\\sqrt{w_i}` and :math:`N` those of negative weight scaled by :math:`\\sqrt{-w_i}`
(:func:`~narrowrelu.moments._kernels.split_rows_by_sign`). numpy's ``A.T @ A`` of one array with
itself is a BLAS ``dsyrk`` (half the multiply-adds of a general product, both triangles filled)
and releases the GIL, so row chunks on ``n_jobs`` threads overlap."""

import threading

import numpy as np

from ._kernels import split_rows_by_sign

# below this many columns one product (wX)^T X is as fast as the rows split by sign and two
# symmetric rank updates (200 000 rows, in units of X^TX: 2.98 and 2.80 at d = 8, 2.50 and 1.66 at
# d = 16, 2.72 and 1.28 at d = 32; 1.84 and 1.05 at d = 100, 10^6 rows)
SYRK_MIN_FEATURES = 16
# weighted_gram splits this many rows at a time into scratch buffers kept per thread: a buffer of
# all the rows, allocated afresh at each call, is filled through page faults (50 000 x 200 with the
# other core busy: 0.26 s to fill, 0.008 s for a warm buffer, 0.09 s for the two dsyrk)
GRAM_BLOCK_ROWS = 4096
_SCRATCH = threading.local()


def signed_gram(positive, negative, out=None):
    """:math:`P^TP - N^TN` (symmetric, ``(d, d)``) of the row blocks ``positive`` and ``negative``,
    each by one symmetric rank update; added to ``out`` when given."""
    d = positive.shape[1]
    if out is None:
        out = np.zeros((d, d))
    if positive.shape[0]:
        out += positive.T @ positive
    if negative.shape[0]:
        out -= negative.T @ negative
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
    gram = np.zeros((d, d))
    for start in range(0, n, GRAM_BLOCK_ROWS):
        stop = min(start + GRAM_BLOCK_ROWS, n)
        n_pos, n_neg = split_rows_by_sign(X[start:stop], w[start:stop], positive[: stop - start],
                                          negative[: stop - start])
        signed_gram(positive[:n_pos], negative[:n_neg], out=gram)
    return gram


def scratch_rows(rows, d):
    """Two ``(rows, d)`` C-contiguous buffers of this thread, reused across calls (no page faults):
    where :func:`weighted_gram` and :class:`~narrowrelu.moments.contraction.HermiteContractionAccumulator`
    split their rows by sign."""
    buffers = getattr(_SCRATCH, "buffers", None)
    if buffers is None or buffers[0].shape[0] < rows or buffers[0].shape[1] != d:
        buffers = _SCRATCH.buffers = (np.empty((rows, d)), np.empty((rows, d)))
    return buffers[0][:rows], buffers[1][:rows]
