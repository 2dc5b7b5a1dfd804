r"""Hidden biases, :math:`f(x) = b + w\cdot x + \sum_j\lambda_j\mathrm{relu}(u_j\cdot x+\beta_j)`: the
stage that turns the moment solution's directions into a biased network, and its refinement.

The even-order Hermite moments of a biased network are the same rank-:math:`k` symmetric tensors
as without biases, :math:`E[f\,He_m] = \sum_j\lambda_jc_m(\beta_j)u_j^{\otimes m}`, with one weight
per unit and order; so the span, contractions and candidate generators find the directions
unchanged (:mod:`narrowrelu.learner.rounds`). Then:

1. :mod:`~narrowrelu.learner.biases.moment_ratios`: :math:`\beta_j` from the ratio of the
   order-3 and order-2 moments along each direction (one pass); with the rounds' candidate pool,
   :mod:`~narrowrelu.learner.biases.selection` first chooses the directions again on biased units
   (one more pass);
2. :mod:`~narrowrelu.learner.biases.output`: :math:`\lambda, w, b` by least squares on the
   biased units (one pass): the raw biased solution;
3. :func:`refine_biased`: Levenberg–Marquardt on every parameter, biases included
   (:func:`~narrowrelu.learner.refine.normal_equations.levenberg_marquardt`), on the rows in memory,
   then a unit left away from its neuron is moved to where the residual shows one missing
   (:mod:`~narrowrelu.learner.biases.swap`).
"""

from dataclasses import replace

import numpy as np

from ...network import ReLUNetwork, n_parameters
from ..refine.linear_shrinkage import shrink_linear_part
from ..refine.normal_equations import information_matrix, levenberg_marquardt
from ..sources.training_rows import training_rows
from .moment_ratios import BIAS_LIMIT, biases_from_moments, projected_hermite_pass, ratio_biases
from .output import biased_output_pass
from .selection import select_biased_units
from .swap import grow_units, swap_misplaced_units

# Levenberg-Marquardt stops once a step gains less than this share of the parametric rate, as
# Gauss-Newton does (refine.gauss_newton's noise_tol)
NOISE_TOL = 1e-2
# the search for k refines each candidate model on at most this many training rows per parameter,
# for at most this many Levenberg-Marquardt steps
SELECTION_ROWS_PER_PARAMETER = 200
SELECTION_ITER = 20
# the refinement's first steps run on this many rows per parameter
WARM_ROWS_PER_PARAMETER = 100
# the information matrix J^TJ / n of the linear part's shrinkage is read on at most this many rows
# per parameter (its relative error about 1/sqrt(200), which moves the James-Stein factor by a few
# per cent; on every row of n = 1e5 it cost 0.1-0.25 s, a tenth of the fit)
INFORMATION_ROWS_PER_PARAMETER = 200


def biased_start(network, source, progress=None, train_only=False, pool=None):
    """The raw biased network on the directions of ``network`` (a moment solution): unit
    directions, :math:`\\beta` from the moment ratios (the residual of ``network``'s affine part),
    then the output fit (two passes), on the training rows only with ``train_only``. Neurons with a
    zero direction are dropped. With ``pool`` (the rounds' candidate directions, unit rows), the
    directions are chosen again among ``network``'s and the pool's by a subset regression on
    biased units (:mod:`~narrowrelu.learner.biases.selection`: one more pass)."""
    U = network.hidden_weights
    norms = np.linalg.norm(U, axis=1)
    directions = U[norms > 0] / norms[norms > 0, None]
    k = directions.shape[0]
    affine = ReLUNetwork(np.empty((0, U.shape[1])), np.empty(0), network.linear_weights, network.intercept)
    if pool is not None and len(pool) and k:
        directions = np.vstack([directions, pool])
    moments = projected_hermite_pass(source, directions, affine, progress, train_only or directions.shape[0] > k)
    if directions.shape[0] > k:
        chosen = select_biased_units(source, directions, ratio_biases(moments), k, [list(range(k))], progress)
        directions, moments = directions[chosen], moments[:, chosen]
    biases, _ = biases_from_moments(directions, moments)
    return biased_output_pass(source, directions, biases, progress, train_only)


def biased_selection_model(network, source, progress=None, incumbent=False, rows_neurons=None):
    """The model of a moment solution that the search for :math:`k` scores on the held-out rows
    (:func:`narrowrelu.learner.rounds.fit_moments`): :func:`biased_start` on the training rows, refined
    by Levenberg–Marquardt on up to ``SELECTION_ROWS_PER_PARAMETER`` per parameter of them (at most
    ``SELECTION_ITER`` steps: a model fitted on fewer rows only looks worse on the held-out rows,
    by :math:`\\sigma^2p/m`, so a neuron kept on them is kept on every row).
    Comparing refined models keeps a direction the moment solution found poorly from making
    :math:`k+1` look better than :math:`k` when only :math:`k` neurons are there. ``incumbent``
    (the :math:`k` kept) changes nothing here: the steps stop at the noise level either way.
    ``rows_neurons``: the rows are those of a model of that many neurons (the larger of the two
    compared, so both are fitted on the same rows)."""
    start = biased_start(network, source, progress, train_only=True)
    p = n_parameters(rows_neurons or start.n_neurons, start.n_features, biased=True)
    X, y = training_rows(source, SELECTION_ROWS_PER_PARAMETER * p, progress)
    return levenberg_marquardt(start, X, y, max_iter=SELECTION_ITER, noise_tol=NOISE_TOL, biased=True).network


def refine_biased(network, source, max_iter=100, n_jobs=1):
    """Levenberg–Marquardt with the hidden biases free, on the rows of ``source`` (in memory:
    ``source.rows_in_memory()``), stopping when a step gains less than ``NOISE_TOL`` times the
    parametric rate or on noiseless data at rounding level. On more than ``WARM_ROWS_PER_PARAMETER``
    rows per parameter, it first runs on that many rows: the steps from a distant start need no
    more, and the steps on every row then start near the minimum (2 to 4 of them instead of 7 to 11).

    Returns
    -------
    RefinementResult
    """
    X, y = source.rows_in_memory()
    warm = WARM_ROWS_PER_PARAMETER * n_parameters(network.n_neurons, network.n_features, biased=True)
    warm_iter = 0
    if X.shape[0] > 2 * warm:
        first = levenberg_marquardt(network, X[:warm], y[:warm], max_iter=max_iter, n_jobs=n_jobs,
                                    noise_tol=NOISE_TOL, biased=True)
        network, warm_iter = first.network, first.n_iter
    result = levenberg_marquardt(network, X, y, max_iter=max_iter, n_jobs=n_jobs, noise_tol=NOISE_TOL, biased=True)
    return replace(result, n_iter=result.n_iter + warm_iter)


def fit_biased(moment_network, source, refine, rows, max_iter=100, n_jobs=1, progress=None,
               pool=None, max_units=None, shrink_linear=True):
    """The biased stage after the moment rounds: :func:`biased_start` from ``moment_network``
    (and the candidate ``pool``) on ``source``, then, with ``refine``, :func:`refine_biased` on
    ``source.head(rows)`` (every row when ``rows`` is ``None``), the swap of misplaced units and,
    when ``max_units`` is given (:math:`k` was searched), units added up to it while the residual
    shows one missing (:mod:`~narrowrelu.learner.biases.swap`). With ``shrink_linear`` its linear
    part is then shrunk towards zero
    (:func:`~narrowrelu.learner.refine.linear_shrinkage.shrink_linear_part`, the information
    matrix :math:`J^TJ/n` on the first ``INFORMATION_ROWS_PER_PARAMETER`` rows per parameter of
    the refinement's) and the summary's ``linear_shrinkage`` says by how much.

    Returns
    -------
    raw : ReLUNetwork
        The biased moment solution.
    network : ReLUNetwork
        The refined network (``raw`` without ``refine``).
    refinement : dict or None
        The refinement's summary, with the keys of
        :func:`~narrowrelu.learner.refine.refine_moment_solution`'s.
    """
    raw = biased_start(moment_network, source, progress, pool=pool)
    if not refine:
        return raw, raw, None
    on = source if rows is None else source.head(rows, into_memory=True)
    passes_before = on.n_passes
    X, y = on.rows_in_memory()
    start_mse = float(np.mean((raw.evaluate_trusted(X) - y) ** 2))

    def again(network):
        return refine_biased(network, on, max_iter, n_jobs)

    result, swaps, structure = swap_misplaced_units(again(raw), on, again)
    grown = 0
    if max_units is not None:
        result, grown, structure = grow_units(result, on, again, max_units, structure)
    summary = {"split_tries": 0, "splits": 0, "swaps": swaps, "start": "biased moment solution",
               "start_losses": {"biased moment solution": start_mse},
               "method": "lm", "n_iter": result.n_iter, "converged": result.converged, "train_mse": result.loss,
               "n_samples": on.n_samples, "n_passes": on.n_passes - passes_before + result.n_iter,
               "stop_reason": "converged" if result.converged else "max_iter", "surplus": [], "grown": grown,
               "growth_skipped": "", "residual": structure, "linear_shrinkage": None}
    network = result.network
    if shrink_linear:
        def information(net):
            rows = INFORMATION_ROWS_PER_PARAMETER * n_parameters(net.n_neurons, net.n_features, biased=True)
            return information_matrix(net, X[:rows], y[:rows], n_jobs)

        network, summary["linear_shrinkage"] = shrink_linear_part(network, result.loss, on.n_samples, information)
    return raw, network, summary


__all__ = ["BIAS_LIMIT", "biased_output_pass", "biased_selection_model", "biased_start", "biases_from_moments",
           "fit_biased", "projected_hermite_pass", "refine_biased"]
