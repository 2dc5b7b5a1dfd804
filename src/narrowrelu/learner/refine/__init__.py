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
"""

from ...network import n_parameters
from ..settings import REFINE_METHODS, large_sample
from .gauss_newton import GaussNewtonResult, gauss_newton
from .quasi_newton import lbfgs
from .normal_equations import levenberg_marquardt
from .result import RefinementResult
from .split_neurons import refine_with_splits
# Gauss-Newton iterations before the dense fallback: well-posed fits stop after 1-3 (noisy)
# or 3-8 (noiseless)
GN_MAX_ITER = 30
# the dense fallback costs O(n p^2) per iteration: only for small problems held in memory
DENSE_MAX_PARAMETERS = 300


def refine_network(method, network, source, max_iter=100, n_jobs=1):
    """Refine ``network`` on every row of ``source`` (held-out masks ignored) by ``method``.

    ``"gn"`` streams over the source's blocks (any size, oracle mode included); when it has not
    converged after ``GN_MAX_ITER`` iterations and the rows are in memory with at most
    ``DENSE_MAX_PARAMETERS`` parameters, Levenberg–Marquardt continues from its result.
    ``"lm"`` and ``"lbfgs"`` take the rows of a source that holds them in memory
    (``source.rows_in_memory()``: an :class:`~narrowrelu.learner.sources.ArraySource`).

    Returns
    -------
    RefinementResult
    """
    if method == "gn":
        result = gauss_newton(network, source, max_iter=min(max_iter, GN_MAX_ITER), n_jobs=n_jobs)
        if result.converged or not _dense_affordable(result.network, source):
            return result
        # Gauss-Newton did not settle: a degenerate fit (more neurons than the data need, two
        # copies of one neuron), where J^TJ is singular beyond the gauge and the Fisher system
        # gives poor steps; the damped dense method handles it when p is small
        network = result.network
        method = "lm"
    dense = {"lm": levenberg_marquardt, "lbfgs": lbfgs}[method]
    X, y = source.rows_in_memory()
    return dense(network, X, y, max_iter=max_iter, n_jobs=n_jobs)


def refine_start_count(refine_starts, n_rows, n_neurons, n_features):
    """How many starts ``refine_starts`` (1, 2 or ``"auto"``) asks for on ``n_rows`` rows:
    ``"auto"`` gives 2 unless the sample is large (:func:`large_sample`)."""
    if refine_starts != "auto":
        return refine_starts
    return 1 if large_sample(n_rows, n_neurons, n_features) else 2


def refine_from_starts(method, starts, source, max_iter=100, n_jobs=1, split_neurons=False):
    """Refine each ``(label, network)`` of ``starts`` on ``source`` and keep the lowest training
    loss (ties to the earlier start); with ``split_neurons``, then move a wasted neuron by
    splitting a loaded one while that lowers the loss
    (:func:`~narrowrelu.learner.refine.split_neurons.refine_with_splits`). Returns the result and a
    summary: the start kept, every start's loss, the splits tried and kept, iterations,
    convergence, training MSE, rows, passes and the stop reason."""
    passes_before = source.n_passes
    results = [(label, refine_network(method, network, source, max_iter, n_jobs)) for label, network in starts]
    label, best = min(results, key=lambda item: item[1].loss)
    splits = {"split_tries": 0, "splits": 0}
    if split_neurons:
        best, splits = refine_with_splits(lambda net: refine_network(method, net, source, max_iter, n_jobs), best,
                                          source, n_jobs)
    return best, {
        **splits,
        "start": label,
        "start_losses": {lab: float(r.loss) for lab, r in results},
        "method": method,
        "n_iter": best.n_iter,
        "converged": best.converged,
        "train_mse": best.loss,
        "n_samples": source.n_samples,
        "n_passes": source.n_passes - passes_before,
        "stop_reason": getattr(best, "stop_reason", ""),
    }


def refine_moment_solution(method, final_round, first_round, source, refine_starts, max_iter=100, n_jobs=1):
    """:func:`refine_from_starts` with neuron splits from the moment solution ``final_round`` and,
    when :func:`refine_start_count` asks for two, ``first_round`` (the first round's model, or
    ``None`` when it is the one selected)."""
    starts = [(label, net) for label, net in (("final round", final_round), ("first round", first_round)) if net is not None]
    n_starts = refine_start_count(refine_starts, source.n_samples, final_round.n_neurons, final_round.n_features)
    return refine_from_starts(method, starts[:n_starts], source, max_iter, n_jobs, True)


def _dense_affordable(network, source):
    p = n_parameters(network.n_neurons, network.n_features)
    return source.rows_in_memory() is not None and p <= DENSE_MAX_PARAMETERS


__all__ = ["REFINE_METHODS", "GaussNewtonResult", "RefinementResult", "gauss_newton", "lbfgs", "levenberg_marquardt",
           "large_sample", "refine_from_starts", "refine_moment_solution", "refine_network", "refine_start_count"]
