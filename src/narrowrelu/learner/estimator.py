"""MomentReLURegressor: the method-of-moments learner for narrow one-hidden-layer ReLU networks,
a thin scikit-learn class around :func:`narrowrelu.learner.rounds.fit_moments` and the
refinement (:mod:`narrowrelu.learner.refine`)."""

import time
from dataclasses import replace

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data
from tqdm.auto import tqdm

from .._parallel import N_JOBS_CONSTRAINT, one_blas_thread, resolve_n_jobs
from .._params import Boolean, InstanceOf, Integer, Options, RandomState, Real, check_parameters
from .._validation import as_generator, check_count, check_positive_int
from ..conditioning import check_numeric, condition
from .dask.fit import check_dask_data, dask_oracle_source, is_dask_collection, predict_dask
from .biases import biased_selection_model, fit_biased
from .refine import refine_moment_solution
from .refine.selection import refined_selection_model
from .rounds import fit_moments
from .neuron_count import neuron_count_report
from .settings import (
    LARGE_SAMPLE_ROWS_PER_PARAMETER,
    LearnerSettings,
    MomentSettings,
    auto_neuron_limit,
    refinement_rows,
)
from .sources import ArraySource, OracleSource
from .sources.held_out import held_out_mask
from .residual_diagnostic import ResidualChecks, warn_misfit
from .units import LearnerFit, oracle_in_standard_units, scaling_of, to_original_units, warn_if_not_gaussian
from .workload import warn_workload

# with a refinement to follow, moment rounds stop once a round gains less than this many
# parametric rates: on a large sample always (MomentSettings.round_improvement), on fewer rows
# where the model has no spare neuron (MomentSettings.settled_improvement); a model with one runs
# to ROUND_IMPROVEMENT (stopped early, they missed neurons at n ~ 20 p that later rounds found)
REFINE_HANDOFF = 0.25
BACKENDS = ("local", "dask")


class MomentReLURegressor(RegressorMixin, BaseEstimator):
    """Learn :math:`f(x) = b + w\\cdot x + \\sum_{i\\le k}\\lambda_i\\mathrm{relu}(u_i\\cdot x)` from
    Gaussian inputs by the method of moments (Chen, Dou, Goel, Klivans, Meka, COLT 2023).

    A thin class around :func:`narrowrelu.learner.rounds.fit_moments` (stages in
    :mod:`narrowrelu.learner`, math in ``docs/design/algorithm.md``) and the streamed Gauss–Newton
    refinement (:mod:`narrowrelu.learner.refine`). ``fit`` runs on standardised data
    (:mod:`narrowrelu.conditioning`) and maps the network back, so ``fit(X, c*y)`` is
    ``c * fit(X, y)`` for every ``c > 0`` (NumPy input; dask arrays are fitted where their blocks
    live, see docs/guide/distributed.md).

    Parameters
    ----------
    n_neurons : int or None, default=None
        Number of hidden neurons :math:`k` (``1 <= k <= n_features``); a surplus is merged or
        removed (``surplus_``), a lack reported (``underfit_``), each with a ``NeuronCountWarning``.
        Where the residual's second moment shows at most half as many neurons and the rows
        number at least 100 per parameter of one more, :math:`k` is searched up to ``n_neurons``
        as with ``None`` (``k_search_``), so that no round fits a spare neuron.
        ``None`` fits ``k0`` neurons, the number the residual's second moment shows, and after the
        refinement adds neurons while each lowers the sum of squares by more than the BIC
        penalty, up to ``min(n_features, max_auto_neurons)`` and :math:`n \\ge 10p`,
        :math:`p = k(d+1)+d+1`. With ``settings={"k_search": "paired_test"}``, and wherever no
        such growth follows (``refine=False``, ``hidden_biases=True``, or inputs that fail the
        Gaussianity check: then from ``k0 = 1``), the
        moment stage first tries ``k = k0, k0 + 1, ...`` (each from the model of the one before)
        while a paired held-out test finds :math:`k+1` better (z > 3; each model refined for a
        few Gauss–Newton iterations on the training rows) (docs/guide/usage.md).
    max_auto_neurons : int or None, default=None
        With ``n_neurons=None``, the largest :math:`k` tried (``None``: ``n_features`` and the rows
        only); reached while still improving, a ``NeuronCountWarning`` names it.
    tol : float, default=1e-6
        Rounds stop once the held-out MSE of the moment solution is at most ``tol * Var(y)``:
        refinement converges from there, and each further round costs a pass.
    validation_fraction : float, default=0.2
        Share of rows held out for model selection (the final weights use all rows).
    refine : bool, default=True
        Refine the moment solution by local least squares on the empirical loss (by default a
        matrix-free Gauss–Newton streamed over the data, stopping at the noise level; see
        ``settings``), then shrink its linear part towards zero by the positive-part James–Stein
        factor (lower excess risk than the least-squares fit's; ``settings`` turns it off).
    whiten : bool, default=False
        Fit on :math:`\\hat\\Sigma^{-1/2}x` (:math:`\\hat\\Sigma` the inputs' second moment) and
        return the network in the original coordinates, so inputs :math:`x\\sim N(0,\\Sigma)` of
        any covariance are learned exactly. With ``hidden_biases=True`` the inputs are centred too,
        :math:`x' = \\hat\\Sigma^{-1/2}(x-\\hat\\mu)` (:math:`\\hat\\Sigma` the covariance), so
        :math:`x\\sim N(\\mu,\\Sigma)` is learned exactly (a unit :math:`\\mathrm{relu}(u\\cdot x)` is a
        biased unit of :math:`x'`); without, a mean significantly away from zero is refused with a
        ``ValueError`` saying so. See :mod:`narrowrelu.conditioning`.
    chunk_size : int, default=65536
        Rows per chunk of every pass (bounds memory in oracle mode).
    n_jobs : int, default=1
        Threads for the moment contractions and the refinement's passes; -1 uses every core.
        Results do not depend on it.
    random_state : int, Generator or None, default=None
        Drives every random choice: held-out split, contraction directions, oracle inputs.
    verbose : bool, default=False
        Show a progress bar over the passes.
    hidden_biases : bool, default=False
        Learn a bias inside each unit, :math:`\\mathrm{relu}(u_i\\cdot x+\\beta_i)`: the directions
        come from the same moments, each :math:`\\beta_i` from the ratio of its order-3 and order-2
        moments, and the refinement is Levenberg–Marquardt on every parameter, biases included
        (:mod:`narrowrelu.learner.biases`). With ``whiten=True`` the inputs are also centred, so
        :math:`x\\sim N(\\mu,\\Sigma)` is learned and mapped back to x exactly (a unit
        :math:`\\mathrm{relu}(u'\\cdot x'+\\beta')` of :math:`x' = A(x-\\hat\\mu)` is
        :math:`\\mathrm{relu}(u\\cdot x+\\beta'-u\\cdot\\hat\\mu)`, :math:`u = A^Tu'`). ``False`` keeps the
        paper's model, every unit through 0.
    settings : LearnerSettings, dict or None, default=None
        The research knobs (:class:`~narrowrelu.learner.settings.LearnerSettings`: tensor orders,
        contraction pairs, candidate generators, clustering scales, rounds, the refinement's
        method, iterations, rows and starts), as a ``LearnerSettings`` or a dict of some of its
        fields; ``None`` for the defaults.

    Attributes
    ----------
    network_ : ReLUNetwork
        The final model (refined when ``refine``), as a ReLU network.
    raw_network_ : ReLUNetwork
        The moment solution before refinement.
    n_neurons_ : int
        The neurons of ``network_`` (the :math:`k` chosen; fewer than asked with a ``surplus_``).
    surplus_ : list of str
        The neurons merged or removed before the refinement, one line each.
    residual_structure_ : ResidualStructure or None
        The final residual's test for a missing neuron (``learner.refine.surplus``, standard units).
    underfit_ : bool
        Whether that test finds a neuron missing in the final model: with every neuron allowed in
        use, or below that limit where no neuron added after the refinement passed the growth's
        test (a ``NeuronCountWarning`` says which).
    k_search_ : list of dict
        Per :math:`k` tried by a search (``n_neurons=None``, or below ``n_neurons``), its held-out
        MSE and the paired test's ``z``; empty for a fit of the told :math:`k` alone.
    n_features_in_ : int
        Number of input features seen in ``fit`` (or ``n_features`` of ``fit_oracle``).
    candidates_ : ndarray of shape (n_candidates, n_features)
        The candidate directions (unit rows) of the selected round: its new cluster centres
        and the directions the previous round had selected.
    subspace_ : ndarray of shape (n_features, n_neurons_)
        The estimate of the neurons' span used by the selected round.
    validation_mse_ : float
        Held-out mean squared error of the raw moment solution at selection.
    rounds_ : list of RoundResult
        Per round of the selected :math:`k`: candidates found, held-out error, directions selected.
    refinement_ : dict or None
        The refinement's method, starts, neuron splits tried and kept, neurons removed
        (``surplus``) and added (``grown``: with ``n_neurons=None``, those the moment search
        missed; ``growth_skipped``: why none was tried, as where the residual has odd-order
        structure that no neuron without a bias fits), iterations, convergence, final training
        MSE (of the least-squares fit), rows, passes, the reason it stopped, and
        ``linear_shrinkage``: the James–Stein factor applied to the linear part after it, the
        Wald statistic of :math:`w = 0`, the neurons turned, why it was skipped (``None`` with
        ``settings={"shrink_linear_part": False}``) (``None`` if ``refine=False``).
    timings_ : dict
        Seconds spent per stage.
    n_passes_ : int
        Passes made over the data (or over the oracle's regenerated stream).
    scaling_ : dict
        The maps to standard units, ``y_shift``, ``y_scale``, ``x_scale``, ``whitener``, ``x_mean``
        (the column means subtracted before whitening with ``hidden_biases=True``; ``None`` when X was
        not centred) (``fit_oracle``: a power of two near the outputs' scale, and a shift only for a
        large offset).
    residual_diagnostic_ : dict
        Low-order Hermite moments of the final model's residual on the held-out rows
        (:mod:`narrowrelu.learner.residual_diagnostic`): ``statistics`` (per order 1-4, the
        statistic, degrees of freedom, p-value, normal score, share of Var(y)),
        ``verdict`` (``"fits"``, ``"wrong model"``, ``"more neurons"``, ``"not converged"``) and
        ``message``, raised as a :class:`~narrowrelu.learner.residual_diagnostic.ModelMisfitWarning`.
    settings_ : LearnerSettings
        The research knobs used (``settings`` resolved).

    References
    ----------
    .. [1] S. Chen, Z. Dou, S. Goel, A. Klivans, R. Meka. Learning Narrow One-Hidden-Layer ReLU
       Networks. COLT 2023. arXiv:2304.10524.

    Examples
    --------
    >>> from narrowrelu import MomentReLURegressor, Teacher, population_mse
    >>> teacher = Teacher.random(n_features=10, n_neurons=2, random_state=0)
    >>> X, y = teacher.sample(20_000, random_state=1)
    >>> model = MomentReLURegressor(n_neurons=2, random_state=0).fit(X, y)
    >>> population_mse(model, teacher) < 1e-6
    True
    """


    _parameter_constraints = {
        "n_neurons": (Integer(1), Options(None)),
        "max_auto_neurons": (Integer(1), Options(None)),
        "tol": Real(0, 1, closed="left"),
        "validation_fraction": Real(0, 1, closed="neither"),
        "refine": Boolean(),
        "whiten": Boolean(),
        "chunk_size": Integer(1),
        "n_jobs": N_JOBS_CONSTRAINT,
        "random_state": RandomState(),
        "verbose": Boolean(),
        "hidden_biases": Boolean(),
        "settings": (InstanceOf(dict, LearnerSettings), Options(None)),
    }

    def __init__(self, n_neurons=None, *, max_auto_neurons=None, tol=1e-6, validation_fraction=0.2, refine=True,
                 whiten=False, chunk_size=65536, n_jobs=1, random_state=None, verbose=False, hidden_biases=False,
                 settings=None):
        self.n_neurons = n_neurons
        self.max_auto_neurons = max_auto_neurons
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.refine = refine
        self.whiten = whiten
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.hidden_biases = hidden_biases
        self.settings = settings

    def fit(self, X, y):
        """Fit on data ``X`` (rows assumed drawn from :math:`N(0, I)`, or :math:`N(0, \\Sigma)`
        with ``whiten=True``, or :math:`N(\\mu, \\Sigma)` with ``whiten=True, hidden_biases=True``)
        and targets ``y``.

        Parameters
        ----------
        X : array-like or dask array of shape (n_samples, n_features)
            Inputs; a dask array is fitted where its blocks live (docs/guide/distributed.md).
        y : array-like or dask array of shape (n_samples,)
            Targets.

        Returns
        -------
        self
        """
        knobs = self._check_parameters()
        dask_input = is_dask_collection(X) or is_dask_collection(y)
        if dask_input:
            X, y = check_dask_data(X, y)
            from ..conditioning.dask_arrays import condition_dask as conditioner
        else:
            check_numeric(y, "y")
            X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, order="C")
            y = np.asarray(y, dtype=np.float64)
            conditioner = condition
        n, d = X.shape
        self._check_size(n, d)
        data = conditioner(X, y, whiten=self.whiten, center_x=self.hidden_biases)
        gaussian = warn_if_not_gaussian(data.X, self.whiten)
        rng = as_generator(self.random_state)
        seed = np.random.SeedSequence(int(rng.integers(2**63)))
        n_validation = self._n_validation(n, d)
        if dask_input:
            from .dask.sources import DaskArraySource

            source = DaskArraySource(data.X, data.y, n_validation, seed, self.chunk_size)
        else:
            source = ArraySource(data.X, data.y, held_out_mask(seed, n, n_validation), self.chunk_size)
        fit = self._fit_source(source, rng, knobs, gaussian)
        self._set_fitted(to_original_units(fit, data), knobs)
        self.scaling_ = scaling_of(data)
        warn_misfit(self.residual_diagnostic_)
        return self

    def fit_oracle(self, oracle, n_samples, n_features=None, backend="local"):
        """Fit by drawing Gaussian inputs and querying ``oracle(X) -> y``, streaming in chunks.

        Inputs :math:`x\\sim N(0, I_d)` are generated chunk by chunk from ``random_state`` and
        regenerated at each pass, so memory is bounded by ``chunk_size`` rows whatever
        ``n_samples``. A deterministic oracle is queried with the same inputs at every pass; a
        noisy one gives fresh noise at each pass, which the moments do not mind.

        Parameters
        ----------
        oracle : callable
            ``oracle(X) -> y``; a :class:`narrowrelu.Teacher` is one (it returns the clean f).
        n_samples : int
            Gaussian inputs per pass.
        n_features : int, optional
            Input dimension; read from ``oracle.n_features`` when omitted.
        backend : {"local", "dask"}, default="local"
            ``"dask"``: each block drawn and labelled in a task on the active dask client
            (docs/guide/distributed.md).

        Returns
        -------
        self
        """
        knobs = self._check_parameters()
        if not callable(oracle):
            raise ValueError(f"oracle must be callable as oracle(X) -> y, got {type(oracle).__name__}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        n_features = getattr(oracle, "n_features", None) if n_features is None else n_features
        if n_features is None:
            raise ValueError("n_features is required when the oracle has no n_features attribute")
        d = check_positive_int(n_features, "n_features")
        n = check_count(n_samples, "n_samples")
        self._check_size(n, d)
        rng = as_generator(self.random_state)
        seed_stream, seed_refine = np.random.SeedSequence(rng.integers(2**63)).spawn(2)
        n_validation = self._n_validation(n, d)
        oracle, units = oracle_in_standard_units(oracle, n, d, self.chunk_size, seed_stream)
        if backend == "local":
            source = OracleSource(oracle, n, d, self.chunk_size, n_validation / n, seed_stream, seed_refine)
        else:
            source = dask_oracle_source(oracle, n, d, self.chunk_size, n_validation, seed_stream, seed_refine)
        self._set_fitted(to_original_units(self._fit_source(source, rng, knobs), units), knobs)
        self.scaling_ = scaling_of(units)
        warn_misfit(self.residual_diagnostic_)
        return self

    def predict(self, X):
        """Predict with the final network.

        Parameters
        ----------
        X : array-like or dask array of shape (n_samples, n_features)
            Inputs (a dask array gives a lazy dask array of predictions).

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "network_")
        if is_dask_collection(X):
            return predict_dask(self.network_, X)
        X = validate_data(self, X, dtype=np.float64, reset=False, order="C")
        return self.network_.evaluate_trusted(X)

    def relu_network(self):
        """The fitted model as a :class:`narrowrelu.ReLUNetwork` (used by :func:`narrowrelu.population_mse`)."""
        check_is_fitted(self, "network_")
        return self.network_

    def required_samples(self, n_features):
        """The fewest rows a fit accepts: :math:`d + k + 2` (with ``n_neurons=None``,
        :math:`k = 1`, the first tried; larger ones need ten rows per parameter), so that the
        training rows cover the :math:`d + k + 1` coefficients of the output regression and one
        row is held out.

        This makes the fit well posed, not accurate: the order-4 moments need many more rows
        (thousands at d = 20) before the neurons stand out from the noise.

        Parameters
        ----------
        n_features : int
            Input dimension :math:`d`.

        Returns
        -------
        int
        """
        return n_features + self._max_neurons(n_features) + 2

    def _check_parameters(self):
        check_parameters(self)
        return LearnerSettings.from_parameter(self.settings)

    def _told_and_pruned(self):
        """A told k that is refined and pruned: where M2 shows at most half of it, the fit searches
        up to it (``search_below_told``)."""
        return self.refine and self.n_neurons is not None and not self.hidden_biases

    def _max_neurons(self, n_features, n_samples=1):
        if self.n_neurons is not None:
            return self.n_neurons
        return auto_neuron_limit(n_features, n_samples, self.max_auto_neurons)

    def _check_size(self, n, d):
        if self.n_neurons is not None and self.n_neurons > d:
            raise ValueError(f"n_neurons = {self.n_neurons} exceeds n_features = {d}; "
                             "need 1 <= n_neurons <= n_features")
        need = self.required_samples(d)
        if n < need:
            raise ValueError(
                f"too few samples for the moments asked: n_samples = {n} with n_features = {d} and "
                f"n_neurons = {self._max_neurons(d)}; at least {need} are needed"
            )
        # with n_neurons=None the search's length depends on the data: the rows are checked, and
        # the time estimated, for its first k
        warn_workload(n, d, [1 if self.n_neurons is None else self.n_neurons], searched_below=self._told_and_pruned())

    def _n_validation(self, n, d):
        most = n - (d + self._max_neurons(d, n) + 1)
        return int(min(max(1, round(self.validation_fraction * n)), most))

    def _fit_source(self, source, rng, knobs, gaussian=True):
        """The moment fit on ``source`` and its refinement, as a :class:`LearnerFit` in the
        source's units; ``gaussian=False`` (inputs that failed the Gaussianity check) starts a
        search for k at k = 1, as the count of neurons M2 shows rests on Gaussian inputs. BLAS on
        one thread throughout: parallelism comes from ``n_jobs`` over row blocks, whose results are
        summed in a fixed order, so the model does not depend on the thread count."""
        n_jobs = resolve_n_jobs(self.n_jobs)
        checks = ResidualChecks(source)
        told = self._told_and_pruned()
        settings = MomentSettings.from_knobs(knobs, n_neurons=self.n_neurons, tol=self.tol,
                                             max_auto_neurons=self.max_auto_neurons, n_jobs=n_jobs,
                                             surplus_handoff=told, search_below_told=told,
                                             handoff=REFINE_HANDOFF if self.refine else 0.0,
                                             handoff_rows_per_parameter=LARGE_SAMPLE_ROWS_PER_PARAMETER,
                                             search_from_visible=gaussian or self.n_neurons is not None,
                                             growth_follows=self.refine and gaussian)
        if self.hidden_biases:
            # order 3 carries every biased unit, order 4 every unit with |beta| != 1; one round, as a
            # later one would lean on the bias-free model of the first (docs/design/algorithm.md)
            # and the search for k from k = 1: a start above the true k would keep its surplus, which
            # the biased refinement does not prune yet (so a told n_neurons that M2 shows at most half
            # of is searched up to from k = 1 too)
            settings = replace(settings, tensor_orders=tuple(sorted(set(settings.tensor_orders) | {3})), max_rounds=1,
                               search_from_visible=False, growth_follows=False,
                               search_below_told=self.refine and self.n_neurons is not None)
        with one_blas_thread():
            total = settings.max_passes(source.n_features, source.n_samples) * source.n_chunks()
            with tqdm(total=total, disable=not self.verbose,
                      desc="moment passes", unit="chunk") as progress:
                selection = (biased_selection_model if self.hidden_biases
                             else refined_selection_model if self.refine else None)
                moments = fit_moments(source, settings, rng, progress, selection)
                progress.total = progress.n
                progress.refresh()
            network, refinement = moments.network, None
            if self.hidden_biases:
                start = time.perf_counter()
                rows = refinement_rows("lm", source.n_samples, knobs.refine_max_samples,
                                       source.rows_in_memory() is not None)
                searched = self.n_neurons is None or bool(moments.k_search)
                most = self._max_neurons(source.n_features, source.n_samples) if searched else None
                raw, network, refinement = fit_biased(moments.network, source, self.refine, rows,
                                                      knobs.refine_max_iter, n_jobs, pool=moments.candidates,
                                                      max_units=most, shrink_linear=knobs.shrink_linear_part)
                moments = replace(moments, network=raw)
                moments.timings["biases"] = time.perf_counter() - start
            elif self.refine:
                start = time.perf_counter()
                rows = refinement_rows(knobs.refine_method, source.n_samples, knobs.refine_max_samples,
                                       source.rows_in_memory() is not None)
                on = source if rows is None else source.head(rows, into_memory=knobs.refine_method != "gn")
                refined, refinement = refine_moment_solution(knobs.refine_method, moments.network,
                                                             moments.first_round_network, on, knobs.refine_starts,
                                                             knobs.refine_max_iter, n_jobs,
                                                             self._max_neurons(source.n_features, source.n_samples),
                                                             off_model=checks.outside_the_model,
                                                             shrink_linear=knobs.shrink_linear_part)
                network = refined.network
                moments.timings["refinement"] = time.perf_counter() - start
            start = time.perf_counter()
            diagnostic = checks.final(network)
            moments.timings["residual_diagnostic"] = time.perf_counter() - start
        report = neuron_count_report(network, refinement, self.n_neurons, self.max_auto_neurons,
                                     moments.limit_reached, source.n_features, source.n_samples, moments.search_stop,
                                     limit_why=moments.limit_why, raw=not self.refine and not self.hidden_biases)
        return LearnerFit(network=network, raw_network=moments.network, n_neurons=report.n_neurons,
                          candidates=moments.candidates, subspace=moments.subspace,
                          validation_mse=moments.validation_mse, rounds=moments.rounds, refinement=refinement,
                          timings=moments.timings, n_passes=moments.n_passes, surplus=report.surplus,
                          residual_structure=report.structure, underfit=report.underfit, k_search=moments.k_search,
                          residual_diagnostic=diagnostic)

    def _set_fitted(self, fit, knobs):
        self.n_features_in_ = fit.network.n_features
        self.network_ = fit.network
        self.raw_network_ = fit.raw_network
        self.n_neurons_ = fit.n_neurons
        self.surplus_, self.residual_structure_, self.underfit_ = fit.surplus, fit.residual_structure, fit.underfit
        self.k_search_ = fit.k_search
        self.candidates_ = fit.candidates
        self.subspace_ = fit.subspace
        self.validation_mse_ = fit.validation_mse
        self.rounds_ = fit.rounds
        self.refinement_ = fit.refinement
        self.timings_ = fit.timings
        self.n_passes_ = fit.n_passes
        self.residual_diagnostic_ = fit.residual_diagnostic
        self.settings_ = knobs
