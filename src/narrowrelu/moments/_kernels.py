"""Numba kernels for the fused per-sample work of the moment contractions.

Kernels trust their inputs (float64, C-contiguous, matching shapes), fill arrays that the caller
allocated, and draw no random numbers. Each has a NumPy reference in the tests
(``tests/test_kernels.py``).

Besides the contraction kernels, the thin products of the learner's rounds live here: BLAS is
built for wide matrices and is several times slower than these loops at 1 to 30 columns.

The row pass reads each row of a chunk once from memory and does all the per-sample work on it
(the projections :math:`g_j\\cdot x_i`, the Hermite weights, the vector sums); the split kernel
then re-reads the chunk from cache, once per direction, or, for one direction, the row pass
splits the rows itself (``contraction_row_split``). ``fastmath`` is limited to reassociation (so
the reductions vectorise): no-NaN/no-Inf assumptions are not made, so non-finite inputs propagate
to the sums, which is how the caller detects them without a separate pass over ``X``.
"""

import numpy as np
from numba import njit, types

_FASTMATH = {"reassoc", "contract"}

# Explicit signatures: one compiled version per kernel. Inputs are typed read-only, and numba
# converts writeable arrays to read-only ones safely, so read-only and writeable data share it.
_IN1 = types.Array(types.float64, 1, "C", readonly=True)
_IN2 = types.Array(types.float64, 2, "C", readonly=True)
_OUT1 = types.float64[::1]
_OUT2 = types.float64[:, ::1]
_ROW_PASS_SIGNATURE = types.void(_IN2, _IN1, _IN2, _IN1, types.int64, _OUT2, _OUT2, _OUT2, _OUT1)
_SPLIT_SIGNATURE = types.UniTuple(types.int64, 2)(_IN2, _IN1, _OUT2, _OUT2)
_ROW_SPLIT_SIGNATURE = types.UniTuple(types.int64, 2)(_IN2, _IN1, _IN2, _IN1, types.int64, _OUT2, _OUT2, _OUT1,
                                                      _OUT2, _OUT2)


@njit(cache=True, nogil=True)
def _split_row(X, i, wi, positive, negative, n_pos, n_neg):
    """Row ``i`` times :math:`\\sqrt{|w_i|}` into the next row of ``positive`` (``w_i > 0``) or
    ``negative`` (``w_i < 0``), none for ``w_i = 0`` or NaN; returns the two counts after it."""
    if wi > 0.0:
        root = np.sqrt(wi)
        for c in range(X.shape[1]):
            positive[n_pos, c] = root * X[i, c]
        return n_pos + 1, n_neg
    if wi < 0.0:
        root = np.sqrt(-wi)
        for c in range(X.shape[1]):
            negative[n_neg, c] = root * X[i, c]
        return n_pos, n_neg + 1
    return n_pos, n_neg


@njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _row_weights(X, i, yi, G, j, q, order, sums):
    """Row ``i`` along ``g_j``: with :math:`s = g_j\\cdot x_i` and the homogeneous Hermite
    recurrence :math:`H_{n+1} = sH_n - nqH_{n-1}`, adds :math:`y_iH_{m-2}` and :math:`y_iH_{m-4}`
    to ``sums[:, j]`` and returns the row's vector weight :math:`y_iH_{m-3}` and Gram weight
    :math:`y_iH_{m-2}` (see :func:`contraction_row_pass`)."""
    s = 0.0
    for c in range(X.shape[1]):
        s += X[i, c] * G[j, c]
    h_m4 = 0.0
    h_m3 = 0.0
    h_m2 = 1.0
    for t in range(order - 2):
        h_next = s * h_m2 - t * q * h_m3
        h_m4 = h_m3
        h_m3 = h_m2
        h_m2 = h_next
    sums[0, j] += yi * h_m2
    sums[1, j] += yi * h_m4
    return yi * h_m3, yi * h_m2


@njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _row_terms(X, i, yi, G, j, q, order, vectors, sums):
    """Row ``i``'s terms along ``g_j``: adds to ``vectors[j]`` and ``sums[:, j]`` (see
    :func:`contraction_row_pass`) and returns its weight :math:`y_iH_{m-2}(s_{ij})`."""
    vw, wi = _row_weights(X, i, yi, G, j, q, order, sums)
    if vw != 0.0:
        for c in range(X.shape[1]):
            vectors[j, c] += vw * X[i, c]
    return wi


@njit(_ROW_PASS_SIGNATURE, cache=True, nogil=True, fastmath=_FASTMATH)
def contraction_row_pass(X, y, G, sq_norms, order, gram_weights, vectors, sums, sum_yx):
    """One pass over the rows of a chunk for an order-``m`` contraction along the rows ``g_j`` of ``G``.

    With :math:`s_{ij} = g_j\\cdot x_i` and :math:`H_n(s;\\|g\\|^2)` the homogeneous Hermite
    polynomial (:math:`H_{n+1} = sH_n - n\\|g\\|^2H_{n-1}`, :math:`H_{-1} = H_{-2} = 0`):

    * fills ``gram_weights[j, i] = y_i H_{m-2}(s_ij)``;
    * adds :math:`\\sum_i y_i H_{m-3}(s_{ij})\\,x_i` to ``vectors[j]``;
    * adds :math:`\\sum_i y_i H_{m-2}` to ``sums[0, j]`` and :math:`\\sum_i y_i H_{m-4}` to ``sums[1, j]``;
    * adds :math:`\\sum_i y_i x_i` to ``sum_yx``.
    """
    n, d = X.shape
    r = G.shape[0]
    for i in range(n):
        yi = y[i]
        for c in range(d):
            sum_yx[c] += yi * X[i, c]
        for j in range(r):
            gram_weights[j, i] = _row_terms(X, i, yi, G, j, sq_norms[j], order, vectors, sums)


@njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _add_row(X, i, yi, vw, sum_yx, vectors, rows, row, root):
    """Row ``i`` of ``X`` times ``yi`` into ``sum_yx`` and times ``vw`` into ``vectors[0]``, and
    times ``root`` into ``rows[row]``, in one loop over its entries."""
    for c in range(X.shape[1]):
        xc = X[i, c]
        sum_yx[c] += yi * xc
        vectors[0, c] += vw * xc
        rows[row, c] = root * xc


@njit(_ROW_SPLIT_SIGNATURE, cache=True, nogil=True, fastmath=_FASTMATH)
def contraction_row_split(X, y, G, sq_norms, order, vectors, sums, sum_yx, positive, negative):
    """:func:`contraction_row_pass` for one direction (``G`` of one row), with the rows split by
    the sign of their weight :math:`w_i = y_iH_{m-2}(s_i)` as :func:`split_rows_by_sign` does,
    :math:`\\sqrt{|w_i|}\\,x_i` into ``positive`` or ``negative``. Each row is read twice while
    it is in L1: once for :math:`s_i`, once for the two vector sums and the scaled copy together.
    ``positive`` and ``negative`` have at least as many rows as ``X``. Returns the number of rows
    written to each."""
    n = X.shape[0]
    q = sq_norms[0]
    n_pos = 0
    n_neg = 0
    for i in range(n):
        yi = y[i]
        vw, wi = _row_weights(X, i, yi, G, 0, q, order, sums)
        if wi > 0.0:
            _add_row(X, i, yi, vw, sum_yx, vectors, positive, n_pos, np.sqrt(wi))
            n_pos += 1
        elif wi < 0.0:
            _add_row(X, i, yi, vw, sum_yx, vectors, negative, n_neg, np.sqrt(-wi))
            n_neg += 1
        else:
            # a zero (or NaN) weight writes no row: its copy goes to the next free row of
            # ``positive``, which the next positive row overwrites or the caller never reads
            _add_row(X, i, yi, vw, sum_yx, vectors, positive, n_pos, 0.0)
    return n_pos, n_neg


@njit(_SPLIT_SIGNATURE, cache=True, nogil=True)
def split_rows_by_sign(X, w, positive, negative):
    """Write :math:`\\sqrt{|w_i|}\\,x_i` into ``positive`` (``w_i > 0``) or ``negative`` (``w_i < 0``).

    Then :math:`X^T\\mathrm{diag}(w)X = P^TP - N^TN`, two symmetric rank updates. Returns the
    number of rows written to each.
    """
    n, d = X.shape
    n_pos = 0
    n_neg = 0
    for i in range(n):
        n_pos, n_neg = _split_row(X, i, w[i], positive, negative, n_pos, n_neg)
    return n_pos, n_neg


_THIN_SIGNATURE = types.void(_IN2, _IN2, _OUT2)


@njit(_THIN_SIGNATURE, cache=True, nogil=True, fastmath=_FASTMATH)
def project_rows(X, St, out):
    """``out[i, j] = X[i] . St[j]``: the thin product :math:`XS` for a few columns (``St`` is
    :math:`S^T`), four columns at a time so that each row is loaded once per four dot products.
    BLAS is several times slower at these shapes (it is built for wide ones)."""
    n, d = X.shape
    w = St.shape[0]
    w4 = w - w % 4
    for i in range(n):
        x = X[i]
        for j in range(0, w4, 4):
            s0 = s1 = s2 = s3 = 0.0
            a0, a1, a2, a3 = St[j], St[j + 1], St[j + 2], St[j + 3]
            for a in range(d):
                xa = x[a]
                s0 += xa * a0[a]
                s1 += xa * a1[a]
                s2 += xa * a2[a]
                s3 += xa * a3[a]
            out[i, j] = s0
            out[i, j + 1] = s1
            out[i, j + 2] = s2
            out[i, j + 3] = s3
        for j in range(w4, w):
            s = 0.0
            for a in range(d):
                s += x[a] * St[j, a]
            out[i, j] = s


@njit(_THIN_SIGNATURE, cache=True, nogil=True, fastmath=_FASTMATH)
def accumulate_row_products(X, W, acc):
    """``acc[j] += sum_i W[i, j] X[i]``: the thin product :math:`W^TX` added to ``acc``, four rows
    at a time so that each entry of ``acc`` is loaded and stored once per four rows."""
    n, d = X.shape
    w = W.shape[1]
    n4 = n - n % 4
    for i in range(0, n4, 4):
        x0, x1, x2, x3 = X[i], X[i + 1], X[i + 2], X[i + 3]
        for j in range(w):
            c0, c1, c2, c3 = W[i, j], W[i + 1, j], W[i + 2, j], W[i + 3, j]
            row = acc[j]
            for a in range(d):
                row[a] += c0 * x0[a] + c1 * x1[a] + c2 * x2[a] + c3 * x3[a]
    for i in range(n4, n):
        for j in range(w):
            c = W[i, j]
            row = acc[j]
            for a in range(d):
                row[a] += c * X[i, a]


_ORDER4_PRODUCTS_SIGNATURE = types.void(_IN2, _IN2, _IN1, _IN2, _IN1, _OUT2, _OUT2)


@njit(_ORDER4_PRODUCTS_SIGNATURE, cache=True, nogil=True, fastmath=_FASTMATH)
def order4_product_pass(X, XQ, y, coords, sq_norms, acc, sums):
    """The sums of :class:`narrowrelu.moments.products.HermiteContractionProducts` at order 4, in
    one pass over the rows (no weight matrix in memory).

    For row :math:`i`, with :math:`q = Q^Tx_i` (``XQ[i]``) and :math:`s_j = q\\cdot a_j` (``a_j``
    the columns of ``coords``), the weights are :math:`w_{jk+b} = y_i(s_j^2 - \\|g_j\\|^2)q_b` and
    :math:`w_{rk+b} = y_iq_b`; ``acc[t] += w_t x_i``, four rows at a time as in
    :func:`accumulate_row_products`. ``sums[0, j] += y_i(s_j^2 - \\|g_j\\|^2)``, ``sums[1, j] += y_i``.
    """
    n, d = X.shape
    k = XQ.shape[1]
    r = coords.shape[1]
    w = acc.shape[0]
    weights = np.empty((4, w))
    for i0 in range(0, n, 4):
        m = min(4, n - i0)
        for t in range(m):
            i = i0 + t
            yi = y[i]
            for j in range(r):
                s = 0.0
                for b in range(k):
                    s += XQ[i, b] * coords[b, j]
                h = yi * (s * s - sq_norms[j])
                sums[0, j] += h
                sums[1, j] += yi
                for b in range(k):
                    weights[t, j * k + b] = h * XQ[i, b]
            for b in range(k):
                weights[t, r * k + b] = yi * XQ[i, b]
        if m == 4:
            x0, x1, x2, x3 = X[i0], X[i0 + 1], X[i0 + 2], X[i0 + 3]
            for j in range(w):
                c0, c1, c2, c3 = weights[0, j], weights[1, j], weights[2, j], weights[3, j]
                row = acc[j]
                for a in range(d):
                    row[a] += c0 * x0[a] + c1 * x1[a] + c2 * x2[a] + c3 * x3[a]
        else:
            for t in range(m):
                x = X[i0 + t]
                for j in range(w):
                    c = weights[t, j]
                    row = acc[j]
                    for a in range(d):
                        row[a] += c * x[a]


_MONOMIAL_MOMENTS_SIGNATURE = types.void(_IN2, _IN1, types.Array(types.int64, 2, "C", readonly=True), _OUT2)


@njit(_MONOMIAL_MOMENTS_SIGNATURE, cache=True, nogil=True, fastmath=_FASTMATH)
def monomial_moment_pass(Z, y, combos, out):
    """Weighted second moments of the monomials of low-dimensional rows, distinct entries only:
    ``out[u, v] += sum_i y_i a_u(z_i) a_v(z_i)`` for ``v >= u``, with
    :math:`a_u(z) = \\prod_c z_{m_{uc}}` (``combos[u] = (m_{u1}, ...)``). The monomials are
    formed column by column so that every sum over rows is a contiguous, vectorised dot product."""
    n, k = Z.shape
    p, q = combos.shape
    cols = np.empty((k, n))
    for i in range(n):
        for a in range(k):
            cols[a, i] = Z[i, a]
    mono = np.ones((p, n))
    for u in range(p):
        for c in range(q):
            z = cols[combos[u, c]]
            for i in range(n):
                mono[u, i] *= z[i]
    weighted = np.empty((p, n))
    for u in range(p):
        for i in range(n):
            weighted[u, i] = mono[u, i] * y[i]
    for u in range(p):
        wu = weighted[u]
        for v in range(u, p):
            mv = mono[v]
            s = 0.0
            for i in range(n):
                s += wu[i] * mv[i]
            out[u, v] += s
