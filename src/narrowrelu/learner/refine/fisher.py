"""The Gaussian Fisher matrix of a one-hidden-layer ReLU network, in closed form.

For :math:`f(x) = b + w\\cdot x + \\sum_j \\lambda_j\\mathrm{relu}(u_j\\cdot x)` with parameters
ordered :math:`\\theta = (u_1, \\dots, u_k, \\lambda, w, b)` (as ``ReLUNetwork.to_vector``), this
module computes :math:`F = E_{x\\sim N(0,I_d)}[\\nabla_\\theta f\\,\\nabla_\\theta f^T]`, the
expectation of :math:`J^TJ/n` for Gaussian inputs, with no pass over data.

Every entry reduces to the matrix :math:`A(u, v) = E[1[u\\cdot x>0]\\,1[v\\cdot x>0]\\,xx^T]`.
With :math:`\\theta` the angle between :math:`u` and :math:`v`, :math:`e_1 = \\hat u` and
:math:`e_2` the unit vector of the plane orthogonal to :math:`e_1` on :math:`v`'s side, the
component of :math:`x` orthogonal to the plane is independent of the gates (both open with
probability :math:`(\\pi-\\theta)/2\\pi`), and in polar coordinates of the plane the gates are
both open on an arc of width :math:`\\pi-\\theta`, :math:`\\varphi\\in(\\theta-\\pi/2, \\pi/2)`, with
:math:`E[r^2] = 2`:

.. math::

    A(u, v) = \\frac{\\pi-\\theta}{2\\pi} I
      + \\frac{1}{\\pi}\\Big(\\frac{\\sin 2\\theta}{4}(e_1e_1^T - e_2e_2^T)
      + \\frac{\\sin^2\\theta}{2}(e_1e_2^T + e_2e_1^T)\\Big).

(:math:`A(u, u) = I/2`, :math:`A(u, -u) = 0`.) Then, as :math:`\\mathrm{relu}(v\\cdot x) = 1[v\\cdot x>0]\\,v\\cdot x`,

* :math:`F_{u_iu_j} = \\lambda_i\\lambda_j A(u_i, u_j)`,
  :math:`F_{u_i\\lambda_j} = \\lambda_i A(u_i, u_j)\\,u_j`,
  :math:`F_{\\lambda_i\\lambda_j} = \\|u_i\\|\\|u_j\\|(\\sin\\theta + (\\pi-\\theta)\\cos\\theta)/2\\pi`;
* :math:`F_{u_iw} = \\lambda_i I/2`, :math:`F_{u_ib} = \\lambda_i\\hat u_i/\\sqrt{2\\pi}`,
  :math:`F_{\\lambda_iw} = u_i^T/2`, :math:`F_{\\lambda_ib} = \\|u_i\\|/\\sqrt{2\\pi}`;
* :math:`F_{ww} = I`, :math:`F_{wb} = 0`, :math:`F_{bb} = 1`.

A zero neuron :math:`u_i = 0` never fires: its rows and columns are zero.

The matrix is singular along the :math:`k` gauge directions of the positive homogeneity of relu
(:math:`\\delta u_j = u_j`, :math:`\\delta\\lambda_j = -\\lambda_j`, which leave :math:`f` unchanged);
:func:`gauge_directions` returns them.
"""

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from ...metrics import relu_angles
from ...network import unpack_parameters
from ._fisher_kernels import gaussian_fisher_into, precondition_into


def gate_pair_second_moment(u, v):
    """:math:`A(u, v) = E[1[u\\cdot x>0]\\,1[v\\cdot x>0]\\,xx^T]` for :math:`x\\sim N(0, I_d)`
    (zero when either vector is zero)."""
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    d = u.shape[0]
    if nu == 0 or nv == 0:
        return np.zeros((d, d))
    theta = relu_angles(u[None, :], v[None, :])
    return _gate_pairs((u / nu)[None, :], (v / nv)[None, :], theta)[0, 0]


def _gate_pairs(E1, V, theta):
    """:math:`A(e_1, v)` for each unit row :math:`e_1` of ``E1`` (shape ``(m, d)``) and unit row
    :math:`v` of ``V`` (shape ``(q, d)``) at angle ``theta[i, j]``, of shape ``(m, q, d, d)``."""
    d = V.shape[1]
    A = ((np.pi - theta) / (2.0 * np.pi))[:, :, None, None] * np.eye(d)
    e1 = np.broadcast_to(E1[:, None, :], theta.shape + (d,))
    e2 = V[None, :, :] - (E1 @ V.T)[:, :, None] * e1
    norm2 = np.linalg.norm(e2, axis=2)
    sin_t = np.sin(theta)
    # parallel (theta = 0: A = I/2) or antiparallel (theta = pi: A = 0): no in-plane term
    plane = (sin_t != 0.0) & (norm2 != 0.0)
    e2 = np.where(plane[:, :, None], e2 / np.where(plane, norm2, 1.0)[:, :, None], 0.0)
    a = np.where(plane, np.sin(2.0 * theta) / (4.0 * np.pi), 0.0)[:, :, None, None]
    c = np.where(plane, sin_t * sin_t / (2.0 * np.pi), 0.0)[:, :, None, None]
    A += a * (e1[:, :, :, None] * e1[:, :, None, :] - e2[:, :, :, None] * e2[:, :, None, :])
    cross = e1[:, :, :, None] * e2[:, :, None, :]
    A += c * (cross + cross.transpose(0, 1, 3, 2))
    return A


def gaussian_fisher(hidden_weights, output_weights):
    """The closed-form Gaussian Fisher matrix :math:`E[\\nabla f\\nabla f^T]` (see the module
    docstring), of shape ``(p, p)`` with :math:`p = k(d+1)+d+1`
    (:func:`~narrowrelu.learner.refine._fisher_kernels.gaussian_fisher_into`).

    It does not depend on the linear part or the intercept of the network.
    """
    U = np.ascontiguousarray(hidden_weights, dtype=np.float64)
    lam = np.ascontiguousarray(output_weights, dtype=np.float64)
    k, d = U.shape
    F = np.empty((k * d + k + d + 1,) * 2)
    gaussian_fisher_into(U, lam, F)
    return F


def gauge_directions(hidden_weights, output_weights):
    """The ``k`` directions :math:`\\delta u_j = u_j`, :math:`\\delta\\lambda_j = -\\lambda_j` (other
    parts zero) along which :math:`f` is constant to first order, as rows of shape ``(k, p)``."""
    U = np.asarray(hidden_weights, dtype=np.float64)
    lam = np.asarray(output_weights, dtype=np.float64)
    k, d = U.shape
    p = k * d + k + d + 1
    V = np.zeros((k, p))
    for j in range(k):
        V[j, j * d:(j + 1) * d] = U[j]
        V[j, k * d + j] = -lam[j]
    return V


class FisherPreconditioner:
    """Solves :math:`\\tilde F x = g`, :math:`\\tilde F` the Gaussian Fisher matrix with the gauge
    fixed and a tiny relative ridge (see the module docstring)."""

    def __init__(self, theta, k, d, ridge):
        U, lam, _, _ = unpack_parameters(theta, k, d)
        U, lam = np.ascontiguousarray(U), np.ascontiguousarray(lam)
        Fs = gaussian_fisher(U, lam)
        self.scale = np.empty(theta.size)
        precondition_into(Fs, U, lam, float(ridge), self.scale)
        self._chol = None
        self._pinv = None
        try:
            self._chol = cho_factor(Fs, lower=False, check_finite=True)
        except (LinAlgError, ValueError):
            evals, evecs = np.linalg.eigh(Fs)
            cutoff = max(ridge, 1e-14) * max(evals.max(), 1.0)
            inv = np.where(evals > cutoff, 1.0 / np.where(evals > cutoff, evals, 1.0), 0.0)
            self._pinv = (evecs * inv) @ evecs.T

    def solve(self, g):
        """:math:`\\tilde F^{-1}g` for a vector ``g``, or for each column of a matrix ``g``."""
        scale = self.scale if np.ndim(g) == 1 else self.scale[:, None]
        x = g / scale
        x = cho_solve(self._chol, x, check_finite=False) if self._chol is not None else self._pinv @ x
        return x / scale
