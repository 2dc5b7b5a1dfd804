"""Full Hermite moment tensors of low-dimensional (projected) data, from raw moments summed over distinct monomials."""

import itertools

import numpy as np

from .._validation import check_data, check_positive_int
from ..hermite import hermite_from_raw_moments
from ._kernels import monomial_moment_pass
from .contraction import DEFAULT_CHUNK_SIZE, _check_has_rows, _mirror_upper


def projected_hermite_tensor(Z, y, order=4, chunk_size=DEFAULT_CHUNK_SIZE):
    """The full order-``m`` Hermite moment tensor :math:`E[y\\,He_m(z)]` of low-dimensional data.

    For data already projected to :math:`k` dimensions (:math:`z = P^Tx`, :math:`P` with
    orthonormal columns, so :math:`z\\sim N(0, I_k)`), forms the :math:`k^m` tensor once from the
    raw moments :math:`E[y z^{\\otimes j}]`, :math:`j = m, m-2, \\dots`, each by one GEMM of the
    rows :math:`z^{\\otimes j/2}` (see :func:`narrowrelu.hermite.hermite_from_raw_moments`).
    ``order`` must be even.
    """
    Z, y = check_data(Z, y)
    _check_has_rows(Z)
    order = check_positive_int(order, "order", minimum=2)
    if order % 2:
        raise ValueError(f"order must be even for the projected tensor, got {order}")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    acc = ProjectedRawMoments(Z.shape[1], order)
    for s in range(0, Z.shape[0], chunk_size):
        acc.update(Z[s:s + chunk_size], y[s:s + chunk_size])
    return acc.hermite_tensors([order])[order]


class ProjectedRawMoments:
    """Running :math:`\\sum_i y_i z_i^{\\otimes j}` for even :math:`j \\le m` of low-dimensional
    rows; :meth:`hermite_tensors` assembles :math:`E[y\\,He_m(z)]`
    (:func:`narrowrelu.hermite.hermite_from_raw_moments`).

    The tensor is symmetric, so only its distinct entries are summed: with :math:`a(z)` the
    monomials :math:`z_{i_1}\\cdots z_{i_q}` of degree :math:`q = j/2` over multisets
    :math:`i_1\\le\\dots\\le i_q`, every entry of :math:`z^{\\otimes j}` is an entry of
    :math:`a(z)a(z)^T`, and :math:`\\sum_iy_ia(z_i)a(z_i)^T` is one product per block of rows
    (:math:`\\binom{k+1}{2}` columns at order 4 instead of :math:`k^2`).
    """

    def __init__(self, k, max_order):
        self.k = k
        self.max_order = max_order
        self.n = 0
        self.sums = {0: 0.0}
        self._monomials = {}
        for j in range(2, max_order + 1, 2):
            combos = np.array(list(itertools.combinations_with_replacement(range(k), j // 2)), dtype=np.int64)
            self._monomials[j] = combos.reshape(-1, j // 2)
            self.sums[j] = np.zeros((combos.shape[0], combos.shape[0]))

    def update(self, Z, y):
        """Add validated rows ``Z`` (shape ``(n, k)``) with weights ``y``."""
        return self.add(self.chunk_sums(Z, y), Z.shape[0])

    def chunk_sums(self, Z, y):
        """The sums of one block of rows, for :meth:`add` (upper triangles by one numba pass per
        order, mirrored)."""
        Z = np.ascontiguousarray(Z)
        sums = {0: y.sum()}
        for j, combos in self._monomials.items():
            out = np.zeros((combos.shape[0], combos.shape[0]))
            monomial_moment_pass(Z, y, combos, out)
            sums[j] = _mirror_upper(out)
        return sums

    def add(self, sums, n_rows):
        """Add the output of :meth:`chunk_sums`, counting ``n_rows`` rows (those with a weight
        of zero add nothing but may be left out of the count)."""
        self.n += n_rows
        for j, s in sums.items():
            self.sums[j] += s
        return self

    def merge(self, other):
        """Add the sums of ``other`` (same ``k`` and orders)."""
        return self.add(other.sums, other.n)

    def raw_moments(self):
        """``{j: E[y z^{\\otimes j}]}`` as full ``k^j`` arrays (and ``E[y]`` at ``j = 0``)."""
        raw = {0: np.asarray(self.sums[0] / self.n)}
        for j, combos in self._monomials.items():
            q = j // 2
            index = {tuple(c): i for i, c in enumerate(combos)}
            flat = np.array([index[tuple(sorted(t))] for t in itertools.product(range(self.k), repeat=q)],
                            dtype=np.intp)
            raw[j] = (self.sums[j][np.ix_(flat, flat)] / self.n).reshape((self.k,) * j)
        return raw

    def hermite_tensors(self, orders):
        """``{m: E[y He_m(z)]}`` for the even ``orders`` (each at most ``max_order``)."""
        raw = self.raw_moments()
        return {m: hermite_from_raw_moments(raw, m) for m in orders}
