r"""Moving a misplaced unit of a refined biased network to where its residual shows one missing.

Levenberg–Marquardt from the raw biased solution can end with a unit stuck away from the neuron
it should fit, when the moment round found that neuron poorly (a small one: a bias of −2 leaves a
unit active on 2 % of the rows). The residual then carries the missing neuron's second moment
(:func:`~narrowrelu.learner.refine.surplus.residual_structure`: the top eigenvalue of
:math:`E_n[r(xx^T-I)]` above its noise edge), with direction :math:`e` the top eigenvector. A
*swap* replaces one of the ``SWAP_TRIES`` units of least contribution :math:`|\lambda_j|\|u_j\|`
by the unit :math:`\lambda\,\mathrm{relu}(e\cdot x + h)`, with :math:`h = -a_3/a_2` and
:math:`\lambda = a_2/\varphi(h)` from the residual's Hermite moments :math:`a_m = E_n[r\,He_m(e\cdot x)]`
(:mod:`~narrowrelu.learner.biases.moment_ratios`), refines each try, and keeps the best when it
lowers the loss; at most ``MAX_SWAPS`` swaps, each while the residual still shows a neuron.
"""

import numpy as np

from ...network import ReLUNetwork
from ..refine.surplus import contributions, residual_structure
from .moment_ratios import BIAS_LIMIT, ProjectedHermiteSums

SWAP_TRIES = 2
MAX_SWAPS = 2
# a swap is kept when it lowers the loss by more than this share of it (rounding ties)
TIE_LEVEL = 1e-12


def residual_moments(network, source, direction):
    """:math:`a_2, a_3` of the residual :math:`y - f(x)` along the unit ``direction`` (one pass)."""
    def chunk(sums, X, y, _):
        sums.add((X @ direction)[:, None], y - network.evaluate_trusted(np.ascontiguousarray(X, dtype=float)))

    sums = source.fold(ProjectedHermiteSums(1), chunk)
    n = max(sums.n, 1)
    return ((sums.weighted - sums.total / n * sums.plain) / n)[:, 0]


def unit_along(network, source, direction):
    """``(u, lambda, beta)`` of the unit that the residual's moments along ``direction`` suggest."""
    a2, a3 = residual_moments(network, source, direction)
    h = float(np.clip(-a3 / a2, -BIAS_LIMIT, BIAS_LIMIT)) if a2 != 0 else 0.0
    return direction, a2 / (np.exp(-h * h / 2) / np.sqrt(2 * np.pi)), h


def with_unit_replaced(network, j, unit):
    u, lam, h = unit
    U, weights, beta = network.hidden_weights.copy(), network.output_weights.copy(), network.hidden_biases.copy()
    U[j], weights[j], beta[j] = u, lam, h
    return ReLUNetwork(U, weights, network.linear_weights, network.intercept, beta)


def swap_misplaced_units(result, source, refine):
    """Swap units of the refined ``result`` (module docstring); ``refine(network)`` refines a try.

    Returns
    -------
    result : RefinementResult
    swaps : int
        Swaps kept.
    structure : ResidualStructure
        The final network's residual test.
    """
    swaps = 0
    structure = residual_structure(result.network, source)
    while swaps < MAX_SWAPS and structure.significant:
        network = result.network
        unit = unit_along(network, source, structure.direction)
        tries = np.argsort(contributions(network), kind="stable")[:SWAP_TRIES]
        best = min((refine(with_unit_replaced(network, int(j), unit)) for j in tries), key=lambda r: r.loss)
        if not best.loss < result.loss * (1 - TIE_LEVEL):
            break
        result, swaps = best, swaps + 1
        structure = residual_structure(result.network, source)
    return result, swaps, structure
