"""Numba kernels for the fused per-sample work of the moment contractions.

Kernels trust their inputs (float64, C-contiguous, matching shapes), fill arrays that the caller
allocated, and draw no random numbers. Each has a NumPy reference in the tests.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def directional_hermite_weights(S, y, sq_norms, order, gram_weights, vector_weights, sums):
    """Per-sample weights of an order-``m`` contraction along the directions ``g_j``.

    With :math:`s_{ij} = g_j\\cdot x_i` and :math:`H_n(s;\\|g\\|^2)` the homogeneous Hermite
    polynomial (:math:`H_{n+1} = sH_n - n\\|g\\|^2H_{n-1}`), fills
    ``gram_weights[j, i] = y_i H_{m-2}(s_ij)``, ``vector_weights[j, i] = y_i H_{m-3}(s_ij)`` and adds
    ``sum_i y_i H_{m-2}`` to ``sums[0, j]`` and ``sum_i y_i H_{m-4}`` to ``sums[1, j]``
    (:math:`H_{-1} = H_{-2} = 0`).
    """
    n, r = S.shape
    for i in range(n):
        yi = y[i]
        for j in range(r):
            s = S[i, j]
            q = sq_norms[j]
            h_m4 = 0.0
            h_m3 = 0.0
            h_m2 = 1.0
            for t in range(order - 2):
                h_next = s * h_m2 - t * q * h_m3
                h_m4 = h_m3
                h_m3 = h_m2
                h_m2 = h_next
            gram_weights[j, i] = yi * h_m2
            vector_weights[j, i] = yi * h_m3
            sums[0, j] += yi * h_m2
            sums[1, j] += yi * h_m4


@njit(cache=True, nogil=True)
def split_rows_by_sign(X, w, positive, negative):
    """Write :math:`\\sqrt{|w_i|}\\,x_i` into ``positive`` (``w_i > 0``) or ``negative`` (``w_i < 0``).

    Then :math:`X^T\\mathrm{diag}(w)X = P^TP - N^TN`, two symmetric rank updates. Returns the
    number of rows written to each.
    """
    n, d = X.shape
    n_pos = 0
    n_neg = 0
    for i in range(n):
        wi = w[i]
        if wi > 0.0:
            root = np.sqrt(wi)
            for c in range(d):
                positive[n_pos, c] = root * X[i, c]
            n_pos += 1
        elif wi < 0.0:
            root = np.sqrt(-wi)
            for c in range(d):
                negative[n_neg, c] = root * X[i, c]
            n_neg += 1
    return n_pos, n_neg
