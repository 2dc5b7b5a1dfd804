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

import numpy as np

from .._parallel import one_blas_thread, ordered_map
from .._validation import check_data, check_finite_array, check_positive_int
from ._blas import scratch_rows, signed_gram
from ._kernels import contraction_row_pass, contraction_row_split, split_rows_by_sign

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
        self._gram = np.zeros((r, d, d))
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
        gram = self._gram.copy()
        vectors = self._vectors.copy()
        sums = self._sums.copy()
        sum_y = self._sum_y
        sum_yx = self._sum_yx.copy()
        starts = range(0, X.shape[0], self.chunk_size)
        blocks = ((X[s:s + self.chunk_size], y[s:s + self.chunk_size]) for s in starts)
        with np.errstate(over="ignore", invalid="ignore"), one_blas_thread():
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
        self._gram = gram
        self._vectors = vectors
        self._sums = sums
        self._sum_y = sum_y
        self._sum_yx = sum_yx
        self.n_samples += X.shape[0] if n_rows is None else n_rows

    def _chunk(self, block):
        X, y = block
        c, d = X.shape
        r = self.directions.shape[0]
        vectors = np.zeros((r, d))
        sums = np.zeros((2, r))
        sum_yx = np.zeros(d)
        grams = np.zeros((r, d, d))
        positive, negative = scratch_rows(c, d)
        if r == 1:
            n_pos, n_neg = contraction_row_split(X, y, self.directions, self._sq_norms, self.order, vectors, sums,
                                                 sum_yx, positive, negative)
            signed_gram(positive[:n_pos], negative[:n_neg], out=grams[0])
        else:
            gram_weights = np.empty((r, c))
            contraction_row_pass(X, y, self.directions, self._sq_norms, self.order, gram_weights, vectors, sums,
                                 sum_yx)
            for j in range(r):
                n_pos, n_neg = split_rows_by_sign(X, gram_weights[j], positive, negative)
                signed_gram(positive[:n_pos], negative[:n_neg], out=grams[j])
        return grams, vectors, sums, y.sum(), sum_yx

    def merge(self, other):
        """Add the sums of ``other`` (same directions and order), e.g. from another block of rows."""
        self._gram += other._gram
        self._vectors += other._vectors
        self._sums += other._sums
        self._sum_y += other._sum_y
        self._sum_yx += other._sum_yx
        self.n_samples += other.n_samples
        return self

    def result(self):
        """The contractions, shape ``(r, n_features, n_features)``, symmetric."""
        if self.n_samples == 0:
            raise ValueError("no samples were added: call update() first")
        n = self.n_samples
        m = self.order
        G = self.directions
        idx = np.arange(self.n_features)
        out = self._gram / n
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


