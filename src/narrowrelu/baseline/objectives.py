"""Objectives of the GD baseline over one flat parameter vector :math:`\\theta = (\\mathrm{vec}\\,W, a, b)`:
the empirical loss of a sample and the exact Gaussian population loss against a known teacher,
each with weight decay, and the layout helpers (initialisation, masks of trained parts).

.. math::

    L_n(W, a, b) = \\frac{1}{2n}\\sum_{i=1}^n (g(x_i) - y_i)^2 + \\frac\\alpha2(\\|W\\|_F^2 + \\|a\\|^2)
"""

import numpy as np

from ..network import pack_parameters, unpack_parameters
from ._kernels import population_loss_gradient_kernel


def xavier_init(n_features, n_neurons, rng, init_scale=1.0):
    """Hidden rows :math:`W = (\\mathrm{randn}(d, m)/\\sqrt d)^T\\cdot` ``init_scale``, the
    Safran–Shamir initialisation (each column of the :math:`d\\times m` draw is one neuron)."""
    return np.ascontiguousarray((rng.standard_normal((n_features, n_neurons)) / np.sqrt(n_features)).T) * init_scale


def trained_mask(n_neurons, n_features, train_output_weights, fit_intercept):
    """Boolean mask of the trained entries of the flat vector."""
    mask = np.ones(n_neurons * n_features + n_neurons + 1, dtype=bool)
    mask[n_neurons * n_features:-1] = bool(train_output_weights)
    mask[-1] = bool(fit_intercept)
    return mask


def decay_vector(n_neurons, n_features, alpha, train_output_weights):
    """Per-entry weight-decay coefficients: :math:`\\alpha` on :math:`W` (and on :math:`a` when
    trained), 0 on :math:`b`."""
    decay = np.full(n_neurons * n_features + n_neurons + 1, float(alpha))
    if not train_output_weights:
        decay[n_neurons * n_features:] = 0.0
    decay[-1] = 0.0
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


class PopulationObjective:
    """The exact population objective of a student of width ``n_neurons`` against a teacher,
    as a function of the flat vector (numba gradient, see :mod:`narrowrelu.baseline._kernels`)."""

    def __init__(self, terms, n_neurons, decay):
        self.terms = terms
        self.m = n_neurons
        self.d = terms.n_features
        self.decay = decay
        self.scratch = (np.empty(self.m), np.empty((self.m, self.d)), np.empty((self.m, self.d)), np.empty(self.m))

    def teacher_arguments(self):
        t = self.terms
        return (
            t.hidden_weights, t.hidden_norms, t.unit_hidden_weights, t.output_weights, t.linear_weights,
            t.intercept, t.relu_mean, t.second_moment,
        )

    def __call__(self, theta, rows=None):
        W, a, _, b = unpack_parameters(theta, self.m, self.d, linear=False)
        W_norm, W_hat, grad_W, grad_a = self.scratch
        loss, grad_b = population_loss_gradient_kernel(
            np.ascontiguousarray(W), np.ascontiguousarray(a), b, *self.teacher_arguments(), W_norm, W_hat, grad_W, grad_a
        )
        grad = pack_parameters(grad_W, grad_a, None, grad_b)
        return loss + 0.5 * float(self.decay @ (theta * theta)), grad + self.decay * theta

    def data_loss(self, theta):
        """The population loss without weight decay."""
        return self(theta)[0] - 0.5 * float(self.decay @ (theta * theta))


class EmpiricalObjective:
    """The empirical objective on ``(X, y)`` (rows ``rows`` of it when given) with weight decay."""

    def __init__(self, X, y, n_neurons, decay):
        self.X, self.y = X, y
        self.m = n_neurons
        self.d = X.shape[1]
        self.decay = decay

    def __call__(self, theta, rows=None):
        W, a, _, b = unpack_parameters(theta, self.m, self.d, linear=False)
        X, y = (self.X, self.y) if rows is None else (self.X[rows], self.y[rows])
        loss, gW, ga, gb = empirical_loss_gradient(W, a, b, X, y)
        return loss + 0.5 * float(self.decay @ (theta * theta)), pack_parameters(gW, ga, None, gb) + self.decay * theta

    def data_loss(self, theta):
        W, a, _, b = unpack_parameters(theta, self.m, self.d, linear=False)
        return empirical_loss_gradient(W, a, b, self.X, self.y)[0]
