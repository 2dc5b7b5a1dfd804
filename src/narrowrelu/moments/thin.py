"""Thin products :math:`XS` and :math:`X^TW` by numba kernels: BLAS is several times slower at 1 to 30 columns."""

import numpy as np

from ._kernels import accumulate_row_products, project_rows


def thin_projection(X, St):
    """:math:`XS` for a thin :math:`S` given as ``St`` (:math:`S^T`, C-contiguous), by a numba kernel."""
    out = np.empty((X.shape[0], St.shape[0]))
    project_rows(X, St, out)
    return out


def thin_transposed_product(X, W):
    """:math:`X^TW` for a thin ``W`` (C-contiguous), returned as its transpose :math:`W^TX`, by a numba kernel."""
    acc = np.zeros((W.shape[1], X.shape[1]))
    accumulate_row_products(X, np.ascontiguousarray(W), acc)
    return acc
