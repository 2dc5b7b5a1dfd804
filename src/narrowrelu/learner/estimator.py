"""MomentReLURegressor: the method-of-moments learner for narrow one-hidden-layer ReLU networks,
a thin scikit-learn class around :func:`narrowrelu.learner.rounds.fit_moments`."""

import time
from dataclasses import fields

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .._params import Boolean, Integer, Options, RandomState, Real, Sequence, check_parameters
from .._validation import as_generator, check_count, check_positive_int
from ..conditioning import check_numeric
from .fit_units import N_JOBS_CONSTRAINT, fit_in_standard_units, resolve_n_jobs
from .refine import LARGE_SAMPLE_ROWS_PER_PARAMETER, REFINE_METHODS, large_sample, refine_moment_solution
from .neuron_count import neuron_count_report
from .rounds import MomentSettings, auto_neuron_limit, fit_moments
from .distributed import fit_dask_arrays, is_dask_collection, oracle_source, predict_dask
from .sources import ArraySource
from .split import held_out_mask

# with refine=True on a large sample, moment rounds stop once a round gains less than this many
# parametric rates (see MomentSettings.round_improvement); below, rounds run to ROUND_IMPROVEMENT
# (stopped early, they missed neurons at n ~ 20 p that later rounds found)
REFINE_HANDOFF = 0.25
# rows of an oracle's fresh draw on which the refinement runs, unless refine_max_samples says otherwise
ORACLE_REFINE_ROWS = 200_000


class MomentReLURegressor(RegressorMixin, BaseEstimator):
    """Learn :math:`f(x) = b + w\\cdot x + \\sum_{i\\le k}\\lambda_i\\mathrm{relu}(u_i\\cdot x)` from
    Gaussian inputs by the method of moments (Chen, Dou, Goel, Klivans, Meka, COLT 2023).

    A thin class around :func:`narrowrelu.learner.rounds.fit_moments` (stages in
    :mod:`narrowrelu.learner`, math in ``docs/algorithm.md``) and the streamed Gauss–Newton
    refinement (:mod:`narrowrelu.learner.refine`). ``fit`` runs on standardised data
    (:mod:`narrowrelu.conditioning`) and maps the network back, so ``fit(X, c*y)`` is
    ``c * fit(X, y)`` for every ``c > 0`` (NumPy input; dask arrays are fitted where their blocks
    live, see docs/distributed.md).

    Parameters
    ----------
    n_neurons : int or None, default=None
        Number of hidden neurons :math:`k` (``1 <= k <= n_features``); a surplus is merged or
        removed (``surplus_``), a lack reported (``underfit_``), each with a ``NeuronCountWarning``.
        ``None`` tries ``k = 1, 2, ...`` (each from the model of the one before) while a paired
        held-out test finds :math:`k+1` better (z > 3), up to ``min(n_features, max_auto_neurons)``
        and :math:`n \\ge 10p`, :math:`p = k(d+1)+d+1` (docs/moment_learner.md).
    tensor_orders : tuple of int, default=(4,)
        Orders of the projected Hermite tensors used for candidates (4, and 6 for extra views).
    n_contraction_pairs : int, default=64
        Random pairs of contractions, each a source of up to :math:`k` candidates.
    cp_polish : bool, default=True
        Polish the current directions by the rank-:math:`k` CP decomposition of the projected
        order-4 tensor (alternating least squares); the result joins the round's candidates.
    tensor_fit : bool, default=True
        Then fit the projected tensors of orders 2 and 4 jointly by weighted least squares from
        the polished (or current) directions (:mod:`narrowrelu.learner.tensor_fit`).
    n_subspace_directions : int, default=2
        Random order-4 contractions :math:`C_j` whose products :math:`C_jP` are stacked with
        :math:`M_2P` for the next estimate of the span, per round. Each costs :math:`k` columns
        of one thin product per row.
    scales : tuple of float, default=(0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
        The ladder of projective distances :math:`1-|\\cos|` at which candidates are clustered.
    min_support : float, default=0.2
        A cluster needs at least this fraction of ``n_contraction_pairs`` members.
    max_rounds : int, default=8
        Rounds of iterative discovery on the residual. Rounds stop earlier when a round lowers
        the held-out error by less than a fraction 1e-5 of it (with ``refine=True`` and
        :math:`n > 500p`, :math:`p = k(d+1)+d+1`, by less than :math:`0.25\\,p/n` of it: the
        refinement reaches the parametric rate from there), or once it is below ``tol``.
    tol : float, default=1e-6
        Rounds stop once the held-out MSE of the moment solution is at most ``tol * Var(y)``:
        refinement converges from there, and each further round costs a pass.
    validation_fraction : float, default=0.2
        Share of rows held out for model selection (the final weights use all rows).
    refine : bool, default=True
        Refine the moment solution by local least squares on the empirical loss.
    refine_method : {"gn", "lm", "lbfgs"}, default="gn"
        ``"gn"``: matrix-free Gauss–Newton streamed over the data like the moment passes (a few
        :math:`O(nkd)` passes, stopping once a step can gain less than 1 % of the parametric
        rate :math:`\\sigma^2p/n`; noiseless fits go on to ~1e-14);
        ``"lm"``: dense Levenberg–Marquardt, :math:`O(np^2)` per iteration (small :math:`p`);
        ``"lbfgs"``: L-BFGS. See :mod:`narrowrelu.learner.refine`.
    refine_max_iter : int, default=100
        Outer iterations of the refinement at most.
    refine_max_samples : int or None, default=None
        Rows used by the refinement: all when ``None`` (in oracle mode, the same streamed inputs
        as the moment passes with ``"gn"``; a fresh draw of at most 200 000 rows held in memory
        with ``"lm"``/``"lbfgs"``), else the first ``refine_max_samples`` rows (a fresh draw of
        that many in oracle mode).
    refine_starts : {1, 2, "auto"}, default="auto"
        Starts of the refinement: the selected moment solution, and (with 2) also the first
        round's model; the refined network with the lower training loss is kept. Later rounds
        lower the raw error but can settle, with the refinement, into a spurious basin of the
        empirical loss (neurons of a tight cluster paired wrongly) that the cruder first-round
        model avoids; the loss tells the two apart. ``"auto"``: 2 up to :math:`n = 500p` rows,
        where this was seen, else 1 (beyond, both starts were measured to reach the same point).
    max_auto_neurons : int or None, default=None
        With ``n_neurons=None``, the largest :math:`k` tried (``None``: ``n_features`` and the rows
        only); reached while still improving, a ``NeuronCountWarning`` names it.
    chunk_size : int, default=65536
        Rows per chunk of every pass (bounds memory in oracle mode).
    n_jobs : int, default=1
        Threads for the moment contractions; -1 uses every core. Results do not depend on it.
    whiten : bool, default=False
        Fit on :math:`\\hat\\Sigma^{-1/2}x` (:math:`\\hat\\Sigma` the inputs' second moment) and
        return the network in the original coordinates, so inputs :math:`x\\sim N(0,\\Sigma)` of
        any covariance are learned exactly. A mean significantly away from zero is refused: the
        hidden units of centred inputs would need a bias inside the ReLU, which the model class
        lacks. See :mod:`narrowrelu.conditioning`.
    random_state : int, Generator or None, default=None
        Drives every random choice: held-out split, contraction directions, oracle inputs.
    verbose : bool, default=False
        Show a progress bar over the passes.

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
        The final residual's test for a missing neuron (``learner.refine.surplus``).
    underfit_ : bool
        Whether that test finds a neuron missing with every neuron allowed in use.
    n_features_in_ : int
    candidates_ : ndarray of shape (n_candidates, n_features)
        The candidate directions (unit rows) of the selected round: its new cluster centres
        and the directions the previous round had selected.
    subspace_ : ndarray of shape (n_features, n_neurons_)
        The estimate of the neurons' span used by the selected round.
    k_search_ : list of dict
        ``n_neurons=None``: per :math:`k` tried, its held-out MSE and the paired test's ``z``.
    validation_mse_ : float
        Held-out mean squared error of the raw moment solution at selection.
    rounds_ : list of RoundResult
        Per round of the selected :math:`k`: candidates found, held-out error, directions selected.
    refinement_ : dict or None
        The refinement's method, starts, neuron splits tried and kept, iterations, convergence,
        final training MSE, rows, passes and the reason it stopped (``None`` if ``refine=False``).
    timings_ : dict
        Seconds spent per stage.
    n_passes_ : int
        Passes made over the data (or over the oracle's regenerated stream).
    scaling_ : dict
        ``fit`` only: the maps to standard units, ``y_shift``, ``y_scale``, ``x_scale``, ``whitener``.

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
        "tensor_orders": Sequence(Options(4, 6), unique=True),
        "n_contraction_pairs": Integer(1),
        "cp_polish": Boolean(),
        "tensor_fit": Boolean(),
        "n_subspace_directions": Integer(1),
        "scales": Sequence(Real(0, 1, closed="neither")),
        "min_support": Real(0, 1, closed="right"),
        "max_rounds": Integer(1),
        "tol": Real(0, 1, closed="left"),
        "validation_fraction": Real(0, 1, closed="neither"),
        "refine": Boolean(),
        "refine_method": Options(*REFINE_METHODS),
        "refine_max_iter": Integer(1),
        "refine_max_samples": (Integer(1), Options(None)),
        "refine_starts": Options(1, 2, "auto"),
        "max_auto_neurons": (Integer(1), Options(None)),
        "chunk_size": Integer(1),
        "n_jobs": N_JOBS_CONSTRAINT,
        "whiten": Boolean(),
        "random_state": RandomState(),
        "verbose": Boolean(),
    }

    def __init__(
        self,
        n_neurons=None,
        *,
        tensor_orders=(4,),
        n_contraction_pairs=64,
        cp_polish=True,
        tensor_fit=True,
        n_subspace_directions=2,
        scales=(0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
        min_support=0.2,
        max_rounds=8,
        tol=1e-6,
        validation_fraction=0.2,
        refine=True,
        refine_method="gn",
        refine_max_iter=100,
        refine_max_samples=None,
        refine_starts="auto",
        max_auto_neurons=None,
        chunk_size=65536,
        n_jobs=1,
        whiten=False,
        random_state=None,
        verbose=False,
    ):
        self.n_neurons = n_neurons
        self.tensor_orders = tensor_orders
        self.n_contraction_pairs = n_contraction_pairs
        self.cp_polish = cp_polish
        self.tensor_fit = tensor_fit
        self.n_subspace_directions = n_subspace_directions
        self.scales = scales
        self.min_support = min_support
        self.max_rounds = max_rounds
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.refine = refine
        self.refine_method = refine_method
        self.refine_max_iter = refine_max_iter
        self.refine_max_samples = refine_max_samples
        self.refine_starts = refine_starts
        self.max_auto_neurons = max_auto_neurons
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.whiten = whiten
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y):
        """Fit on data ``X`` (rows assumed drawn from N(0, I)) and targets ``y``.

        Parameters
        ----------
        X : array-like or dask array of shape (n_samples, n_features)
        y : array-like or dask array of shape (n_samples,)

        Returns
        -------
        self
        """
        check_parameters(self)
        if is_dask_collection(X) or is_dask_collection(y):
            return fit_dask_arrays(self, X, y, ORACLE_REFINE_ROWS)
        check_numeric(y, "y")
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, order="C")
        y = np.asarray(y, dtype=np.float64)
        self._check_size(X.shape[0], X.shape[1])
        return fit_in_standard_units(self, X, y, self._fit_data)

    def _fit_data(self, X, y):
        rng = as_generator(self.random_state)
        n = X.shape[0]
        seed = np.random.SeedSequence(int(rng.integers(2**63)))
        mask = held_out_mask(seed, n, self._n_validation(n, X.shape[1]))
        source = ArraySource(X, y, mask, self.chunk_size)

        def refine_source():
            m = n if self.refine_max_samples is None else min(n, self.refine_max_samples)
            return source if m == n else ArraySource(X[:m], y[:m], np.zeros(m, dtype=bool), self.chunk_size)

        return self._fit_source(source, rng, refine_source)

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
            (docs/distributed.md).

        Returns
        -------
        self
        """
        check_parameters(self)
        if not callable(oracle):
            raise ValueError(f"oracle must be callable as oracle(X) -> y, got {type(oracle).__name__}")
        n_features = getattr(oracle, "n_features", None) if n_features is None else n_features
        if n_features is None:
            raise ValueError("n_features is required when the oracle has no n_features attribute")
        d = check_positive_int(n_features, "n_features")
        n = check_count(n_samples, "n_samples")
        self._check_size(n, d)
        rng = as_generator(self.random_state)
        seed_stream, seed_refine = np.random.SeedSequence(rng.integers(2**63)).spawn(2)
        source = oracle_source(backend, oracle, n, d, self.chunk_size, self._n_validation(n, d), seed_stream)

        def refine_source():
            if self.refine_method == "gn" and self.refine_max_samples is None:
                return source
            m = min(n, self.refine_max_samples or ORACLE_REFINE_ROWS)
            X = np.random.default_rng(seed_refine).standard_normal((m, d))
            y = np.concatenate([source.query(X[s:s + self.chunk_size]) for s in range(0, m, self.chunk_size)])
            return ArraySource(X, y, np.zeros(m, dtype=bool), self.chunk_size)

        return self._fit_source(source, rng, refine_source)

    def predict(self, X):
        """Predict with the final network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

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
        (thousands at d = 20) before the neurons stand out from the noise."""
        return n_features + self._max_neurons(n_features) + 2

    def _max_neurons(self, n_features, n_samples=1):
        if self.n_neurons is not None:
            return self.n_neurons
        return auto_neuron_limit(n_features, n_samples, self.max_auto_neurons)

    def _check_size(self, n, d):
        if self.n_neurons is not None and self.n_neurons > d:
            raise ValueError(f"n_neurons = {self.n_neurons} exceeds n_features = {d}; need 1 <= n_neurons <= n_features")
        need = self.required_samples(d)
        if n < need:
            raise ValueError(
                f"too few samples for the moments asked: n_samples = {n} with n_features = {d} and "
                f"n_neurons = {self._max_neurons(d)}; at least {need} are needed"
            )

    def _n_validation(self, n, d):
        most = n - (d + self._max_neurons(d, n) + 1)
        return int(min(max(1, round(self.validation_fraction * n)), most))

    def _settings(self, n_rows, n_features):
        # with n_neurons=None the hand-over applies to each k tried where the sample is large for it
        auto = self.refine and self.n_neurons is None
        large = auto or (self.refine and large_sample(n_rows, self.n_neurons, n_features))
        own = ("n_jobs", "handoff", "handoff_rows_per_parameter")
        shared = {f.name: getattr(self, f.name) for f in fields(MomentSettings) if f.name not in own}
        shared.update(tensor_orders=tuple(self.tensor_orders), scales=tuple(self.scales))
        return MomentSettings(**shared, n_jobs=resolve_n_jobs(self.n_jobs), handoff=REFINE_HANDOFF if large else 0.0,
                              handoff_rows_per_parameter=LARGE_SAMPLE_ROWS_PER_PARAMETER if auto else 0.0)

    def _fit_source(self, source, rng, refine_source):
        # BLAS on one thread throughout: parallelism comes from n_jobs over row blocks, whose
        # results are summed in a fixed order, so the model does not depend on the thread count.
        settings = self._settings(source.n_samples, source.n_features)
        with threadpool_limits(limits=1, user_api="blas"):
            with tqdm(total=settings.max_passes(source.n_features, source.n_samples) * source.n_chunks(), disable=not self.verbose,
                      desc="moment passes", unit="chunk") as progress:
                fit = fit_moments(source, settings, rng, progress)
                progress.total = progress.n
                progress.refresh()
            self.n_features_in_ = source.n_features
            self.raw_network_ = fit.network
            self.n_neurons_ = fit.n_neurons
            self.candidates_ = fit.candidates
            self.subspace_ = fit.subspace
            self.validation_mse_ = fit.validation_mse
            self.rounds_ = fit.rounds
            self._first_round_network = fit.first_round_network
            self.n_passes_ = fit.n_passes
            self.timings_ = fit.timings
            self.k_search_ = fit.k_search
            if self.refine:
                self._refine(refine_source)
            else:
                self.network_ = self.raw_network_
                self.refinement_ = None
            report = neuron_count_report(self.network_, self.refinement_, self.n_neurons, self.max_auto_neurons,
                                         fit.limit_reached, source.n_features, source.n_samples)
            self.n_neurons_, self.surplus_, self.residual_structure_, self.underfit_ = (
                report.n_neurons, report.surplus, report.structure, report.underfit)
        return self

    def _refine(self, refine_source):
        start = time.perf_counter()
        refined, self.refinement_ = refine_moment_solution(self.refine_method, self.raw_network_, self._first_round_network,
                                                           refine_source(), self.refine_starts, self.refine_max_iter,
                                                           resolve_n_jobs(self.n_jobs))
        self.network_ = refined.network
        self.timings_["refinement"] = time.perf_counter() - start
