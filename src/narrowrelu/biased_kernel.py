"""Gaussian expectations of ReLUs with biases inside: the kernels of :mod:`narrowrelu.metrics` for
neurons :math:`\\mathrm{relu}(a\\cdot x + \\alpha)`.

For :math:`x\\sim N(0, I_d)` write :math:`a\\cdot x = \\|a\\|S`, :math:`b\\cdot x = \\|b\\|T`: :math:`(S, T)`
is a standard bivariate normal with correlation :math:`\\rho = \\cos\\theta` (:math:`\\theta` the angle
between :math:`a` and :math:`b`, :math:`\\sigma = \\sin\\theta = \\sqrt{1-\\rho^2}`). With
:math:`h = \\alpha/\\|a\\|`, :math:`k = \\beta/\\|b\\|`, :math:`\\varphi, \\Phi` the standard normal density and
distribution function and :math:`\\Phi_2(h, k; \\rho) = P(S\\le h, T\\le k)`:

.. math::

    E[\\mathrm{relu}(a\\cdot x+\\alpha)] &= \\|a\\|\\varphi(h) + \\alpha\\Phi(h),\\qquad
    E[\\mathrm{relu}(a\\cdot x+\\alpha)\\,x] = \\Phi(h)\\,a,\\\\
    E[\\mathrm{relu}(a\\cdot x+\\alpha)\\,\\mathrm{relu}(b\\cdot x+\\beta)] &= \\|a\\|\\|b\\|\\,J(h, k, \\rho),\\\\
    J(h, k, \\rho) &= (hk+\\rho)\\,\\Phi_2(h,k;\\rho) + k\\,\\varphi(h)\\Phi(q_h) + h\\,\\varphi(k)\\Phi(q_k)
        + \\sigma\\varphi(h)\\varphi(q_h),

with :math:`q_h = (k-\\rho h)/\\sigma` and :math:`q_k = (h-\\rho k)/\\sigma`. Derivation: expand
:math:`(S+h)(T+k)` on the event :math:`\\{S>-h, T>-k\\}` (probability :math:`\\Phi_2(h,k;\\rho)`, as
:math:`(-S,-T)` has the law of :math:`(S,T)`) and apply Stein's identity
:math:`E[S\\,g] = E[\\partial_S g] + \\rho E[\\partial_T g]`: the derivative of an indicator is a point
mass, :math:`E[\\delta(S+h)\\,1\\{T>-k\\}] = \\varphi(h)\\Phi(q_h)`, since :math:`T = -\\rho h + \\sigma Z` given
:math:`S=-h`. At :math:`h = k = 0`, :math:`\\Phi_2 = (\\pi-\\theta)/(2\\pi)` and :math:`J` is the bias-free
kernel :math:`(\\sin\\theta + (\\pi-\\theta)\\cos\\theta)/(2\\pi)`.

The bivariate normal CDF is computed in closed form from Owen's :math:`T` function (Owen 1956),
accurate to double precision (``scipy.special.owens_t``):

.. math::

    \\Phi_2(h, k; \\rho) = \\tfrac12\\Phi(h) + \\tfrac12\\Phi(k) - T\\Big(h, \\frac{k-\\rho h}{h\\sigma}\\Big)
        - T\\Big(k, \\frac{h-\\rho k}{k\\sigma}\\Big) - \\tfrac12\\,1\\{hk<0 \\text{ or } (hk=0,\\ h+k<0)\\},

with :math:`T(0, \\pm\\infty) = \\pm\\tfrac14` and :math:`\\Phi_2(0, 0; \\rho) = (\\pi-\\theta)/(2\\pi)`.
Parallel rows (:math:`\\rho = 1`) give :math:`\\Phi_2 = \\Phi(\\min(h,k))`, :math:`J = (1+hk)\\Phi(\\min) +
\\max(h,k)\\varphi(\\min)`; opposite rows (:math:`\\rho=-1`) give :math:`\\Phi_2 = (\\Phi(h)-\\Phi(-k))_+` and
:math:`J = (hk-1)\\Phi_2 + k\\varphi(h) + h\\varphi(k)` when :math:`h+k>0`, else 0: the limits of the
general formula, with :math:`\\Phi(q_h)+\\Phi(q_k)=1` when :math:`q` is :math:`0/0`. A zero row is the
constant :math:`\\mathrm{relu}(\\alpha)`, and so is a row so short that :math:`\\alpha/\\|a\\|` overflows.

Every function takes neurons as norms :math:`\\|a\\|`, unit rows :math:`\\hat a` and biases
:math:`\\alpha`, and is computed in the form :math:`(\\alpha\\beta + \\rho\\|a\\|\\|b\\|)\\Phi_2 + \\dots`
that keeps :math:`hk` from overflowing.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, owens_t

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def normal_pdf(t):
    """:math:`\\varphi(t)`, zero at :math:`\\pm\\infty`."""
    with np.errstate(over="ignore"):
        return _INV_SQRT_2PI * np.exp(-0.5 * np.square(t))


def split_rows(U, biases):
    """Norms, unit rows (zero rows stay zero) and the mask of *flat* neurons: the rows whose
    :math:`\\mathrm{relu}(u\\cdot x + \\beta)` is the constant :math:`\\mathrm{relu}(\\beta)` (zero rows, and rows
    so short that :math:`\\beta/\\|u\\|` overflows)."""
    U = np.asarray(U, dtype=np.float64)
    norms = np.linalg.norm(U, axis=1)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        flat = (norms == 0) | ~np.isfinite(np.asarray(biases, dtype=np.float64) / norms)
    unit = U / np.where(norms > 0, norms, 1.0)[:, None]
    return norms, unit, flat


def standardised_biases(norms, biases, flat):
    """:math:`h = \\beta/\\|u\\|`, 0 on flat neurons (whose terms are replaced by constants)."""
    return np.where(flat, 0.0, np.asarray(biases, dtype=np.float64) / np.where(flat, 1.0, norms))


def cos_sin(Uh, Vh):
    """:math:`\\cos\\theta, \\sin\\theta` of the angles between unit rows, with
    :math:`\\theta = 2\\,\\mathrm{atan2}(\\|\\hat u-\\hat v\\|, \\|\\hat u+\\hat v\\|)`: exact 0 and :math:`\\pi` for
    parallel and opposite rows, full precision near them."""
    diff = np.linalg.norm(Uh[:, None, :] - Vh[None, :, :], axis=2)
    summ = np.linalg.norm(Uh[:, None, :] + Vh[None, :, :], axis=2)
    theta = 2.0 * np.arctan2(diff, summ)
    return np.cos(theta), np.sin(theta), theta


def bivariate_normal_cdf(h, k, rho, sigma=None, theta=None):
    """:math:`\\Phi_2(h, k; \\rho) = P(S\\le h, T\\le k)` for a standard bivariate normal of correlation
    :math:`\\rho`, by Owen's :math:`T` (formula in the module docstring); arrays broadcast.

    ``sigma`` (:math:`\\sqrt{1-\\rho^2}`) and ``theta`` (:math:`\\arccos\\rho`) may be passed when known
    more accurately than from :math:`\\rho`; :math:`\\rho=\\pm1` give the degenerate limits.
    """
    h, k, rho = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (h, k, rho)))
    sigma = np.sqrt(np.maximum(1.0 - rho * rho, 0.0)) if sigma is None else np.broadcast_to(sigma, h.shape)
    theta = np.arccos(np.clip(rho, -1.0, 1.0)) if theta is None else np.broadcast_to(theta, h.shape)
    out = np.empty(h.shape)
    regular = sigma > 0
    both_zero = regular & (h == 0) & (k == 0)
    general = regular & ~both_zero
    hg, kg, rg, sg = h[general], k[general], rho[general], sigma[general]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a_h = (kg - rg * hg) / (hg * sg)
        a_k = (hg - rg * kg) / (kg * sg)
    # h = 0: a_h = (k/0) is +-inf by sign(k) and T(0, +-inf) = +-1/4; likewise for k = 0
    a_h = np.where(hg == 0, np.copysign(np.inf, kg), a_h)
    a_k = np.where(kg == 0, np.copysign(np.inf, hg), a_k)
    correction = np.where((hg * kg < 0) | ((hg * kg == 0) & (hg + kg < 0)), 0.5, 0.0)
    out[general] = 0.5 * ndtr(hg) + 0.5 * ndtr(kg) - owens_t(hg, a_h) - owens_t(kg, a_k) - correction
    out[both_zero] = (np.pi - theta[both_zero]) / (2.0 * np.pi)
    parallel = ~regular & (rho > 0)
    out[parallel] = ndtr(np.minimum(h[parallel], k[parallel]))
    opposite = ~regular & (rho <= 0)
    out[opposite] = np.maximum(ndtr(h[opposite]) - ndtr(-k[opposite]), 0.0)
    return np.clip(out, 0.0, 1.0)


def biased_relu_mean(norms, biases, flat=None):
    """:math:`E[\\mathrm{relu}(u\\cdot x+\\beta)] = \\|u\\|\\varphi(h) + \\beta\\Phi(h)`, :math:`h=\\beta/\\|u\\|`;
    :math:`\\mathrm{relu}(\\beta)` on flat neurons."""
    biases = np.asarray(biases, dtype=np.float64)
    if flat is None:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            flat = (norms == 0) | ~np.isfinite(biases / norms)
    h = standardised_biases(norms, biases, flat)
    return np.where(flat, np.maximum(biases, 0.0), norms * normal_pdf(h) + biases * ndtr(h))


@dataclass(frozen=True)
class PairTerms:
    """The bivariate quantities of every pair (row :math:`i` of one set, row :math:`j` of another)
    that the kernel and its gradient read; arrays of shape ``(m, n)``.

    ``P`` is :math:`\\Phi_2(h_i, k_j; \\rho_{ij})`, ``Phi_qh`` and ``Phi_qk`` are :math:`\\Phi(q_h)`,
    :math:`\\Phi(q_k)`, ``phi_qh`` is :math:`\\varphi(q_h)`; ``pdf_h`` (shape ``(m, 1)``) and ``pdf_k``
    (shape ``(1, n)``) are :math:`\\varphi(h_i)`, :math:`\\varphi(k_j)`.
    """

    rho: np.ndarray
    sigma: np.ndarray
    h: np.ndarray
    k: np.ndarray
    P: np.ndarray
    Phi_qh: np.ndarray
    Phi_qk: np.ndarray
    phi_qh: np.ndarray
    pdf_h: np.ndarray
    pdf_k: np.ndarray


def _ratio(num, sigma):
    """:math:`q = \\text{num}/\\sigma`, with the limits :math:`\\pm\\infty` (and 0 for 0/0) at :math:`\\sigma=0`."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(sigma > 0, num / sigma, np.sign(num) * np.inf)


def pair_terms(Uh, h, Vh, k):
    """:class:`PairTerms` of unit rows ``Uh`` with standardised biases ``h`` against ``Vh``, ``k``."""
    rho, sigma, theta = cos_sin(Uh, Vh)
    H, K = h[:, None], k[None, :]
    q_h = _ratio(K - rho * H, sigma)
    q_k = _ratio(H - rho * K, sigma)
    Phi_qh, Phi_qk = ndtr(q_h), ndtr(q_k)
    both_undefined = np.isnan(q_h) | np.isnan(q_k)
    if np.any(both_undefined):  # sigma = 0 and h = rho k: the limits add to 1 (module docstring)
        Phi_qh = np.where(np.isnan(q_h), 0.5, Phi_qh)
        Phi_qk = np.where(np.isnan(q_k), 0.5, Phi_qk)
    phi_qh = np.where(np.isnan(q_h), 0.0, normal_pdf(np.nan_to_num(q_h, nan=0.0)))
    P = bivariate_normal_cdf(np.broadcast_to(H, rho.shape), np.broadcast_to(K, rho.shape), rho, sigma, theta)
    return PairTerms(rho, sigma, H, K, P, Phi_qh, Phi_qk, phi_qh, normal_pdf(H), normal_pdf(K))


def biased_relu_kernel(U, alpha, V, beta):
    """Matrix :math:`K_{ij} = E[\\mathrm{relu}(u_i\\cdot x+\\alpha_i)\\,\\mathrm{relu}(v_j\\cdot x+\\beta_j)]` for
    :math:`x\\sim N(0, I)` (closed form in the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from narrowrelu.biased_kernel import biased_relu_kernel
    >>> float(biased_relu_kernel(np.zeros((1, 2)), [2.0], np.eye(2)[:1], [0.0])[0, 0])  # 2 E[relu(t)]
    0.7978845608028654
    """
    nu, Uh, flat_u = split_rows(U, alpha)
    nv, Vh, flat_v = split_rows(V, beta)
    alpha = np.asarray(alpha, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    return kernel_from_parts(nu, Uh, alpha, flat_u, nv, Vh, beta, flat_v)


def kernel_from_parts(nu, Uh, alpha, flat_u, nv, Vh, beta, flat_v):
    """:func:`biased_relu_kernel` from norms, unit rows, biases and flat masks (:func:`split_rows`)."""
    h = standardised_biases(nu, alpha, flat_u)
    k = standardised_biases(nv, beta, flat_v)
    t = pair_terms(Uh, h, Vh, k)
    scale = nu[:, None] * nv[None, :]
    A, B = alpha[:, None], beta[None, :]
    K = ((A * B + t.rho * scale) * t.P + B * nu[:, None] * t.pdf_h * t.Phi_qh
         + A * nv[None, :] * t.pdf_k * t.Phi_qk + t.sigma * scale * t.pdf_h * t.phi_qh)
    if np.any(flat_u) or np.any(flat_v):
        mean_u = biased_relu_mean(nu, alpha, flat_u)
        mean_v = biased_relu_mean(nv, beta, flat_v)
        K = np.where(flat_u[:, None], np.maximum(A, 0.0) * mean_v[None, :], K)
        K = np.where(flat_v[None, :], mean_u[:, None] * np.maximum(B, 0.0), K)
    return K
