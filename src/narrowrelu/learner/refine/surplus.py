"""Surplus neurons: find them, remove or merge them, and test a residual for missing ones.

A network asked for more neurons than the data need (``n_neurons`` above the true :math:`k`)
comes out of the moment rounds with the surplus in one of three forms, all of which leave the
least-squares problem degenerate (:math:`J^TJ` singular beyond the gauge), so that Gauss–Newton
does not settle on it:

* a neuron of negligible contribution :math:`|\\lambda_i|\\,\\|u_i\\|`;
* two neurons along one direction (:math:`\\cos(u_a, u_b)\\approx 1`): with unit directions
  :math:`\\lambda_a\\mathrm{relu}(e\\cdot x) + \\lambda_b\\mathrm{relu}(e\\cdot x) =
  (\\lambda_a+\\lambda_b)\\,\\mathrm{relu}(e\\cdot x)`, one neuron;
* two opposite neurons (:math:`\\cos\\approx -1`): since :math:`\\mathrm{relu}(-t) = \\mathrm{relu}(t) - t`,
  :math:`\\lambda_a\\mathrm{relu}(e\\cdot x) + \\lambda_b\\mathrm{relu}(-e\\cdot x) =
  (\\lambda_a+\\lambda_b)\\,\\mathrm{relu}(e\\cdot x) - \\lambda_b\\,e\\cdot x`: one neuron and a linear
  term (none at all when :math:`\\lambda_a = -\\lambda_b`, a purely linear pair).

:func:`merge_surplus` applies these identities (exact at :math:`|\\cos| = 1`) while a pair is
within ``MERGE_COSINE`` or a neuron below ``NEGLIGIBLE_SHARE``. Whether the smaller model still
misses a neuron is a question for its residual :math:`r = y - g(x)`: a neuron
:math:`\\lambda\\,\\mathrm{relu}(e\\cdot x)` missing from :math:`g` leaves :math:`a_2\\lambda ee^T` in
:math:`\\hat M_2 = \\frac1n\\sum_i r_i(x_ix_i^T - I)` (:math:`a_2 = E[\\mathrm{relu}(t)(t^2-1)] = 1/\\sqrt{2\\pi}`),
while a residual independent of :math:`x` with variance
:math:`s^2` gives a symmetric noise matrix whose entries have variance :math:`s^2/n` off the
diagonal and :math:`2s^2/n` on it, hence (Wigner's semicircle, Tracy–Widom at the edge) a
spectral norm of :math:`2\\sqrt{d}\\,s/\\sqrt n` to first order with fluctuations of order
:math:`d^{-1/6}s/\\sqrt n`. :func:`residual_structure` compares the top :math:`|\\mu|` of
:math:`\\hat M_2` with ``(2 sqrt(d) + EDGE_MARGIN d^{-1/6}) s / sqrt(n)``, ``s`` the residual's
root mean square (which holds any missing signal too, so the test errs on the side of silence),
and asks the neuron it implies to be resolvable: :math:`|\\mu|/a_2 > \\sqrt{\\text{RESOLUTION}}\\,\\mathrm{std}(y)`
(a noiseless fit's residual at rounding level has structure, but no neuron is missing).
``EDGE_MARGIN = 4`` lies beyond the 0.999 quantile of the Tracy–Widom law of the GOE (about 3.3),
taken at both ends of the spectrum: a false alarm rate below 0.2 % under a pure-noise residual
(checked by simulation in the tests).
"""

from dataclasses import dataclass

import numpy as np

from ...hermite import relu_hermite_coefficient
from ...moments._blas import weighted_gram
from ...network import ReLUNetwork, n_parameters
from .split_neurons import SPLIT_GAIN, WASTED_SHARE, best_try, birth_starts, contributions, free_neuron, split_start

class NeuronCountWarning(UserWarning):
    """The number of neurons asked for or searched is not the number the data support."""


# two neurons are one when their directions are within this |cosine| (the close pair of the
# sweep's families is at 0.99, and it is two neurons)
MERGE_COSINE = 0.995
# a neuron whose contribution |lambda| ||u|| is below this share of the largest adds nothing
NEGLIGIBLE_SHARE = 1e-3
# the residual's second moment carries a neuron when its top |eigenvalue| exceeds the noise
# matrix's edge 2 sqrt(d) s / sqrt(n) by this many units d^(-1/6) s / sqrt(n) (Tracy-Widom scale)
EDGE_MARGIN = 4.0
# a neuron whose weight is below sqrt(RESOLUTION) std(y) is below what the method resolves
RESOLUTION = 1e-6
# rows on which the residual's second moment is computed at most (O(m d^2) work)
STRUCTURE_ROWS = 2**16
# iterations of each try of a neuron added (a birth, a split of each neuron) before the best is
# refined to the end: a try's first steps show most of its gain, and there are k + 2 of them
GROW_SCREEN_ITER = 2


def noise_gain(sigma2, q, n):
    """The fall of a sum of squares that ``q`` more parameters must bring to be kept, on ``n``
    rows with noise variance ``sigma2``: :math:`\\sigma^2q\\ln n`, the penalty of the Bayesian
    information criterion. Parameters fitted to noise lower the sum of squares by a bounded
    multiple of :math:`\\sigma^2q` (a :math:`\\chi^2_q` for linear ones; more for a neuron, whose
    direction is chosen among all of :math:`\\mathbb R^d`), below :math:`\\ln n` times it at any
    useful :math:`n`, while a neuron of the target lowers it in proportion to :math:`n`: the choice
    is consistent. What a dropped neuron of the target could have explained is below
    :math:`\\ln n` times its share of the parametric rate."""
    return sigma2 * q * np.log(max(n, 2))


def merge_surplus(network, merge_cosine=MERGE_COSINE, negligible_share=NEGLIGIBLE_SHARE):
    """``network`` without its surplus neurons, and what was done.

    Repeatedly drops the neuron of smallest contribution while it is below ``negligible_share``
    of the largest, and merges the pair of largest :math:`|\\cos|` while it is above
    ``merge_cosine`` (module docstring: the merged direction is the contribution-weighted mean of
    :math:`e_a` and :math:`\\pm e_b`, its weight :math:`\\lambda_a\\|u_a\\| + \\lambda_b\\|u_b\\|`, and an
    opposite pair adds :math:`-\\lambda_b\\|u_b\\|\\,e` to the linear part). At least one neuron is kept.

    Returns
    -------
    network : ReLUNetwork
        The same network when nothing is surplus (the very object), else a new one.
    actions : list of str
        One line per neuron removed.
    """
    U = np.array(network.hidden_weights, dtype=float)
    lam = np.array(network.output_weights, dtype=float)
    w = np.array(network.linear_weights, dtype=float)
    actions = []
    while U.shape[0] > 1:
        norms = np.linalg.norm(U, axis=1)
        c = np.abs(lam) * norms
        i = int(np.argmin(c))
        if not c[i] > negligible_share * c.max():
            actions.append(f"dropped a neuron of contribution {c[i]:.3g} (largest {c.max():.3g})")
            U, lam = np.delete(U, i, axis=0), np.delete(lam, i)
            continue
        E = U / norms[:, None]
        C = E @ E.T
        np.fill_diagonal(C, 0.0)
        a, b = np.unravel_index(int(np.argmax(np.abs(C))), C.shape)
        cos = C[a, b]
        if not abs(cos) > merge_cosine:
            break
        sign = np.sign(cos)
        wa, wb = lam[a] * norms[a], lam[b] * norms[b]
        e = abs(wa) * E[a] + abs(wb) * sign * E[b]
        e /= np.linalg.norm(e)
        if sign < 0:
            w = w - wb * e
            actions.append(f"merged an opposite pair (cos {cos:.4f}) into one neuron and a linear term")
        else:
            actions.append(f"merged a pair along one direction (cos {cos:.4f})")
        keep = [j for j in range(U.shape[0]) if j not in (a, b)]
        U = np.vstack([U[keep], e])
        lam = np.concatenate([lam[keep], [wa + wb]])
    if not actions:
        return network, actions
    return ReLUNetwork(U, lam, w, network.intercept), actions


@dataclass
class ResidualStructure:
    """The top of the residual's second moment against its noise edge.

    ``eigenvalue`` is the top :math:`|\\mu|` of :math:`\\hat M_2 = E_n[r(xx^T-I)]`, ``edge`` the level
    a residual independent of :math:`x` stays below (module docstring), ``direction`` the unit
    eigenvector, ``rms`` the residual's root mean square and ``n_rows`` the rows used."""

    eigenvalue: float
    edge: float
    direction: np.ndarray
    rms: float
    n_rows: int
    moment: np.ndarray
    floor: float = 0.0

    @property
    def level(self):
        """What ``eigenvalue`` must exceed: the noise ``edge``, or the resolution ``floor`` when higher."""
        return max(self.edge, self.floor)

    @property
    def significant(self):
        return bool(self.eigenvalue > self.level)

    @property
    def neuron_weight(self):
        """The output weight of a unit neuron along ``direction`` that would leave this moment."""
        return self.eigenvalue / relu_hermite_coefficient(2)


class _ResidualSums:
    def __init__(self, d, max_rows):
        self.S = np.zeros((d, d))
        self.sum_r = 0.0
        self.sum_r2 = 0.0
        self.sum_y = 0.0
        self.sum_y2 = 0.0
        self.rows = 0
        self.max_rows = max_rows

    @property
    def full(self):
        return self.rows >= self.max_rows

    def merge(self, other):
        self.S += other.S
        self.sum_r += other.sum_r
        self.sum_r2 += other.sum_r2
        self.sum_y += other.sum_y
        self.sum_y2 += other.sum_y2
        self.rows += other.rows
        return self


def noise_edge(d, rms, m):
    """The level :math:`(2\\sqrt d + \\text{EDGE_MARGIN}\\,d^{-1/6})\\,s/\\sqrt m` that the top
    :math:`|\\mu|` of :math:`E_m[r(xx^T-I)]` stays below when :math:`r` (root mean square ``rms``)
    carries no neuron (module docstring)."""
    return (2.0 * np.sqrt(d) + EDGE_MARGIN * d ** (-1.0 / 6.0)) * rms / np.sqrt(max(m, 1))


def visible_neurons(M2, rms, m):
    """How many eigenvalues of the residual's second moment ``M2`` (on ``m`` rows, residual root
    mean square ``rms``) stand beyond :func:`noise_edge`: a lower estimate of the neurons missing
    from the model, since :math:`a_2\\sum_i\\lambda_iu_iu_i^T` has one eigenvalue per neuron when the
    :math:`u_i` are independent, fewer where a close pair of opposite weights nearly cancels or a
    cluster's directions nearly coincide."""
    return int(np.count_nonzero(np.abs(np.linalg.eigvalsh((M2 + M2.T) / 2)) > noise_edge(M2.shape[0], rms, m)))


def residual_structure(network, source, max_rows=STRUCTURE_ROWS):
    """:class:`ResidualStructure` of ``network``'s residual on the first ``max_rows`` rows of
    ``source`` (held-out masks ignored: the test is on the rows the network was refined on, where
    the fitted directions' share of the residual is smallest, so it errs on the side of silence).

    One pass over those rows, :math:`O(md^2)` (a distributed source sums every block's first
    ``max_rows`` rows)."""
    d = network.n_features

    def chunk(acc, X, y, held):
        room = acc.max_rows - acc.rows
        if room <= 0:
            return
        X, y = X[:room], np.asarray(y[:room], dtype=float).reshape(-1)
        r = y - network.evaluate_trusted(np.ascontiguousarray(X, dtype=float))
        acc.S += weighted_gram(X, r)
        acc.sum_r += float(r.sum())
        acc.sum_r2 += float(r @ r)
        acc.sum_y += float(y.sum())
        acc.sum_y2 += float(y @ y)
        acc.rows += X.shape[0]

    acc = source.fold(_ResidualSums(d, max_rows), chunk)
    m = max(acc.rows, 1)
    M2 = (acc.S - acc.sum_r * np.eye(d)) / m
    vals, vecs = np.linalg.eigh((M2 + M2.T) / 2)
    top = int(np.argmax(np.abs(vals)))
    rms = float(np.sqrt(acc.sum_r2 / m))
    edge = noise_edge(d, rms, m)
    std_y = np.sqrt(max(acc.sum_y2 / m - (acc.sum_y / m) ** 2, 0.0))
    floor = relu_hermite_coefficient(2) * np.sqrt(RESOLUTION) * std_y
    return ResidualStructure(float(abs(vals[top])), float(edge), vecs[:, top], rms, int(acc.rows), M2, float(floor))


def grow_neurons(refine, result, source, max_neurons, probe=False, floor=0.0, screening=None):
    """Add neurons to the refined ``result`` while it has fewer than ``max_neurons`` and its
    residual's second moment shows one missing (:func:`residual_structure`), or, with ``probe``,
    while an added neuron is kept.

    An addition is kept when it lowers the sum of squares by more than :func:`noise_gain` with
    :math:`q = d+1`, more than a neuron fitted to noise gains, and by more than ``floor`` times
    :math:`n` (the rounding level of a noiseless fit). Its tries, each screened with
    ``GROW_SCREEN_ITER`` iterations of ``refine(network, level, max_iter)``
    (:func:`~narrowrelu.learner.refine.split_neurons.best_try`): a birth along
    :math:`\\pm e` (the residual's top eigenvector); then, unless a birth already gained enough, a
    split of every neuron along the top eigenvector orthogonal to it
    (:func:`~narrowrelu.learner.refine.split_neurons.split_start`: two fitted neurons where the
    model has merged them). The best screened try is refined to the end (``refine(network,
    level)``). ``level`` is the loss to beat: that gain below the current loss (or a screened
    try's, when lower), so a try that cannot be kept is given up after a step. With
    ``screening``, a pair ``(screen_refine, screen_loss)``, the tries are screened by
    ``screen_refine(network, level, max_iter)`` on fewer rows, where ``screen_loss(network)`` is a
    model's mean squared residual and the loss to beat is the current model's there less the same
    gain per row; the best is refined and its gain tested on every row as before.

    Returns
    -------
    result : RefinementResult
    grown : int
        Neurons added.
    structure : ResidualStructure
        The final model's residual test.
    """
    grown = 0
    d = result.network.n_features
    n = source.n_samples
    structure = residual_structure(result.network, source)

    screen_refine, screen_loss = screening or (refine, None)

    def screen(start, level):
        return screen_refine(start, level, GROW_SCREEN_ITER)

    while result.network.n_neurons < max_neurons and (structure.significant or probe):
        network = result.network
        p = n_parameters(network.n_neurons, d)
        needed = max(noise_gain(result.loss * n / max(n - p, 1), d + 1, n), SPLIT_GAIN * result.loss * n, floor * n)
        level = result.loss - needed / n
        screen_level = level if screen_loss is None else screen_loss(network) - needed / n
        best = best_try(screen, birth_starts(network, structure.moment), screen_level)
        if best.loss > screen_level and network.n_neurons:
            order = np.argsort(-contributions(network), kind="stable")
            splits = [split_start(network, int(j), structure.moment) for j in order]
            best = min(best, best_try(screen, splits, min(screen_level, best.loss)), key=lambda r: r.loss)
        best = refine(best.network, level)
        if not (result.loss - best.loss) * n > needed:
            break
        result, grown = best, grown + 1
        structure = residual_structure(result.network, source)
    return result, grown, structure


def prune_surplus(refine, result, source, floor=0.0):
    """Remove from the refined ``result`` the neurons the data do not need: while the model has
    small neurons, a wasted one or a doubled pair (:func:`_smaller_models`), refine the model
    without them (``refine(network, level)``, given up once it cannot end below ``level``) and
    keep that smaller model when its sum of squares is above the current one by no more than
    the removed parameters must gain (:func:`noise_gain`, :math:`q = d + 1` per neuron; at least
    ``floor`` times :math:`n`, the rounding level of a noiseless fit) and its residual shows no
    neuron missing (:func:`residual_structure`: a wasted neuron in a merged-neuron minimum is
    needed elsewhere, which the split tries look for).

    Returns
    -------
    result : RefinementResult
    actions : list of str
        One line per neuron removed.
    """
    actions = []
    allowance = 0.0
    n = source.n_samples
    d = result.network.n_features
    while result.network.n_neurons > 1:
        kept = None
        for smaller in _smaller_models(result.network, n):
            q = (result.network.n_neurons - smaller.n_neurons) * (d + 1)
            p = n_parameters(result.network.n_neurons, d)
            allowance = max(noise_gain(result.loss * n / max(n - p, 1), q, n), floor * n) / n
            candidate = refine(smaller, result.loss + allowance)
            close = candidate.loss <= result.loss + allowance
            if close and not residual_structure(candidate.network, source).significant:
                kept = candidate
                break
        if kept is None:
            break
        removed = result.network.n_neurons - kept.network.n_neurons
        actions += [f"removed a neuron ({removed} together): without them the mean squared residual rises by "
                    f"{kept.loss - result.loss:.3g}, less than they must lower it ({allowance:.3g})"] * removed
        result = kept
    return result, actions


def _smaller_models(network, n_rows=None):
    """The models :func:`prune_surplus` tries: ``network`` without its ``m`` neurons of smallest
    contribution, for ``m`` = the number below ``WASTED_SHARE`` of the largest's, then half as
    many, down to 2 (together they can fit what neither fits alone; one refinement can remove
    many), then without its wasted neuron (or with its doubled pair merged,
    :func:`~narrowrelu.learner.refine.split_neurons.free_neuron` on ``n_rows``)."""
    c = contributions(network)
    order = np.argsort(c, kind="stable")
    m = min(int((c < WASTED_SHARE * c.max()).sum()), c.size - 1)
    while m >= 2:
        keep = np.sort(order[m:])
        yield ReLUNetwork(network.hidden_weights[keep], network.output_weights[keep], network.linear_weights,
                          network.intercept)
        m //= 2
    freed = free_neuron(network, n_rows)
    if freed is not None:
        yield freed
