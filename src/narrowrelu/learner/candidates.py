"""Candidate directions of a round: Jennrich pairs of random contractions of the projected
tensors (:mod:`narrowrelu.learner.decompose`), merged by multiscale clustering
(:mod:`narrowrelu.learner.cluster`), and the test of which candidates are new.
"""

import numpy as np

from .cluster import multiscale_cluster_centres
from .decompose import jennrich_candidates


def candidate_stage(tensors, n_pairs, scales, min_support, rng):
    """Jennrich candidates from random contraction pairs, clustered at every scale. Returns the
    centres as unit rows in the tensors' ``k`` coordinates (lift with :math:`c = Pv`), their
    support, and the size of the cloud."""
    cloud = jennrich_candidates([tensors[m] for m in sorted(tensors)], n_pairs, rng)
    centres, support = multiscale_cluster_centres(cloud, scales, min_support)
    norms = np.linalg.norm(centres, axis=1)
    return centres / np.where(norms > 0, norms, 1.0)[:, None], support, cloud.shape[0]


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
