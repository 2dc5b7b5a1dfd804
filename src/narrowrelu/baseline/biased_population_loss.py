"""Exact population loss and gradient of a student with hidden biases,
:math:`g(x) = b + \\sum_j a_j\\,\\mathrm{relu}(w_j\\cdot x + c_j)`, against a teacher
:math:`f(x) = B + v\\cdot x + \\sum_i\\lambda_i\\,\\mathrm{relu}(u_i\\cdot x + \\gamma_i)`, for
:math:`x\\sim N(0, I_d)`.

With the kernel :math:`K(w, c; z, e) = E[\\mathrm{relu}(w\\cdot x+c)\\,\\mathrm{relu}(z\\cdot x+e)]`, the mean
:math:`m(w, c) = \\|w\\|\\varphi(h) + c\\Phi(h)` and
:math:`E[\\mathrm{relu}(w\\cdot x + c)\\,v\\cdot x] = \\Phi(h)\\,w\\cdot v`
(:mod:`narrowrelu.biased_kernel`; :math:`h = c/\\|w\\|`, :math:`k = e/\\|z\\|`, :math:`\\rho, \\sigma` the cosine and
sine of the angle between :math:`w` and :math:`z`),

.. math::

    L = \\tfrac12E[(g-f)^2] = \\tfrac12\\Big(\\sum_{l,l'} \\kappa_l\\kappa_{l'}K_{ll'} + \\dots\\Big),

whose gradient follows from Stein's identity :math:`\\partial_w E[\\mathrm{relu}(w\\cdot x+c)F(x)] =
E[1\\{w\\cdot x+c>0\\}\\,x\\,F(x)] = E[\\nabla_x(1\\{w\\cdot x+c>0\\}F(x))]`:

.. math::

    \\partial_w K &= \\|z\\|\\varphi(h)\\big[(k-\\rho h)\\Phi(q_h) + \\sigma\\varphi(q_h)\\big]\\,\\hat w
        + \\Phi_2(h, k; \\rho)\\,z,\\\\
    \\partial_c K &= \\|z\\|\\big[k\\,\\Phi_2(h, k; \\rho) + \\varphi(k)\\Phi(q_k)
        + \\rho\\,\\varphi(h)\\Phi(q_h)\\big],\\\\
    \\partial_w m &= \\varphi(h)\\hat w,\\quad \\partial_c m = \\Phi(h),\\quad
    \\partial_w[\\Phi(h)\\,w\\cdot v] = \\Phi(h)v - h\\varphi(h)(\\hat w\\cdot v)\\hat w,\\quad
    \\partial_c[\\Phi(h)\\,w\\cdot v] = \\varphi(h)\\,\\hat w\\cdot v,

with :math:`q_h = (k-\\rho h)/\\sigma`, :math:`q_k = (h-\\rho k)/\\sigma` (the bracket of :math:`\\partial_w K` is
:math:`\\mathrm{relu}(k-\\rho h)` at :math:`\\sigma = 0`). At :math:`c = e = 0` these are the bias-free formulas
of :mod:`narrowrelu.baseline.population_loss`. Then, with :math:`\\kappa = (a, -\\lambda)` over the student's
and the teacher's neurons and :math:`\\Delta = b - B`,

.. math::

    \\partial_{a_j} L &= \\textstyle\\sum_l\\kappa_l K_{jl} + \\Delta\\,m_j - \\Phi(h_j)\\,w_j\\cdot v,\\qquad
    \\partial_b L = b + \\sum_j a_j m_j - B - \\sum_i\\lambda_i m_i^{f},\\\\
    \\nabla_{w_j} L &= a_j\\big(\\textstyle\\sum_l\\kappa_l\\partial_w K_{jl} + \\Delta\\,\\partial_w m_j
        - \\partial_w[\\Phi(h_j)\\,w_j\\cdot v]\\big),

and :math:`\\partial_{c_j}L` likewise. A *flat* neuron (zero row: the constant :math:`\\mathrm{relu}(c)`) enters with
:math:`\\hat w = 0` and :math:`h = \\pm 40` by the sign of :math:`c` (:math:`\\Phi(h)` is then exactly
:math:`1\\{c>0\\}` and :math:`\\varphi(h)` exactly 0): the one-sided derivative, as a zero row of the bias-free loss.
"""

import numpy as np
from scipy.special import ndtr

from ..biased_kernel import normal_pdf, pair_terms, split_rows

# the standardised bias of a flat neuron: Phi(+-40) is exactly 1 or 0 and phi(40) exactly 0 in float64
_FLAT_H = 40.0


def _standardised(norms, biases, flat):
    with np.errstate(divide="ignore", invalid="ignore"):
        h = biases / np.where(flat, 1.0, norms)
    return np.where(flat, np.where(biases > 0, _FLAT_H, -_FLAT_H), h)


def biased_loss_gradient_trusted(W, c, a, b, terms):
    """:math:`\\tfrac12E[(g-f)^2]` and its gradient ``(loss, grad_W, grad_c, grad_a, grad_b)`` for a
    student ``(W, c, a, b)`` with biases against :class:`~narrowrelu.baseline.population_loss.TeacherTerms`
    (formulas in the module docstring; validated float64 arrays)."""
    gamma = terms.hidden_biases if terms.hidden_biases is not None else np.zeros(terms.output_weights.shape)
    Z = np.concatenate([W, terms.hidden_weights])
    e = np.concatenate([c, gamma])
    coef = np.concatenate([a, -terms.output_weights])
    nw, w_hat, flat_w = split_rows(W, c)
    nz, z_hat, flat_z = split_rows(Z, e)
    w_hat[flat_w] = 0.0
    z_hat[flat_z] = 0.0
    h = _standardised(nw, c, flat_w)
    k = _standardised(nz, e, flat_z)
    t = pair_terms(w_hat, h, z_hat, k)
    H, E, NZ, NW = h[:, None], e[None, :], nz[None, :], nw[:, None]
    pdf_h, Phi_h = normal_pdf(h), ndtr(h)
    kernel = ((c[:, None] * E + t.rho * NW * NZ) * t.P + E * NW * t.pdf_h * t.Phi_qh
              + c[:, None] * NZ * t.pdf_k * t.Phi_qk + t.sigma * NW * NZ * t.pdf_h * t.phi_qh)
    along = t.pdf_h * ((E - t.rho * H * NZ) * t.Phi_qh + t.sigma * NZ * t.phi_qh)
    d_bias = E * t.P + NZ * t.pdf_k * t.Phi_qk + t.rho * NZ * t.pdf_h * t.Phi_qh
    m = W.shape[0]
    mean = nw * pdf_h + c * Phi_h
    v = terms.linear_weights
    wv = W @ v
    w_hat_v = w_hat @ v
    delta = b - terms.intercept
    self_part = kernel[:, :m] @ a
    teacher_part = kernel[:, m:] @ terms.output_weights
    second_g = b * b + 2.0 * b * (a @ mean) + a @ self_part
    cross = (b * (terms.intercept + terms.relu_mean) + terms.intercept * (a @ mean)
             + a @ (Phi_h * wv) + a @ teacher_part)
    loss = 0.5 * (second_g - 2.0 * cross + terms.second_moment)
    grad_a = self_part - teacher_part + delta * mean - Phi_h * wv
    grad_W = a[:, None] * (
        (along @ coef)[:, None] * w_hat + (t.P * coef[None, :]) @ Z
        + delta * pdf_h[:, None] * w_hat - (Phi_h[:, None] * v[None, :] - (h * pdf_h * w_hat_v)[:, None] * w_hat)
    )
    grad_c = a * (d_bias @ coef + delta * Phi_h - pdf_h * w_hat_v)
    grad_b = b + a @ mean - terms.intercept - terms.relu_mean
    return max(float(loss), 0.0), grad_W, grad_c, grad_a, float(grad_b)
