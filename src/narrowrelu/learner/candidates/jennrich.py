"""Candidate neuron directions from random contractions of a low-dimensional moment tensor.

For :math:`T = a_m\\sum_i\\lambda_i v_i^{\\otimes m}` (:math:`k` dimensions) and a direction
:math:`g`, the contraction :math:`T(g,\\dots,g,\\cdot,\\cdot) = V D_g V^T` with
:math:`D_g = \\mathrm{diag}(a_m\\lambda_i (v_i\\cdot g)^{m-2})`. For two directions :math:`g, h`,

.. math::

    A B^{-1} = V D_g D_h^{-1} V^{-1},

so the eigenvectors of :math:`AB^{-1}` are the :math:`v_i` (Jennrich's simultaneous
diagonalisation), whenever the :math:`v_i` are linearly independent and the ratios
:math:`(v_i\\cdot g)^{m-2}/(v_i\\cdot h)^{m-2}` distinct. Every pair of random contractions gives
up to :math:`k` candidates; many pairs give a cloud that clusters around the true directions.
"""

import numpy as np

from ..directions import nonzero_unit_rows


def contract_each_to_matrix(T, G):
    """:math:`T(g,\\dots,g,\\cdot,\\cdot)` for every row :math:`g` of ``G``, as a stack of matrices.

    The rows' outer powers :math:`g^{\\otimes(m-2)}` times :math:`T` flattened to
    :math:`k^{m-2}\\times k^2`: one matrix product for the whole stack.
    """
    k, n = T.shape[0], G.shape[0]
    powers = np.ones((n, 1))
    for _ in range(T.ndim - 2):
        powers = (powers[:, :, None] * G[:, None, :]).reshape(n, powers.shape[1] * k)
    return (powers @ T.reshape(-1, k * k)).reshape(n, k, k)


def simultaneous_diagonalisations(A, B):
    """Unit eigenvectors (rows) of :math:`A_pB_p^{-1}` for each pair of symmetric matrices of the
    stacks ``A``, ``B`` (Jennrich), pair by pair; a pair whose :math:`B_p` is singular to working
    precision gives none."""
    k = A.shape[-1]
    regular = np.linalg.cond(B) <= 1e12
    if not regular.any():
        return np.empty((0, k))
    M = np.linalg.solve(B[regular], A[regular]).transpose(0, 2, 1)
    _, vecs = np.linalg.eig(M)
    return nonzero_unit_rows(np.real(vecs).transpose(0, 2, 1).reshape(-1, k))


def jennrich_candidates(tensors, n_pairs, rng):
    """Candidate directions from ``n_pairs`` random pairs of contractions of the given tensors.

    Parameters
    ----------
    tensors : list of ndarray
        Symmetric tensors of the same dimension ``k`` (e.g. order 4 and order 6); each pair uses
        one tensor drawn at random from the list.
    n_pairs : int
    rng : numpy.random.Generator

    Returns
    -------
    candidates : ndarray of shape (n_candidates, k)
        Unit vectors, up to ``k`` per pair, pair by pair.
    """
    k = tensors[0].shape[0]
    which = np.empty(n_pairs, dtype=int)
    contractions = np.empty((n_pairs, 2, k))
    for pair in range(n_pairs):
        which[pair] = rng.integers(len(tensors))
        contractions[pair] = rng.standard_normal((2, k))
    A, B = np.empty((n_pairs, k, k)), np.empty((n_pairs, k, k))
    for index, T in enumerate(tensors):
        pairs = which == index
        A[pairs] = contract_each_to_matrix(T, contractions[pairs, 0])
        B[pairs] = contract_each_to_matrix(T, contractions[pairs, 1])
    return simultaneous_diagonalisations(A, B)
