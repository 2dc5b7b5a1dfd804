"""Numba kernels of the joint tensor fit (:mod:`narrowrelu.learner.candidates.tensor_fit`).

The tensors come packed: ``flat`` holds every :math:`\\hat T_m` flattened in C order one after the
other, and ``terms`` one row per order, ``(m, offset, c, w, norm)`` with :math:`c = a_m/a_2`,
:math:`w = 1/m!` and ``norm`` :math:`= w\\|\\hat T_m\\|_F^2`. The directions are the rows of ``V``
(shape ``(r, k)``) and the weights ``beta``. :func:`criterion_value` is :math:`Q`,
:func:`criterion_derivatives` its gradient and Gauss–Newton matrix (the closed forms of the
module docstring of ``tensor_fit``), :func:`levenberg_marquardt` the fit. Each is tested against
the NumPy forms in ``tests/learner/candidates/test_tensor_fit.py``.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def _partial(flat, m, offset, k, v, out, work):
    """``out[a]`` = :math:`\\hat T_m(\\cdot, v, \\dots, v)_a`: the tensor contracted with ``v`` on
    every axis but the first, the last axis first (``work``: at least :math:`2k^{m-1}` scratch)."""
    length = k ** (m - 1)
    source = flat[offset:offset + length * k]
    for step in range(m - 1):
        target = work[(step % 2) * k ** (m - 1):(step % 2) * k ** (m - 1) + length]
        for i in range(length):
            total = 0.0
            for j in range(k):
                total += source[i * k + j] * v[j]
            target[i] = total
        source = target
        length //= k
    out[:] = source[:k]


@njit(cache=True)
def _contractions(flat, term, k, V, partial, fit):
    """Rows of ``partial``: each direction's :func:`_partial`; ``fit[l]`` = :math:`\\hat T_m(v_l, \\dots, v_l)`."""
    m, offset = int(term[0]), int(term[1])
    work = np.empty(2 * k ** (m - 1))
    for l in range(V.shape[0]):
        _partial(flat, m, offset, k, V[l], partial[l], work)
        fit[l] = partial[l] @ V[l]


@njit(cache=True)
def criterion_value(flat, terms, V, beta):
    """:math:`Q(V, \\beta) = \\sum_m \\big(w\\|\\hat T_m\\|^2 - 2wc\\,\\beta\\cdot\\hat T_m(v_l^{\\otimes m})
    + wc^2\\,\\beta^TG^{\\circ m}\\beta\\big)`, :math:`G = VV^T`."""
    r, k = V.shape
    G = V @ V.T
    partial = np.empty((r, k))
    fit = np.empty(r)
    q = 0.0
    for t in range(terms.shape[0]):
        m, c, w, norm = int(terms[t, 0]), terms[t, 2], terms[t, 3], terms[t, 4]
        _contractions(flat, terms[t], k, V, partial, fit)
        model = 0.0
        for l in range(r):
            for j in range(r):
                model += beta[l] * G[l, j] ** m * beta[j]
        q += norm - 2.0 * w * c * (beta @ fit) + w * c * c * model
    return q


@njit(cache=True)
def criterion_derivatives(flat, terms, V, beta, grad, H):
    """Into ``grad`` (length :math:`rk + r`) and ``H`` (square of that size): the gradient of
    :math:`Q` in :math:`(\\mathrm{vec}\\,V, \\beta)` and its Gauss–Newton matrix."""
    r, k = V.shape
    n_v = r * k
    G = V @ V.T
    partial = np.empty((r, k))
    fit = np.empty(r)
    grad[:] = 0.0
    H[:, :] = 0.0
    for t in range(terms.shape[0]):
        m, c, w = int(terms[t, 0]), terms[t, 2], terms[t, 3]
        _contractions(flat, terms[t], k, V, partial, fit)
        for l in range(r):
            model_partial = np.zeros(k)
            model_fit = 0.0
            for j in range(r):
                g = G[l, j]
                model_partial += c * g ** (m - 1) * beta[j] * V[j]
                model_fit += g**m * c * beta[j]
            for p in range(k):
                grad[l * k + p] += 2.0 * w * c * m * beta[l] * (model_partial[p] - partial[l, p])
            grad[n_v + l] += 2.0 * w * c * (model_fit - fit[l])
            for j in range(r):
                g = G[l, j]
                bb = beta[l] * beta[j] * c * c * w
                diagonal = bb * m * g ** (m - 1)
                cross = bb * m * (m - 1) * g ** (m - 2)
                for p in range(k):
                    H[l * k + p, j * k + p] += 2.0 * diagonal
                    for q in range(k):
                        H[l * k + p, j * k + q] += 2.0 * cross * V[j, p] * V[l, q]
                    mixed = 2.0 * beta[l] * c * c * w * m * g ** (m - 1) * V[j, p]
                    H[l * k + p, n_v + j] += mixed
                    H[n_v + j, l * k + p] += mixed
                H[n_v + l, n_v + j] += 2.0 * c * c * w * g**m


@njit(cache=True)
def best_weights(flat, terms, V):
    """The :math:`\\beta` minimising :math:`Q` for fixed directions: least squares on
    :math:`\\sum_m c^2wG^{\\circ m}\\,\\beta = \\sum_m cw\\,\\hat T_m(v_l^{\\otimes m})`."""
    r, k = V.shape
    G = V @ V.T
    partial = np.empty((r, k))
    fit = np.empty(r)
    A = np.zeros((r, r))
    b = np.zeros(r)
    for t in range(terms.shape[0]):
        m, c, w = int(terms[t, 0]), terms[t, 2], terms[t, 3]
        _contractions(flat, terms[t], k, V, partial, fit)
        A += c * c * w * G**m
        b += c * w * fit
    return np.linalg.lstsq(A, b, rcond=np.finfo(np.float64).eps * r)[0]


@njit(cache=True)
def levenberg_marquardt(flat, terms, V, beta, n_iter, ftol, tol):
    """Minimise :math:`Q` from ``V`` and ``beta``, both updated in place (the caller's buffers):
    Levenberg–Marquardt with diagonal scaling, damping from 1e-3 (times 10 after a failed step,
    divided by 10 after a good one), stopping when :math:`Q` falls by less than ``ftol`` of itself
    or by less than ``tol`` of the first order's :math:`w\\|\\hat T\\|^2`, or when no damping below
    1e12 lowers it. Returns the iterations made."""
    r, k = V.shape
    n_v = r * k
    grad = np.empty(n_v + r)
    H = np.empty((n_v + r, n_v + r))
    q = criterion_value(flat, terms, V, beta)
    damping = 1e-3
    for iteration in range(n_iter):
        criterion_derivatives(flat, terms, V, beta, grad, H)
        scale = np.diag(H).copy()
        for i in range(scale.size):
            if scale[i] <= 0.0:
                scale[i] = 1.0
        improved = False
        q_new = q
        V_new = V.copy()
        beta_new = beta.copy()
        while damping < 1e12:
            system = H.copy()
            for i in range(scale.size):
                system[i, i] += damping * scale[i]
            try:
                step = np.linalg.solve(system, -grad)
            except Exception:  # noqa: BLE001 - numba raises LinAlgError on a singular matrix
                damping *= 10.0
                continue
            for l in range(r):
                for p in range(k):
                    V_new[l, p] = V[l, p] + step[l * k + p]
                beta_new[l] = beta[l] + step[n_v + l]
            q_new = criterion_value(flat, terms, V_new, beta_new)
            if np.isfinite(q_new) and q_new <= q:
                improved = True
                break
            damping *= 10.0
        if not improved:
            return iteration
        fall = q - q_new
        V[:, :] = V_new
        beta[:] = beta_new
        q = q_new
        damping = max(damping / 10.0, 1e-12)
        if fall <= ftol * max(abs(q), 1e-300) or fall <= tol * terms[0, 4]:
            return iteration + 1
    return n_iter
