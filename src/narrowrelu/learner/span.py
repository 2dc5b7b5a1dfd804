"""The neurons' span: first estimate from :math:`M_2`, update from the stacked thin products of a
round, the linear basis of a round, and the lift of directions out of the span estimate.

Pure functions of small matrices (:math:`d\\times k`): no pass over the data.
"""

import numpy as np

from .directions import unit_rows


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


def lift_directions(directions, P, product, min_cosine=0.5, keep_span=True):
    """Move unit directions :math:`c_i` found in the span of ``P`` to the neurons they stand for,
    using a product of the same pass.

    The product is :math:`B = E[r\\,He](\\dots)P = \\sum_l\\beta_l u_l (P^Tu_l)^T` for coefficients
    :math:`\\beta_l` (:math:`a_2\\lambda_l` for :math:`M_2P`). With :math:`A = P^TC^T \\approx P^TU`
    (the coordinates of the :math:`c_i`), :math:`BA(A^TA)^{-1}` has columns :math:`b_i = \\beta_iu_i`:
    the neurons themselves, components outside ``P`` included, so the error of ``P`` no longer
    bounds that of the directions. A column whose cosine with :math:`c_i` is under ``min_cosine``
    (an ill-posed lift), or which is zero, leaves :math:`c_i` as it was.

    Inside the span, :math:`P^Tb_i = \\sum_l\\beta_l(P^Tu_l)(P^Tu_l)^TA(A^TA)^{-1}e_i` mixes the
    error of the other :math:`c_l` into :math:`c_i` with the factors :math:`\\beta_l/\\beta_i`,
    which grows the in-span error of weak neurons. With ``keep_span`` the lift keeps
    :math:`PP^Tc_i` (the tensors' fit) and takes only the part outside the span from the
    column, :math:`c_i' \\propto PP^Tc_i + (I - PP^T)b_i/\\hat\\beta_i` with
    :math:`\\hat\\beta_i = (P^Tc_i)\\cdot(P^Tb_i)/\\|P^Tc_i\\|^2`; else the lifted direction is
    :math:`b_i/\\|b_i\\|`, sign matched.
    """
    if not directions.shape[0]:
        return directions
    A = P.T @ directions.T
    columns = (product @ (A @ np.linalg.pinv(A.T @ A))).T
    norms = np.linalg.norm(columns, axis=1)
    cosines = np.sum(columns * directions, axis=1) / np.where(norms > 0, norms, 1.0)
    move = (norms > 0) & (np.abs(cosines) >= min_cosine)
    lifted = directions.copy()
    if keep_span:
        inside = A.T
        beta = np.sum(inside * (columns @ P), axis=1) / np.maximum(np.sum(inside * inside, axis=1), 1e-300)
        outside = columns - (columns @ P) @ P.T
        move &= beta != 0
        rows = inside[move] @ P.T + outside[move] / beta[move, None]
        lifted[move] = unit_rows(rows)
        return lifted
    lifted[move] = np.sign(cosines[move])[:, None] * columns[move] / norms[move][:, None]
    return lifted


def complete_outside_span(coords, P, directions, min_cosine=0.9):
    """Unit directions from in-span coordinates ``coords`` (rows :math:`v_l`), each completed
    outside the span of ``P`` by the unit row :math:`c` of ``directions`` nearest to it inside
    the span: :math:`\\pm\\|P^Tc\\|\\,P\\hat v_l + (I - PP^T)c`, the split between span and
    complement taken from :math:`c` (the lifted model's neuron), the direction inside from
    :math:`v_l`. A row with no such :math:`c` (cosine of :math:`\\hat v_l` with :math:`P^Tc/\\|P^Tc\\|`
    under ``min_cosine``) is :math:`P\\hat v_l`."""
    V = unit_rows(coords)
    out = V @ P.T
    if not directions.shape[0] or not coords.shape[0]:
        return out
    C = unit_rows(directions)
    inside = C @ P
    inside_norms = np.linalg.norm(inside, axis=1)
    cosines = (V @ inside.T) / np.where(inside_norms > 0, inside_norms, 1.0)[None, :]
    nearest = np.argmax(np.abs(cosines), axis=1)
    best = cosines[np.arange(V.shape[0]), nearest]
    for i in np.flatnonzero(np.abs(best) >= min_cosine):
        c = C[nearest[i]]
        row = inside_norms[nearest[i]] * out[i] + np.sign(best[i]) * (c - P @ (P.T @ c))
        out[i] = row / np.linalg.norm(row)
    return out
