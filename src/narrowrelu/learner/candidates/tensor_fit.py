"""A joint weighted least-squares fit of the projected Hermite tensors of every even order at once.

In the :math:`k` coordinates of the span estimate :math:`P`, a network's order-:math:`m` Hermite
tensor is

.. math::

    T_m = E[f\\,He_m(P^Tx)] = \\frac{a_m}{a_2}\\sum_l\\beta_l\\,v_l^{\\otimes m},\\qquad
    v_l = P^T\\hat u_l,\\quad \\beta_l = a_2\\lambda_l\\|u_l\\|,

with :math:`a_m` the relu's Hermite coefficients (:math:`a_4/a_2 = -1`): one set of
:math:`(v_l, \\beta_l)` explains every order, and :math:`\\|v_l\\|\\le 1` measures how much of
:math:`\\hat u_l` the span holds. Under label noise of variance :math:`\\sigma^2` the estimate of a
distinct entry :math:`\\alpha` of :math:`T_m` has variance :math:`\\sigma^2\\alpha!/n`, and the
orders are uncorrelated (the Hermite polynomials are orthogonal), so the generalised least-squares
criterion is

.. math::

    Q(v, \\beta) = \\sum_m \\frac{1}{m!}\\Big\\|\\hat T_m - \\frac{a_m}{a_2}\\sum_l\\beta_lv_l^{\\otimes m}\\Big\\|_F^2,

the full Frobenius norm counting each distinct entry :math:`m!/\\alpha!` times. :math:`T_2` pins
:math:`k(k-1)/2` of the :math:`k(k-1)` in-span degrees of freedom of the directions with the
precision of a second moment, six times that of the fourth (whose entries have :math:`4!` times
the variance); a fit of :math:`T_4` alone reads all of them from the noisier tensor.

:func:`fit_hermite_tensors` minimises :math:`Q` by Levenberg–Marquardt with the exact
Gauss–Newton matrix, which for symmetric rank-one terms has a closed form in the Gram matrix
:math:`G = VV^T`: with :math:`w_m = (a_m/a_2)^2/m!`,

.. math::

    \\langle\\partial_{v_{lp}}(\\beta_lv_l^{\\otimes m}), \\partial_{v_{l'q}}(\\beta_{l'}v_{l'}^{\\otimes m})\\rangle
    = \\beta_l\\beta_{l'}\\big(mG_{ll'}^{m-1}\\delta_{pq} + m(m-1)G_{ll'}^{m-2}v_{l'p}v_{lq}\\big),

so nothing of size :math:`k^m` is formed beyond the data tensors and their contractions
:math:`\\hat T_m(v_l, \\dots, v_l, \\cdot)`.
"""

import math

import numpy as np

from ...hermite import relu_hermite_coefficient
from ..directions import nonzero_unit_rows

# Levenberg–Marquardt iterations at most, and the relative fall of Q below which they stop
FIT_ITERATIONS = 200
FIT_TOL = 1e-12


def _contract(T, V, times):
    """Row ``l`` is :math:`T(v_l, \\dots, v_l, \\cdot, \\dots)` with ``times`` copies of :math:`v_l`."""
    out = np.broadcast_to(T, (V.shape[0],) + T.shape)
    for _ in range(times):
        out = np.einsum("l...a,la->l...", out, V)
    return out


class _Criterion:
    """:math:`Q`, its gradient and Gauss–Newton matrix for the tensors ``{m: T_m}``."""

    def __init__(self, tensors):
        a2 = relu_hermite_coefficient(2)
        self.terms = []
        for m, T in sorted(tensors.items()):
            c = relu_hermite_coefficient(m) / a2
            weight = 1.0 / math.factorial(m)
            self.terms.append((m, T, c, weight, weight * float(np.sum(T * T))))

    def value(self, V, beta):
        G = V @ V.T
        q = 0.0
        for m, T, c, w, norm in self.terms:
            fit = _contract(T, V, m)
            q += norm - 2 * w * c * (beta @ fit) + w * c * c * (beta @ (G**m) @ beta)
        return q

    def gradient_and_matrix(self, V, beta):
        r, k = V.shape
        G = V @ V.T
        grad_v = np.zeros((r, k))
        grad_b = np.zeros(r)
        H_vv = np.zeros((r, k, r, k))
        H_vb = np.zeros((r, k, r))
        H_bb = np.zeros((r, r))
        eye = np.eye(k)
        for m, T, c, w, _ in self.terms:
            partial = _contract(T, V, m - 1)
            fit = np.einsum("la,la->l", partial, V)
            model_partial = c * (G ** (m - 1) * beta[None, :]) @ V
            grad_v += 2 * w * c * m * beta[:, None] * (model_partial - partial)
            grad_b += 2 * w * c * ((G**m) @ (c * beta) - fit)
            bb = np.outer(beta, beta) * c * c * w
            H_vv += np.einsum("lm,pq->lpmq", bb * m * G ** (m - 1), eye)
            H_vv += np.einsum("lm,mp,lq->lpmq", bb * m * (m - 1) * G ** (m - 2), V, V)
            H_vb += np.einsum("l,lm,mp->lpm", beta, c * c * w * m * G ** (m - 1), V)
            H_bb += c * c * w * G**m
        n_v = r * k
        H = np.zeros((n_v + r, n_v + r))
        H[:n_v, :n_v] = H_vv.reshape(n_v, n_v)
        H[:n_v, n_v:] = H_vb.reshape(n_v, r)
        H[n_v:, :n_v] = H[:n_v, n_v:].T
        H[n_v:, n_v:] = H_bb
        return np.concatenate([grad_v.ravel(), grad_b]), 2 * H

    def best_weights(self, V):
        """The :math:`\\beta` minimising :math:`Q` for fixed directions (linear least squares)."""
        G = V @ V.T
        H = sum(c * c * w * G**m for m, _, c, w, _ in self.terms)
        b = sum(c * w * _contract(T, V, m) for m, T, c, w, _ in self.terms)
        return np.linalg.lstsq(H, b, rcond=None)[0]


def fit_hermite_tensors(tensors, starts, n_iter=FIT_ITERATIONS, tol=FIT_TOL):
    """The minimiser of :math:`Q` (module docstring) from the unit rows of ``starts``.

    Parameters
    ----------
    tensors : dict
        ``{m: T_m}``, symmetric arrays of shape :math:`(k,)^m`, even orders (2 and 4, say).
    starts : ndarray of shape (r, k)
        Starting directions (rows; zero rows are dropped).

    Returns
    -------
    V : ndarray of shape (r', k)
        The fitted :math:`v_l`, not normalised (:math:`\\|v_l\\|` estimates the share of the
        neuron inside the span); empty when the fit breaks down.
    beta : ndarray of shape (r',)
        The fitted :math:`\\beta_l = a_2\\lambda_l\\|u_l\\|`.
    """
    k = next(iter(tensors.values())).shape[0]
    V = nonzero_unit_rows(starts)
    if V.shape[0] == 0:
        return np.empty((0, k)), np.empty(0)
    criterion = _Criterion(tensors)
    with np.errstate(all="ignore"):
        beta = criterion.best_weights(V)
        q = criterion.value(V, beta)
        damping = 1e-3
        r = V.shape[0]
        for _ in range(n_iter):
            grad, H = criterion.gradient_and_matrix(V, beta)
            scale = np.diag(H).copy()
            scale[scale <= 0] = 1.0
            improved = False
            while damping < 1e12:
                try:
                    step = np.linalg.solve(H + damping * np.diag(scale), -grad)
                except np.linalg.LinAlgError:
                    damping *= 10
                    continue
                V_new = V + step[: r * k].reshape(r, k)
                beta_new = beta + step[r * k:]
                q_new = criterion.value(V_new, beta_new)
                if np.isfinite(q_new) and q_new <= q:
                    improved = True
                    break
                damping *= 10
            if not improved:
                break
            fall = q - q_new
            V, beta, q = V_new, beta_new, q_new
            damping = max(damping / 10, 1e-12)
            if fall <= tol * max(abs(q), 1e-300) or fall <= tol * criterion.terms[0][4]:
                break
    if not (np.all(np.isfinite(V)) and np.all(np.isfinite(beta))):
        return np.empty((0, k)), np.empty(0)
    return V, beta
