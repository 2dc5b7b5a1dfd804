"""Candidate directions of a round: Jennrich pairs of random contractions of the projected
tensors (:mod:`narrowrelu.learner.decompose`), merged by multiscale clustering
(:mod:`narrowrelu.learner.cluster`), a polish of the current directions on the tensors
(:mod:`narrowrelu.learner.polish`, :mod:`narrowrelu.learner.tensor_fit`), and the test of which
candidates are new.
"""

import numpy as np

from .cluster import multiscale_cluster_centres
from .decompose import jennrich_candidates
from .polish import cp_polish, polish_starts
from .tensor_fit import fit_hermite_tensors


def candidate_stage(tensors, n_pairs, scales, min_support, rng, current=None, polish=True, second=None):
    """Jennrich candidates from random contraction pairs, clustered at every scale, and the
    rank-``k`` polish started from ``current`` (unit rows, the model's directions in the
    tensors' coordinates) and the best-supported centres: with ``polish``, a CP decomposition
    of the order-4 tensor (else the lowest order) by alternating least squares; given the
    order-2 tensor ``second``, the joint weighted fit of every order
    (:func:`~narrowrelu.learner.tensor_fit.fit_hermite_tensors`) from its result (from the
    starts without ``polish``).

    Returns the centres as unit rows in the tensors' ``k`` coordinates (lift with
    :math:`c = Pv`), their support, the size of the cloud, and the polished directions (the
    fitted :math:`v_l`, whose norms estimate the share of each neuron inside the span, or the
    CP polish's unit rows without ``second``; empty with neither)."""
    k = next(iter(tensors.values())).shape[0]
    cloud = jennrich_candidates([tensors[m] for m in sorted(tensors)], n_pairs, rng)
    centres, support = multiscale_cluster_centres(cloud, scales, min_support)
    norms = np.linalg.norm(centres, axis=1)
    centres = centres / np.where(norms > 0, norms, 1.0)[:, None]
    if not polish and second is None:
        return centres, support, cloud.shape[0], np.empty((0, k))
    current = np.empty((0, k)) if current is None else current
    starts = polish_starts(current, centres, k, rng)
    order = 4 if 4 in tensors else min(tensors)
    polished = cp_polish(tensors[order], starts) if polish else np.empty((0, k))
    if second is not None:
        polished, _ = fit_hermite_tensors({2: second, **tensors}, polished if polished.shape[0] else starts)
    return centres, support, cloud.shape[0], polished


def novel_rows(pool, new, tol=1e-8):
    """Mask of the rows of ``new`` that are not already in ``pool`` nor earlier in ``new``
    (projectively: :math:`1 - |c\\cdot c'| < \\mathrm{tol}` counts as the same)."""
    keep = np.zeros(new.shape[0], dtype=bool)
    for i, c in enumerate(new):
        if pool.shape[0] and np.min(1.0 - np.abs(pool @ c)) < tol:
            continue
        if any(1.0 - abs(new[j] @ c) < tol for j in np.flatnonzero(keep[:i])):
            continue
        keep[i] = True
    return keep
