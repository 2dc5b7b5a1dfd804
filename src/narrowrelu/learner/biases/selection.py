r"""The biased units of the raw solution, chosen from the moment rounds' candidate pool.

The rounds select their directions by an output regression on bias-free units
:math:`|c\cdot x|`, which fits a biased unit poorly; the pool they select from often holds a
better direction than the one selected (on a k = 4 teacher with :math:`\beta\sim N(0,1)`, a
direction at cosine 0.63 selected while the pool held one at 0.996). So, with biases, each
candidate :math:`c` gets its own bias :math:`h_c = -a_{3,c}/a_{2,c}` from its order-3 and order-2
moments (:func:`~narrowrelu.learner.biases.moment_ratios.ratio_biases`, one pass; cross terms
between candidates ignored here), and the directions are selected again by the same subset regression
(:class:`~narrowrelu.learner.output.sparse_regression.SparseDirectionRegression`: forward
selection to as many units as the moment solution has, then swaps, and swaps from the rounds' own
selection) on the
units :math:`\mathrm{relu}(c\cdot x + h_c)` (one pass for the training and held-out Gram matrices).
"""

import numpy as np

from ...moments.thin import thin_projection
from ..output.sparse_regression import GramStatistics, SparseDirectionRegression


class _SplitGrams:
    """Gram statistics of the training and held-out rows (an accumulator for ``source.fold``)."""

    def __init__(self, n_columns):
        self.train = GramStatistics.empty(n_columns)
        self.validation = GramStatistics.empty(n_columns)

    def merge(self, other):
        self.train.merge(other.train)
        self.validation.merge(other.validation)
        return self


def select_biased_units(source, pool, biases, n_units, starts=(), progress=None):
    """The indices into ``pool`` (unit rows) of the ``n_units`` units
    :math:`\\mathrm{relu}(c\\cdot x + h_c)`, ``biases`` :math:`h`, that the subset regression on
    :math:`[1, x, \\text{units}]` selects (forward path to ``n_units``, then swaps); ``starts``: subsets
    to swap from as well. The count is the moment solution's: a unit whose bias the single ratio
    estimates poorly may look useless here and still be one the refinement needs."""
    d = pool.shape[1]
    Ct = np.ascontiguousarray(pool)

    def chunk(acc, X, y, held):
        F = np.empty((X.shape[0], d + pool.shape[0]))
        F[:, :d] = X
        F[:, d:] = np.maximum(thin_projection(X, Ct) + biases, 0.0)
        acc.train.add_rows_with_intercept(F[~held], y[~held])
        acc.validation.add_rows_with_intercept(F[held], y[held])

    grams = source.fold(_SplitGrams(1 + d + pool.shape[0]), chunk, progress)
    regression = SparseDirectionRegression(grams.train, grams.validation, 1 + d)
    return regression.select(n_units, starts=starts, size=n_units).selected
