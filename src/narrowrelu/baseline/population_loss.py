"""Exact population loss of a ReLU student against a known teacher, and its gradient.

Student :math:`g(x) = b + \\sum_{j\\le m} a_j\\,\\mathrm{relu}(w_j\\cdot x)`; teacher
:math:`f(x) = \\beta + v\\cdot x + \\sum_{i\\le k}\\lambda_i\\,\\mathrm{relu}(u_i\\cdot x)`;
:math:`x\\sim N(0, I_d)`. The objective is

.. math::

    L(W, a, b) = \\tfrac12\\,E\\big[(g(x) - f(x))^2\\big].

With :math:`\\kappa(w, u) = E[\\mathrm{relu}(w\\cdot x)\\mathrm{relu}(u\\cdot x)]
= \\frac{\\|w\\|\\|u\\|}{2\\pi}(\\sin\\theta + (\\pi-\\theta)\\cos\\theta)`, :math:`\\theta` the angle
between :math:`w` and :math:`u`, and :math:`E[\\mathrm{relu}(w\\cdot x)] = \\|w\\|/\\sqrt{2\\pi}`,
:math:`E[\\mathrm{relu}(w\\cdot x)\\,(v\\cdot x)] = w\\cdot v/2`, the loss is a closed form in
:math:`(W, a, b)`. Differentiating :math:`\\kappa` (using
:math:`\\partial\\theta/\\partial w = -(\\hat u - \\cos\\theta\\,\\hat w)/(\\|w\\|\\sin\\theta)`; the
:math:`\\theta`-derivative of the bracket is :math:`-(\\pi-\\theta)\\sin\\theta`) gives

.. math::

    \\nabla_w\\kappa(w, u) = \\frac{1}{2\\pi}\\big(\\|u\\|\\sin\\theta\\;\\hat w + (\\pi-\\theta)\\,u\\big),

which also holds at :math:`u = w` (:math:`\\theta = 0`: :math:`\\nabla_w\\kappa = w/2`, half of
:math:`\\nabla_w\\|w\\|^2/2`). Stacking the student and teacher neurons as :math:`z_l` with
coefficients :math:`c = (a, -\\lambda)`,

.. math::

    \\partial L/\\partial a_j &= \\sum_l c_l\\,\\kappa(w_j, z_l)
        + (b - \\beta)\\frac{\\|w_j\\|}{\\sqrt{2\\pi}} - \\frac{w_j\\cdot v}{2},\\\\
    \\nabla_{w_j} L &= a_j\\Big[\\frac{1}{2\\pi}\\sum_l c_l\\big(\\|z_l\\|\\sin\\theta_{jl}\\,\\hat w_j
        + (\\pi-\\theta_{jl})\\,z_l\\big) + (b-\\beta)\\frac{\\hat w_j}{\\sqrt{2\\pi}} - \\frac v2\\Big],\\\\
    \\partial L/\\partial b &= E[g] - E[f]
        = b + \\sum_j a_j\\frac{\\|w_j\\|}{\\sqrt{2\\pi}} - \\beta - \\sum_i\\lambda_i\\frac{\\|u_i\\|}{\\sqrt{2\\pi}}.

A zero row :math:`w_j` has :math:`\\hat w_j = 0` (the one-sided choice: the loss is not
differentiable there). Angles are computed as in :func:`narrowrelu.metrics.relu_angles`, accurate for nearly
parallel neurons, so the gradient keeps full precision at the global minimum.
"""

from dataclasses import dataclass

import numpy as np

from .._validation import check_finite_array
from ..biased_kernel import biased_relu_mean
from ..metrics import population_inner_product, unit_row_angles
from ..network import as_relu_network
from .biased_population_loss import biased_loss_gradient_trusted

_INV_2PI = 1.0 / (2.0 * np.pi)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


@dataclass(frozen=True)
class TeacherTerms:
    """The parts of a teacher that the population loss reads, computed once.

    Attributes
    ----------
    hidden_weights : ndarray of shape (k, d)
    output_weights : ndarray of shape (k,)
    linear_weights : ndarray of shape (d,)
    intercept : float
    relu_mean : float
        :math:`\\sum_i\\lambda_i\\|u_i\\|/\\sqrt{2\\pi}`, the mean of the ReLU part.
    second_moment : float
        :math:`E[f(x)^2]`.
    hidden_norms : ndarray of shape (k,)
    unit_hidden_weights : ndarray of shape (k, d)
        Rows scaled to unit norm (zero rows stay zero).
    all_nonzero : bool
        Whether every teacher row is non-zero.
    hidden_biases : ndarray of shape (k,) or None
        The teacher's biases :math:`\\gamma_i`; ``None`` for a teacher without biases (whose loss
        the bias-free formulas and kernels compute).
    """

    hidden_weights: np.ndarray
    output_weights: np.ndarray
    linear_weights: np.ndarray
    intercept: float
    relu_mean: float
    second_moment: float
    hidden_norms: np.ndarray
    unit_hidden_weights: np.ndarray
    all_nonzero: bool
    hidden_biases: np.ndarray = None

    @property
    def n_features(self):
        return self.hidden_weights.shape[1]

    @property
    def has_biases(self):
        return self.hidden_biases is not None


def teacher_terms(teacher, n_features=None):
    """Read a teacher (a :class:`~narrowrelu.ReLUNetwork` or anything exporting one) once.

    Raises ``ValueError`` when ``teacher`` is ``None``, is not a network, or has
    ``n_features`` different from the one given.
    """
    if teacher is None:
        raise ValueError("a teacher is required for the population loss, got None")
    try:
        net = as_relu_network(teacher)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    if n_features is not None and net.n_features != n_features:
        raise ValueError(
            f"the teacher has input dimension {net.n_features} but the student has {n_features} "
            "features; they must match"
        )
    U = np.ascontiguousarray(net.hidden_weights)
    lam = np.ascontiguousarray(net.output_weights)
    norms = np.linalg.norm(U, axis=1)
    unit = U / np.where(norms > 0, norms, 1.0)[:, None]
    biases = np.ascontiguousarray(net.hidden_biases) if net.has_biases else None
    if net.has_biases:
        relu_mean = float(lam @ biased_relu_mean(norms, biases))
    else:
        relu_mean = float(lam @ norms) * _INV_SQRT_2PI
    return TeacherTerms(
        U, lam, np.ascontiguousarray(net.linear_weights), float(net.intercept),
        relu_mean, population_inner_product(net, net),
        norms, np.ascontiguousarray(unit), bool(np.all(norms > 0)), biases,
    )


def check_student(hidden_weights, output_weights, intercept=0.0):
    """Validate student parameters; return float64 C-contiguous ``(W, a, b)``."""
    W = check_finite_array(hidden_weights, "hidden_weights", ndim=2)
    a = check_finite_array(output_weights, "output_weights", ndim=1)
    if a.shape[0] != W.shape[0]:
        raise ValueError(
            f"hidden_weights has {W.shape[0]} neurons (rows) but output_weights has {a.shape[0]} entries"
        )
    if W.shape[0] < 1 or W.shape[1] < 1:
        raise ValueError(f"hidden_weights must have at least one row and one column, got shape {W.shape}")
    b = float(check_finite_array(intercept, "intercept", ndim=0))
    return W, a, b


def population_loss_gradient(hidden_weights, output_weights, intercept, teacher):
    """Exact :math:`L = \\tfrac12E[(g-f)^2]` and its gradient for Gaussian inputs.

    Parameters
    ----------
    hidden_weights : array-like of shape (m, d)
        Student rows :math:`w_j`.
    output_weights : array-like of shape (m,)
        Student output weights :math:`a_j`.
    intercept : float
        Student constant :math:`b`.
    teacher : ReLUNetwork, Teacher, TeacherTerms or fitted estimator
        The target :math:`f`, with any linear part and intercept.

    Returns
    -------
    loss : float
    grad_hidden : ndarray of shape (m, d)
    grad_output : ndarray of shape (m,)
    grad_intercept : float

    Notes
    -----
    The formulas are in the module docstring. Cost :math:`O(m(m+k)d)`.

    Examples
    --------
    >>> import numpy as np
    >>> from narrowrelu import Teacher
    >>> from narrowrelu.baseline.population_loss import population_loss_gradient
    >>> t = Teacher.orthonormal(3)
    >>> loss, gW, ga, gb = population_loss_gradient(np.eye(3), np.ones(3), 0.0, t)
    >>> bool(abs(loss) < 1e-12 and np.abs(gW).max() < 1e-12)
    True
    """
    W, a, b = check_student(hidden_weights, output_weights, intercept)
    terms = _terms_for(teacher, W)
    if terms.has_biases:
        loss, grad_W, _, grad_a, grad_b = biased_loss_gradient_trusted(W, np.zeros(W.shape[0]), a, b, terms)
        return loss, grad_W, grad_a, grad_b
    return loss_gradient_trusted(W, a, b, terms)


def _terms_for(teacher, W):
    terms = teacher if isinstance(teacher, TeacherTerms) else teacher_terms(teacher, W.shape[1])
    if terms.n_features != W.shape[1]:
        raise ValueError(
            f"the teacher has input dimension {terms.n_features} but the student has {W.shape[1]} features"
        )
    return terms


def biased_population_loss_gradient(hidden_weights, hidden_biases, output_weights, intercept, teacher):
    """Exact :math:`L = \\tfrac12E[(g-f)^2]` and its gradient for a student with hidden biases,
    :math:`g(x) = b + \\sum_j a_j\\mathrm{relu}(w_j\\cdot x + c_j)`, against any teacher (with or without
    biases); formulas in :mod:`narrowrelu.baseline.biased_population_loss`.

    Returns
    -------
    loss : float
    grad_hidden : ndarray of shape (m, d)
    grad_biases : ndarray of shape (m,)
    grad_output : ndarray of shape (m,)
    grad_intercept : float

    Examples
    --------
    >>> import numpy as np
    >>> from narrowrelu import Teacher
    >>> from narrowrelu.baseline.population_loss import biased_population_loss_gradient
    >>> t = Teacher.random(3, 2, bias_scale=1.0, random_state=0)
    >>> U, c, lam = t.hidden_weights, t.hidden_biases, t.output_weights
    >>> loss, gW, gc, ga, gb = biased_population_loss_gradient(U, c, lam, 0.0, t)
    >>> bool(loss < 1e-12 and np.abs(gW).max() < 1e-12 and np.abs(gc).max() < 1e-12)
    True
    """
    W, a, b = check_student(hidden_weights, output_weights, intercept)
    c = check_finite_array(hidden_biases, "hidden_biases", ndim=1)
    if c.shape[0] != W.shape[0]:
        raise ValueError(f"hidden_biases has {c.shape[0]} entries, expected one per neuron ({W.shape[0]})")
    return biased_loss_gradient_trusted(W, c, a, b, _terms_for(teacher, W))


def population_loss(hidden_weights, output_weights, intercept, teacher):
    """Exact :math:`\\tfrac12E[(g(x)-f(x))^2]`; see :func:`population_loss_gradient`."""
    return population_loss_gradient(hidden_weights, output_weights, intercept, teacher)[0]


def loss_gradient_trusted(W, a, b, terms):
    """:func:`population_loss_gradient` without input checks (validated float64 arrays)."""
    m = W.shape[0]
    w_norm = np.sqrt(np.einsum("ij,ij->i", W, W))
    w_hat = W / np.where(w_norm > 0, w_norm, 1.0)[:, None]
    Z = np.concatenate([W, terms.hidden_weights])
    z_hat = np.concatenate([w_hat, terms.unit_hidden_weights])
    z_norm = np.concatenate([w_norm, terms.hidden_norms])
    c = np.concatenate([a, -terms.output_weights])
    theta = unit_row_angles(w_hat, z_hat)
    if not (np.all(w_norm > 0) and terms.all_nonzero):
        theta[(w_norm[:, None] == 0) | (z_norm[None, :] == 0)] = 0.5 * np.pi
    sin, cos = np.sin(theta), np.cos(theta)
    pi_minus = np.pi - theta
    kernel = (w_norm[:, None] * z_norm[None, :]) * (sin + pi_minus * cos) * _INV_2PI
    self_part = kernel[:, :m] @ a
    teacher_part = kernel[:, m:] @ terms.output_weights
    v = terms.linear_weights
    db = b - terms.intercept
    wv = W @ v
    student_relu_mean = (a @ w_norm) * _INV_SQRT_2PI
    second_g = b * b + 2.0 * b * student_relu_mean + a @ self_part
    cross = (
        b * terms.intercept + b * terms.relu_mean + terms.intercept * student_relu_mean
        + 0.5 * (a @ wv) + a @ teacher_part
    )
    loss = 0.5 * (second_g - 2.0 * cross + terms.second_moment)
    grad_a = self_part - teacher_part + db * _INV_SQRT_2PI * w_norm - 0.5 * wv
    along = ((sin * z_norm) @ c) * _INV_2PI + db * _INV_SQRT_2PI
    grad_W = a[:, None] * (along[:, None] * w_hat + ((pi_minus * c) @ Z) * _INV_2PI - 0.5 * v)
    grad_b = b + student_relu_mean - terms.intercept - terms.relu_mean
    return max(float(loss), 0.0), grad_W, grad_a, float(grad_b)


