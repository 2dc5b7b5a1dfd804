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
Gauss–Newton matrix (compiled: :mod:`~narrowrelu.learner.candidates._tensor_fit_kernels`), which
for symmetric rank-one terms has a closed form in the Gram matrix :math:`G = VV^T`: with
:math:`w_m = (a_m/a_2)^2/m!`,

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
from ._tensor_fit_kernels import best_weights, criterion_derivatives, criterion_value, levenberg_marquardt

# Levenberg–Marquardt iterations at most; they stop once a step lowers Q by less than FIT_FTOL of
# itself (scipy.optimize.least_squares's ftol: at a noisy minimum Q is the tensors' noise, and a
# parameter moved by its standard error changes Q by about 1/(number of entries) of that), or by
# less than FIT_TOL of the first tensor's weighted squared norm (noiseless tensors, where Q -> 0)
FIT_ITERATIONS = 200
FIT_FTOL = 1e-8
FIT_TOL = 1e-12
# and at most FIT_MAX_WORK / p^3 of them, p = r(k + 1) the parameters (a solve costs p^3): all 200
# up to r = k = 16 (p = 272), the widest fit of the sweeps; fewer, but FIT_MIN_ITER, for wider fits
# (an n_neurons far above the true k, a search for k beyond 16)
FIT_MAX_WORK = FIT_ITERATIONS * 272.0**3
FIT_MIN_ITER = 20


class _Criterion:
    """:math:`Q`, its gradient and Gauss–Newton matrix for the tensors ``{m: T_m}``, by the compiled
    kernels of :mod:`~narrowrelu.learner.candidates._tensor_fit_kernels` (the tensors packed once)."""

    def __init__(self, tensors):
        a2 = relu_hermite_coefficient(2)
        rows, parts, offset = [], [], 0
        for m, T in sorted(tensors.items()):
            T = np.ascontiguousarray(T, dtype=np.float64)
            weight = 1.0 / math.factorial(m)
            rows.append((m, offset, relu_hermite_coefficient(m) / a2, weight, weight * float(np.sum(T * T))))
            parts.append(T.ravel())
            offset += T.size
        self.flat = np.concatenate(parts)
        self.terms = np.array(rows, dtype=np.float64)

    def value(self, V, beta):
        return criterion_value(self.flat, self.terms, _rows(V), _vector(beta))

    def gradient_and_matrix(self, V, beta):
        V = _rows(V)
        size = V.size + V.shape[0]
        grad, H = np.empty(size), np.empty((size, size))
        criterion_derivatives(self.flat, self.terms, V, _vector(beta), grad, H)
        return grad, H

    def best_weights(self, V):
        """The :math:`\\beta` minimising :math:`Q` for fixed directions (linear least squares)."""
        return best_weights(self.flat, self.terms, _rows(V))


def _rows(V):
    return np.ascontiguousarray(V, dtype=np.float64)


def _vector(beta):
    return np.ascontiguousarray(beta, dtype=np.float64).reshape(-1)


def fit_hermite_tensors(tensors, starts, n_iter=FIT_ITERATIONS, ftol=FIT_FTOL, tol=FIT_TOL):
    """The minimiser of :math:`Q` (module docstring) from the unit rows of ``starts``, in at most
    ``n_iter`` Levenberg–Marquardt iterations (fewer for wide fits: ``FIT_MAX_WORK``), until a step
    lowers :math:`Q` by less than ``ftol`` of itself or ``tol`` of the first tensor's weighted
    :math:`\\|\\hat T\\|^2`.

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
    V = V.copy()
    beta = criterion.best_weights(V)
    p = V.shape[0] * (k + 1)
    n_iter = min(n_iter, max(FIT_MIN_ITER, int(FIT_MAX_WORK // p**3)))
    levenberg_marquardt(criterion.flat, criterion.terms, V, beta, n_iter, ftol, tol)
    if not (np.all(np.isfinite(V)) and np.all(np.isfinite(beta))):
        return np.empty((0, k)), np.empty(0)
    return V, beta
