"""The model of each :math:`k`'s moment solution that the search for :math:`k` compares on the
held-out rows (:func:`narrowrelu.learner.rounds.fit_moments`, ``selection_model``).

The raw moment solution is not the efficient estimate: at the true :math:`k` its held-out MSE
can stay well above the noise (a close pair or a cluster found as one direction, directions
off by more than their standard error), and a spare neuron then fits part of that error, so the
paired test keeps :math:`k+1`, :math:`k+2`, ... and the refinement prunes them again, at the
cost of their rounds and of a refinement on too many neurons. Compared after a few Gauss–Newton
iterations, each model is near its refined version: the spare neuron has nothing left to fit
but noise, and the test stops at the :math:`k` the data support.
"""

from ...network import n_parameters
from ..sources.training_rows import training_rows
from .gauss_newton import gauss_newton_arrays

# the model compared is refined on at most this many training rows per parameter (fitted on m
# rows, a model looks worse on the held-out rows by sigma^2 p / m, the larger model more: the test
# only grows more cautious), for at most SELECTION_GN_ITER Gauss-Newton iterations (from a moment
# solution they settle in 1-3, and a real neuron shows its gain; a spare one does not settle at
# all), and the model k + 1 is compared with, the k kept, for at most INCUMBENT_GN_ITER: a moment
# solution far from its minimum (n ~ 30 p) leaves error there that a spare neuron would fit
SELECTION_ROWS_PER_PARAMETER = 200
SELECTION_GN_ITER = 3
INCUMBENT_GN_ITER = 10


def refined_selection_model(network, source, progress=None, incumbent=False, rows_neurons=None):
    """``network`` (a moment solution) after at most ``SELECTION_GN_ITER`` (``incumbent``:
    ``INCUMBENT_GN_ITER``) Gauss–Newton iterations on the first ``SELECTION_ROWS_PER_PARAMETER``
    :math:`\\cdot p` training rows of ``source`` (the held-out rows, on which the search scores
    it, are not used); one pass to gather them. :math:`p` counts the parameters of
    ``rows_neurons`` neurons (default: ``network``'s): the search fits the two models it compares
    on the same rows, those of the larger. (On rows in proportion to its own :math:`p`, the
    smaller model's shared neurons were estimated from fewer rows, :math:`\\sigma^2/200\\cdot
    (d+1)/p_{k+1}` worse in expectation, which a spare neuron that has not settled does not pay
    back: random, d = 20, k = 6, n = 2·10⁵ kept k = 7, 8, 9 at z = 4.2–4.5.)"""
    p = n_parameters(rows_neurons or network.n_neurons, network.n_features)
    X, y = training_rows(source, SELECTION_ROWS_PER_PARAMETER * p, progress)
    return gauss_newton_arrays(network, X, y, max_iter=INCUMBENT_GN_ITER if incumbent else SELECTION_GN_ITER).network
