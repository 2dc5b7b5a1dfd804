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
    rows (and odd :math:`j` with ``odd``); :meth:`hermite_tensors` assembles :math:`E[y\\,He_m(z)]`
    (:func:`narrowrelu.hermite.hermite_from_raw_moments`).

    The tensor is symmetric, so only its distinct entries are summed: with :math:`a(z)` the
    monomials :math:`z_{i_1}\\cdots z_{i_q}` of degree :math:`q = j/2` over multisets
    :math:`i_1\\le\\dots\\le i_q`, every entry of :math:`z^{\\otimes j}` is an entry of
    :math:`a(z)a(z)^T`, and :math:`\\sum_iy_ia(z_i)a(z_i)^T` is one product per block of rows
    (:math:`\\binom{k+1}{2}` columns at order 4 instead of :math:`k^2`). An odd :math:`j = 2q+1`
    pairs the monomials of degree :math:`q` with those of degree :math:`q+1`,
    :math:`\\sum_iy_ia_q(z_i)a_{q+1}(z_i)^T` (order 3: :math:`k\\binom{k+1}{2}` entries).
    """

    def __init__(self, k, max_order, odd=False):
        self.k = k
        self.max_order = max_order
        self.n = 0
        self.sums = {0: 0.0}
        self._monomials = {}
        for j in range(2, max_order + 1, 2):
            combos = _combinations(k, j // 2)
            self._monomials[j] = combos
            self.sums[j] = np.zeros((combos.shape[0], combos.shape[0]))
        self._odd = {}
        for j in range(1, max_order + 1, 2) if odd else ():
            low, high = _combinations(k, j // 2), _combinations(k, j // 2 + 1)
            self._odd[j] = (low, high)
            self.sums[j] = np.zeros((low.shape[0], high.shape[0]))

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
        for j, (low, high) in self._odd.items():
            sums[j] = (_monomial_values(Z, low) * y[:, None]).T @ _monomial_values(Z, high)
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
            flat = _flat_index(combos, self.k, j // 2)
            raw[j] = (self.sums[j][np.ix_(flat, flat)] / self.n).reshape((self.k,) * j)
        for j, (low, high) in self._odd.items():
            q = j // 2
            rows = _flat_index(low, self.k, q)
            cols = _flat_index(high, self.k, q + 1)
            raw[j] = (self.sums[j][np.ix_(rows, cols)] / self.n).reshape((self.k,) * j)
        return raw

    def hermite_tensors(self, orders):
        """``{m: E[y He_m(z)]}`` for the ``orders`` (each at most ``max_order``; odd ones need ``odd``)."""
        raw = self.raw_moments()
        return {m: hermite_from_raw_moments(raw, m) for m in orders}


def _combinations(k, degree):
    """The multisets :math:`i_1\\le\\dots\\le i_q` of ``degree`` indices below ``k``, one per row."""
    combos = list(itertools.combinations_with_replacement(range(k), degree))
    return np.array(combos, dtype=np.int64).reshape(len(combos), degree)


def _monomial_values(Z, combos):
    """:math:`z_{i_1}\\cdots z_{i_q}` for each row of ``Z`` and each multiset of ``combos``."""
    out = np.ones((Z.shape[0], combos.shape[0]))
    for slot in range(combos.shape[1]):
        out *= Z[:, combos[:, slot]]
    return out


def _flat_index(combos, k, degree):
    """For every index tuple of length ``degree``, the row of ``combos`` holding its sorted form."""
    index = {tuple(c): i for i, c in enumerate(combos)}
    return np.array([index[tuple(sorted(t))] for t in itertools.product(range(k), repeat=degree)], dtype=np.intp)
