"""One-hidden-layer ReLU networks with a linear part and a constant.

.. math::

    f(x) = b + w \\cdot x
        + \\sum_{i=1}^{k} \\lambda_i \\,\\mathrm{relu}(u_i \\cdot x + \\beta_i)

with hidden biases :math:`\\beta_i` (zero unless given). Teachers, fitted moment learners and GD
students all export this one form, so that
:func:`narrowrelu.population_mse` can score any of them against any other exactly.
"""

import numpy as np

from ._validation import check_data, check_finite_array
from .moments._kernels import project_rows

# below this many neurons the projections x.[w, u_1, ...] go through a numba kernel, several
# times faster than BLAS at such thin shapes
THIN_NEURONS = 32


class ReLUNetwork:
    """A network :math:`f(x) = b + w\\cdot x + \\sum_i \\lambda_i\\,\\mathrm{relu}(u_i\\cdot x + \\beta_i)`.

    Parameters
    ----------
    hidden_weights : array-like of shape (n_neurons, n_features)
        The rows :math:`u_i`. ``n_neurons`` may be zero (a purely affine network); pass an
        array of shape ``(0, n_features)`` then.
    output_weights : array-like of shape (n_neurons,)
        The output weights :math:`\\lambda_i`, of any sign.
    linear_weights : array-like of shape (n_features,), default=None
        The linear part :math:`w`; zero when ``None``.
    intercept : float, default=0.0
        The constant :math:`b`.
    hidden_biases : array-like of shape (n_neurons,), default=None
        The biases :math:`\\beta_i` inside the ReLUs; zero when ``None``.

    Attributes
    ----------
    n_neurons : int
    n_features : int
    has_biases : bool
        Whether some :math:`\\beta_i` is non-zero. A network without biases is evaluated, scored
        and packed exactly as before biases existed.

    Notes
    -----
    The arrays are copied and made read-only: a network never changes after construction and
    never aliases its caller's arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from narrowrelu import ReLUNetwork
    >>> net = ReLUNetwork(np.eye(2), [1.0, -1.0])
    >>> net(np.array([[1.0, 2.0]]))
    array([-1.])
    """

    def __init__(self, hidden_weights, output_weights, linear_weights=None, intercept=0.0, hidden_biases=None):
        U = check_finite_array(hidden_weights, "hidden_weights", ndim=2).copy()
        lam = check_finite_array(output_weights, "output_weights", ndim=1).copy()
        if lam.shape[0] != U.shape[0]:
            raise ValueError(
                f"hidden_weights has {U.shape[0]} neurons (rows) but output_weights has "
                f"{lam.shape[0]} entries; they must have the same length"
            )
        d = U.shape[1]
        if d < 1:
            raise ValueError("hidden_weights must have at least one column (n_features >= 1)")
        if linear_weights is None:
            w = np.zeros(d)
        else:
            w = check_finite_array(linear_weights, "linear_weights", ndim=1).copy()
            if w.shape[0] != d:
                raise ValueError(f"linear_weights has length {w.shape[0]}, expected n_features = {d}")
        b = check_finite_array(intercept, "intercept", ndim=0)
        if hidden_biases is None:
            beta = np.zeros(U.shape[0])
        else:
            beta = check_finite_array(hidden_biases, "hidden_biases", ndim=1).copy()
            if beta.shape[0] != U.shape[0]:
                raise ValueError(f"hidden_biases has {beta.shape[0]} entries, expected one per neuron ({U.shape[0]})")
        for a in (U, lam, w, beta):
            a.setflags(write=False)
        self.hidden_weights = U
        self.output_weights = lam
        self.linear_weights = w
        self.intercept = float(b)
        self.hidden_biases = beta
        self.has_biases = bool(np.any(beta != 0))

    @property
    def n_neurons(self):
        return self.hidden_weights.shape[0]

    @property
    def n_features(self):
        return self.hidden_weights.shape[1]

    def __call__(self, X):
        """Evaluate the network on the rows of ``X`` (shape ``(n_samples, n_features)``)."""
        X = check_data(X, n_features=self.n_features)
        return self.evaluate_trusted(X)

    def evaluate_trusted(self, X):
        """Evaluate on an already-validated float64 array (no checks)."""
        if not self.n_neurons:
            return X @ self.linear_weights + self.intercept
        if X.flags.c_contiguous and self.n_neurons < THIN_NEURONS:
            projections = np.empty((X.shape[0], 1 + self.n_neurons))
            project_rows(X, self._stacked_weights_t(), projections)
        else:
            projections = X @ self._stacked_weights()
        return self.evaluate_projections(projections)

    def evaluate_projections(self, Z):
        """The network from the projections ``Z = X @ [w, u_1, ..., u_k]`` of its inputs
        (the columns of ``_stacked_weights``): :math:`b + z_0 + \\sum_i\\lambda_i\\mathrm{relu}(z_i + \\beta_i)`."""
        out = Z[:, 0] + self.intercept
        if self.n_neurons:
            hidden = Z[:, 1:] + self.hidden_biases if self.has_biases else Z[:, 1:]
            out += np.maximum(hidden, 0.0) @ self.output_weights
        return out

    def _stacked_weights(self):
        """:math:`[w, u_1, \\dots, u_k]` as columns: one GEMM reads ``X`` once for all of them."""
        stacked = self.__dict__.get("_stacked")
        if stacked is None:
            stacked = self.__dict__["_stacked"] = np.ascontiguousarray(
                np.vstack([self.linear_weights, self.hidden_weights]).T
            )
        return stacked

    def _stacked_weights_t(self):
        stacked_t = self.__dict__.get("_stacked_t")
        if stacked_t is None:
            stacked_t = self.__dict__["_stacked_t"] = np.ascontiguousarray(self._stacked_weights().T)
        return stacked_t

    def to_vector(self, biased=False):
        """The flat parameters :math:`(\\mathrm{vec}\\,U, \\lambda, w, b)`, or with ``biased``
        :math:`(\\mathrm{vec}\\,U, \\lambda, w, \\beta, b)` (:func:`pack_parameters`). A network
        with non-zero biases needs ``biased=True``: its biases are never dropped silently."""
        if not biased and self.has_biases:
            raise ValueError("this network has non-zero hidden biases: pack it with to_vector(biased=True)")
        return pack_parameters(self.hidden_weights, self.output_weights, self.linear_weights, self.intercept,
                               self.hidden_biases if biased else None)

    @classmethod
    def from_vector(cls, theta, n_neurons, n_features, biased=False):
        """The network of a vector made by :meth:`to_vector` (with the same ``biased``)."""
        expected = n_parameters(n_neurons, n_features, biased)
        if np.shape(theta) != (expected,):
            raise ValueError(f"theta has shape {np.shape(theta)}, expected ({expected},) for {n_neurons} neurons on "
                             f"{n_features} features{' with biases' if biased else ''}")
        return cls(*unpack_parameters(theta, n_neurons, n_features, biased=biased))

    def relu_network(self):
        """Return ``self``: the protocol by which scoring functions read a network."""
        return self

    def __repr__(self):
        biases = ", biased" if self.has_biases else ""
        return f"{type(self).__name__}(n_neurons={self.n_neurons}, n_features={self.n_features}{biases})"


def as_relu_network(obj):
    """Return the :class:`ReLUNetwork` that ``obj`` stands for.

    The protocol: ``obj`` is a :class:`ReLUNetwork` or has a method ``relu_network()`` returning
    one (teachers and fitted estimators do).
    """
    if isinstance(obj, ReLUNetwork):
        return obj
    method = getattr(obj, "relu_network", None)
    if callable(method):
        net = method()
        if isinstance(net, ReLUNetwork):
            return net
    raise TypeError(
        f"{type(obj).__name__} is not a ReLU network: pass a ReLUNetwork, a Teacher, or a fitted "
        "estimator with a relu_network() method"
    )


def n_parameters(n_neurons, n_features, biased=False):
    """Free parameters of a network with ``n_neurons`` neurons on ``n_features`` inputs:
    :math:`p = k(d+1)+d+1` (directions, output weights, linear part, intercept), and
    :math:`p = k(d+2)+d+1` with hidden biases (``biased``). The parametric rate of a fit is
    :math:`\\sigma^2p/n`."""
    return n_neurons * (n_features + (2 if biased else 1)) + n_features + 1


def pack_parameters(hidden_weights, output_weights, linear_weights, intercept, hidden_biases=None):
    """The flat parameter vector :math:`\\theta = (\\mathrm{vec}\\,U, \\lambda, w, b)` of a network, the
    layout every solver works in (the refinements and the GD baseline). ``linear_weights=None``
    leaves :math:`w` out: :math:`(\\mathrm{vec}\\,U, \\lambda, b)` (the GD student has no linear part).

    With ``hidden_biases`` the biases :math:`\\beta` go just before the intercept,
    :math:`(\\mathrm{vec}\\,U, \\lambda, w, \\beta, b)`: every other block keeps its offset, so
    :func:`unpack_parameters` without ``biased`` still reads :math:`U, \\lambda, w, b` of a biased vector.
    """
    parts = [np.ravel(hidden_weights), output_weights]
    if linear_weights is not None:
        parts.append(linear_weights)
    if hidden_biases is not None:
        parts.append(hidden_biases)
    return np.concatenate(parts + [[intercept]])


def unpack_parameters(theta, n_neurons, n_features, linear=True, biased=False):
    """Views ``(U, lambda, w, b)`` into a vector made by :func:`pack_parameters` (``w`` is ``None``
    when ``linear`` is false); ``b`` is a float. With ``biased``, ``(U, lambda, w, b, beta)``, the
    order of :class:`ReLUNetwork`'s arguments."""
    kd = n_neurons * n_features
    U = theta[:kd].reshape(n_neurons, n_features)
    lam = theta[kd:kd + n_neurons]
    w = theta[kd + n_neurons:kd + n_neurons + n_features] if linear else None
    if biased:
        return U, lam, w, float(theta[-1]), theta[-1 - n_neurons:-1]
    return U, lam, w, float(theta[-1])
