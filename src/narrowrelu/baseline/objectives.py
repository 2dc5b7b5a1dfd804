"""Objectives of the GD baseline over one flat parameter vector :math:`\\theta = (\\mathrm{vec}\\,W, a, b)`:
the empirical loss of a sample and the exact Gaussian population loss against a known teacher,
each with weight decay, and the layout helpers (initialisation, masks of trained parts).

.. math::

    L_n(W, a, b) = \\frac{1}{2n}\\sum_{i=1}^n (g(x_i) - y_i)^2 + \\frac\\alpha2(\\|W\\|_F^2 + \\|a\\|^2)

A student with hidden biases :math:`c` (``biased``) works on
:math:`\\theta = (\\mathrm{vec}\\,W, a, c, b)` (:func:`narrowrelu.network.pack_parameters`), with no decay on
:math:`c`; every other block keeps its offset.
"""

import numpy as np

from ..network import pack_parameters, unpack_parameters
from ._kernels import population_loss_gradient_kernel
from .biased_population_loss import biased_loss_gradient_trusted


def xavier_init(n_features, n_neurons, rng, init_scale=1.0):
    """Hidden rows :math:`W = (\\mathrm{randn}(d, m)/\\sqrt d)^T\\cdot` ``init_scale``, the
    Safran–Shamir initialisation (each column of the :math:`d\\times m` draw is one neuron)."""
    return np.ascontiguousarray((rng.standard_normal((n_features, n_neurons)) / np.sqrt(n_features)).T) * init_scale


def trained_mask(n_neurons, n_features, train_output_weights, fit_intercept, biased=False,
                 train_biases=None):
    """Boolean mask of the trained entries of the flat vector; with ``biased`` the biases are
    trained unless ``train_biases`` is false (a bias-free student on the biased layout)."""
    md = n_neurons * n_features
    mask = np.ones(md + n_neurons * (2 if biased else 1) + 1, dtype=bool)
    mask[md:md + n_neurons] = bool(train_output_weights)
    if biased:
        mask[md + n_neurons:-1] = True if train_biases is None else bool(train_biases)
    mask[-1] = bool(fit_intercept)
    return mask


def decay_vector(n_neurons, n_features, alpha, train_output_weights, biased=False):
    """Per-entry weight-decay coefficients: :math:`\\alpha` on :math:`W` (and on :math:`a` when
    trained), 0 on the biases :math:`c` and on :math:`b`."""
    md = n_neurons * n_features
    decay = np.zeros(md + n_neurons * (2 if biased else 1) + 1)
    decay[:md] = float(alpha)
    if train_output_weights:
        decay[md:md + n_neurons] = float(alpha)
    return decay


def empirical_loss_gradient(W, a, b, X, y):
    """:math:`\\tfrac1{2n}\\sum_i(g(x_i)-y_i)^2` and its gradient.

    .. math::

        \\nabla_{w_j} = \\frac1n\\sum_i r_i\\,a_j\\,1[w_j\\cdot x_i>0]\\,x_i,\\quad
        \\partial_{a_j} = \\frac1n\\sum_i r_i\\,\\mathrm{relu}(w_j\\cdot x_i),\\quad
        \\partial_b = \\frac1n\\sum_i r_i,

    with residuals :math:`r_i = g(x_i) - y_i`.

    Returns
    -------
    loss : float
    grad_hidden : ndarray of shape (m, d)
    grad_output : ndarray of shape (m,)
    grad_intercept : float
    """
    n = X.shape[0]
    pre = X @ W.T
    act = np.maximum(pre, 0.0)
    r = act @ a + b - y
    weighted = (pre > 0) * (r[:, None] * a[None, :])
    return 0.5 * float(r @ r) / n, (weighted.T @ X) / n, (act.T @ r) / n, float(r.sum()) / n


def biased_empirical_loss_gradient(W, c, a, b, X, y):
    """:func:`empirical_loss_gradient` of a student with hidden biases :math:`c`:
    :math:`\\partial_{c_j} = \\frac1n\\sum_i r_i\\,a_j\\,1[w_j\\cdot x_i + c_j>0]`.

    Returns
    -------
    loss : float
    grad_hidden : ndarray of shape (m, d)
    grad_biases : ndarray of shape (m,)
    grad_output : ndarray of shape (m,)
    grad_intercept : float
    """
    n = X.shape[0]
    pre = X @ W.T + c
    act = np.maximum(pre, 0.0)
    r = act @ a + b - y
    weighted = (pre > 0) * (r[:, None] * a[None, :])
    return (0.5 * float(r @ r) / n, (weighted.T @ X) / n, weighted.sum(axis=0) / n, (act.T @ r) / n,
            float(r.sum()) / n)


class PopulationObjective:
    """The exact population objective of a student of width ``n_neurons`` against a teacher,
    as a function of the flat vector (numba gradient, see :mod:`narrowrelu.baseline._kernels`).

    With ``biased`` (on the biased layout, see the module docstring) it is computed by
    :func:`~narrowrelu.baseline.biased_population_loss.biased_loss_gradient_trusted`; a teacher with
    biases needs it."""

    def __init__(self, terms, n_neurons, decay, biased=False):
        if terms.has_biases and not biased:
            raise ValueError("a teacher with hidden biases needs the biased objective (biased=True)")
        self.terms = terms
        self.m = n_neurons
        self.d = terms.n_features
        self.decay = decay
        self.biased = bool(biased)
        self.scratch = (np.empty(self.m), np.empty((self.m, self.d)), np.empty((self.m, self.d)), np.empty(self.m))

    def teacher_arguments(self):
        t = self.terms
        return (
            t.hidden_weights, t.hidden_norms, t.unit_hidden_weights, t.output_weights, t.linear_weights,
            t.intercept, t.relu_mean, t.second_moment,
        )

    def __call__(self, theta, rows=None):
        if self.biased:
            W, a, _, b, c = unpack_parameters(theta, self.m, self.d, linear=False, biased=True)
            loss, gW, gc, ga, gb = biased_loss_gradient_trusted(W, c, a, b, self.terms)
            grad = pack_parameters(gW, ga, None, gb, gc)
            return loss + 0.5 * float(self.decay @ (theta * theta)), grad + self.decay * theta
        W, a, _, b = unpack_parameters(theta, self.m, self.d, linear=False)
        W_norm, W_hat, grad_W, grad_a = self.scratch
        loss, grad_b = population_loss_gradient_kernel(
            np.ascontiguousarray(W), np.ascontiguousarray(a), b, *self.teacher_arguments(), W_norm, W_hat, grad_W,
            grad_a)
        grad = pack_parameters(grad_W, grad_a, None, grad_b)
        return loss + 0.5 * float(self.decay @ (theta * theta)), grad + self.decay * theta

    def data_loss(self, theta):
        """The population loss without weight decay."""
        return self(theta)[0] - 0.5 * float(self.decay @ (theta * theta))


class EmpiricalObjective:
    """The empirical objective on ``(X, y)`` (rows ``rows`` of it when given) with weight decay."""

    def __init__(self, X, y, n_neurons, decay, biased=False):
        self.X, self.y = X, y
        self.m = n_neurons
        self.d = X.shape[1]
        self.decay = decay
        self.biased = bool(biased)

    def __call__(self, theta, rows=None):
        X, y = (self.X, self.y) if rows is None else (self.X[rows], self.y[rows])
        if self.biased:
            W, a, _, b, c = unpack_parameters(theta, self.m, self.d, linear=False, biased=True)
            loss, gW, gc, ga, gb = biased_empirical_loss_gradient(W, c, a, b, X, y)
            grad = pack_parameters(gW, ga, None, gb, gc)
        else:
            W, a, _, b = unpack_parameters(theta, self.m, self.d, linear=False)
            loss, gW, ga, gb = empirical_loss_gradient(W, a, b, X, y)
            grad = pack_parameters(gW, ga, None, gb)
        return loss + 0.5 * float(self.decay @ (theta * theta)), grad + self.decay * theta

    def data_loss(self, theta):
        if self.biased:
            W, a, _, b, c = unpack_parameters(theta, self.m, self.d, linear=False, biased=True)
            return biased_empirical_loss_gradient(W, c, a, b, self.X, self.y)[0]
        W, a, _, b = unpack_parameters(theta, self.m, self.d, linear=False)
        return empirical_loss_gradient(W, a, b, self.X, self.y)[0]
