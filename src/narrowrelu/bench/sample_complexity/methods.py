"""The learners a sample-complexity sweep compares, each fitted and scored against its teacher.

A *fitter* fits one model family on one data set and yields a scored result for every method it
serves (the moment fitter serves the raw and the refined moment methods). Every method is scored
by its excess population risk over the Bayes risk :math:`\\sigma^2`,

.. math::

    \\mathcal{E}(g) = E_{x\\sim N(0, I_d)}\\big[(g(x) - f(x))^2\\big],

against the clean teacher :math:`f`: exactly (closed form, :func:`narrowrelu.population_mse`)
for every model of the form :math:`b + w\\cdot x + \\sum_j a_j\\,\\mathrm{relu}(u_j\\cdot x + \\beta_j)`, and by
Monte Carlo with a standard error for scikit-learn's ``MLPRegressor`` (``mlp_k``, ``mlp_4k``,
``mlp_default``). The moment learner and the GD baselines learn hidden biases on the teachers that
have them (the ``biased`` family: ``hidden_biases=True``).

The GD and MLP methods are ``capped``: ``--n-max-gd`` limits the n at which they run, since
their fits are much slower than the moment learner's at large n.
"""

import time
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from ...baseline.estimator import GDReLURegressor
from ...learner.estimator import MomentReLURegressor
from ...metrics import monte_carlo_mse, population_mse
from .._memory import linear_bytes, moment_fit_bytes

#: Monte Carlo inputs used to score models outside the closed form (``MLPRegressor``).
MONTE_CARLO_SAMPLES = 200_000
#: L-BFGS budget of the GD baselines (GDReLURegressor's defaults) and of the L-BFGS MLPRegressors.
GD_MAX_ITER, GD_TOL = 1000, 1e-6
MLP_MAX_ITER, MLP_TOL = 2000, 1e-8


@dataclass(frozen=True)
class MethodSpec:
    """One compared method: the fitter that produces it, a one-line description, and whether
    ``--n-max-gd`` caps its n (the GD and MLP methods)."""

    name: str
    fitter: str
    description: str
    capped: bool = False


def _defaults_of_mlp():
    params = MLPRegressor().get_params()
    units = "+".join(map(str, params["hidden_layer_sizes"]))
    return f"{units} {params['activation']} units, {params['solver']}, <= {params['max_iter']} iterations"


METHODS = {
    spec.name: spec
    for spec in (
        MethodSpec("moment_raw", "moment", "MomentReLURegressor, moment solution before refinement (raw_network_)"),
        MethodSpec("moment_refined", "moment", "MomentReLURegressor with its default refinement, a streamed "
                   "Gauss-Newton (Fisher scoring) on the squared loss (network_)"),
        MethodSpec("moment_auto", "moment_auto", "MomentReLURegressor() as a user calls it without k (n_neurons=None: "
                   "k chosen by the paired held-out test), refined; width = the k chosen"),
        MethodSpec("gd_k", "gd_k", f"GDReLURegressor at width k, L-BFGS on the empirical loss (<= {GD_MAX_ITER} "
                   "iterations)", capped=True),
        MethodSpec("gd_2k", "gd_2k", f"GDReLURegressor at width 2k (over-parameterised), L-BFGS, <= {GD_MAX_ITER} "
                   "iterations", capped=True),
        MethodSpec("mlp_k", "mlp_k", f"scikit-learn MLPRegressor at width k (relu, lbfgs, <= {MLP_MAX_ITER} "
                   "iterations), scored by Monte Carlo", capped=True),
        MethodSpec("mlp_4k", "mlp_4k", f"scikit-learn MLPRegressor at width 4k (relu, lbfgs, <= {MLP_MAX_ITER} "
                   "iterations), scored by Monte Carlo", capped=True),
        MethodSpec("mlp_default", "mlp_default", "scikit-learn MLPRegressor(random_state=seed), every other "
                   f"parameter at its default ({_defaults_of_mlp()}), scored by Monte Carlo", capped=True),
    )
}


def capped_methods(methods):
    """The methods among ``methods`` whose n ``--n-max-gd`` caps (ordered)."""
    return [name for name in methods if METHODS[name].capped]


def method_caps(methods, n_max_gd=None, overrides=None):
    """The largest n of each method (``None``: no cap): ``n_max_gd`` for the GD and MLP ones,
    replaced by ``overrides[method]`` (``--n-cap METHOD=N``) for any method named there."""
    overrides = overrides or {}
    return {m: overrides.get(m, n_max_gd if METHODS[m].capped else None) for m in methods}


def method_allowed(method, n, n_max_gd, caps=None):
    """Whether ``method`` runs at sample size ``n``: under ``caps[method]`` when ``caps`` is given,
    else under the cap ``n_max_gd`` of the GD and MLP methods (``None``: no cap)."""
    cap = caps.get(method) if caps is not None else (n_max_gd if METHODS[method].capped else None)
    return cap is None or n <= cap


def fitters_for(methods):
    """Map each fitter needed by ``methods`` to the tuple of its methods asked for (ordered)."""
    out = {}
    for name in methods:
        out.setdefault(METHODS[name].fitter, []).append(name)
    return {fitter: tuple(names) for fitter, names in out.items()}


def run_fitter(fitter, methods, teacher, X, y, seed):
    """Fit ``fitter`` on ``(X, y)`` and score each of ``methods`` against the clean ``teacher``.

    Parameters
    ----------
    fitter : str
        A key of :data:`FITTERS`.
    methods : tuple of str
        The methods of this fitter to report.
    teacher : Teacher
        The clean teacher :math:`f` (no noise) to score against.
    X, y : ndarray
        Training data.
    seed : int
        Seed of the fit.

    Returns
    -------
    results : dict
        Method name to a dict with ``mse``, ``mse_stderr``, ``scoring``, ``fit_seconds``,
        ``width`` and ``converged``. A fit that raises is reported with ``mse = inf`` and the
        error message under ``error`` (it counts as a failure, not a crash of the sweep).
    """
    try:
        return FITTERS[fitter](methods, teacher, X, y, seed)
    except Exception as exc:  # noqa: BLE001 - a learner failing on a cell is a result of the sweep
        return error_results(methods, f"{type(exc).__name__}: {exc}")


def error_results(methods, message):
    """The results of a fit that failed (or was not run) with ``message``: infinite MSE, a failure."""
    return {
        name: {"mse": float("inf"), "mse_stderr": 0.0, "scoring": "error", "fit_seconds": float("nan"),
               "width": None, "converged": False, "error": message}
        for name in methods
    }


def _fit_moment(methods, teacher, X, y, seed):
    """``moment_raw``: a fit with ``refine=False`` (its raw solution is the result, and its rounds
    run to the end); ``moment_refined``: the default fit. Two fits when both are asked: with a
    refinement to follow, the default fit hands over to it earlier (see
    ``MomentSettings.round_improvement``), so its raw solution is not the raw method's."""
    k = teacher.n_neurons
    out = {}
    for name, refine in (("moment_raw", False), ("moment_refined", True)):
        if name not in methods:
            continue
        start = time.perf_counter()
        model = MomentReLURegressor(n_neurons=k, refine=refine, n_jobs=1, random_state=seed,
                                    hidden_biases=teacher.has_biases).fit(X, y)
        seconds = time.perf_counter() - start
        converged = bool(model.refinement_["converged"]) if model.refinement_ else True
        out[name] = _exact(model.network_, teacher, seconds, k, converged)
    return out


def _fit_moment_auto(methods, teacher, X, y, seed):
    """``moment_auto``: the default call, ``n_neurons=None``; its width is the :math:`k` chosen."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MomentReLURegressor(n_jobs=1, random_state=seed, hidden_biases=teacher.has_biases).fit(X, y)
    seconds = time.perf_counter() - start
    converged = bool(model.refinement_["converged"]) if model.refinement_ else True
    return {methods[0]: _exact(model.network_, teacher, seconds, model.n_neurons_, converged)}


def _fit_gd(width_factor):
    def fit(methods, teacher, X, y, seed):

        width = width_factor * teacher.n_neurons
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = GDReLURegressor(n_neurons=width, optimizer="lbfgs", max_iter=GD_MAX_ITER, tol=GD_TOL,
                                    hidden_biases=teacher.has_biases, history_every=None, random_state=seed)
            model.fit(X, y)
        seconds = time.perf_counter() - start
        converged = bool(getattr(model, "converged_", True))
        return {methods[0]: _exact(model.relu_network(), teacher, seconds, width, converged)}

    return fit


def mlp_lbfgs(width_factor):
    """The builder of ``MLPRegressor`` at width ``width_factor * k``: relu, L-BFGS, at most
    ``MLP_MAX_ITER`` iterations, tolerance ``MLP_TOL``."""

    def build(k, seed):
        return MLPRegressor(hidden_layer_sizes=(width_factor * k,), activation="relu", solver="lbfgs",
                            max_iter=MLP_MAX_ITER, tol=MLP_TOL, random_state=seed)

    return build


def mlp_default(k, seed):
    """``MLPRegressor(random_state=seed)``, every other parameter at scikit-learn's default
    (``k`` is not used)."""
    return MLPRegressor(random_state=seed)


#: Per MLP method, the builder ``(k, seed) -> MLPRegressor`` of its unfitted model.
MLP_MODELS = {"mlp_k": mlp_lbfgs(1), "mlp_4k": mlp_lbfgs(4), "mlp_default": mlp_default}


def _fit_mlp(build):
    """The fitter of the ``MLPRegressor`` that ``build(k, seed)`` makes: its convergence
    warnings recorded as ``converged``, its excess MSE estimated by Monte Carlo."""

    def fit(methods, teacher, X, y, seed):
        model = build(teacher.n_neurons, seed)
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(X, y)
        seconds = time.perf_counter() - start
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        width = sum(coef.shape[1] for coef in model.coefs_[:-1])
        estimate = monte_carlo_mse(model, teacher, MONTE_CARLO_SAMPLES, np.random.default_rng([seed, 0x5C0DE]),
                                   chunk_size=50_000)
        return {methods[0]: {"mse": estimate.mean, "mse_stderr": estimate.stderr, "scoring": "monte_carlo",
                             "fit_seconds": seconds, "width": width, "converged": converged, "error": None}}

    return fit


def _exact(network, teacher, seconds, width, converged):
    return {"mse": population_mse(network, teacher), "mse_stderr": 0.0, "scoring": "exact", "fit_seconds": seconds,
            "width": width, "converged": converged, "error": None}


FITTERS = {"moment": _fit_moment, "moment_auto": _fit_moment_auto, "gd_k": _fit_gd(1), "gd_2k": _fit_gd(2),
           **{name: _fit_mlp(build) for name, build in MLP_MODELS.items()}}


def _linear_memory(width, per_feature, per_unit, per_row, overhead=64 * 2**20):
    def estimate(n, d, k):
        return linear_bytes(n, d, width(k), per_feature, per_unit, per_row, overhead)

    return estimate


#: Per fitter, ``(n, d, k) -> bytes``: the peak memory of drawing n rows and running the fit (and its
#: Monte Carlo scoring), rounded up from measurements (see :mod:`narrowrelu.bench._memory`).
FIT_MEMORY = {
    "moment": moment_fit_bytes,
    "moment_auto": moment_fit_bytes,
    "gd_k": _linear_memory(lambda k: k, 3.5, 3.5, 16),
    "gd_2k": _linear_memory(lambda k: 2 * k, 3.5, 3.5, 16),
    "mlp_k": _linear_memory(lambda k: k, 1.5, 3.5, 16),
    "mlp_4k": _linear_memory(lambda k: 4 * k, 1.5, 3.5, 16),
    "mlp_default": _linear_memory(lambda k: 0, 1.5, 0, 16, 200 * 2**20),
}
