"""Hermite moment contractions applied to a thin test matrix, without forming them.

For directions :math:`g_j`, an order :math:`m` and a :math:`d\\times k` matrix :math:`Q`,

.. math::

    C_jQ = \\frac1n\\sum_i y_iH_{m-2}(g_j\\cdot x_i)\\,x_i(x_i^TQ) - c_{1j}\\,Q
           - (m-2)\\big(g_j(v_j^TQ) + v_j(g_j^TQ)\\big) + (m-2)(m-3)\\,c_{2j}\\,g_j(g_j^TQ)

with :math:`C_j = E_n[y\\,He_m(x)](g_j,\\dots,g_j,\\cdot,\\cdot)` as in :mod:`narrowrelu.moments`,
:math:`v_j = E_n[yH_{m-3}x]`, :math:`c_{1j} = E_n[yH_{m-2}]`, :math:`c_{2j} = E_n[yH_{m-4}]`.
The cost is :math:`O(ndk)` per direction instead of :math:`O(nd^2)`: the projections
:math:`XG^T` and :math:`XQ` are two thin GEMMs, the Hermite weights a few vectorised
operations on the :math:`n\\times r` projections, and the products one GEMM of :math:`X^T` with
the weighted projections :math:`w_{ij}\\,x_i^TQ` for all :math:`j` at once. The
learner needs only the ranges of these matrices (the neurons' span), which a thin product
captures as in a randomised range finder or a subspace iteration.
"""

import numpy as np
from threadpoolctl import threadpool_limits

from ._validation import check_finite_array, check_positive_int
from .moments import DEFAULT_CHUNK_SIZE, ordered_map


class HermiteContractionProducts:
    """Running sums for :math:`C_jQ`, :math:`j = 1..r` (see the module docstring).

    Parameters
    ----------
    directions : ndarray of shape (r, n_features)
        Any norm; a zero row with ``order=2`` gives :math:`M_2Q`.
    order : int
    test_matrix : ndarray of shape (n_features, k)
    chunk_size, n_jobs : int
        As in :class:`narrowrelu.HermiteContractionAccumulator`; results do not depend on ``n_jobs``.
    """

    def __init__(self, directions, order, test_matrix, chunk_size=DEFAULT_CHUNK_SIZE, n_jobs=1):
        self.directions = check_finite_array(directions, "directions", ndim=2).copy()
        r, d = self.directions.shape
        self.test_matrix = check_finite_array(test_matrix, "test_matrix", ndim=2, shape=(d, None)).copy()
        self.order = check_positive_int(order, "order", minimum=2)
        self.chunk_size = check_positive_int(chunk_size, "chunk_size")
        self.n_jobs = check_positive_int(n_jobs, "n_jobs")
        k = self.test_matrix.shape[1]
        self._sq_norms = np.einsum("ij,ij->i", self.directions, self.directions)
        self.n_samples = 0
        self._products = np.zeros((d, r * k))
        self._vectors = np.zeros((r, d))
        self._sums = np.zeros((2, r))

    def update(self, X, y):
        """Add validated rows (float64, C-contiguous, finite) ``X`` with targets ``y``."""
        starts = range(0, X.shape[0], self.chunk_size)
        blocks = ((X[s:s + self.chunk_size], y[s:s + self.chunk_size]) for s in starts)
        with threadpool_limits(limits=1, user_api="blas"):
            for products, vectors, sums in ordered_map(self._chunk, blocks, self.n_jobs):
                self._products += products
                self._vectors += vectors
                self._sums += sums
        self.n_samples += X.shape[0]
        return self

    def _chunk(self, block):
        X, y = block
        S = X @ self.directions.T
        h_m2, h_m3, h_m4 = _directional_hermite_triplet(S, self._sq_norms, self.order)
        weights = h_m2 * y[:, None]
        XQ = X @ self.test_matrix
        weighted = (weights[:, :, None] * XQ[:, None, :]).reshape(X.shape[0], -1)
        sums = np.stack([weights.sum(axis=0), y @ h_m4])
        return X.T @ weighted, (h_m3 * y[:, None]).T @ X, sums

    def result(self):
        """The products :math:`C_jQ`, shape ``(r, n_features, k)``."""
        if self.n_samples == 0:
            raise ValueError("no samples were added: call update() first")
        n, m = self.n_samples, self.order
        G, Q = self.directions, self.test_matrix
        r, d = G.shape
        k = Q.shape[1]
        out = self._products.reshape(d, r, k).transpose(1, 0, 2) / n
        out -= (self._sums[0] / n)[:, None, None] * Q[None]
        v = self._vectors / n
        GQ = G @ Q
        out -= (m - 2) * (G[:, :, None] * (v @ Q)[:, None, :] + v[:, :, None] * GQ[:, None, :])
        out += (m - 2) * (m - 3) * (self._sums[1] / n)[:, None, None] * (G[:, :, None] * GQ[:, None, :])
        return out


def _directional_hermite_triplet(S, sq_norms, order):
    """:math:`H_{m-2}, H_{m-3}, H_{m-4}` of the projections ``S`` (rows: samples, columns:
    directions) by the recurrence :math:`H_{t+1} = sH_t - t\\|g\\|^2H_{t-1}`, vectorised over the chunk."""
    h_m4 = np.zeros_like(S)
    h_m3 = np.zeros_like(S)
    h_m2 = np.ones_like(S)
    for t in range(order - 2):
        h_m4, h_m3, h_m2 = h_m3, h_m2, S * h_m2 - t * sq_norms * h_m3
    return h_m2, h_m3, h_m4
