"""Hermite moment contractions applied to a thin test matrix, without forming them.

For directions :math:`g_j`, an order :math:`m` and a :math:`d\\times k` matrix :math:`Q`,

.. math::

    C_jQ = \\frac1n\\sum_i y_iH_{m-2}(g_j\\cdot x_i)\\,x_i(x_i^TQ) - c_{1j}\\,Q
           - (m-2)\\big(g_j(v_j^TQ) + v_j(g_j^TQ)\\big) + (m-2)(m-3)\\,c_{2j}\\,g_j(g_j^TQ)

with :math:`C_j = E_n[y\\,He_m(x)](g_j,\\dots,g_j,\\cdot,\\cdot)` as in :mod:`narrowrelu.moments`,
:math:`v_j = E_n[yH_{m-3}x]`, :math:`c_{1j} = E_n[yH_{m-2}]`, :math:`c_{2j} = E_n[yH_{m-4}]`.
The cost is :math:`O(ndk)` per direction instead of :math:`O(nd^2)`: the projections
:math:`XG^T` and :math:`XQ` are two thin products, the Hermite weights a few vectorised
operations on the :math:`n\\times r` projections, and the products one thin product of :math:`X^T` with
the weighted projections :math:`w_{ij}\\,x_i^TQ` for all :math:`j` at once. The
learner needs only the ranges of these matrices (the neurons' span), which a thin product
captures as in a randomised range finder or a subspace iteration.
"""

import numpy as np

from .._parallel import one_blas_thread, ordered_map
from .._validation import check_finite_array, check_positive_int
from ._kernels import order4_product_pass
from .contraction import DEFAULT_CHUNK_SIZE
from .thin import thin_projection, thin_transposed_product


class HermiteContractionProducts:
    """Running sums for :math:`C_jQ`, :math:`j = 1..r`, and :math:`M_2Q` (see the module docstring).

    Parameters
    ----------
    directions : ndarray of shape (r, n_features)
        Any norm.
    order : int
    test_matrix : ndarray of shape (n_features, k)
    chunk_size, n_jobs : int
        As in :class:`narrowrelu.HermiteContractionAccumulator`; results do not depend on ``n_jobs``.

    Notes
    -----
    Per chunk, :math:`XQ` is one thin product; when the directions lie in the span of :math:`Q`
    (as the learner draws them) the projections :math:`Xg_j` are read off it,
    :math:`XG^T = (XQ)(Q^+G^T)`, instead of a second pass over the chunk. The products, the
    vector sums and :math:`M_2Q` are then the columns of a single product :math:`X^TW`. Both
    thin products run in numba kernels (:mod:`narrowrelu.moments._kernels`), several times faster than
    BLAS at these shapes.
    """

    def __init__(self, directions, order, test_matrix, chunk_size=DEFAULT_CHUNK_SIZE, n_jobs=1):
        self.directions = check_finite_array(directions, "directions", ndim=2).copy()
        r, d = self.directions.shape
        self.test_matrix = check_finite_array(test_matrix, "test_matrix", ndim=2, shape=(d, None)).copy()
        self.order = check_positive_int(order, "order", minimum=2)
        self.chunk_size = check_positive_int(chunk_size, "chunk_size")
        self.n_jobs = check_positive_int(n_jobs, "n_jobs")
        k = self.test_matrix.shape[1]
        self._test_matrix_t = np.ascontiguousarray(self.test_matrix.T)
        self._sq_norms = np.einsum("ij,ij->i", self.directions, self.directions)
        coords = np.linalg.lstsq(self.test_matrix, self.directions.T, rcond=None)[0]
        residual = self.directions.T - self.test_matrix @ coords
        scale = max(float(np.abs(self.directions).max(initial=0.0)), 1e-300)
        self._coords = np.ascontiguousarray(coords) if np.abs(residual).max(initial=0.0) <= 1e-12 * scale else None
        # at order 4, v_j = E[y x x^T] g_j = E[y x (x^T Q)] Q^+ g_j comes from the M_2Q columns
        self._vectors_from_m2q = self.order == 4 and self._coords is not None
        self.n_samples = 0
        self._columns = np.zeros((d, (r + 1) * k + (0 if self._vectors_from_m2q else r)))
        self._sums = np.zeros((2, r))
        self._sum_y = 0.0

    def update(self, X, y):
        """Add validated rows (float64, C-contiguous, finite) ``X`` with targets ``y``."""
        starts = range(0, X.shape[0], self.chunk_size)
        blocks = ((X[s:s + self.chunk_size], y[s:s + self.chunk_size]) for s in starts)
        with one_blas_thread():
            for terms in ordered_map(lambda b: self.chunk_terms(b[0], thin_projection(b[0], self._test_matrix_t),
                                                                b[1]), blocks, self.n_jobs):
                self.add_terms(terms)
        return self

    def chunk_terms(self, X, XQ, y):
        """The sums of one block of rows, given its projections ``XQ = X @ test_matrix``.

        Returns a tuple for :meth:`add_terms`. Rows with ``y = 0`` add nothing but their count:
        pass ``n_rows`` to :meth:`add_terms` to count only the rows that are meant.
        """
        c = X.shape[0]
        if self._vectors_from_m2q:
            acc = np.zeros((self._columns.shape[1], X.shape[1]))
            sums = np.zeros((2, self.directions.shape[0]))
            order4_product_pass(X, np.ascontiguousarray(XQ), y, self._coords, self._sq_norms, acc, sums)
            return acc.T, sums, y.sum(), c
        S = XQ @ self._coords if self._coords is not None else X @ self.directions.T
        h_m2, h_m3, h_m4 = _directional_hermite_triplet(S, self._sq_norms, self.order)
        weights = h_m2 * y[:, None]
        blocks = [(weights[:, :, None] * XQ[:, None, :]).reshape(c, -1), y[:, None] * XQ]
        if not self._vectors_from_m2q:
            blocks.append(h_m3 * y[:, None])
        return thin_transposed_product(X, np.hstack(blocks)).T, np.stack([weights.sum(axis=0), y @ h_m4]), y.sum(), c

    def add_terms(self, terms, n_rows=None):
        """Add the output of :meth:`chunk_terms` (in block order), counting ``n_rows`` rows
        (default: all of the block's)."""
        columns, sums, sum_y, c = terms
        self._columns += columns
        self._sums += sums
        self._sum_y += sum_y
        self.n_samples += c if n_rows is None else n_rows

    def merge(self, other):
        """Add the sums of ``other`` (same directions, order and test matrix)."""
        self.add_terms((other._columns, other._sums, other._sum_y, other.n_samples))
        return self

    def result(self):
        """The products :math:`C_jQ`, shape ``(r, n_features, k)``."""
        n, m = self._count(), self.order
        G, Q = self.directions, self.test_matrix
        r, d = G.shape
        k = Q.shape[1]
        out = self._columns[:, : r * k].reshape(d, r, k).transpose(1, 0, 2) / n
        out -= (self._sums[0] / n)[:, None, None] * Q[None]
        if self._vectors_from_m2q:
            v = (self._columns[:, r * k: (r + 1) * k] / n @ self._coords).T
        else:
            v = self._columns[:, (r + 1) * k:].T / n
        GQ = G @ Q
        out -= (m - 2) * (G[:, :, None] * (v @ Q)[:, None, :] + v[:, :, None] * GQ[:, None, :])
        out += (m - 2) * (m - 3) * (self._sums[1] / n)[:, None, None] * (G[:, :, None] * GQ[:, None, :])
        return out

    def second_moment_product(self):
        """:math:`M_2Q = E_n[y(xx^T - I)]\\,Q`, shape ``(n_features, k)``, from the same pass."""
        n = self._count()
        r, k = self.directions.shape[0], self.test_matrix.shape[1]
        return self._columns[:, r * k: (r + 1) * k] / n - (self._sum_y / n) * self.test_matrix

    def _count(self):
        if self.n_samples == 0:
            raise ValueError("no samples were added: call update() first")
        return self.n_samples


def _directional_hermite_triplet(S, sq_norms, order):
    """:math:`H_{m-2}, H_{m-3}, H_{m-4}` of the projections ``S`` (rows: samples, columns:
    directions) by the recurrence :math:`H_{t+1} = sH_t - t\\|g\\|^2H_{t-1}`, vectorised over the chunk."""
    h_m4 = np.zeros_like(S)
    h_m3 = np.zeros_like(S)
    h_m2 = np.ones_like(S)
    for t in range(order - 2):
        h_m4, h_m3, h_m2 = h_m3, h_m2, S * h_m2 - t * sq_norms * h_m3
    return h_m2, h_m3, h_m4
