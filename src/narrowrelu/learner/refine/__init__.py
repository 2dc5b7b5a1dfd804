r"""Local least-squares refinement of the moment solution on the empirical loss
:math:`L(\theta) = \sum_i (f_\theta(x_i) - y_i)^2`.

- :mod:`~narrowrelu.learner.refine.gauss_newton` (``"gn"``, the default): matrix-free
  Gauss–Newton streamed over the source, a few :math:`O(nkd)` passes, stopping at the noise
  level; the normal equations are solved with the closed-form Gaussian Fisher matrix
  (:mod:`~narrowrelu.learner.refine.fisher`), with conjugate gradients on the data's
  :math:`J^TJ` when Fisher scoring contracts too slowly; numba kernels in ``_kernels``.
- :mod:`~narrowrelu.learner.refine.normal_equations` (``"lm"``) and
  :mod:`~narrowrelu.learner.refine.quasi_newton` (``"lbfgs"``): dense Levenberg–Marquardt
  (:math:`O(np^2)` per iteration, for small :math:`p`) and L-BFGS, on in-memory rows;
  :mod:`~narrowrelu.learner.refine.result`: what every method returns.
- :mod:`~narrowrelu.learner.refine.split_neurons`: out of a merged-neuron minimum, by splitting.
- :mod:`~narrowrelu.learner.refine.linear_shrinkage`: the refined linear part shrunk towards zero
  (positive-part James–Stein), below the least-squares fit's excess risk.
- :mod:`~narrowrelu.learner.refine.surplus`: surplus neurons merged or removed before the
  refinement (an over-specified ``n_neurons``), neurons added back while the residual's second
  moment shows one missing, and that test itself (an under-specified ``n_neurons``).
"""

from dataclasses import replace

import numpy as np

from ...metrics import population_variance
from ...network import n_parameters
from ..settings import REFINE_METHODS, large_sample
from ..sources import ArraySource
from ..sources.training_rows import training_rows
from .gauss_newton import ABANDONED, DEFAULT_CHUNK_SIZE, GaussNewtonResult, gauss_newton
from .linear_shrinkage import shrink_linear_part
from .normal_equations import levenberg_marquardt
from .quasi_newton import lbfgs
from .result import RefinementResult
from .split_neurons import GROWN_RESOLVED_PAIR_ROWS_PER_PARAMETER, refine_with_splits
from .surplus import grow_neurons, merge_surplus, prune_surplus, residual_structure
# Gauss-Newton iterations before the dense fallback: well-posed fits stop after 1-3 (noisy)
# or 3-8 (noiseless)
GN_MAX_ITER = 30
# the dense fallback costs O(n p^2) per iteration: only for small problems held in memory
DENSE_MAX_PARAMETERS = 300
# and its iterations are bounded so that n p^2 summed over them stays below this (about the
# multiply-adds of 1-10 s on one core), at least DENSE_MIN_ITER of them
DENSE_MAX_WORK = 2e10
DENSE_MIN_ITER = 3
# Gauss-Newton iterations before surplus neurons are pruned from a start known to hold some:
# enough to fit the others (well-posed fits settle in 1-8), not to chase the degenerate ones
SURPLUS_GN_ITER = 8
# it stops once a step gains less than this share of the parametric rate (Gauss-Newton's noise_tol)
DENSE_NOISE_TOL = 1e-2
# losses that differ by less than this share of the fitted variance are equal (Gauss-Newton stops
# noiseless fits at 1e-14 of it)
TIE_LEVEL = 1e-12
# neurons tried back after the refinement are screened on this many training rows per parameter
# of the grown model, where the sample holds at least GROW_SCREEN_SHARE times as many: their
# Gauss-Newton iterations on every row were 15 of the 35 X^TX a fit without k took at n = 1e6,
# d = 100, k = 5, for no neuron kept (the try kept is refined and tested on every row)
GROW_SCREEN_ROWS_PER_PARAMETER = 200
GROW_SCREEN_SHARE = 4


def refine_network(method, network, source, max_iter=100, n_jobs=1, abandon_above=None, dense_fallback=True):
    """Refine ``network`` on every row of ``source`` (held-out masks ignored) by ``method``.

    ``"gn"`` streams over the source's blocks (any size, oracle mode included); when it has not
    converged after ``GN_MAX_ITER`` iterations and the rows are in memory with at most
    ``DENSE_MAX_PARAMETERS`` parameters, Levenberg–Marquardt continues from its result, for at
    most ``DENSE_MAX_WORK`` / :math:`np^2` iterations and until a step gains less than
    ``DENSE_NOISE_TOL`` times the parametric rate. With ``abandon_above`` (a mean squared
    residual, the best of earlier tries), Gauss–Newton gives up a try that will not beat it
    (:func:`~narrowrelu.learner.refine.gauss_newton.gauss_newton`) and no fallback follows; without
    ``dense_fallback`` none follows either (:func:`dense_continuation` can run it later).
    ``"lm"`` and ``"lbfgs"`` take the rows of a source that holds them in memory
    (``source.rows_in_memory()``: an :class:`~narrowrelu.learner.sources.ArraySource`).

    Returns
    -------
    RefinementResult
    """
    if method == "gn":
        result = gauss_newton(network, source, max_iter=min(max_iter, GN_MAX_ITER), n_jobs=n_jobs,
                              abandon_above=abandon_above)
        return dense_continuation(result, source, max_iter, n_jobs) if dense_fallback else result
    dense = {"lm": levenberg_marquardt, "lbfgs": lbfgs}[method]
    X, y = source.rows_in_memory()
    return dense(network, X, y, max_iter=max_iter, n_jobs=n_jobs)


def dense_continuation(result, source, max_iter=100, n_jobs=1):
    """Levenberg–Marquardt from the Gauss–Newton ``result`` when that did not converge (and was not
    abandoned) and the dense method is affordable (:func:`refine_network`), else ``result``."""
    if (not isinstance(result, GaussNewtonResult) or result.converged or result.stop_reason == ABANDONED
            or not _dense_affordable(result.network, source)):
        return result
    # Gauss-Newton did not settle: a degenerate fit (two copies of one neuron, a dead one),
    # where J^TJ is singular beyond the gauge and the Fisher system gives poor steps; the
    # damped dense method continues, within a bounded budget
    p = _n_parameters(result.network)
    iters = min(max_iter, max(DENSE_MIN_ITER, int(DENSE_MAX_WORK / (source.n_samples * p * p))))
    X, y = source.rows_in_memory()
    return levenberg_marquardt(result.network, X, y, max_iter=iters, n_jobs=n_jobs, noise_tol=DENSE_NOISE_TOL)


def refine_start_count(refine_starts, n_rows, n_neurons, n_features):
    """How many starts ``refine_starts`` (1, 2 or ``"auto"``) asks for on ``n_rows`` rows:
    ``"auto"`` gives 2 unless the sample is large (:func:`large_sample`)."""
    if refine_starts != "auto":
        return refine_starts
    return 1 if large_sample(n_rows, n_neurons, n_features) else 2


def refine_from_starts(method, starts, source, max_iter=100, n_jobs=1, split_neurons=False, surplus=()):
    """Refine each ``(label, network)`` of ``starts`` on ``source`` and keep the lowest training
    loss (ties to the earlier start); with ``split_neurons``, each refined start is first rid of
    the neurons the data do not need (:func:`~narrowrelu.learner.refine.surplus.prune_surplus`,
    before any dense continuation), and the start kept then moves a wasted neuron by
    splitting a loaded one while that lowers the loss
    (:func:`~narrowrelu.learner.refine.split_neurons.refine_with_splits`). Returns the result and a
    summary: the start kept, every start's loss, the neurons removed from it (``pruned``, one
    line each), the splits tried and kept, iterations, convergence, training MSE, rows, passes
    and the stop reason. A start whose label is in ``surplus`` (surplus neurons were merged out
    of it: more are likely) makes ``SURPLUS_GN_ITER`` Gauss–Newton iterations before the prune,
    the rest after it; so does every start after one that had neurons pruned (the asked
    :math:`k` was too large for that one: likely for the next too)."""
    passes_before = source.n_passes
    results, pruned = [], {}

    def quick(net, level=None, iters=max_iter):
        return refine_network(method, net, source, iters, n_jobs, abandon_above=level, dense_fallback=False)

    for label, network in starts:
        level = min((r.loss for _, r in results), default=None)
        early = split_neurons and method == "gn" and (label in surplus or any(pruned.values()))
        result = refine_network(method, network, source, SURPLUS_GN_ITER if early else max_iter, n_jobs,
                                abandon_above=level, dense_fallback=not split_neurons)
        pruned[label] = []
        if split_neurons and getattr(result, "stop_reason", "") != ABANDONED:
            result, pruned[label] = prune_surplus(quick, result, source,
                                                  TIE_LEVEL * population_variance(result.network))
            if early and not result.converged:
                result = quick(result.network)
            result = dense_continuation(result, source, max_iter, n_jobs)
        results.append((label, result))
    label, best = _smallest_adequate(results, source.n_samples)
    splits = {"split_tries": 0, "splits": 0}
    if split_neurons:
        best, splits = refine_with_splits(
            lambda net, level=None: refine_network(method, net, source, max_iter, n_jobs, abandon_above=level), best,
            source, n_jobs, screened=True)
    return best, {
        **splits,
        "start": label,
        "pruned": pruned[label],
        "start_losses": {lab: float(r.loss) for lab, r in results},
        "method": method,
        "n_iter": best.n_iter,
        "converged": best.converged,
        "train_mse": best.loss,
        "n_samples": source.n_samples,
        "n_passes": source.n_passes - passes_before,
        "stop_reason": getattr(best, "stop_reason", ""),
    }


def refine_moment_solution(method, final_round, first_round, source, refine_starts, max_iter=100, n_jobs=1,
                           max_neurons=None, off_model=None, shrink_linear=True):
    """:func:`refine_from_starts` with neuron splits from the moment solution ``final_round`` and,
    when :func:`refine_start_count` asks for two, ``first_round`` (the first round's model, or
    ``None`` when it is the one selected).

    Surplus neurons are merged or removed from each start first
    (:func:`~narrowrelu.learner.refine.surplus.merge_surplus`); when the model kept has fewer
    neurons than ``max_neurons`` (``None``: ``final_round``'s), neurons are added back while one
    added lowers the sum of squares by more than the BIC penalty
    (:func:`~narrowrelu.learner.refine.surplus.grow_neurons` with ``probe``: tried even where the
    residual's second moment shows none missing). With ``shrink_linear``, the linear part of the
    fit kept is then shrunk towards zero by the positive-part James–Stein factor
    (:func:`~narrowrelu.learner.refine.linear_shrinkage.shrink_linear_part`: a lower excess risk
    than the least-squares fit's for every linear part, much lower where it is zero); the summary's
    ``linear_shrinkage`` says by how much, and its ``train_mse`` stays the least-squares fit's.
    With ``n_neurons=None`` (``max_neurons`` the
    search's limit) this finds the neurons the search missed; with a told :math:`k` it puts back
    a neuron of the target that a merge or a prune took out; a model grown so that holds a wasted
    neuron then goes through the split tries again (a birth that passes the BIC test can be a weak
    neuron beside one that merged a pair; a resolved pair is freed there only below
    ``GROWN_RESOLVED_PAIR_ROWS_PER_PARAMETER`` rows per parameter). No neuron is added where
    ``off_model(network)`` (``None``: never) finds the refined model's residual outside the model
    class (:meth:`~narrowrelu.learner.residual_diagnostic.ResidualChecks.outside_the_model`):
    there each added bias-free neuron fits a little more of the target's even part, a gain that
    only ends at ``max_neurons``, one refinement on every row each. The summary also holds ``surplus``
    (what was merged or removed from the start kept, one line each), ``grown`` (neurons added
    back), ``growth_skipped`` (why none was tried, or ``""``) and ``residual`` (the final
    residual's :class:`~narrowrelu.learner.refine.surplus.ResidualStructure`)."""
    asked = max(final_round.n_neurons, max_neurons or 0)
    merged, actions = merge_surplus(final_round)
    start_actions = {"final round": actions}
    if first_round is not None:
        first_round, start_actions["first round"] = merge_surplus(first_round)
    starts = [(label, net) for label, net in (("final round", merged), ("first round", first_round)) if net is not None]
    n_starts = refine_start_count(refine_starts, source.n_samples, final_round.n_neurons, final_round.n_features)
    best, summary = refine_from_starts(method, starts[:n_starts], source, max_iter, n_jobs, True,
                                       surplus=[label for label, done in start_actions.items() if done])
    actions = start_actions[summary["start"]] + summary["pruned"]
    passes_before = source.n_passes
    grown, skipped = 0, ""
    if best.network.n_neurons < asked and off_model is not None and off_model(best.network):
        skipped = "the residual has odd-order structure, which no neuron without a bias fits"
    if best.network.n_neurons < asked and not skipped:
        def grow_refine(net, level=None, iters=None):
            return refine_network(method, net, source, iters or max_iter, n_jobs, abandon_above=level,
                                  dense_fallback=iters is None)

        # a neuron is always tried: a merge or a prune can take one of a close cluster out of a fit
        # told the right k at small n, where the residual test does not see it missing
        best, grown, structure = grow_neurons(grow_refine, best, source, asked, probe=True,
                                              floor=TIE_LEVEL * population_variance(best.network),
                                              screening=_grow_screening(method, source, best.network, max_iter,
                                                                        n_jobs))
        if grown:
            # a birth that gains more than the BIC penalty can still be a weak neuron beside one
            # that merged a close pair: the split tries move it (free_neuron finds it wasted)
            best, more = refine_with_splits(grow_refine, best, source, n_jobs, screened=True,
                                            resolved_rows_per_parameter=GROWN_RESOLVED_PAIR_ROWS_PER_PARAMETER)
            summary.update(split_tries=summary["split_tries"] + more["split_tries"],
                           splits=summary["splits"] + more["splits"])
            if more["splits"]:
                structure = residual_structure(best.network, source)
    else:
        structure = residual_structure(best.network, source)
    shrinkage = None
    if shrink_linear:
        shrunk, shrinkage = shrink_linear_part(best.network, best.loss, source.n_samples)
        best = replace(best, network=shrunk)
    summary.update(surplus=actions, grown=grown, growth_skipped=skipped, residual=structure, n_iter=best.n_iter,
                   converged=best.converged, train_mse=best.loss,
                   n_passes=summary["n_passes"] + source.n_passes - passes_before,
                   stop_reason=getattr(best, "stop_reason", ""), linear_shrinkage=shrinkage)
    return best, summary


def _grow_screening(method, source, network, max_iter, n_jobs):
    """``(screen_refine, screen_loss)`` on the first ``GROW_SCREEN_ROWS_PER_PARAMETER`` per
    parameter of a model one neuron larger than ``network`` training rows of ``source`` (one
    pass to gather them), or ``None`` when the source holds fewer than ``GROW_SCREEN_SHARE``
    times as many rows (:func:`~narrowrelu.learner.refine.surplus.grow_neurons`)."""
    rows = GROW_SCREEN_ROWS_PER_PARAMETER * n_parameters(network.n_neurons + 1, network.n_features)
    if source.n_samples < GROW_SCREEN_SHARE * rows:
        return None
    X, y = training_rows(source, rows)
    screen_source = ArraySource(X, y, np.zeros(y.size, dtype=bool), DEFAULT_CHUNK_SIZE)

    def screen_refine(net, level=None, iters=None):
        return refine_network(method, net, screen_source, iters or max_iter, n_jobs, abandon_above=level,
                              dense_fallback=False)

    def screen_loss(net):
        r = y - net.evaluate_trusted(X)
        return float(r @ r) / y.size

    return screen_refine, screen_loss


def _smallest_adequate(results, n):
    """The ``(label, result)`` of lowest loss (ties to the earlier); when the starts differ in
    size (one had surplus neurons merged), the smallest whose sum of squares is above the lowest
    by no more than extra parameters fitted to noise would gain, :math:`\\hat\\sigma^2(q + 3\\sqrt{2q})`
    for :math:`q` more parameters, or by a difference below ``TIE_LEVEL`` of the fitted variance
    (rounding level on noiseless data)."""
    label, best = min(results, key=lambda item: item[1].loss)
    for other_label, other in sorted(results, key=lambda item: item[1].network.n_neurons):
        q = _n_parameters(best.network) - _n_parameters(other.network)
        if q <= 0:
            break
        sigma2 = best.loss * n / max(n - _n_parameters(best.network), 1)
        allowance = max(sigma2 * (q + 3.0 * np.sqrt(2.0 * q)), TIE_LEVEL * population_variance(best.network) * n)
        if (other.loss - best.loss) * n <= allowance:
            return other_label, other
    return label, best


def _n_parameters(network):
    return n_parameters(network.n_neurons, network.n_features)


def _dense_affordable(network, source):
    p = n_parameters(network.n_neurons, network.n_features)
    return source.rows_in_memory() is not None and p <= DENSE_MAX_PARAMETERS


__all__ = ["REFINE_METHODS", "GaussNewtonResult", "RefinementResult", "gauss_newton", "lbfgs", "levenberg_marquardt",
           "merge_surplus", "residual_structure", "large_sample",
           "refine_from_starts", "refine_moment_solution", "refine_network", "refine_start_count"]
