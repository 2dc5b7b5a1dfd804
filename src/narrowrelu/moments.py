"""Streaming, implicit Hermite moment statistics of (x, y).

For an order :math:`m` and a direction :math:`g`, contracting the tensor Hermite polynomial
:math:`He_m(x)` in :math:`m-2` slots with :math:`g` leaves a :math:`d\\times d` matrix:

.. math::

    He_m(x)(g,\\dots,g,\\cdot,\\cdot) = H_{m-2}\\,(xx^T - I)
        - (m-2)\\,H_{m-3}\\,(g x^T + x g^T) + (m-2)(m-3)\\,H_{m-4}\\,gg^T,

with :math:`H_n = \\|g\\|^n He_n(g\\cdot x/\\|g\\|)` (see :func:`narrowrelu.hermite.directional_hermite`).
Hence :math:`E[y\\,He_m(x)](g,\\dots,g,\\cdot,\\cdot)` is a weighted Gram matrix
:math:`X^T\\mathrm{diag}(y\\,H_{m-2})X/n` plus rank-two and identity corrections: one pass over the
data, :math:`O(nd^2)` per direction, and no :math:`d^m` array. For the model of
:mod:`narrowrelu.hermite` its expectation is :math:`a_m\\sum_i\\lambda_i (u_i\\cdot g)^{m-2} u_iu_i^T`.

The sums run over row chunks of fixed size. Each chunk fills its own buffers and the buffers
are added in chunk order, so results do not depend on ``n_jobs`` (bit for bit) and depend on
``chunk_size`` only through rounding. BLAS is held to one thread while the chunks run.
"""

import ctypes
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.linalg import cython_blas
from threadpoolctl import threadpool_limits

from ._kernels import accumulate_row_products, contraction_row_pass, monomial_moment_pass, project_rows, split_rows_by_sign
from ._validation import check_data, check_finite_array, check_positive_int
from .hermite import hermite_from_raw_moments

DEFAULT_CHUNK_SIZE = 4096


class HermiteContractionAccumulator:
    """Running sums for :math:`E[y\\,He_m(x)](g_j,\\dots,g_j,\\cdot,\\cdot)`, :math:`j = 1..r`.

    Feed row blocks with :meth:`update` (any block sizes, any number of calls); read the
    contractions with :meth:`result`. Also keeps :math:`\\sum y` and :math:`\\sum y x`.

    Parameters
    ----------
    directions : ndarray of shape (r, n_features)
        The contraction directions :math:`g_j` (any norm). Use a single zero row with
        ``order=2`` for :math:`M_2 = E[y(xx^T - I)]`.
    order : int
        The tensor order :math:`m \\ge 2`.
    chunk_size : int
        Rows per unit of work (and per reduction buffer).
    n_jobs : int
        Threads running chunks at once.

    Notes
    -----
    Each chunk of ``chunk_size`` rows is reduced on its own and the chunk results are added in
    chunk order, so the sums are bit-identical for every ``n_jobs``, and also when the data
    arrive in several :meth:`update` calls whose lengths are multiples of ``chunk_size``.
    """

    def __init__(self, directions, order, chunk_size=DEFAULT_CHUNK_SIZE, n_jobs=1):
        self.directions = check_finite_array(directions, "directions", ndim=2).copy()
        self.order = check_positive_int(order, "order", minimum=2)
        self.chunk_size = check_positive_int(chunk_size, "chunk_size")
        self.n_jobs = check_positive_int(n_jobs, "n_jobs")
        r, d = self.directions.shape
        self._sq_norms = np.einsum("ij,ij->i", self.directions, self.directions)
        self.n_samples = 0
        self._gram_upper = np.zeros((r, d, d))
        self._vectors = np.zeros((r, d))
        self._sums = np.zeros((2, r))
        self._sum_y = 0.0
        self._sum_yx = np.zeros(d)

    @property
    def n_features(self):
        return self.directions.shape[1]

    def update(self, X, y):
        """Add the rows of ``X`` (shape ``(n, n_features)``) with targets ``y`` (shape ``(n,)``).

        ``X`` is checked for non-finite values without a separate pass over it (they show up in
        the running sums); on any error the accumulator is left as it was.
        """
        X, y = _check_data_lazily(X, y, self.n_features)
        self._update_checked(X, y, check_finite=True)
        return self

    def _update_checked(self, X, y, check_finite, n_rows=None):
        """Accumulate float64 C-contiguous ``X`` (finite unless ``check_finite``) and finite ``y``,
        counting ``n_rows`` rows (default: all; rows with ``y = 0`` add nothing but their count)."""
        # work on copies of the running sums (chunk results added in order, as in one pass)
        # and commit them only once the block is known to be finite
        gram = self._gram_upper.copy()
        vectors = self._vectors.copy()
        sums = self._sums.copy()
        sum_y = self._sum_y
        sum_yx = self._sum_yx.copy()
        starts = range(0, X.shape[0], self.chunk_size)
        blocks = ((X[s:s + self.chunk_size], y[s:s + self.chunk_size]) for s in starts)
        with np.errstate(over="ignore", invalid="ignore"), threadpool_limits(limits=1, user_api="blas"):
            for c_gram, c_vec, c_sums, c_sum_y, c_sum_yx in ordered_map(self._chunk, blocks, self.n_jobs):
                gram += c_gram
                vectors += c_vec
                sums += c_sums
                sum_y += c_sum_y
                sum_yx += c_sum_yx
        if check_finite and not np.all(np.isfinite(sum_yx - self._sum_yx)):
            # a non-finite x_ic makes y_i x_ic NaN or infinite, and the column sum stays so;
            # an overflow of finite data does too, hence the exact check before refusing
            check_finite_array(X, "X")
        self._gram_upper = gram
        self._vectors = vectors
        self._sums = sums
        self._sum_y = sum_y
        self._sum_yx = sum_yx
        self.n_samples += X.shape[0] if n_rows is None else n_rows

    def _chunk(self, block):
        X, y = block
        c, d = X.shape
        r = self.directions.shape[0]
        gram_weights = np.empty((r, c))
        vectors = np.zeros((r, d))
        sums = np.zeros((2, r))
        sum_yx = np.zeros(d)
        contraction_row_pass(X, y, self.directions, self._sq_norms, self.order, gram_weights, vectors, sums, sum_yx)
        grams = np.empty((r, d, d))
        positive, negative = self._split_buffers(c, d)
        for j in range(r):
            n_pos, n_neg = split_rows_by_sign(X, gram_weights[j], positive, negative)
            grams[j] = weighted_gram_upper(positive[:n_pos], negative[:n_neg], d)
        return grams, vectors, sums, y.sum(), sum_yx

    def _split_buffers(self, c, d):
        """Two ``(c, d)`` scratch buffers, kept per thread and reused across chunks (no page faults)."""
        local = self.__dict__.setdefault("_thread_local", threading.local())
        buffers = getattr(local, "buffers", None)
        if buffers is None or buffers[0].shape[0] < c:
            buffers = local.buffers = (np.empty((c, d)), np.empty((c, d)))
        return buffers[0][:c], buffers[1][:c]

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_thread_local", None)  # scratch buffers: not state, and not picklable
        return state

    def result(self):
        """The contractions, shape ``(r, n_features, n_features)``, symmetric."""
        if self.n_samples == 0:
            raise ValueError("no samples were added: call update() first")
        n = self.n_samples
        m = self.order
        G = self.directions
        gram = self._gram_upper + np.transpose(self._gram_upper, (0, 2, 1))
        idx = np.arange(self.n_features)
        gram[:, idx, idx] *= 0.5
        out = gram / n
        out[:, idx, idx] -= (self._sums[0] / n)[:, None]
        v = self._vectors / n
        out -= (m - 2) * (G[:, :, None] * v[:, None, :] + v[:, :, None] * G[:, None, :])
        out += (m - 2) * (m - 3) * (self._sums[1] / n)[:, None, None] * (G[:, :, None] * G[:, None, :])
        return out

    def mean_y(self):
        """:math:`\\frac1n\\sum_i y_i` over the rows added so far."""
        return self._sum_y / self.n_samples

    def mean_yx(self):
        """:math:`\\frac1n\\sum_i y_i x_i` over the rows added so far."""
        return self._sum_yx / self.n_samples


def _mirror_upper(M):
    """The symmetric matrix whose upper triangle is that of ``M``."""
    return np.triu(M) + np.triu(M, 1).T


def _check_has_rows(X):
    if X.shape[0] == 0:
        raise ValueError(f"X has no rows (shape {X.shape}): a moment needs at least one sample")


def _check_data_lazily(X, y, n_features):
    """Shapes, dtype, layout and a finite ``y``; the finiteness of ``X`` is left to the accumulator."""
    try:
        X = np.ascontiguousarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"X must be a numeric array: {exc}") from None
    if X.ndim != 2:
        raise ValueError(f"X must be 2-dimensional, got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, expected {n_features}")
    y = check_finite_array(y, "y", ndim=1)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} entries")
    return X, y


def weighted_gram_upper(positive, negative, d):
    """Upper triangle of :math:`P^TP - N^TN` by two BLAS symmetric rank updates (``dsyrk``).

    ``positive`` and ``negative`` are C-contiguous row blocks; the result is a Fortran-ordered
    ``(d, d)`` array whose strict lower triangle is zero. The BLAS call releases the GIL, so
    chunks running on ``n_jobs`` threads overlap.
    """
    out = np.zeros((d, d), order="F")
    if positive.shape[0]:
        _syrk_upper(1.0, positive, 0.0, out)
    if negative.shape[0]:
        _syrk_upper(-1.0, negative, 1.0, out)
    return out


def _capsule_address(capsule):
    name = ctypes.pythonapi.PyCapsule_GetName
    name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    pointer = ctypes.pythonapi.PyCapsule_GetPointer
    pointer.restype, pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return pointer(capsule, name(capsule))


# scipy's BLAS dsyrk through its Cython API, called by ctypes (which releases the GIL; scipy's
# f2py wrapper ``scipy.linalg.blas.dsyrk`` holds it). Arguments, all by reference:
# uplo, trans, n, k, alpha, a, lda, beta, c, ldc.
_DSYRK = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int),
    ctypes.POINTER(ctypes.c_double), ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
    ctypes.POINTER(ctypes.c_double), ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
)(_capsule_address(cython_blas.__pyx_capi__["dsyrk"]))


def _syrk_upper(alpha, rows, beta, out):
    """``out := alpha * rows^T rows + beta * out`` on the upper triangle of the Fortran ``out``.

    ``rows`` (C-contiguous, ``(k, d)``) is, read column-major, the ``d x k`` matrix ``A`` with
    leading dimension ``d``, and ``A A^T = rows^T rows``.
    """
    k, d = rows.shape
    if not (rows.flags.c_contiguous and out.flags.f_contiguous and out.shape == (d, d)):
        raise ValueError("internal error: _syrk_upper needs C-contiguous rows and a Fortran (d, d) output")
    n_ = ctypes.c_int(d)
    _DSYRK(
        b"U", b"N", ctypes.byref(n_), ctypes.byref(ctypes.c_int(k)), ctypes.byref(ctypes.c_double(alpha)),
        rows.ctypes.data, ctypes.byref(n_), ctypes.byref(ctypes.c_double(beta)), out.ctypes.data, ctypes.byref(n_),
    )


def thin_projection(X, St):
    """:math:`XS` for a thin :math:`S` given as ``St`` (:math:`S^T`, C-contiguous), by a numba kernel."""
    out = np.empty((X.shape[0], St.shape[0]))
    project_rows(X, St, out)
    return out


def thin_transposed_product(X, W):
    """:math:`X^TW` for a thin ``W`` (C-contiguous), returned as its transpose :math:`W^TX`, by a numba kernel."""
    acc = np.zeros((W.shape[1], X.shape[1]))
    accumulate_row_products(X, np.ascontiguousarray(W), acc)
    return acc


def ordered_map(fn, items, n_jobs):
    """``map(fn, items)`` with results in input order, at most ``2 * n_jobs`` in flight."""
    if n_jobs == 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        pending = []
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * n_jobs:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()


def hermite_moment_contraction(X, y, directions, order=4, chunk_size=DEFAULT_CHUNK_SIZE, n_jobs=1):
    """Contract the empirical order-``m`` Hermite moment tensor down to :math:`d\\times d` matrices.

    .. math::

        C_j = \\frac1n\\sum_{i=1}^n y_i\\,He_m(x_i)(g_j,\\dots,g_j,\\cdot,\\cdot)

    computed implicitly (see the module docstring); its expectation under the teacher
    :math:`\\sum_i\\lambda_i\\mathrm{relu}(u_i\\cdot x)` is :math:`a_m\\sum_i\\lambda_i(u_i\\cdot g_j)^{m-2}u_iu_i^T`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    directions : array-like of shape (r, n_features) or (n_features,)
        The vectors :math:`g_j` (their norm matters: the result is homogeneous of degree m-2).
    order : int, default=4
        The tensor order :math:`m \\ge 2`.
    chunk_size : int, default=4096
    n_jobs : int, default=1

    Returns
    -------
    contractions : ndarray of shape (r, n_features, n_features), or (n_features, n_features)
        when ``directions`` is one vector.

    Examples
    --------
    >>> import numpy as np
    >>> from narrowrelu import Teacher, hermite_moment_contraction
    >>> teacher = Teacher.random(n_features=4, n_neurons=2, random_state=0)
    >>> X, y = teacher.sample(20_000, random_state=1)
    >>> hermite_moment_contraction(X, y, np.ones(4), order=4).shape
    (4, 4)
    """
    X, y = _check_data_lazily(X, y, None)
    _check_has_rows(X)
    single = np.ndim(directions) == 1
    G = check_finite_array(np.atleast_2d(directions), "directions", ndim=2, shape=(None, X.shape[1]))
    acc = HermiteContractionAccumulator(G, order, chunk_size=chunk_size, n_jobs=n_jobs)
    acc._update_checked(X, y, check_finite=True)
    out = acc.result()
    return out[0] if single else out


def second_moment(X, y, chunk_size=DEFAULT_CHUNK_SIZE, n_jobs=1):
    """:math:`M_2 = \\frac1n\\sum_i y_i(x_ix_i^T - I)`, whose expectation is :math:`a_2\\sum_i\\lambda_iu_iu_i^T`."""
    X, y = _check_data_lazily(X, y, None)
    return hermite_moment_contraction(X, y, np.zeros(X.shape[1]), order=2, chunk_size=chunk_size, n_jobs=n_jobs)


def linear_moments(X, y):
    """:math:`(E[y], E[yx])`; for a teacher :math:`E[yx] = w + \\frac12\\sum_i\\lambda_iu_i`."""
    X, y = check_data(X, y)
    _check_has_rows(X)
    return float(y.mean()), y @ X / X.shape[0]


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

    def raw_moments(self):
        """``{j: E[y z^{\\otimes j}]}`` as full ``k^j`` arrays (and ``E[y]`` at ``j = 0``)."""
        raw = {0: np.asarray(self.sums[0] / self.n)}
        for j, combos in self._monomials.items():
            q = j // 2
            index = {tuple(c): i for i, c in enumerate(combos)}
            flat = np.array([index[tuple(sorted(t))] for t in itertools.product(range(self.k), repeat=q)], dtype=np.intp)
            raw[j] = (self.sums[j][np.ix_(flat, flat)] / self.n).reshape((self.k,) * j)
        return raw

    def hermite_tensors(self, orders):
        """``{m: E[y He_m(z)]}`` for the even ``orders`` (each at most ``max_order``)."""
        raw = self.raw_moments()
        return {m: hermite_from_raw_moments(raw, m) for m in orders}
