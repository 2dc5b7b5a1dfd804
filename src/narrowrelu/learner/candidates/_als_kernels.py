"""Numba kernel for the CP polish: alternating least squares sweeps on a small dense tensor.

The model is :math:`\\hat T = \\sum_s a^{(1)}_s\\otimes\\cdots\\otimes a^{(m)}_s`, factor matrices
:math:`A^{(i)}` of shape ``(k, r)`` (weights live in the factors). A sweep updates each mode
:math:`n` in turn by least squares with the others fixed:

.. math::

    A^{(n)} \\leftarrow M^{(n)} \\big(\\textstyle\\circledast_{i\\ne n} A^{(i)T}A^{(i)}\\big)^{-1},\\qquad
    M^{(n)}_{a s} = \\sum_{\\iota:\\,\\iota_n = a} T_\\iota \\prod_{i\\ne n} A^{(i)}_{\\iota_i s}

(:math:`\\circledast` the entrywise product, :math:`M^{(n)}` the MTTKRP). After a sweep the relative
error :math:`\\|T - \\hat T\\| / \\|T\\|` comes from :math:`\\|T\\|^2 + \\|\\hat T\\|^2 - 2\\langle T, \\hat T\\rangle`
with :math:`\\langle T,\\hat T\\rangle = \\sum M^{(m)}\\circ A^{(m)}`, and the sweeps stop once it
changes by less than ``tol``. This is the algorithm of :func:`tensorly.decomposition.parafac`
(``normalize_factors=False``, which moves the weights of a ``CPTensor`` start into the last
factor; no line search; stopping on the absolute change of the relative
error), which is its NumPy reference in the tests; on the polish's tensors (:math:`k\\le 16`
dimensions, order 3 or 4) its per-call overhead, not arithmetic, set the polish's time.
"""

import numpy as np
from numba import njit

BREAKDOWN = -1


@njit(cache=True)
def _unfoldings(T, m, k):
    """The mode-``n`` unfoldings of the C-order flattened tensor ``T``, shape ``(m, k, k^(m-1))``:
    row ``a`` of unfolding ``n`` holds the entries with :math:`\\iota_n = a`, the other indices in
    C order (the last fastest), the order of :func:`_khatri_rao`'s rows."""
    size = T.shape[0]
    width = size // k
    out = np.empty((m, k, width))
    for flat in range(size):
        rest = flat
        index = np.empty(m, dtype=np.int64)
        for i in range(m - 1, -1, -1):
            index[i] = rest % k
            rest //= k
        for n in range(m):
            col = 0
            for i in range(m):
                if i != n:
                    col = col * k + index[i]
            out[n, index[n], col] = T[flat]
    return out


@njit(cache=True)
def _khatri_rao(factors, skip, out):
    """Into ``out`` (``k^(m-1)`` by ``r``): the column-wise Kronecker product of every factor but
    ``skip``, the later factors' rows varying fastest."""
    m, k, r = factors.shape
    rows = 1
    out[0, :] = 1.0
    for i in range(m):
        if i == skip:
            continue
        for c in range(rows - 1, -1, -1):
            for j in range(k - 1, -1, -1):
                for s in range(r):
                    out[c * k + j, s] = out[c, s] * factors[i, j, s]
        rows *= k


@njit(cache=True)
def als_sweeps(T, factors, n_iter, tol):
    """Run at most ``n_iter`` ALS sweeps on the C-order flattened tensor ``T`` (length :math:`k^m`)
    from ``factors`` of shape ``(m, k, r)``, updated in place (the caller's buffer).

    Returns the number of sweeps made, or ``BREAKDOWN`` when a normal-equation matrix is singular
    (the factors are then those of the last complete mode update)."""
    m, k, r = factors.shape
    unfolded = _unfoldings(T, m, k)
    norm_t2 = 0.0
    for flat in range(T.shape[0]):
        norm_t2 += T[flat] * T[flat]
    norm_t = np.sqrt(norm_t2)
    product = np.empty((T.shape[0] // k, r))
    mttkrp = np.empty((k, r))
    gram = np.empty((m, r, r))
    for i in range(m):
        gram[i] = factors[i].T @ factors[i]
    previous = 0.0
    for sweep in range(n_iter):
        for mode in range(m):
            normal = np.ones((r, r))
            for i in range(m):
                if i != mode:
                    normal *= gram[i]
            _khatri_rao(factors, mode, product)
            mttkrp[:] = unfolded[mode] @ product
            try:
                solved = np.linalg.solve(normal.T.copy(), mttkrp.T.copy())
            except Exception:  # noqa: BLE001 - numba raises LinAlgError on a singular matrix
                return BREAKDOWN
            factors[mode] = solved.T
            gram[mode] = factors[mode].T @ factors[mode]
        norm_hat2 = 0.0
        for s in range(r):
            for t in range(r):
                value = 1.0
                for i in range(m):
                    value *= gram[i, s, t]
                norm_hat2 += value
        inner = 0.0
        for a in range(k):
            for s in range(r):
                inner += mttkrp[a, s] * factors[m - 1, a, s]
        error = np.sqrt(abs(norm_t2 + norm_hat2 - 2.0 * inner)) / norm_t
        if sweep >= 1 and abs(previous - error) < tol:
            return sweep + 1
        previous = error
    return n_iter
