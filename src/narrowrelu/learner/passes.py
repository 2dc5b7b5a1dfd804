"""The passes of the moment learner over a source (see :mod:`narrowrelu.learner.sources`): each
``*_pass`` function reads every row once.

Data flow: the linear part (one pass), :math:`M_2` for a first estimate :math:`P` of the neurons'
span (one pass), then rounds. A round is a single pass over :math:`X` that computes, per block of
rows, the projections :math:`XS` on a thin matrix :math:`S` (the current model's directions,
:math:`P`, and the linear basis), the current model's residual :math:`r`, the products
:math:`M_2P` and :math:`C_jP` that update the span, and the :math:`k`-dimensional Hermite tensors
of :math:`r` in :math:`P`; it stores the projections
(:class:`narrowrelu.learner.sources.projection_cache.ProjectionCache`). The candidates (from the tensors) all lie
in :math:`P`, so the output regression of the round runs on the stored projections without
touching :math:`X` again. Every sum runs over training rows only: held-out rows enter with
weight zero and serve model selection.

Each pass is a fold over the source (``source.fold``, :class:`narrowrelu.learner.sources.Source`): a
function adds one chunk's sums into an accumulator with a ``merge`` method, so the same pass runs as a loop in
memory and as a tree reduction on a dask cluster (:mod:`narrowrelu.learner.dask.sources`).
"""

from dataclasses import dataclass

import numpy as np

from .._parallel import ordered_map
from ..moments.contraction import HermiteContractionAccumulator
from ..moments.model import network_hermite_contraction, network_projected_tensor
from ..moments.products import HermiteContractionProducts
from ..moments.projected import ProjectedRawMoments
from ..moments.thin import thin_projection, thin_transposed_product
from .output.sparse_regression import GramStatistics

# a unit of work of a pass (and one reduction buffer) is the largest power-of-two number of rows
# within this many bytes of X: small enough to stay in a 2 MB cache, large enough that the Python
# work per block stays small
BLOCK_BYTES = 2**21


def block_rows(n_features):
    """Rows per unit of work of a pass: the largest power of two within ``BLOCK_BYTES`` of X."""
    return 1 << max(8, int(np.log2(BLOCK_BYTES / (8 * n_features))))

@dataclass
class LinearStatistics:
    """First-pass sums: :math:`E[y]`, :math:`E[yx]` on the training rows (the Gaussianity check of
    the inputs reads a subsample before the fit: :mod:`narrowrelu.conditioning.gaussianity`)."""

    n_train: int
    n_validation: int
    mean_y: float
    var_y: float
    mean_yx: np.ndarray


class _LinearSums:
    """The running sums of :func:`linear_pass` (an accumulator for ``source.fold``)."""

    def __init__(self, d):
        self.n = self.n_all = 0
        self.sy = self.syy = 0.0
        self.syx = np.zeros(d)

    def merge(self, other):
        for name in ("n", "n_all", "sy", "syy", "syx"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


def _linear_chunk(acc, X, y, held):
    yt = np.where(held, 0.0, y)
    acc.n += _n_train(held)
    acc.n_all += X.shape[0]
    acc.sy += yt.sum()
    acc.syy += yt @ yt
    acc.syx += thin_transposed_product(X, yt[:, None])[0]


def linear_pass(source, progress=None):
    """:math:`E[y]` and :math:`E[yx]` (for a teacher :math:`w + \\frac12\\sum\\lambda_iu_i`) on the
    training rows."""
    acc = source.fold(_LinearSums(source.n_features), _linear_chunk, progress)
    n = acc.n
    n_safe = max(n, 1)
    mean_y = acc.sy / n_safe
    return LinearStatistics(
        n_train=n,
        n_validation=acc.n_all - n,
        mean_y=mean_y,
        var_y=acc.syy / n_safe - mean_y**2,
        mean_yx=acc.syx / n_safe,
    )


def least_squares_linear_pass(source, progress=None):
    """The least-squares fit :math:`(b, w)` of :math:`y \\approx b + w\\cdot x` on the training rows,
    in one pass (the Gram statistics of :math:`[1, x]`). Unlike :math:`(E[y], E[yx])` it leaves no
    in-sample linear error: :math:`E[yx] - w` has sampling error :math:`\\sqrt{\\mathrm{Var}(y)/n}`
    per coordinate, large beside the neurons when the linear part is."""

    def chunk(stats, X, y, held):
        train = ~held
        stats.add_rows_with_intercept(np.ascontiguousarray(X[train]), np.asarray(y, dtype=np.float64)[train])

    stats = source.fold(GramStatistics.empty(1 + source.n_features), chunk, progress)
    coef = np.linalg.lstsq(stats.gram, stats.moment, rcond=None)[0]
    return float(coef[0]), coef[1:]


def training_residual(y, fitted, held_out):
    """:math:`y - g(x)` on training rows, zero on held-out rows (which then add nothing to a sum)."""
    r = y - fitted
    r[held_out] = 0.0
    return r


def second_moment_pass(source, network, chunk_size, n_jobs, progress=None, mean_square=False):
    """:math:`M_2 = E[y(xx^T - I)]` on the training rows, as the residual's empirical moment plus
    the model's exact one (control variate): one weighted Gram pass, :math:`O(nd^2)`. With
    ``mean_square``, ``(M_2, mean square of the residual y - g(x) on the training rows)``."""
    d = source.n_features
    acc = _ResidualMomentSums(HermiteContractionAccumulator(np.zeros((1, d)), 2, chunk_size=chunk_size, n_jobs=n_jobs))

    def chunk(acc, X, y, held):
        r = training_residual(y, network.evaluate_trusted(X), held)
        acc.moment._update_checked(X, r, check_finite=False, n_rows=_n_train(held))
        acc.squares += float(r @ r)

    acc = source.fold(acc, chunk, progress)
    M2 = acc.moment.result()[0] + network_hermite_contraction(network, np.zeros((1, d)), 2)[0]
    return (M2, acc.squares / acc.moment.n_samples) if mean_square else M2


class _ResidualMomentSums:
    """The residual's second-moment accumulator and its sum of squares, merged together."""

    def __init__(self, moment):
        self.moment = moment
        self.squares = 0.0

    def merge(self, other):
        self.moment.merge(other.moment)
        self.squares += other.squares
        return self


def _blocks(X, y, held, chunk_size):
    """A chunk cut into blocks of ``chunk_size`` rows (the unit of work)."""
    for s in range(0, X.shape[0], chunk_size):
        e = s + chunk_size
        yield X[s:e], y[s:e], held[s:e]


def _n_train(held_out):
    return int(held_out.size - np.count_nonzero(held_out))


def products_pass(source, network, P, direction_coords, chunk_size, n_jobs, progress=None):
    """One pass: the thin products :math:`M_2P` and :math:`C_jP` of the current model's residual
    (order-4 contractions along :math:`g_j = Pa_j`, ``direction_coords`` rows :math:`a_j`), the
    model's exact moments added back. Their range is the neurons' span; :math:`M_2P` also lifts
    directions (:func:`lift_directions`)."""
    G = direction_coords @ P.T
    St = np.ascontiguousarray(np.hstack([network._stacked_weights(), P]).T)
    h, k = network.n_neurons, P.shape[1]
    products = HermiteContractionProducts(G, 4, P, chunk_size=chunk_size, n_jobs=n_jobs)

    def chunk(products, X, y, held):
        def block_terms(block):
            X, y, held = block
            Z = thin_projection(X, St)
            r = training_residual(y, network.evaluate_projections(Z[:, :1 + h]), held)
            return products.chunk_terms(X, Z[:, 1 + h:1 + h + k], r), _n_train(held)

        for terms, n_rows in ordered_map(block_terms, _blocks(X, y, held, chunk_size), n_jobs):
            products.add_terms(terms, n_rows)

    products = source.fold(products, chunk, progress)
    d = source.n_features
    M2P = products.second_moment_product() + network_hermite_contraction(network, np.zeros((1, d)), 2)[0] @ P
    CP = products.result() + network_hermite_contraction(network, G, 4) @ P
    return M2P, CP


@dataclass
class ProjectedPass:
    """What a projection pass yields: the projected tensors, and the layout of the projections
    it stored: columns ``[c_1..c_e, L...]`` (the extra directions, then the linear basis whose
    first ``k`` columns are :math:`P`); the model's neurons are ``L @ hidden_coords``."""

    tensors: dict
    second: np.ndarray
    n_extra: int
    n_linear: int
    k: int
    hidden_coords: np.ndarray

    @property
    def n_hidden(self):
        return self.hidden_coords.shape[1]


def projection_pass(source, network, extra, L, k, orders, cache, chunk_size, n_jobs, progress=None):
    """One pass: the projections :math:`x^T[c_1, \\dots, c_e, L]` of every row, stored in
    ``cache``, and the :math:`k`-dimensional Hermite tensors of the current model's residual in
    :math:`P = L_{:, :k}`, the model's exact tensors added back.

    Parameters
    ----------
    network : ReLUNetwork
        The current model :math:`g` (control variate). Its linear part and neurons must lie in
        the span of ``L``: they are evaluated, and stored, through their coordinates in it.
    extra : ndarray of shape (e, n_features)
        Further candidate directions to store.
    L : ndarray of shape (n_features, n_linear)
        Orthonormal columns, the first ``k`` being :math:`P`.
    """
    stacked = network._stacked_weights()
    coords = L.T @ stacked
    scale = max(float(np.abs(stacked).max(initial=0.0)), 1e-300)
    if np.abs(L @ coords - stacked).max(initial=0.0) > 1e-8 * scale:
        raise ValueError("internal error: the model's weights are not in the span of the linear basis")
    St = np.ascontiguousarray(np.hstack([extra.T, L]).T)
    e = extra.shape[0]
    lin = slice(e, e + L.shape[1])
    raw = ProjectedRawMoments(k, max(orders), odd=any(m % 2 for m in orders))
    cache.start(St.shape[0])

    def chunk(raw, X, y, held, keep):
        def block_terms(block):
            X, y, held = block
            Z = thin_projection(X, St)
            ZL = Z[:, lin]
            r = training_residual(y, network.evaluate_projections(ZL @ coords), held)
            return Z, y, held, raw.chunk_sums(ZL[:, :k], r), _n_train(held)

        for Z, y_block, held_block, raw_sums, n_rows in ordered_map(block_terms, _blocks(X, y, held, chunk_size),
                                                                    n_jobs):
            raw.add(raw_sums, n_rows)
            keep(Z, y_block, held_block)

    raw = source.fold(raw, chunk, progress, cache)
    P = L[:, :k]
    tensors = {m: T + network_projected_tensor(network, P, m) for m,
               T in raw.hermite_tensors((2,) + tuple(orders)).items()}
    second = tensors.pop(2)
    return ProjectedPass(tensors, second, e, L.shape[1], k, coords[:, 1:])


def final_regression_pass(source, L, directions, progress=None):
    """Gram statistics of :math:`[1, L^Tx, |c_j\\cdot x|]` over all rows, in one pass (when the
    stored projections did not cover every row)."""
    St = np.ascontiguousarray(np.hstack([L, directions.T]).T)
    n_lin = L.shape[1]

    def chunk(stats, X, y, _):
        Z = thin_projection(X, St)
        np.abs(Z[:, n_lin:], out=Z[:, n_lin:])
        stats.add_rows_with_intercept(Z, y)

    return source.fold(GramStatistics.empty(1 + St.shape[0]), chunk, progress)
