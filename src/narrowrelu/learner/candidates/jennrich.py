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


def contract_to_matrix(T, g):
    """:math:`T(g,\\dots,g,\\cdot,\\cdot)`: contract all but the last two modes of a symmetric tensor with ``g``."""
    out = T
    for _ in range(T.ndim - 2):
        out = np.tensordot(g, out, axes=(0, 0))
    return out


def simultaneous_diagonalisation(A, B):
    """Unit eigenvectors (rows) of :math:`AB^{-1}` for symmetric ``A`` and ``B`` (Jennrich).

    Returns an empty array when ``B`` is singular to working precision.
    """
    k = A.shape[0]
    if np.linalg.cond(B) > 1e12:
        return np.empty((0, k))
    M = np.linalg.solve(B, A).T
    _, vecs = np.linalg.eig(M)
    return nonzero_unit_rows(np.real(vecs).T)


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
        Unit vectors, up to ``k`` per pair.
    """
    k = tensors[0].shape[0]
    out = []
    for _ in range(n_pairs):
        T = tensors[rng.integers(len(tensors))]
        g, h = rng.standard_normal((2, k))
        out.append(simultaneous_diagonalisation(contract_to_matrix(T, g), contract_to_matrix(T, h)))
    return np.vstack(out) if out else np.empty((0, k))
