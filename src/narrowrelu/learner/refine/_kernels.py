"""Numba row-block kernels for the matrix-free Gauss–Newton refinement.

The network is :math:`f(x) = b + w\\cdot x + \\sum_{j<k}\\lambda_j\\mathrm{relu}(u_j\\cdot x)` with
parameters :math:`\\theta = (u_1,\\dots,u_k,\\lambda,w,b)`; its Jacobian row at :math:`x` is

.. math::

    \\partial f/\\partial u_j = \\lambda_j 1[u_j\\cdot x>0]\\,x,\\quad
    \\partial f/\\partial\\lambda_j = \\mathrm{relu}(u_j\\cdot x),\\quad
    \\partial f/\\partial w = x,\\quad \\partial f/\\partial b = 1.

Each kernel computes :math:`J^Tt` for a per-row weight :math:`t_i` without forming :math:`J`:

* :func:`gradient_block`: :math:`t = r = f(x) - y`, so the outputs are :math:`J^Tr` and
  :math:`\\sum r^2` (the loss) of the block;
* :func:`gauss_newton_product_block`: :math:`t = Jv` for a direction :math:`v`, so the outputs
  are :math:`J^TJv` and :math:`\\|Jv\\|^2`.

Within one Gauss–Newton iteration the neurons :math:`u_j` are fixed while conjugate gradients
make several product passes, each of which needs :math:`z_{ij} = u_j\\cdot x_i` again. Where the
rows are in memory the gradient pass at a point keeps them (:func:`gradient_block_projections`
writes ``Zu[i, j]``), and :func:`gauss_newton_product_block_cached` reads them instead of
recomputing them: :math:`k + 1` dot products per row instead of :math:`2k + 1`.

The outputs share one layout. ``G`` of shape ``(k + 1, d)``: rows ``j < k`` are
:math:`\\sum_i \\lambda_j 1[u_j\\cdot x_i>0]\\,t_i x_i`, row ``k`` is :math:`\\sum_i t_i x_i`.
``s`` of length ``k + 2``: ``s[j] = \\sum_i relu(u_j\\cdot x_i) t_i`` (``j < k``),
``s[k] = \\sum_i t_i``, ``s[k + 1] = \\sum_i t_i^2``. Both are *added to* (the caller zeroes them).

Rows are handled four at a time: each weight vector is loaded once per four dot products, and
each output row is loaded and stored once per four rank-one updates. Kernels trust their inputs
(float64, C-contiguous, matching shapes) and do no validation; ``fastmath`` is limited to
reassociation and contraction, so non-finite inputs propagate to the sums (the caller checks the
loss). NumPy references forming the dense Jacobian live in ``tests/test_kernels.py``.
"""

import numpy as np
from numba import njit, types

_FASTMATH = {"reassoc", "contract"}

_IN1 = types.Array(types.float64, 1, "C", readonly=True)
_IN2 = types.Array(types.float64, 2, "C", readonly=True)
_OUT1 = types.float64[::1]
_OUT2 = types.float64[:, ::1]

# gradient_block(X, y, W, lam, b, G, s): W is [u_1, ..., u_k, w] as rows, shape (k + 1, d)
_GRADIENT_SIGNATURE = types.void(_IN2, _IN1, _IN2, _IN1, types.float64, _OUT2, _OUT1)
# gradient_block_projections(X, y, W, lam, b, G, s, Zu): gradient_block, and Zu[i, j] = u_j . x_i
_GRADIENT_PROJECTIONS_SIGNATURE = types.void(_IN2, _IN1, _IN2, _IN1, types.float64, _OUT2, _OUT1, _OUT2)
# gauss_newton_product_block(X, P, lam, v_lam, v_b, G, s): P is [u_1..u_k, v_u1..v_uk, v_w]
_PRODUCT_SIGNATURE = types.void(_IN2, _IN2, _IN1, _IN1, types.float64, _OUT2, _OUT1)
# gauss_newton_product_block_cached(X, Zu, Q, lam, v_lam, v_b, G, s): Q is [v_u1..v_uk, v_w]
_PRODUCT_CACHED_SIGNATURE = types.void(_IN2, _IN2, _IN2, _IN1, _IN1, types.float64, _OUT2, _OUT1)


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _project4(X, i, W, Z):
    """``Z[q, j] = X[i + q] . W[j]`` for ``q < 4``."""
    d = X.shape[1]
    x0, x1, x2, x3 = X[i], X[i + 1], X[i + 2], X[i + 3]
    for j in range(W.shape[0]):
        wj = W[j]
        s0 = s1 = s2 = s3 = 0.0
        for a in range(d):
            wa = wj[a]
            s0 += x0[a] * wa
            s1 += x1[a] * wa
            s2 += x2[a] * wa
            s3 += x3[a] * wa
        Z[0, j] = s0
        Z[1, j] = s1
        Z[2, j] = s2
        Z[3, j] = s3


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _project1(X, i, W, Z):
    d = X.shape[1]
    x = X[i]
    for j in range(W.shape[0]):
        wj = W[j]
        s = 0.0
        for a in range(d):
            s += x[a] * wj[a]
        Z[0, j] = s


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _weights(Z, q, t, lam, C, s):
    """From the projections ``Z[q, :k]`` and the row weight ``t``: the coefficients
    ``C[q, j] = lam_j 1[z_j > 0] t`` (``j < k``), ``C[q, k] = t``, and the scalar sums into ``s``."""
    k = lam.shape[0]
    for j in range(k):
        z = Z[q, j]
        if z > 0.0:
            C[q, j] = lam[j] * t
            s[j] += z * t
        else:
            C[q, j] = 0.0
    C[q, k] = t
    s[k] += t
    s[k + 1] += t * t


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _accumulate4(X, i, C, G):
    """``G[j] += sum_q C[q, j] X[i + q]`` for ``q < 4`` (rows with four zero weights skipped)."""
    d = X.shape[1]
    x0, x1, x2, x3 = X[i], X[i + 1], X[i + 2], X[i + 3]
    for j in range(G.shape[0]):
        c0, c1, c2, c3 = C[0, j], C[1, j], C[2, j], C[3, j]
        if c0 == 0.0 and c1 == 0.0 and c2 == 0.0 and c3 == 0.0:
            continue
        row = G[j]
        for a in range(d):
            row[a] += c0 * x0[a] + c1 * x1[a] + c2 * x2[a] + c3 * x3[a]


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _accumulate1(X, i, C, G):
    d = X.shape[1]
    x = X[i]
    for j in range(G.shape[0]):
        c = C[0, j]
        if c == 0.0:
            continue
        row = G[j]
        for a in range(d):
            row[a] += c * x[a]


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _network_value(Z, q, lam, b):
    """:math:`b + z_w + \\sum_j \\lambda_j\\mathrm{relu}(z_j)` from the projections ``Z[q]``
    (neurons first, the linear part at column ``k``)."""
    k = lam.shape[0]
    f = b + Z[q, k]
    for j in range(k):
        z = Z[q, j]
        if z > 0.0:
            f += lam[j] * z
    return f


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _gradient_rows(X, y, W, lam, b, G, s, Zu, store):
    """The body of :func:`gradient_block`; with ``store``, also ``Zu[i, j]`` = :math:`u_j\\cdot x_i`."""
    n = X.shape[0]
    k = lam.shape[0]
    Z = np.empty((4, k + 1))
    C = np.empty((4, k + 1))
    n4 = n - n % 4
    for i in range(0, n4, 4):
        _project4(X, i, W, Z)
        for q in range(4):
            if store:
                for j in range(k):
                    Zu[i + q, j] = Z[q, j]
            r = _network_value(Z, q, lam, b) - y[i + q]
            _weights(Z, q, r, lam, C, s)
        _accumulate4(X, i, C, G)
    for i in range(n4, n):
        _project1(X, i, W, Z)
        if store:
            for j in range(k):
                Zu[i, j] = Z[0, j]
        r = _network_value(Z, 0, lam, b) - y[i]
        _weights(Z, 0, r, lam, C, s)
        _accumulate1(X, i, C, G)


@njit(_GRADIENT_SIGNATURE, cache=True, nogil=True, fastmath=_FASTMATH)
def gradient_block(X, y, W, lam, b, G, s):
    """Add the block's :math:`J^Tr` to ``G``/``s[:k+1]`` and its :math:`\\sum r^2` to ``s[k+1]``,
    with :math:`r = f(x) - y` for the network whose ``[u_1, ..., u_k, w]`` are the rows of ``W``."""
    _gradient_rows(X, y, W, lam, b, G, s, np.empty((0, 0)), False)


@njit(_GRADIENT_PROJECTIONS_SIGNATURE, cache=True, nogil=True, fastmath=_FASTMATH)
def gradient_block_projections(X, y, W, lam, b, G, s, Zu):
    """:func:`gradient_block`, writing also each row's projections :math:`u_j\\cdot x_i` into
    ``Zu`` (shape ``(n, k)``) for the product passes at the same point
    (:func:`gauss_newton_product_block_cached`)."""
    _gradient_rows(X, y, W, lam, b, G, s, Zu, True)


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _jv(Z, q, lam, v_lam, v_b):
    """:math:`(Jv)` for one row from ``Z[q] = [u_j.x (k), v_uj.x (k), v_w.x]``."""
    k = lam.shape[0]
    t = v_b + Z[q, 2 * k]
    for j in range(k):
        z = Z[q, j]
        if z > 0.0:
            t += lam[j] * Z[q, k + j] + v_lam[j] * z
    return t


@njit(_PRODUCT_SIGNATURE, cache=True, nogil=True, fastmath=_FASTMATH)
def gauss_newton_product_block(X, P, lam, v_lam, v_b, G, s):
    """Add the block's :math:`J^T(Jv)` to ``G``/``s[:k+1]`` and :math:`\\|Jv\\|^2` to ``s[k+1]``.

    ``P`` stacks ``[u_1, ..., u_k, v_{u_1}, ..., v_{u_k}, v_w]`` as rows (shape ``(2k + 1, d)``);
    ``v_lam``, ``v_b`` are the other parts of :math:`v`.
    """
    n = X.shape[0]
    k = lam.shape[0]
    Z = np.empty((4, 2 * k + 1))
    C = np.empty((4, k + 1))
    n4 = n - n % 4
    for i in range(0, n4, 4):
        _project4(X, i, P, Z)
        for q in range(4):
            t = _jv(Z, q, lam, v_lam, v_b)
            _weights(Z, q, t, lam, C, s)
        _accumulate4(X, i, C, G)
    for i in range(n4, n):
        _project1(X, i, P, Z)
        t = _jv(Z, 0, lam, v_lam, v_b)
        _weights(Z, 0, t, lam, C, s)
        _accumulate1(X, i, C, G)


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _jv_cached(zu, Z, q, lam, v_lam, v_b):
    """:math:`(Jv)` for one row from its projections ``zu`` (:math:`u_j\\cdot x`) and
    ``Z[q] = [v_uj.x (k), v_w.x]``."""
    k = lam.shape[0]
    t = v_b + Z[q, k]
    for j in range(k):
        z = zu[j]
        if z > 0.0:
            t += lam[j] * Z[q, j] + v_lam[j] * z
    return t


@njit(_PRODUCT_CACHED_SIGNATURE, cache=True, nogil=True, fastmath=_FASTMATH)
def gauss_newton_product_block_cached(X, Zu, Q, lam, v_lam, v_b, G, s):
    """:func:`gauss_newton_product_block` with the projections :math:`u_j\\cdot x_i` read from
    ``Zu`` (shape ``(n, k)``, as :func:`gradient_block_projections` wrote them at the same
    :math:`u`); ``Q`` stacks ``[v_{u_1}, ..., v_{u_k}, v_w]`` (shape ``(k + 1, d)``)."""
    n = X.shape[0]
    k = lam.shape[0]
    Z = np.empty((4, k + 1))
    C = np.empty((4, k + 1))
    n4 = n - n % 4
    for i in range(0, n4, 4):
        _project4(X, i, Q, Z)
        for q in range(4):
            t = _jv_cached(Zu[i + q], Z, q, lam, v_lam, v_b)
            _weights(Zu[i:i + 4], q, t, lam, C, s)
        _accumulate4(X, i, C, G)
    for i in range(n4, n):
        _project1(X, i, Q, Z)
        t = _jv_cached(Zu[i], Z, 0, lam, v_lam, v_b)
        _weights(Zu[i:i + 1], 0, t, lam, C, s)
        _accumulate1(X, i, C, G)
