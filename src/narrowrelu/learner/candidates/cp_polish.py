"""A CP polish of candidate directions on the projected moment tensor (alternating least squares).

Jennrich's pairs (:mod:`narrowrelu.learner.candidates.jennrich`) read the tensor
:math:`T = a_m\\sum_i\\lambda_iv_i^{\\otimes m}` through two contractions at a time; with many
components in :math:`k` dimensions the eigenvalue ratios of a pair crowd together and its
eigenvectors mix, so few candidates agree across pairs. The polish fits all of :math:`T` at
once: from starts :math:`v_i^{(0)}` (the current model's directions in the tensor's coordinates,
completed by the best-supported cluster centres), weights by least squares on
:math:`\\mathrm{vec}\\,T`, then the rank-:math:`k` CP decomposition by alternating least squares
(:func:`~narrowrelu.learner.candidates._als_kernels.als_sweeps`, the algorithm of
:func:`tensorly.decomposition.parafac` compiled), each component's :math:`m` factors symmetrised into
one unit direction (the top eigenvector of the sum of their outer products). The polished
directions join the candidate pool; the output regression chooses among them on held-out rows,
so they can replace a candidate only where they fit better.
"""

import numpy as np

from ..directions import nonzero_unit_rows, novel_rows, unit_rows
from ._als_kernels import BREAKDOWN, als_sweeps

# ALS sweeps at most, and the change of the relative reconstruction error that stops them
# (tensorly's parafac default: the polished directions only start the tensor fit, or join the pool
# that the output regression chooses from on held-out rows)
POLISH_ITERATIONS = 500
POLISH_TOL = 1e-8
# and at most POLISH_MAX_WORK / (k^m r) of them (a sweep's cost, rank r in k dimensions): all 500 up
# to rank 16 in 16 dimensions at order 4, the widest of the sweeps; fewer, but POLISH_MIN_ITER, beyond
POLISH_MAX_WORK = POLISH_ITERATIONS * 16.0**5
POLISH_MIN_ITER = 50


def _rank_one_columns(V, order):
    cols = []
    for v in V:
        t = v
        for _ in range(order - 1):
            t = np.multiply.outer(t, v)
        cols.append(t.ravel())
    return np.stack(cols, axis=1)


def cp_polish(T, starts, n_iter=POLISH_ITERATIONS, tol=POLISH_TOL):
    """Unit directions (rows) of the rank-``r`` CP decomposition of the symmetric tensor ``T``
    (order :math:`m\\ge 3`, dimension :math:`k`) by alternating least squares from the ``r``
    rows of ``starts``, in at most ``n_iter`` sweeps (fewer for wide ones: ``POLISH_MAX_WORK``).
    Returns an empty ``(0, k)`` array when ALS breaks down (a singular step)."""
    k, order = T.shape[0], T.ndim
    V = nonzero_unit_rows(starts)
    if V.shape[0] == 0:
        return np.empty((0, k))
    weights = np.linalg.lstsq(_rank_one_columns(V, order), T.ravel(), rcond=None)[0]
    factors = np.ascontiguousarray(np.broadcast_to(V.T, (order,) + V.T.shape), dtype=np.float64)
    factors[-1] *= weights
    n_iter = min(n_iter, max(POLISH_MIN_ITER, int(POLISH_MAX_WORK // (k**order * V.shape[0]))))
    with np.errstate(all="ignore"):
        sweeps = als_sweeps(np.ascontiguousarray(T, dtype=np.float64).ravel(), factors, n_iter, tol)
    if sweeps == BREAKDOWN:
        return np.empty((0, k))
    out = []
    for i in range(V.shape[0]):
        F = factors[:, :, i]
        lengths = np.linalg.norm(F, axis=1)
        if not np.all(np.isfinite(F)) or np.any(lengths == 0):
            continue
        F = F / lengths[:, None]
        _, vecs = np.linalg.eigh(F.T @ F)
        out.append(vecs[:, -1])
    return np.asarray(out).reshape(-1, k)


def polish_starts(current, centres, k, rng):
    """``k`` starting directions: the unit rows of ``current`` (the model's directions in the
    tensor's coordinates), then the rows of ``centres`` (ordered by support) not already among
    them, then random unit directions from ``rng`` if fewer than ``k``."""
    starts = current[:k]
    if starts.shape[0] < k and centres.shape[0]:
        fresh = centres[novel_rows(starts, centres)]
        starts = np.vstack([starts, fresh[: k - starts.shape[0]]])
    if starts.shape[0] < k:
        extra = rng.standard_normal((k - starts.shape[0], current.shape[1]))
        starts = np.vstack([starts, unit_rows(extra)])
    return starts
