"""Planted teacher networks, their families, and Gaussian sampling in chunks."""

import numpy as np

from ._validation import (
    as_generator,
    check_finite_array,
    check_positive_int,
    check_unit_directions,
)
from .network import ReLUNetwork

DEFAULT_CHUNK_SIZE = 65_536


class Teacher(ReLUNetwork):
    """A planted network :math:`f(x) = b + w\\cdot x + \\sum_i \\lambda_i\\,\\mathrm{relu}(u_i\\cdot x + \\beta_i)`
    observed as :math:`y = f(x) + \\xi`, :math:`x\\sim N(0, I_d)`, :math:`\\xi\\sim N(0,\\sigma^2)`.

    Parameters
    ----------
    hidden_weights : array-like of shape (n_neurons, n_features)
    output_weights : array-like of shape (n_neurons,)
    linear_weights : array-like of shape (n_features,), default=None
    intercept : float, default=0.0
    noise_std : float, default=0.0
        Standard deviation :math:`\\sigma` of the Gaussian label noise added by :meth:`sample`.
        Calling the teacher (``teacher(X)``) always returns the clean :math:`f(X)`.
    hidden_biases : array-like of shape (n_neurons,), default=None
        The biases :math:`\\beta_i` inside the ReLUs; zero when ``None``.

    The families (:meth:`random`, :meth:`close_pair`, :meth:`clusters`) take ``bias_scale``:
    :math:`\\beta_i\\sim N(0, \\texttt{bias\\_scale}^2)\\,\\|u_i\\|`, drawn after every other choice,
    so that ``bias_scale=0`` (the default) gives the bias-free teacher of the same seed.

    Examples
    --------
    >>> from narrowrelu import Teacher
    >>> teacher = Teacher.random(n_features=10, n_neurons=3, random_state=0)
    >>> X, y = teacher.sample(1000, random_state=1)
    >>> X.shape, y.shape
    ((1000, 10), (1000,))
    """

    def __init__(self, hidden_weights, output_weights, linear_weights=None, intercept=0.0, noise_std=0.0,
                 hidden_biases=None):
        super().__init__(hidden_weights, output_weights, linear_weights, intercept, hidden_biases)
        sigma = float(check_finite_array(noise_std, "noise_std", ndim=0))
        if sigma < 0:
            raise ValueError(f"noise_std must be >= 0, got {sigma}")
        self.noise_std = sigma

    # ----------------------------------------------------------------- families
    @classmethod
    def random(cls, n_features, n_neurons, *, noise_std=0.0, bias_scale=0.0, random_state=None):
        """Unit directions uniform on the sphere; :math:`|\\lambda_i|\\sim U(0.5, 1.5)` with random signs;
        biases :math:`N(0, \\texttt{bias\\_scale}^2)`."""
        d = check_positive_int(n_features, "n_features")
        k = check_positive_int(n_neurons, "n_neurons")
        bias_scale = _check_bias_scale(bias_scale)
        rng = as_generator(random_state)
        U = check_unit_directions(rng.standard_normal((k, d)), "hidden_weights")
        lam = rng.uniform(0.5, 1.5, size=k) * rng.choice([-1.0, 1.0], size=k)
        return cls(U, lam, noise_std=noise_std, hidden_biases=_draw_biases(rng, U, bias_scale))

    @classmethod
    def orthonormal(cls, n_neurons, *, noise_std=0.0):
        """:math:`d = k`, :math:`U = I`, :math:`\\lambda = 1`: the Safran–Shamir teacher."""
        k = check_positive_int(n_neurons, "n_neurons")
        return cls(np.eye(k), np.ones(k), noise_std=noise_std)

    @classmethod
    def close_pair(cls, n_features, cosine=0.99, n_neurons=2, *, noise_std=0.0, bias_scale=0.0, random_state=None):
        """Two unit neurons at cosine ``cosine`` with output weights +1 and -1, plus
        ``n_neurons - 2`` random neurons as in :meth:`random`."""
        d = check_positive_int(n_features, "n_features", minimum=2)
        bias_scale = _check_bias_scale(bias_scale)
        k = check_positive_int(n_neurons, "n_neurons", minimum=2)
        cosine = float(cosine)
        if not -1.0 < cosine < 1.0:
            raise ValueError(f"cosine must lie in (-1, 1), got {cosine}")
        rng = as_generator(random_state)
        base, other = _orthonormal_pair(rng, d)
        sine = np.sqrt(1.0 - cosine**2)
        pair = np.stack([base, cosine * base + sine * other])
        rest = check_unit_directions(rng.standard_normal((k - 2, d)), "hidden_weights") if k > 2 else np.empty((0, d))
        lam_rest = rng.uniform(0.5, 1.5, size=k - 2) * rng.choice([-1.0, 1.0], size=k - 2)
        U = np.vstack([pair, rest])
        return cls(U, np.concatenate([[1.0, -1.0], lam_rest]), noise_std=noise_std,
                   hidden_biases=_draw_biases(rng, U, bias_scale))

    @classmethod
    def clusters(cls, n_features, n_clusters, cluster_size=2, cosine=0.95, *, noise_std=0.0, bias_scale=0.0,
                 random_state=None):
        """``n_clusters`` random centres, each with ``cluster_size`` unit neurons at cosine
        ``cosine`` to it; output weights as in :meth:`random`."""
        d = check_positive_int(n_features, "n_features", minimum=2)
        bias_scale = _check_bias_scale(bias_scale)
        c = check_positive_int(n_clusters, "n_clusters")
        m = check_positive_int(cluster_size, "cluster_size")
        cosine = float(cosine)
        if not -1.0 < cosine <= 1.0:
            raise ValueError(f"cosine must lie in (-1, 1], got {cosine}")
        rng = as_generator(random_state)
        centres = check_unit_directions(rng.standard_normal((c, d)), "cluster centres")
        sine = np.sqrt(max(1.0 - cosine**2, 0.0))
        rows = []
        for centre in centres:
            for _ in range(m):
                noise = rng.standard_normal(d)
                noise -= (noise @ centre) * centre
                noise /= np.linalg.norm(noise)
                rows.append(cosine * centre + sine * noise)
        k = c * m
        lam = rng.uniform(0.5, 1.5, size=k) * rng.choice([-1.0, 1.0], size=k)
        U = np.array(rows)
        return cls(U, lam, noise_std=noise_std, hidden_biases=_draw_biases(rng, U, bias_scale))

    # ----------------------------------------------------------------- sampling
    def with_noise(self, noise_std):
        """A copy of this teacher with label noise ``noise_std``."""
        return Teacher(self.hidden_weights, self.output_weights, self.linear_weights, self.intercept, noise_std,
                       self.hidden_biases)

    def sample_chunks(self, n_samples, chunk_size=DEFAULT_CHUNK_SIZE, random_state=None):
        """Yield ``(X, y)`` chunks of at most ``chunk_size`` rows, ``n_samples`` rows in all.

        Inputs and noise come from two independent streams spawned from ``random_state``, so
        the concatenated chunks hold the same inputs and noise for every ``chunk_size`` (bit for
        bit; the targets agree to rounding, as BLAS may round products of different shapes
        differently).
        """
        n_samples = check_positive_int(n_samples, "n_samples")
        chunk_size = check_positive_int(chunk_size, "chunk_size")
        rng_x, rng_noise = as_generator(random_state).spawn(2)
        for start in range(0, n_samples, chunk_size):
            m = min(chunk_size, n_samples - start)
            X = rng_x.standard_normal((m, self.n_features))
            y = self.evaluate_trusted(X)
            if self.noise_std > 0:
                y += self.noise_std * rng_noise.standard_normal(m)
            yield X, y

    def sample(self, n_samples, random_state=None):
        """Draw ``n_samples`` pairs ``(x, f(x) + noise)`` with ``x ~ N(0, I_d)``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
        """
        chunks = list(self.sample_chunks(n_samples, chunk_size=n_samples, random_state=random_state))
        return chunks[0]

    def __repr__(self):
        biases = ", biased" if self.has_biases else ""
        return (
            f"Teacher(n_neurons={self.n_neurons}, n_features={self.n_features}, noise_std={self.noise_std:g}{biases})"
        )


def _check_bias_scale(bias_scale):
    bias_scale = float(check_finite_array(bias_scale, "bias_scale", ndim=0))
    if bias_scale < 0:
        raise ValueError(f"bias_scale must be >= 0, got {bias_scale}")
    return bias_scale


def _draw_biases(rng, U, bias_scale):
    """:math:`\\beta_i\\sim N(0, \\texttt{bias\\_scale}^2)\\|u_i\\|`, the last draw of a family; ``None``
    (and no draw) at ``bias_scale = 0``."""
    if bias_scale == 0:
        return None
    return bias_scale * np.linalg.norm(U, axis=1) * rng.standard_normal(U.shape[0])


def _orthonormal_pair(rng, d):
    Q, _ = np.linalg.qr(rng.standard_normal((d, 2)))
    return Q[:, 0], Q[:, 1]


FAMILIES = ("random", "orthonormal", "close_pair", "clusters", "biased")
BIAS_FREE_FAMILIES = FAMILIES[:4]


def make_teacher(family, n_features, n_neurons, seed):
    """The planted teacher of a family, drawn from ``seed`` (orthonormal ignores ``n_features``).

    ``biased`` is :meth:`Teacher.random` with ``bias_scale=1``: :math:`\\beta_i\\sim N(0, 1)` on unit
    directions (its directions and output weights are those of ``random`` with the same seed)."""
    if family == "biased":
        return Teacher.random(n_features, n_neurons, bias_scale=1.0, random_state=seed)
    if family == "random":
        return Teacher.random(n_features, n_neurons, random_state=seed)
    if family == "orthonormal":
        return Teacher.orthonormal(n_neurons)
    if family == "close_pair":
        return Teacher.close_pair(n_features, 0.99, max(n_neurons, 2), random_state=seed)
    if family == "clusters":
        return Teacher.clusters(n_features, max(n_neurons // 2, 1), 2, 0.95, random_state=seed)
    raise ValueError(f"unknown teacher family {family!r}; choose from {', '.join(FAMILIES)}")
