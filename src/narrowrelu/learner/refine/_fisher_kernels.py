"""Numba kernels for the closed-form Gaussian Fisher matrix and its gauge-fixed preconditioner.

Gauss–Newton builds the preconditioner once per iteration, at :math:`p = k(d+1)+d+1` up to a
few hundred. Built from NumPy temporaries over pairs of neurons (shape ``(k, k, d, d)``) it cost
0.6–1.3 ms at d = 20, k = 2–8 (the whole of a pass over 10⁴ rows) and 23–26 ms at d = 50,
k = 12–16 (a pass over about 10⁵ rows); written entry by entry it costs the :math:`O(k^2d^2)`
stores and no temporaries.

:func:`gaussian_fisher_into` writes :math:`F = E[\\nabla f\\nabla f^T]` with the formulas of
:mod:`narrowrelu.learner.refine.fisher` (where the NumPy form of the gate-pair matrix
:math:`A(u, v)` lives, and the tests' reference); :func:`precondition_into` turns it, in place,
into the matrix the Cholesky factor is taken of: :math:`D^{-1/2}FD^{-1/2} + \\sum_j v_jv_j^T +
\\text{ridge}\\,I`, with :math:`D` the diagonal of :math:`F` (1 where it is zero) and :math:`v_j`
the unit gauge direction of neuron :math:`j` in the scaled coordinates. Kernels trust their
inputs (float64, C-contiguous, matching shapes) and write every entry of their outputs.
"""

import numpy as np
from numba import njit, types

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)

_IN1 = types.Array(types.float64, 1, "C", readonly=True)
_IN2 = types.Array(types.float64, 2, "C", readonly=True)
_OUT1 = types.float64[::1]
_OUT2 = types.float64[:, ::1]

# gaussian_fisher_into(U, lam, F)
_FISHER_SIGNATURE = types.void(_IN2, _IN1, _OUT2)
# precondition_into(F, U, lam, ridge, scale)
_PRECONDITION_SIGNATURE = types.void(_OUT2, _IN2, _IN1, types.float64, _OUT1)


@njit(cache=True, nogil=True)
def _angle(Uh, i, j):
    """The angle between unit rows ``i`` and ``j`` of ``Uh``: :math:`2\\,\\mathrm{atan2}(\\|a-b\\|,
    \\|a+b\\|)`, accurate near 0 and :math:`\\pi` (:func:`narrowrelu.metrics.relu_angles`)."""
    diff = 0.0
    summ = 0.0
    for a in range(Uh.shape[1]):
        m = Uh[i, a] - Uh[j, a]
        s = Uh[i, a] + Uh[j, a]
        diff += m * m
        summ += s * s
    return 2.0 * np.arctan2(np.sqrt(diff), np.sqrt(summ))


@njit([_FISHER_SIGNATURE], cache=True, nogil=True)
def gaussian_fisher_into(U, lam, F):
    """``F[:] =`` the Gaussian Fisher matrix of the network with hidden weights ``U`` (k, d) and
    output weights ``lam`` (k,), shape ``(p, p)``, parameters ordered ``(u_1..u_k, lambda, w, b)``.
    A zero row of ``U`` gives zero rows and columns."""
    k, d = U.shape
    p = F.shape[0]
    iL = k * d
    iW = iL + k
    iB = p - 1
    F[:, :] = 0.0
    norms = np.zeros(k)
    Uh = np.zeros((k, d))
    e2 = np.zeros(d)
    Au = np.zeros(d)
    Av = np.zeros(d)
    for i in range(k):
        s = 0.0
        for a in range(d):
            s += U[i, a] * U[i, a]
        norms[i] = np.sqrt(s)
        if norms[i] > 0.0:
            for a in range(d):
                Uh[i, a] = U[i, a] / norms[i]
    for i in range(k):
        if norms[i] == 0.0:
            continue
        ri = i * d
        li = lam[i]
        # A(u_i, u_i) = I / 2
        for a in range(d):
            F[ri + a, ri + a] = 0.5 * li * li
            F[ri + a, iL + i] = 0.5 * li * U[i, a]
            F[ri + a, iW + a] = 0.5 * li
            F[ri + a, iB] = li * Uh[i, a] * _INV_SQRT_2PI
        F[iL + i, iL + i] = 0.5 * norms[i] * norms[i]
        for j in range(i + 1, k):
            if norms[j] == 0.0:
                continue
            rj = j * d
            lj = lam[j]
            theta = _angle(Uh, i, j)
            c0 = (np.pi - theta) / (2.0 * np.pi)
            kernel = np.sin(theta) + (np.pi - theta) * np.cos(theta)
            F[iL + i, iL + j] = norms[i] * norms[j] * kernel / (2.0 * np.pi)
            dot = 0.0
            for a in range(d):
                dot += Uh[i, a] * Uh[j, a]
            n2 = 0.0
            for a in range(d):
                e2[a] = Uh[j, a] - dot * Uh[i, a]
                n2 += e2[a] * e2[a]
            n2 = np.sqrt(n2)
            sin_t = np.sin(theta)
            plane = sin_t != 0.0 and n2 != 0.0
            ca = np.sin(2.0 * theta) / (4.0 * np.pi) if plane else 0.0
            cc = sin_t * sin_t / (2.0 * np.pi) if plane else 0.0
            if plane:
                for a in range(d):
                    e2[a] /= n2
            else:
                for a in range(d):
                    e2[a] = 0.0
            # A = c0 I + ca (e1 e1' - e2 e2') + cc (e1 e2' + e2 e1'), e1 = Uh[i]
            scale = li * lj
            for a in range(d):
                e1a = Uh[i, a]
                e2a = e2[a]
                for b in range(d):
                    e1b = Uh[i, b]
                    e2b = e2[b]
                    val = ca * (e1a * e1b - e2a * e2b) + cc * (e1a * e2b + e2a * e1b)
                    if a == b:
                        val += c0
                    F[ri + a, rj + b] = scale * val
            # A u_j and A u_i (A symmetric)
            e1u = 0.0
            e2u = 0.0
            e1v = 0.0
            e2v = 0.0
            for a in range(d):
                e1u += Uh[i, a] * U[j, a]
                e2u += e2[a] * U[j, a]
                e1v += Uh[i, a] * U[i, a]
                e2v += e2[a] * U[i, a]
            for a in range(d):
                Au[a] = c0 * U[j, a] + ca * (Uh[i, a] * e1u - e2[a] * e2u) + cc * (Uh[i, a] * e2u + e2[a] * e1u)
                Av[a] = c0 * U[i, a] + ca * (Uh[i, a] * e1v - e2[a] * e2v) + cc * (Uh[i, a] * e2v + e2[a] * e1v)
                F[ri + a, iL + j] = li * Au[a]
                F[rj + a, iL + i] = lj * Av[a]
    for i in range(k):
        for a in range(d):
            F[iL + i, iW + a] = 0.5 * U[i, a]
        F[iL + i, iB] = norms[i] * _INV_SQRT_2PI
    for a in range(d):
        F[iW + a, iW + a] = 1.0
    F[iB, iB] = 1.0
    # every entry was written on or above the diagonal (the u-rows precede the lambda columns)
    for a in range(p):
        for b in range(a + 1, p):
            F[b, a] = F[a, b]


@njit([_PRECONDITION_SIGNATURE], cache=True, nogil=True)
def precondition_into(F, U, lam, ridge, scale):
    """In place: ``F`` (a Fisher matrix from :func:`gaussian_fisher_into`) becomes
    :math:`D^{-1/2}FD^{-1/2} + \\sum_j v_jv_j^T + \\text{ridge}\\,I`, and ``scale[:] =``
    :math:`\\sqrt{D}` (the diagonal of ``F``, 1 where it is not positive); :math:`v_j` is the gauge
    direction of neuron :math:`j` (:math:`\\delta u_j = u_j`, :math:`\\delta\\lambda_j = -\\lambda_j`)
    times ``scale``, normalised (none for a zero one)."""
    k, d = U.shape
    p = F.shape[0]
    iL = k * d
    inverse = np.empty(p)
    for a in range(p):
        scale[a] = np.sqrt(F[a, a]) if F[a, a] > 0.0 else 1.0
        inverse[a] = 1.0 / scale[a]
    for a in range(p):
        for b in range(p):
            F[a, b] *= inverse[a] * inverse[b]
    v = np.zeros(d + 1)
    for j in range(k):
        s = 0.0
        for a in range(d):
            v[a] = U[j, a] * scale[j * d + a]
            s += v[a] * v[a]
        v[d] = -lam[j] * scale[iL + j]
        s += v[d] * v[d]
        if not s > 0.0:
            continue
        s = np.sqrt(s)
        for a in range(d + 1):
            v[a] /= s
        for a in range(d + 1):
            ra = j * d + a if a < d else iL + j
            for b in range(d + 1):
                rb = j * d + b if b < d else iL + j
                F[ra, rb] += v[a] * v[b]
    for a in range(p):
        F[a, a] += ridge
