"""Numba kernel cutting an agglomerative clustering tree into flat clusters at a distance.

:func:`cut_linkage` gives the labels of ``scipy.cluster.hierarchy.fcluster(Z, t,
criterion="distance")``, the same numbers in the same order (the multiscale clustering appends
centres in label order, and ties of support keep that order): a walk from the root that numbers a
subtree whose largest merge distance is at most ``t`` as one cluster, entering a node's internal
children left first and numbering its leaf children when it leaves it. ``fcluster`` checks the
tree's validity at every call, 0.17–0.21 ms for 64–448 candidates, six cuts per round of the
moment rounds: as much as the linkage itself at the sizes of a small fit. The kernel trusts ``Z``
(a linkage of :math:`m` points from ``scipy.cluster.hierarchy.linkage``: shape ``(m - 1, 4)``,
float64) and writes every entry of ``labels`` (length :math:`m`).
"""

import numpy as np
from numba import njit, types

_CUT_SIGNATURE = types.void(types.Array(types.float64, 2, "C", readonly=True), types.float64, types.int64[::1])


@njit([_CUT_SIGNATURE], cache=True, nogil=True)
def cut_linkage(Z, t, labels):
    """``labels[i]`` = the flat cluster (numbered from 1) of point ``i`` when the tree ``Z`` is
    cut at distance ``t``."""
    n = Z.shape[0] + 1
    if n == 1:
        labels[0] = 1
        return
    largest = np.empty(n - 1)
    for i in range(n - 1):
        a, b = int(Z[i, 0]), int(Z[i, 1])
        v = Z[i, 2]
        if a >= n and largest[a - n] > v:
            v = largest[a - n]
        if b >= n and largest[b - n] > v:
            v = largest[b - n]
        largest[i] = v
    visited = np.zeros(2 * n - 1, dtype=np.bool_)
    path = np.empty(n, dtype=np.int64)
    path[0] = 2 * n - 2
    depth = 0
    cluster_depth = -1
    cluster = 0
    while depth >= 0:
        node = path[depth] - n
        left, right = int(Z[node, 0]), int(Z[node, 1])
        if cluster_depth == -1 and largest[node] <= t:
            cluster_depth = depth
            cluster += 1
        if left >= n and not visited[left]:
            visited[left] = True
            depth += 1
            path[depth] = left
            continue
        if right >= n and not visited[right]:
            visited[right] = True
            depth += 1
            path[depth] = right
            continue
        if left < n:
            if cluster_depth == -1:
                cluster += 1
            labels[left] = cluster
        if right < n:
            if cluster_depth == -1:
                cluster += 1
            labels[right] = cluster
        if cluster_depth == depth:
            cluster_depth = -1
        depth -= 1
