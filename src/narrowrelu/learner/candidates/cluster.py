"""Multiscale clustering of candidate directions in projective space.

Candidates :math:`c` and :math:`-c` describe the same neuron of the even-order moments, so the
distance is :math:`\\delta(c, c') = 1 - |c\\cdot c'|`. Neurons closer than a scale
:math:`\\varepsilon` can be merged at a cost :math:`O(\\varepsilon|\\lambda|)` in error (relu is
1-Lipschitz), so clustering at a geometric ladder of scales yields, at each scale, a set of
"effective neurons": the cluster centres. The union over scales is the candidate set from which
the output fit picks.
"""

import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform

from ._cluster_kernels import cut_linkage


def projective_distances(C):
    """Matrix of :math:`1 - |c_i\\cdot c_j|` between unit rows of ``C``."""
    D = 1.0 - np.abs(C @ C.T)
    np.fill_diagonal(D, 0.0)
    return np.clip(D, 0.0, None)


def projective_centre(C):
    """Sign-free mean of unit rows: the top eigenvector of :math:`\\sum_i c_ic_i^T`."""
    _, vecs = np.linalg.eigh(C.T @ C)
    return vecs[:, -1]


def multiscale_cluster_centres(C, scales, min_support):
    """Cluster centres at every scale of the ladder, duplicates removed.

    Parameters
    ----------
    C : ndarray of shape (n_candidates, k)
        Unit candidate directions.
    scales : sequence of float
        Distance thresholds :math:`\\varepsilon` (average linkage, cut at :math:`\\varepsilon`).
    min_support : int
        Clusters with fewer members are noise and are dropped.

    Returns
    -------
    centres : ndarray of shape (n_centres, k)
        Unit vectors, ordered by decreasing support.
    support : ndarray of shape (n_centres,)
        Members of the cluster each centre came from (the largest, if found at several scales).
    """
    k = C.shape[1]
    if C.shape[0] < max(min_support, 2):
        return np.empty((0, k)), np.empty(0, dtype=int)
    tree = linkage(squareform(projective_distances(C), checks=False), method="average")
    labels = np.empty(C.shape[0], dtype=np.int64)
    centres, support = [], []
    for eps in scales:
        cut_linkage(tree, float(eps), labels)  # scipy's fcluster(tree, eps, criterion="distance")
        names, counts = np.unique(labels, return_counts=True)
        for lab in names[counts >= min_support]:
            members = C[labels == lab]
            centre = projective_centre(members)
            duplicate = _find_duplicate(centres, centre)
            if duplicate is None:
                centres.append(centre)
                support.append(members.shape[0])
            else:
                support[duplicate] = max(support[duplicate], members.shape[0])
    if not centres:
        return np.empty((0, k)), np.empty(0, dtype=int)
    order = np.argsort(-np.asarray(support), kind="stable")
    return np.asarray(centres)[order], np.asarray(support)[order]


def _find_duplicate(centres, centre, tol=1e-10):
    for i, c in enumerate(centres):
        if 1.0 - abs(c @ centre) < tol:
            return i
    return None
