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

When :math:`k` was chosen by the search (``n_neurons=None``), a neuron the search missed is
*added* the same way (:func:`grow_units`): the new unit is appended, the network refined, and
the unit kept when the sum of squares falls by more than a unit fitted to noise would take,
:math:`\hat\sigma^2(q + 3\sqrt{2q})`, :math:`q = d + 2`.
"""

import numpy as np

from ...network import ReLUNetwork, n_parameters
from ..refine.surplus import contributions, residual_structure
from .moment_ratios import projected_hermite_pass, ratio_biases

SWAP_TRIES = 2
MAX_SWAPS = 2
# an added unit is kept when it lowers the sum of squares by more than sigma^2 (q + GROW_Z sqrt(2q))
GROW_Z = 3.0
# a swap is kept when it lowers the loss by more than this share of it (rounding ties)
TIE_LEVEL = 1e-12


def unit_along(network, source, direction):
    """``(u, lambda, beta)`` of the unit that the moments of ``network``'s residual along the unit
    ``direction`` suggest (one pass)."""
    a = projected_hermite_pass(source, direction[None], network)
    h = float(ratio_biases(a)[0])
    return direction, a[0, 0] / (np.exp(-h * h / 2) / np.sqrt(2 * np.pi)), h


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


def with_unit_added(network, unit):
    u, lam, h = unit
    return ReLUNetwork(np.vstack([network.hidden_weights, u]), np.append(network.output_weights, lam),
                       network.linear_weights, network.intercept, np.append(network.hidden_biases, h))


def grow_units(result, source, refine, max_units, structure=None):
    """Add units to the refined ``result`` while it has fewer than ``max_units`` and its residual
    shows a neuron missing (module docstring); ``refine(network)`` refines a try; ``structure``:
    ``result``'s residual test when already made.

    Returns
    -------
    result : RefinementResult
    grown : int
        Units added.
    structure : ResidualStructure
        The final network's residual test.
    """
    grown = 0
    n, d = source.n_samples, result.network.n_features
    if structure is None:
        structure = residual_structure(result.network, source)
    while result.network.n_neurons < max_units and structure.significant:
        network = result.network
        trial = refine(with_unit_added(network, unit_along(network, source, structure.direction)))
        p = n_parameters(network.n_neurons, d, biased=True)
        sigma2 = result.loss * n / max(n - p, 1)
        q = d + 2
        if not (result.loss - trial.loss) * n > sigma2 * (q + GROW_Z * np.sqrt(2 * q)):
            break
        result, grown = trial, grown + 1
        structure = residual_structure(result.network, source)
    return result, grown, structure
