"""The stages of the moment learner, each a pass over a source (see :mod:`narrowrelu.sources`).

Data flows one way: linear part → subspace → projected tensors → candidate directions →
output regression. Every stage sums over the training rows of each block (the held-out rows
are kept for model selection), so every stage streams.
"""

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from .cluster import multiscale_cluster_centres
from .decompose import jennrich_candidates
from .model_moments import network_hermite_contraction, network_projected_tensor
from .moment_products import HermiteContractionProducts
from .moments import HermiteContractionAccumulator, ProjectedRawMoments
from .output_fit import GramStatistics


@dataclass
class LinearStatistics:
    """First-pass sums over training rows: :math:`E[y]`, :math:`E[yx]`, and input moments."""

    n_train: int
    n_validation: int
    mean_y: float
    var_y: float
    mean_yx: np.ndarray
    x_mean: np.ndarray
    x_var: np.ndarray


def linear_stage(source, progress=None):
    """:math:`E[y]` and :math:`E[yx]` (for a teacher :math:`w + \\frac12\\sum\\lambda_iu_i`) on the training rows."""
    d = source.n_features
    n = nv = 0
    sy = syy = 0.0
    syx, sx, sxx = np.zeros(d), np.zeros(d), np.zeros(d)
    for Xt, yt, Xv, _ in source.chunks():
        n += Xt.shape[0]
        nv += Xv.shape[0]
        sy += yt.sum()
        syy += yt @ yt
        syx += yt @ Xt
        sx += Xt.sum(axis=0)
        sxx += np.einsum("ij,ij->j", Xt, Xt)
        _tick(progress)
    n_safe = max(n, 1)
    mean_y = sy / n_safe
    return LinearStatistics(
        n_train=n,
        n_validation=nv,
        mean_y=mean_y,
        var_y=syy / n_safe - mean_y**2,
        mean_yx=syx / n_safe,
        x_mean=sx / n_safe,
        x_var=sxx / n_safe - (sx / n_safe) ** 2,
    )


def contraction_stage(source, residual_network, blocks, chunk_size, n_jobs, progress=None):
    """One pass estimating Hermite contractions of :math:`y` with the model :math:`g` as control variate.

    ``blocks`` is a list of ``(order, directions)``. Returns, per block, the array (shape
    ``(r, d, d)``) :math:`E_n[(y-g)\\,He_m(x)](g_j,\\dots) + E[g\\,He_m(x)](g_j,\\dots)`, the second
    term exact (:mod:`narrowrelu.model_moments`).
    """
    accs = [HermiteContractionAccumulator(G, order, chunk_size=chunk_size, n_jobs=n_jobs) for order, G in blocks]
    for Xt, yt, _, _ in source.chunks():
        r = yt - residual_network.evaluate_trusted(Xt)
        for acc in accs:
            acc.update(Xt, r)
        _tick(progress)
    return [
        acc.result() + network_hermite_contraction(residual_network, G, order)
        for acc, (order, G) in zip(accs, blocks)
    ]


def stacked_subspace(matrices, dim):
    """Top-``dim`` left singular vectors of the blocks stacked side by side, each scaled to unit
    spectral norm so that no block drowns the others. Returns ``(P, singular_values)``."""
    blocks = []
    for M in matrices:
        s = np.linalg.norm(M, 2)
        if s > 0:
            blocks.append(M / s)
    stacked = np.hstack(blocks)
    U, s, _ = np.linalg.svd(stacked, full_matrices=False)
    return U[:, :dim], s


def top_eigenvectors(M, dim):
    """Eigenvectors of the symmetric ``M`` with the ``dim`` largest :math:`|\\text{eigenvalue}|`."""
    vals, vecs = np.linalg.eigh(M)
    return vecs[:, np.argsort(-np.abs(vals), kind="stable")[:dim]]


def subspace_stage(source, residual_network, dim, rng, n_directions, chunk_size, n_jobs, progress=None, previous=None):
    """The span of the neurons, robust to the rank loss of :math:`M_2`, as a subspace iteration.

    Start from ``previous`` (the last round's estimate) or, in the first round, from the top
    eigenvectors of :math:`M_2 = E[y(xx^T - I)]` (one full pass). Then one pass forms the thin
    products :math:`M_2Q` and :math:`C_jQ` with :math:`Q` the start and :math:`C_j` order-4
    contractions along directions drawn inside it (where the signal :math:`(u_i\\cdot g)^2` is of
    order one, not :math:`1/d`). In the population every product has its range in the
    neurons' span, and the order-4 ones keep the directions along which close neurons of
    opposite signs cancel in :math:`M_2`. The top-``dim`` left singular vectors of the stacked
    products give :math:`P` (``d x dim``, orthonormal columns).
    """
    d = source.n_features
    if previous is None:
        (M2,) = contraction_stage(source, residual_network, [(2, np.zeros((1, d)))], chunk_size, n_jobs, progress)
        previous = top_eigenvectors(M2[0], dim)
    G = rng.standard_normal((n_directions, previous.shape[1])) @ previous.T
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    acc = HermiteContractionProducts(G, 4, previous, chunk_size=chunk_size, n_jobs=n_jobs)
    for Xt, yt, _, _ in source.chunks():
        acc.update(Xt, yt - residual_network.evaluate_trusted(Xt))
        _tick(progress)
    M2Q = acc.second_moment_product() + network_hermite_contraction(residual_network, np.zeros((1, d)), 2)[0] @ previous
    CQ = acc.result() + network_hermite_contraction(residual_network, G, 4) @ previous
    return stacked_subspace([M2Q] + list(CQ), dim)


def tensor_stage(source, residual_network, P, orders, progress=None):
    """Full :math:`k`-dimensional Hermite tensors :math:`E[y\\,He_m(P^Tx)]` for ``orders``, estimated
    as the residual's empirical tensor plus the model's exact one (control variate)."""
    acc = ProjectedRawMoments(P.shape[1], max(orders))
    with threadpool_limits(limits=1, user_api="blas"):
        for Xt, yt, _, _ in source.chunks():
            r = yt - residual_network.evaluate_trusted(Xt)
            acc.update(Xt @ P, r)
            _tick(progress)
    tensors = acc.hermite_tensors(orders)
    return {m: T + network_projected_tensor(residual_network, P, m) for m, T in tensors.items()}


def candidate_stage(tensors, P, n_pairs, scales, min_support, rng):
    """Jennrich candidates from random contraction pairs, clustered at every scale, lifted to
    :math:`d` dimensions (:math:`c = Pv`, unit)."""
    cloud = jennrich_candidates([tensors[m] for m in sorted(tensors)], n_pairs, rng)
    centres, support = multiscale_cluster_centres(cloud, scales, min_support)
    lifted = centres @ P.T
    norms = np.linalg.norm(lifted, axis=1)
    return lifted / np.where(norms > 0, norms, 1.0)[:, None], support, cloud.shape[0]


def regression_stage(source, directions, base=None, progress=None):
    """Gram statistics of :math:`[1, x, |c_j\\cdot x|]` against :math:`y`, training and held-out rows apart.

    The block of the base columns :math:`[1, x]` does not change between rounds: pass the
    ``base`` returned by an earlier call and only the candidate columns are accumulated
    (:math:`O(n(d+N)N)` for :math:`N` candidates instead of :math:`O(n(d+N)^2)`).

    Returns
    -------
    train, validation : GramStatistics
        Over the columns :math:`[1, x, |c_1\\cdot x|, \\dots]`.
    base : tuple of GramStatistics
        The training and held-out statistics of :math:`[1, x]` alone.
    """
    d = source.n_features
    b = 1 + d
    N = directions.shape[0]
    parts = {}
    for name in ("train", "validation"):
        parts[name] = {"cross": np.zeros((N, b)), "cand": np.zeros((N, N)), "cand_y": np.zeros(N)}
    fresh = base is None
    if fresh:
        base = (GramStatistics.empty(b), GramStatistics.empty(b))
    for Xt, yt, Xv, yv in source.chunks():
        for name, Xr, yr, stats in (("train", Xt, yt, base[0]), ("validation", Xv, yv, base[1])):
            Pr = np.abs(Xr @ directions.T)
            part = parts[name]
            part["cross"][:, 0] += Pr.sum(axis=0)
            part["cross"][:, 1:] += Pr.T @ Xr
            part["cand"] += Pr.T @ Pr
            part["cand_y"] += Pr.T @ yr
            if fresh:
                stats.update_affine(Xr, yr)
        _tick(progress)
    out = []
    for name, stats in (("train", base[0]), ("validation", base[1])):
        part = parts[name]
        gram = np.block([[stats.gram, part["cross"].T], [part["cross"], part["cand"]]])
        out.append(GramStatistics(gram, np.concatenate([stats.moment, part["cand_y"]]), stats.yy, stats.n))
    return out[0], out[1], base


def merge_directions(pool, new, tol=1e-8):
    """Append the rows of ``new`` that are not already in ``pool`` (projectively)."""
    keep = []
    for c in new:
        if pool.shape[0] and np.min(1.0 - np.abs(pool @ c)) < tol:
            continue
        if any(1.0 - abs(k @ c) < tol for k in keep):
            continue
        keep.append(c)
    return np.vstack([pool] + [np.asarray(keep)]) if keep else pool


def _tick(progress):
    if progress is not None:
        progress.update(1)
