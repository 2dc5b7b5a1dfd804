r"""The output weights, linear part and intercept of a network with fixed biased units:
least squares of :math:`y` on :math:`[1, x, \mathrm{relu}(u_j\cdot x+\beta_j)]` over every row,
from the Gram matrix summed in one pass."""

import numpy as np

from ...moments.thin import thin_projection
from ...network import ReLUNetwork
from ..output.sparse_regression import GramStatistics

# relative ridge on the Gram matrix: keeps the solve defined when two units coincide
RIDGE = 1e-12


def biased_output_pass(source, directions, biases, progress=None, train_only=False):
    """The :class:`~narrowrelu.network.ReLUNetwork` with hidden weights ``directions``, hidden
    biases ``biases`` and the least-squares :math:`\\lambda, w, b` on every row of ``source`` (on
    its training rows with ``train_only``)."""
    k, d = directions.shape
    Ut = np.ascontiguousarray(directions)

    def chunk(stats, X, y, held):
        if train_only:
            X, y = X[~held], y[~held]
        F = np.empty((X.shape[0], d + k))
        F[:, :d] = X
        F[:, d:] = np.maximum(thin_projection(X, Ut) + biases, 0.0)
        stats.add_rows_with_intercept(F, y)

    stats = source.fold(GramStatistics.empty(1 + d + k), chunk, progress)
    gram = stats.gram + RIDGE * np.trace(stats.gram) / stats.gram.shape[0] * np.eye(stats.gram.shape[0])
    coef = np.linalg.solve(gram, stats.moment)
    return ReLUNetwork(directions, coef[1 + d:], coef[1:1 + d], coef[0], biases)
