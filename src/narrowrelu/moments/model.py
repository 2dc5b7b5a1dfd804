"""Exact Hermite moments of a ReLU network under Gaussian inputs.

For :math:`f(x) = b + w\\cdot x + \\sum_i\\lambda_i\\mathrm{relu}(u_i\\cdot x)` and even
:math:`m\\ge 2`, since :math:`\\mathrm{relu}(u\\cdot x) = \\|u\\|\\,\\mathrm{relu}(\\hat u\\cdot x)`,

.. math::

    E[f(x)\\,He_m(x)] = a_m\\sum_i\\lambda_i\\|u_i\\|\\,\\hat u_i^{\\otimes m}.

The learner uses these as control variates: the moments of :math:`y` are estimated as the
empirical moments of the residual :math:`y - g(x)` plus the exact moments of the current model
:math:`g`. The estimate stays unbiased, and its variance is that of the residual, which shrinks
as the model improves.
"""

import numpy as np

from ..hermite import relu_hermite_coefficient


def _unit_neurons(net):
    norms = np.linalg.norm(net.hidden_weights, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    return net.hidden_weights / safe[:, None], net.output_weights * norms


def network_hermite_contraction(net, directions, order):
    """:math:`E[f\\,He_m(x)](g_j,\\dots,g_j,\\cdot,\\cdot) = a_m\\sum_i\\lambda_i\\|u_i\\|(\\hat u_i\\cdot g_j)^{m-2}\\hat u_i\\hat u_i^T`,
    shape ``(r, d, d)``."""
    U, weights = _unit_neurons(net)
    coef = relu_hermite_coefficient(order) * weights[None, :] * (directions @ U.T) ** (order - 2)
    return np.einsum("ri,ia,ib->rab", coef, U, U)


def network_projected_tensor(net, P, order):
    """:math:`E[f\\,He_m(P^Tx)] = a_m\\sum_i\\lambda_i\\|u_i\\|(P^T\\hat u_i)^{\\otimes m}` (size :math:`k^m`)."""
    U, weights = _unit_neurons(net)
    V = U @ P
    k = P.shape[1]
    out = np.zeros((k,) * order)
    for w, v in zip(weights, V):
        term = np.array(w * relu_hermite_coefficient(order))
        for _ in range(order):
            term = np.multiply.outer(term, v)
        out += term
    return out
