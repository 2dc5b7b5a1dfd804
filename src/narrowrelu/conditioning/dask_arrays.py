"""The standardisation of :mod:`narrowrelu.conditioning.standard_units` for dask arrays: the same checks, the
same statistics of the same rows, each computed on the workers; the standardised
:math:`X' = WX/s_x` and :math:`y' = (y - m_y)/s_y` stay lazy, block by block.

What comes back to the client: the column maxima and minima of ``X`` and ``y`` (:math:`O(d)`),
the evenly strided subsamples :func:`~narrowrelu.conditioning.standard_units.check_outliers` reads for its
medians and quartiles (:func:`~narrowrelu.conditioning.standard_units.quartile_rows` rows), one of
:data:`~narrowrelu.conditioning.standard_units.SUBSAMPLE_ROWS` rows of ``X`` for its mean, a few scalar sums,
and with ``whiten=True`` the column sums and the :math:`d\\times d` Gram matrix. ``X`` is read
twice (extremes, then the root mean square and the whitening sums), ``y`` three times.

With ``center_x=True`` (and ``whiten=True``) the sums are taken about the mean :math:`c` of the
strided subsample, already on the client: the covariance
:math:`\\frac1n\\sum_i(x_i - c)(x_i - c)^T - (\\hat\\mu - c)(\\hat\\mu - c)^T` then loses no
digits to a mean large against the spread (:math:`\\hat\\mu - c` is of the order of the spread
over the square root of the subsample's rows), and the centring costs no further read.

Every product of a block runs on an aligned float64 copy when the block is not aligned (a block
received from another worker may not be, and numpy's matmul then skips BLAS, with other
roundings) and on one BLAS thread, so the maps do not depend on where the blocks were.
"""

import numpy as np

from .._parallel import one_blas_thread
from .standard_units import (
    RMS_ROWS,
    SAFE_SQUARE,
    SUBSAMPLE_ROWS,
    Conditioning,
    quartile_rows,
    refuse_outliers,
    whitener_from_moments,
    x_scale_from_rms,
)


def _strided(A, rows):
    return A[:: max(1, A.shape[0] // rows)]


def _aligned(B):
    """``B`` as float64 in C order, copied only when it is not already (or not aligned)."""
    return np.require(B, dtype=np.float64, requirements=["C", "A"])


def _scale_block(B, x_scale, whitener, mean=None):
    B = _aligned(B)
    Bs = B / x_scale if x_scale != 1.0 else B
    if mean is not None:
        Bs = Bs - mean
    if whitener is None:
        return np.ascontiguousarray(Bs)
    with one_blas_thread():
        return Bs @ whitener


def _block_moments(B, unit, shift=None):
    """The column sums and the Gram matrix of one block of ``X / unit - shift``, stacked: ``(1, d + 1, d)``."""
    B = _aligned(B)
    Bs = B / unit if unit != 1.0 else B
    if shift is not None:
        Bs = Bs - shift
    with one_blas_thread():
        gram = Bs.T @ Bs
    return np.concatenate([Bs.sum(axis=0)[None], gram])[None]


def _extremes_and_samples(X, y):
    """One read of ``X`` and ``y``: non-finite values refused, outliers refused; returns
    :math:`\\max|X|`, :math:`\\max|y|` and the column means of the strided subsample of ``X``."""
    import dask
    import dask.array as da

    x_hi, x_lo, y_hi, y_lo, x_sub, x_quartile_rows, y_sub = dask.compute(
        X.max(axis=0), X.min(axis=0), y.max(), y.min(), _strided(X, SUBSAMPLE_ROWS),
        _strided(X, quartile_rows(X.shape[1])), _strided(y, quartile_rows(1)))
    for name, values in (("X", (x_hi, x_lo)), ("y", (y_hi, y_lo))):
        if not all(np.all(np.isfinite(v)) for v in values):
            raise ValueError(f"{name} has non-finite values (NaN or inf): the data must be finite")

    def locator(A):
        def locate(j, median):
            column = A[:, j] if A.ndim == 2 else A
            (i,) = dask.compute(da.argmax(abs(column - median)))
            (value,) = dask.compute(column[int(i)])
            return int(i), float(value)
        return locate

    y_top = refuse_outliers(y_sub.reshape(-1, 1), np.atleast_1d(y_hi), np.atleast_1d(y_lo), "y", locator(y),
                            one_column=True)
    x_top = refuse_outliers(x_quartile_rows, x_hi, x_lo, "X", locator(X))
    return x_top, y_top, x_sub.mean(axis=0)


def condition_dask(X, y, whiten=False, center_x=False):
    """:func:`narrowrelu.conditioning.condition` (``center_y=True``) for dask arrays ``X`` (rows in
    chunks, one column chunk) and ``y`` (the same row chunks): a
    :class:`~narrowrelu.conditioning.Conditioning` whose ``X`` and ``y`` are lazy dask arrays."""
    import dask

    x_top, top, x_sub_mean = _extremes_and_samples(X, y)
    if top == 0:
        raise ValueError("y is constant (every value is 0.0 to float64 precision): there is nothing to learn")
    u = y / top
    mu = float(u.mean())
    sd = float(np.sqrt(((u - mu) ** 2).mean()))
    if sd == 0 or sd * top == 0:
        (first,) = dask.compute(y[0])
        raise ValueError(f"y is constant (every value is {float(first)!r} to float64 precision): "
                         "there is nothing to learn")
    y_scale = float(sd * top)
    if not np.isfinite(y_scale):
        raise ValueError("the spread of y overflows float64: rescale y towards 1")
    yc = (u - mu) / (y_scale / top)
    if x_top == 0:
        raise ValueError("X is all zeros: there is nothing to learn from")
    n, d = X.shape
    sub = _strided(X, RMS_ROWS)
    safe = 1.0 / SAFE_SQUARE <= x_top <= SAFE_SQUARE
    sums = {"squares": (sub * sub).sum() if safe else ((sub / x_top) ** 2).sum()}
    unit = 1.0 if safe else x_top
    center = whiten and center_x
    shift = x_sub_mean / unit if center else None
    if whiten:
        sums["moments"] = X.map_blocks(_block_moments, unit, shift, new_axis=2, dtype=np.float64,
                                       chunks=((1,) * X.numblocks[0], (d + 1,), (d,))).sum(axis=0)
    (sums,) = dask.compute(sums)
    size = sub.shape[0] * d
    rms = np.sqrt(sums["squares"] / size) if safe else x_top * np.sqrt(sums["squares"] / size)
    x_scale = x_scale_from_rms(rms, size, x_top)
    whitener = mean = x_mean = None
    if whiten:
        columns, gram = sums["moments"][0], sums["moments"][1:]
        ratio = unit / x_scale
        if center:
            offset = columns / n  # the mean of X / unit - shift
            covariance = (gram / n - np.outer(offset, offset)) * ratio**2
            mean = (shift + offset) * ratio
            whitener = whitener_from_moments(mean, covariance, n, centred=True)
            x_mean = mean * x_scale
        else:
            whitener = whitener_from_moments(columns * ratio / n, gram * ratio**2 / n, n)
    Xc = X if x_scale == 1.0 and whitener is None else X.map_blocks(_scale_block, x_scale, whitener, mean,
                                                                     dtype=np.float64)
    return Conditioning(Xc, yc, mu * top, y_scale, x_scale, whitener, x_mean)
