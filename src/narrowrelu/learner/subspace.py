"""The neurons' span: first estimate from :math:`M_2`, update from the stacked thin products of a
round, the linear basis of a round, and the lift of directions out of the span estimate.

Pure functions of small matrices (:math:`d\\times k`): no pass over the data.
"""

import numpy as np


def linear_basis(P, extra, rel_tol=1e-10):
    """``[P, E]``: ``P`` followed by an orthonormal basis ``E`` of the part of the rows of
    ``extra`` outside the span of ``P``, by Gram–Schmidt one row at a time (twice, for
    orthogonality to rounding); a row left with a norm under ``rel_tol`` times the largest row
    norm adds nothing."""
    scale = max(float(np.linalg.norm(extra, axis=1).max(initial=0.0)), 1e-300)
    basis = P
    for row in extra:
        v = row - basis @ (basis.T @ row)
        v -= basis @ (basis.T @ v)
        norm = np.linalg.norm(v)
        if norm > rel_tol * scale:
            basis = np.hstack([basis, (v / norm)[:, None]])
    return basis


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


def lift_directions(directions, P, product, min_cosine=0.5):
    """Move unit directions :math:`c_i` found in the span of ``P`` to the neurons they stand for,
    using a product of the same pass.

    The product is :math:`B = E[r\\,He](\\dots)P = \\sum_l\\beta_l u_l (P^Tu_l)^T` for coefficients
    :math:`\\beta_l` (:math:`a_2\\lambda_l` for :math:`M_2P`). With :math:`A = P^TC^T \\approx P^TU`
    (the coordinates of the :math:`c_i`), :math:`BA(A^TA)^{-1}` has columns :math:`\\beta_iu_i`: the
    neurons themselves, components outside ``P`` included, so the error of ``P`` no longer bounds
    that of the directions. Each column, normalised and sign matched, is the lifted :math:`c_i`;
    one whose cosine with :math:`c_i` is under ``min_cosine`` (an ill-posed lift), or which is
    zero, leaves :math:`c_i` as it was.
    """
    if not directions.shape[0]:
        return directions
    A = P.T @ directions.T
    columns = (product @ (A @ np.linalg.pinv(A.T @ A))).T
    norms = np.linalg.norm(columns, axis=1)
    cosines = np.sum(columns * directions, axis=1) / np.where(norms > 0, norms, 1.0)
    move = (norms > 0) & (np.abs(cosines) >= min_cosine)
    lifted = directions.copy()
    lifted[move] = np.sign(cosines[move])[:, None] * columns[move] / norms[move][:, None]
    return lifted
