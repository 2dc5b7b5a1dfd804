"""Probabilists' Hermite polynomials and the Hermite expansion of the ReLU.

For :math:`t\\sim N(0,1)`, :math:`\\mathrm{relu}(t) = \\sum_m \\frac{a_m}{m!} He_m(t)` with

.. math::

    a_m = E[\\mathrm{relu}(t)\\,He_m(t)] =
    \\begin{cases}
      1/\\sqrt{2\\pi} & m = 0\\\\
      1/2 & m = 1\\\\
      0 & m \\ge 3 \\text{ odd}\\\\
      (-1)^{m/2+1}(m-3)!!/\\sqrt{2\\pi} & m \\ge 2 \\text{ even,}
    \\end{cases}

so that for :math:`f(x)=\\sum_i\\lambda_i\\mathrm{relu}(u_i\\cdot x)` with unit :math:`u_i`,
:math:`E[f(x)\\,He_m(x)] = a_m\\sum_i\\lambda_i u_i^{\\otimes m}` (tensor Hermite polynomial).

With a bias, :math:`\\mathrm{relu}(t+\\beta)` has the coefficients (:func:`biased_relu_hermite_coefficient`)

.. math::

    c_0(\\beta) = \\beta\\Phi(\\beta) + \\varphi(\\beta),\\quad c_1(\\beta) = \\Phi(\\beta),\\quad
    c_m(\\beta) = \\varphi(\\beta)\\,He_{m-2}(-\\beta)\\ (m\\ge2),

by Stein's identity :math:`E[g(t)He_m(t)] = E[g^{(m)}(t)]` applied with :math:`g'' = \\delta_{-\\beta}` and
:math:`E[\\delta^{(j)}_{-\\beta}(t)] = (-1)^j\\varphi^{(j)}(-\\beta) = \\varphi(\\beta)He_j(-\\beta)`;
:math:`c_m(0) = a_m`. A neuron :math:`\\mathrm{relu}(u\\cdot x+\\beta)` has
:math:`E[\\,\\cdot\\,He_m(x)] = \\|u\\|\\,c_m(\\beta/\\|u\\|)\\,\\hat u^{\\otimes m}`.
"""

import math

import numpy as np

from ._validation import check_positive_int


def relu_hermite_coefficient(m):
    """Exact :math:`a_m = E[\\mathrm{relu}(t)He_m(t)]`, :math:`t\\sim N(0,1)`, for any integer ``m >= 0``.

    Examples
    --------
    >>> from narrowrelu import relu_hermite_coefficient
    >>> round(relu_hermite_coefficient(4), 4)
    -0.3989
    """
    m = check_positive_int(m, "m", minimum=0)
    if m == 0:
        return 1.0 / math.sqrt(2.0 * math.pi)
    if m == 1:
        return 0.5
    if m % 2:
        return 0.0
    sign = -1.0 if (m // 2) % 2 == 0 else 1.0
    return sign * _double_factorial(m - 3) / math.sqrt(2.0 * math.pi)


def biased_relu_hermite_coefficient(m, beta):
    """Exact :math:`c_m(\\beta) = E[\\mathrm{relu}(t+\\beta)He_m(t)]`, :math:`t\\sim N(0,1)`, for any
    integer ``m >= 0`` and an array (or float) ``beta`` (formulas in the module docstring).

    Examples
    --------
    >>> from narrowrelu.hermite import biased_relu_hermite_coefficient
    >>> round(float(biased_relu_hermite_coefficient(4, 0.0)), 4)  # a_4
    -0.3989
    >>> float(biased_relu_hermite_coefficient(4, 1.0))  # He_2(-1) = 0: blind at order 4
    0.0
    """
    from scipy.special import ndtr

    m = check_positive_int(m, "m", minimum=0)
    beta = np.asarray(beta, dtype=np.float64)
    pdf = np.exp(-0.5 * beta * beta) / math.sqrt(2.0 * math.pi)
    if m == 0:
        return beta * ndtr(beta) + pdf
    if m == 1:
        return ndtr(beta)
    return pdf * hermite_e(m - 2, -beta)


def _double_factorial(n):
    return math.prod(range(n, 0, -2)) if n > 0 else 1


def hermite_e(m, t):
    """:math:`He_m(t)` by the recurrence :math:`He_{m+1}(t) = t\\,He_m(t) - m\\,He_{m-1}(t)`
    (:func:`directional_hermite` along a unit direction)."""
    return directional_hermite(m, t, 1.0)


def directional_hermite(m, s, sq_norm):
    """:math:`H_m(s; \\|g\\|^2) = \\|g\\|^m He_m(s/\\|g\\|)` with :math:`s = g\\cdot x`.

    The homogeneous form of :math:`He_m` along a direction :math:`g` of any norm (zero
    included): :math:`H_0=1`, :math:`H_1=s`, :math:`H_{m+1} = s H_m - m\\|g\\|^2 H_{m-1}`.
    """
    m = check_positive_int(m, "m", minimum=0)
    s = np.asarray(s, dtype=np.float64)
    prev, cur = np.ones_like(s), s.copy()
    if m == 0:
        return prev
    for j in range(1, m):
        prev, cur = cur, s * cur - j * sq_norm * prev
    return cur


def pairings(slots, n_pairs):
    """All ways to choose ``n_pairs`` disjoint unordered pairs from ``slots`` (a tuple)."""
    if n_pairs == 0:
        yield ()
        return
    for i, first in enumerate(slots):
        for j in range(i + 1, len(slots)):
            second = slots[j]
            rest = tuple(s for s in slots[i + 1:] if s != second)
            for tail in pairings(rest, n_pairs - 1):
                yield ((first, second),) + tail


def hermite_from_raw_moments(raw_moments, order):
    """Assemble :math:`E[y\\,He_m(z)]` from raw moments :math:`R_j = E[y\\,z^{\\otimes j}]`.

    .. math::

        He_m(z) = \\sum_{p} (-1)^p \\sum_{\\text{p disjoint pairs}} z^{\\otimes(m-2p)}\\otimes I^{\\otimes p}

    summed over every choice of pairs among the :math:`m` slots (each pair carries a Kronecker
    delta). ``raw_moments`` maps ``j`` to the order-``j`` array (``j = m, m-2, ...``).
    """
    order = check_positive_int(order, "order", minimum=0)
    letters = "abcdefghijklmnopqrstuvwxyz"[:order]
    top = raw_moments[order]
    k = top.shape[0] if order else 1
    eye = np.eye(k)
    out = np.array(top, dtype=np.float64, copy=True)
    for p in range(1, order // 2 + 1):
        raw = raw_moments[order - 2 * p]
        for pairs in pairings(tuple(range(order)), p):
            paired = {s for pair in pairs for s in pair}
            free = "".join(letters[s] for s in range(order) if s not in paired)
            operands = [raw] + [eye] * p
            spec = ",".join([free] + [letters[a] + letters[b] for a, b in pairs]) + "->" + letters
            out += (-1) ** p * np.einsum(spec, *operands)
    return out


def hermite_tensor(x, order):
    """The explicit tensor :math:`He_m(x)` of one vector ``x`` (a test reference; size d^m)."""
    x = np.asarray(x, dtype=np.float64)
    raw = {j: _outer_power(x, j) for j in range(order % 2, order + 1, 2)}
    return hermite_from_raw_moments(raw, order)


def _outer_power(x, j):
    out = np.array(1.0)
    for _ in range(j):
        out = np.multiply.outer(out, x)
    return out


def symmetric_outer_sum(weights, vectors, order):
    """:math:`\\sum_i w_i v_i^{\\otimes m}`: the population value of a Hermite moment (divided by :math:`a_m`)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    out = np.zeros((vectors.shape[1],) * order)
    for w, v in zip(weights, vectors):
        out += w * _outer_power(v, order)
    return out


__all__ = [
    "relu_hermite_coefficient",
    "hermite_e",
    "directional_hermite",
    "hermite_from_raw_moments",
    "hermite_tensor",
    "symmetric_outer_sum",
    "pairings",
    "biased_relu_hermite_coefficient",
]
