"""Dense refinement of a ReLU network on rows held in memory: the chunked normal equations and
Levenberg–Marquardt on them.

Minimises the empirical loss :math:`L(\\theta) = \\sum_i (f_\\theta(x_i) - y_i)^2` over
:math:`\\theta = (U, \\lambda, w, b)`. The Jacobian rows are

.. math::

    \\partial f/\\partial u_j = \\lambda_j\\,1[u_j\\cdot x > 0]\\,x,\\quad
    \\partial f/\\partial\\lambda_j = \\mathrm{relu}(u_j\\cdot x),\\quad
    \\partial f/\\partial w = x,\\quad \\partial f/\\partial b = 1,

and with hidden biases (``biased``: units :math:`\\mathrm{relu}(u_j\\cdot x+\\beta_j)`, the indicators
then at :math:`u_j\\cdot x+\\beta_j > 0`) also
:math:`\\partial f/\\partial\\beta_j = \\lambda_j\\,1[u_j\\cdot x+\\beta_j > 0]`.

Levenberg–Marquardt solves :math:`(J^TJ + \\mu\\,\\mathrm{diag}(J^TJ))\\,\\delta = -J^Tr` and adapts
:math:`\\mu`; :math:`J^TJ` and :math:`J^Tr` are accumulated over row chunks, so memory is
:math:`O(p^2)` with :math:`p = k(d+1)+d+1` (:math:`k(d+2)+d+1` with biases), not :math:`O(np)`.
Near a well-specified solution the residual is small, the problem is close to linear, and
Gauss–Newton steps converge in a few iterations where first-order methods crawl along
ill-conditioned directions (close neurons).
"""

import numpy as np

from ..._parallel import one_blas_thread, ordered_map
from ...network import ReLUNetwork, unpack_parameters
from .result import RefinementResult


def _chunk_rows(p):
    return int(max(256, min(16384, 2**22 // max(p, 1))))


def loss_and_normal_equations(theta, X, y, k, with_hessian=True, n_jobs=1, biased=False):
    """:math:`L`, :math:`J^Tr` and (optionally) :math:`J^TJ`, summed over row chunks in chunk
    order with BLAS on one thread, so the sums do not depend on ``n_jobs``; ``theta`` in the
    layout of :func:`~narrowrelu.network.pack_parameters` (with the biases when ``biased``)."""
    n, d = X.shape
    if biased:
        U, lam, w, b, beta = unpack_parameters(theta, k, d, biased=True)
    else:
        U, lam, w, b = unpack_parameters(theta, k, d)
    p = theta.size
    step = _chunk_rows(p)

    def chunk(start):
        Xc = X[start:start + step]
        pre = Xc @ U.T
        if biased:
            pre += beta
        act = np.maximum(pre, 0.0)
        r = act @ lam + Xc @ w + b - y[start:start + step]
        gate = (pre > 0) * lam
        J = np.empty((Xc.shape[0], p))
        J[:, : k * d] = (gate[:, :, None] * Xc[:, None, :]).reshape(Xc.shape[0], k * d)
        J[:, k * d: k * d + k] = act
        J[:, k * d + k: k * d + k + d] = Xc
        if biased:
            J[:, k * d + k + d: k * d + 2 * k + d] = gate
        J[:, -1] = 1.0
        return r @ r, J.T @ r, (J.T @ J if with_hessian else None)

    JtJ = np.zeros((p, p)) if with_hessian else None
    Jtr = np.zeros(p)
    loss = 0.0
    with one_blas_thread():
        for c_loss, c_Jtr, c_JtJ in ordered_map(chunk, range(0, n, step), n_jobs):
            loss += c_loss
            Jtr += c_Jtr
            if with_hessian:
                JtJ += c_JtJ
    return loss, Jtr, JtJ


def information_matrix(network, X, y, n_jobs=1):
    """:math:`J^TJ/n` of ``network`` on the rows ``(X, y)``, in the layout of
    ``network.to_vector(biased=network.has_biases)`` (:func:`loss_and_normal_equations`)."""
    theta = network.to_vector(biased=network.has_biases)
    _, _, normal = loss_and_normal_equations(theta, X, y, network.n_neurons, n_jobs=n_jobs,
                                             biased=network.has_biases)
    return normal / y.size


def levenberg_marquardt(network, X, y, max_iter=100, tol=1e-12, n_jobs=1, noise_tol=None, biased=None):
    """Refine ``network`` on ``(X, y)`` by Levenberg–Marquardt; see the module docstring. The
    hidden biases are parameters when ``biased`` (default: when ``network`` has non-zero ones).

    Stops when a step lowers the sum of squares by at most ``tol`` of it, or, with ``noise_tol``,
    by at most ``noise_tol`` :math:`\\hat\\sigma^2p` (:math:`\\hat\\sigma^2 = L/(n-p)`: the step gained
    less than ``noise_tol`` times the parametric rate), or after ``max_iter`` iterations."""
    k, d = network.n_neurons, network.n_features
    biased = network.has_biases if biased is None else bool(biased)
    theta = network.to_vector(biased=biased)
    p = theta.size
    loss, g, H = loss_and_normal_equations(theta, X, y, k, n_jobs=n_jobs, biased=biased)
    floor = 1e-30 * max(float(y @ y), 1e-300)
    mu = 1e-3
    losses = [loss]
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        if loss <= floor:
            converged = True
            break
        diag = np.diag(H).copy()
        diag += 1e-12 * (diag.mean() + 1e-300)
        accepted = False
        while mu < 1e12:
            delta = np.linalg.solve(H + mu * np.diag(diag), -g)
            trial = theta + delta
            t_loss, t_g, t_H = loss_and_normal_equations(trial, X, y, k, n_jobs=n_jobs, biased=biased)
            if t_loss < loss:
                decrease = loss - t_loss
                theta, g, H = trial, t_g, t_H
                previous, loss = loss, t_loss
                mu = max(mu / 3.0, 1e-12)
                accepted = True
                break
            mu *= 4.0
        losses.append(loss)
        if not accepted:
            converged = True
            break
        if decrease <= tol * previous:
            converged = True
            break
        if noise_tol is not None and decrease <= noise_tol * loss / max(X.shape[0] - p, 1) * p:
            converged = True
            break
    network = ReLUNetwork(*unpack_parameters(theta, k, d, biased=biased))
    return RefinementResult(network, float(loss / X.shape[0]), it, converged, losses)
