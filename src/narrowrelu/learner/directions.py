"""Directions as unit rows, compared projectively (:math:`c` and :math:`-c` are one direction):
the helpers every stage of the learner shares. A leaf module: it imports nothing of the package.
"""

import numpy as np


def unit_rows(A):
    """The rows of ``A`` divided by their norms; zero rows stay zero."""
    norms = np.linalg.norm(A, axis=1)
    return A / np.where(norms > 0, norms, 1.0)[:, None]


def nonzero_unit_rows(A):
    """The nonzero rows of ``A``, divided by their norms (zero rows dropped)."""
    norms = np.linalg.norm(A, axis=1)
    keep = norms > 0
    return A[keep] / norms[keep, None]


def novel_rows(pool, new, tol=1e-8):
    """Mask of the rows of ``new`` that are not already in ``pool`` nor earlier in ``new``
    (projectively: :math:`1 - |c\\cdot c'| < \\mathrm{tol}` counts as the same; unit rows)."""
    keep = np.zeros(new.shape[0], dtype=bool)
    for i, c in enumerate(new):
        if pool.shape[0] and np.min(1.0 - np.abs(pool @ c)) < tol:
            continue
        if any(1.0 - abs(new[j] @ c) < tol for j in np.flatnonzero(keep[:i])):
            continue
        keep[i] = True
    return keep


def nearest_rows(pool, directions):
    """For each row of ``directions``, the index of the row of ``pool`` nearest to it
    projectively (largest :math:`|\\cos|`)."""
    return np.argmax(np.abs(unit_rows(directions) @ unit_rows(pool).T), axis=1)


def in_span_coordinates(directions, P, min_norm=0.5):
    """The unit rows :math:`P^Tc/\\|P^Tc\\|` of the directions :math:`c` with
    :math:`\\|P^Tc\\| \\ge` ``min_norm`` :math:`\\|c\\|` (the others are mostly outside the span of
    the orthonormal columns of ``P``)."""
    coords = directions @ P
    norms = np.linalg.norm(coords, axis=1)
    keep = norms >= min_norm * np.linalg.norm(directions, axis=1)
    keep &= norms > 0
    return coords[keep] / norms[keep, None]
