"""The output regression of a round, from the projections a pass stored: Gram statistics of the
base columns and the candidate features, training and held-out rows apart, with no pass over :math:`X`.
"""

import numpy as np

from .sparse_regression import GramStatistics

REGRESSION_BLOCK_ROWS = 65536


def cached_gram_statistics(cache, layout, new_coords, columns=None, max_rows=None, parts=("train", "validation")):
    """Gram statistics of :math:`[1, L^Tx, |u_j\\cdot x|, |c_j\\cdot x|, |(Pv_l)\\cdot x|]` against
    :math:`y` from the projections stored by :func:`projection_pass`, training and held-out rows apart.

    The base columns are the constant and the linear basis :math:`L`; the candidates are the
    stored model's neurons :math:`u_j`, the stored extra directions :math:`c_j`, and the new
    directions :math:`Pv_l` (``new_coords`` rows :math:`v_l`: coordinates in the first columns
    of :math:`L`, which are :math:`P`, or in all of them). Cost :math:`O(np^2)` for
    :math:`p` columns, no pass over :math:`X`.

    Parameters
    ----------
    columns : array of int, optional
        Only these columns of the candidate part (base columns always kept).
    max_rows : int, optional
        Use every ``s``-th stored row, ``s`` the smallest stride leaving at most ``max_rows``
        (a spread subsample whatever the order of the rows).
    parts : tuple of str
        The stored rows to use, ``"train"`` and/or ``"validation"``: one statistic each, in order.
    """
    h, e, n_lin, k = layout.n_hidden, layout.n_extra, layout.n_linear, layout.k
    n_cand = h + e + new_coords.shape[0]
    columns = np.arange(n_cand) if columns is None else np.asarray(columns, dtype=int)
    hidden = columns[columns < h]
    stored = columns[(columns >= h) & (columns < h + e)] - h
    new = columns[columns >= h + e] - h - e
    # candidates that are combinations of the linear basis: the model's neurons, the new directions
    B = np.zeros((n_lin, hidden.size + new.size))
    B[:, : hidden.size] = layout.hidden_coords[:, hidden]
    B[: new_coords.shape[1], hidden.size:] = new_coords[new].T
    lin = slice(e, e + n_lin)
    c0 = 1 + n_lin
    p = c0 + columns.size

    def statistics(Z, y):
        stats = GramStatistics.empty(p)
        F = np.empty((min(REGRESSION_BLOCK_ROWS, Z.shape[0]), p))
        for s in range(0, Z.shape[0], REGRESSION_BLOCK_ROWS):
            Zb, yb = Z[s:s + REGRESSION_BLOCK_ROWS], y[s:s + REGRESSION_BLOCK_ROWS]
            Fb = F[: Zb.shape[0]]
            Fb[:, 0] = 1.0
            Fb[:, 1:c0] = Zb[:, lin]
            combos = np.abs(Fb[:, 1:c0] @ B)
            Fb[:, c0:c0 + hidden.size] = combos[:, : hidden.size]
            np.abs(Zb[:, stored], out=Fb[:, c0 + hidden.size:c0 + hidden.size + stored.size])
            Fb[:, c0 + hidden.size + stored.size:] = combos[:, hidden.size:]
            stats.add_rows(Fb, yb)
        return stats

    return tuple(cache.statistics(name, statistics, max_rows) for name in parts)
