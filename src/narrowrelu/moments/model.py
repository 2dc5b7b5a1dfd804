"""Exact Hermite moments of a ReLU network under Gaussian inputs.

For :math:`f(x) = b + w\\cdot x + \\sum_i\\lambda_i\\mathrm{relu}(u_i\\cdot x)` and even
:math:`m\\ge 2`, since :math:`\\mathrm{relu}(u\\cdot x) = \\|u\\|\\,\\mathrm{relu}(\\hat u\\cdot x)`,

.. math::

    E[f(x)\\,He_m(x)] = a_m\\sum_i\\lambda_i\\|u_i\\|\\,\\hat u_i^{\\otimes m}.

With hidden biases,
:math:`\\mathrm{relu}(u\\cdot x + \\beta) = \\|u\\|\\,\\mathrm{relu}(\\hat u\\cdot x + \\beta/\\|u\\|)` and, for every
:math:`m\\ge 2` (odd orders no longer vanish),

.. math::

    E[f(x)\\,He_m(x)] = \\sum_i\\lambda_i\\|u_i\\|\\,c_m(\\beta_i/\\|u_i\\|)\\,\\hat u_i^{\\otimes m},

with :math:`c_m(\\beta) = \\varphi(\\beta)He_{m-2}(-\\beta)`
(:func:`narrowrelu.hermite.biased_relu_hermite_coefficient`):
the same rank-:math:`k` symmetric tensors, with a weight per neuron and order. A zero row contributes
only to the orders 0 and 1 (it is the constant :math:`\\mathrm{relu}(\\beta)`).

The learner uses these as control variates: the moments of :math:`y` are estimated as the
empirical moments of the residual :math:`y - g(x)` plus the exact moments of the current model
:math:`g`. The estimate stays unbiased, and its variance is that of the residual, which shrinks
as the model improves.
"""

import numpy as np

from ..hermite import biased_relu_hermite_coefficient, relu_hermite_coefficient


def _unit_neurons(net):
    norms = np.linalg.norm(net.hidden_weights, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    return net.hidden_weights / safe[:, None], net.output_weights * norms


def neuron_coefficients(net, order):
    """The Hermite coefficient of each neuron at ``order >= 2``: :math:`a_m` (a float) for a network
    without biases, else the array :math:`c_m(\\beta_i/\\|u_i\\|)` (0 for zero rows)."""
    if not net.has_biases:
        return relu_hermite_coefficient(order)
    norms = np.linalg.norm(net.hidden_weights, axis=1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        h = net.hidden_biases / norms
    finite = np.isfinite(h)
    return np.where(finite, biased_relu_hermite_coefficient(order, np.where(finite, h, 0.0)), 0.0)


def network_hermite_contraction(net, directions, order):
    """The contraction along each direction :math:`g_j`, shape ``(r, d, d)``:

    .. math::

        E[f\\,He_m(x)](g_j,\\dots,g_j,\\cdot,\\cdot)
            = \\sum_i\\lambda_i\\|u_i\\|c_{m,i}(\\hat u_i\\cdot g_j)^{m-2}\\hat u_i\\hat u_i^T,

    with :math:`c_{m,i}` from :func:`neuron_coefficients`."""
    U, weights = _unit_neurons(net)
    coef = neuron_coefficients(net, order) * weights[None, :] * (directions @ U.T) ** (order - 2)
    return np.einsum("ri,ia,ib->rab", coef, U, U)


def network_projected_tensor(net, P, order):
    """:math:`E[f\\,He_m(P^Tx)] = \\sum_i\\lambda_i\\|u_i\\|c_{m,i}(P^T\\hat u_i)^{\\otimes m}` (size :math:`k^m`)."""
    U, weights = _unit_neurons(net)
    coefs = np.broadcast_to(neuron_coefficients(net, order), weights.shape)
    V = U @ P
    k = P.shape[1]
    out = np.zeros((k,) * order)
    for w, c, v in zip(weights, coefs, V):
        term = np.array(w * c)
        for _ in range(order):
            term = np.multiply.outer(term, v)
        out += term
    return out
