"""MomentReLURegressor: the method-of-moments learner for narrow one-hidden-layer ReLU networks."""

import numbers
import time
import warnings
from contextlib import contextmanager

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from threadpoolctl import threadpool_limits
from sklearn.utils.validation import check_is_fitted, validate_data
from tqdm.auto import tqdm

from .._validation import as_generator, check_positive_int
from ..network import ReLUNetwork
from .output_fit import SparseDirectionRegression, sign_free_to_relu_network
from .candidates import candidate_stage, novel_rows
from .passes import final_regression_stage, linear_stage, products_stage, projection_stage, second_moment_stage
from .subspace import lift_directions, linear_basis, stacked_subspace, top_eigenvectors
from .regression import regression_stage
from .projection_cache import ProjectionCache
from .refine import REFINERS
from .sources import ArraySource, OracleSource

# a unit of work of a pass (and one reduction buffer) is the largest power-of-two number of rows
# within this many bytes of X: small enough to stay in a 2 MB cache, large enough that the Python
# work per block stays small
BLOCK_BYTES = 2**21
# memory for the projections kept between the stages of a round, in oracle mode
ORACLE_CACHE_BYTES = 2**28
# training rows (and a quarter as many held-out ones) on which the output regression chooses
# its directions; the chosen model is then fitted and scored on every row
SELECTION_ROWS = 2**18
# a round is kept if it lowers the held-out MSE by more than this fraction; under label noise the
# held-out MSE is mostly noise, so the excess error a round removes is a small fraction of it
ROUND_IMPROVEMENT = 1e-5


class NonGaussianInputWarning(UserWarning):
    """The inputs do not look like draws from N(0, I), which the method assumes."""


class MomentReLURegressor(RegressorMixin, BaseEstimator):
    """Learn :math:`f(x) = b + w\\cdot x + \\sum_{i\\le k}\\lambda_i\\mathrm{relu}(u_i\\cdot x)` from
    Gaussian inputs by the method of moments (Chen, Dou, Goel, Klivans, Meka, COLT 2023).

    The pipeline (see :mod:`narrowrelu.learner.passes`):

    1. constant and linear part from :math:`E[y]` and :math:`E[yx]` (one pass);
    2. a first estimate :math:`P` of the neurons' span: top eigenvectors of
       :math:`M_2 = E[r(xx^T-I)]` (one pass);
    3. rounds, each one pass over the data that computes the residual :math:`r` of the current
       model, the full :math:`k`-dimensional Hermite tensors
       :math:`E[r\\,He_m(P^Tx)] = a_m\\sum_i\\lambda_i v_i^{\\otimes m}`, and the products of
       :math:`M_2` and of random order-4 contractions with :math:`P`, whose range is the next
       :math:`P` (robust to the rank loss of :math:`M_2` when close neurons of opposite signs
       cancel); the exact moments of the current model are added back (control variates);
    4. candidate directions from simultaneous diagonalisation of random contraction pairs of
       the tensors, merged by multiscale clustering in projective space (close neurons merge at
       coarse scales, separate at fine ones);
    5. regression of :math:`y` on :math:`[1, L^Tx, |c_j\\cdot x|]` (:math:`L` spans :math:`P` and
       :math:`E[yx]`) with sparse selection of at most :math:`k` directions, size chosen on
       held-out rows, from the projections the round's pass stored (no further pass);
    6. rounds repeat while the held-out error falls; the final weights use all rows;
    7. optional least-squares refinement of the resulting ReLU network.

    Parameters
    ----------
    n_neurons : int or None, default=None
        Number of hidden neurons :math:`k` (``1 <= k <= n_features``). ``None`` tries
        ``k = 1, 2, ...`` up to ``min(n_features, max_auto_neurons)`` and keeps the best on
        held-out rows (stopping once it stops improving).
    tensor_orders : tuple of int, default=(4,)
        Orders of the projected Hermite tensors used for candidates (4, and 6 for extra views).
    n_contraction_pairs : int, default=64
        Random pairs of contractions, each a source of up to :math:`k` candidates.
    n_subspace_directions : int, default=2
        Random order-4 contractions :math:`C_j` whose products :math:`C_jP` are stacked with
        :math:`M_2P` for the next estimate of the span, per round. Each costs :math:`k` columns
        of one thin product per row.
    scales : tuple of float, default=(0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
        The ladder of projective distances :math:`1-|\\cos|` at which candidates are clustered.
    min_support : float, default=0.2
        A cluster needs at least this fraction of ``n_contraction_pairs`` members.
    max_rounds : int, default=8
        Rounds of iterative discovery on the residual. Rounds stop earlier when the held-out
        error falls by less than 0.1 %, or falls below ``tol``.
    tol : float, default=1e-6
        Rounds stop once the held-out MSE of the moment solution is at most ``tol * Var(y)``:
        refinement converges from there, and each further round costs a pass.
    validation_fraction : float, default=0.2
        Share of rows held out for model selection (the final weights use all rows).
    refine : bool, default=True
        Refine the moment solution by local least squares on the empirical loss.
    refine_method : {"lm", "lbfgs"}, default="lm"
        Levenberg–Marquardt (Gauss–Newton with damping) or L-BFGS.
    refine_max_iter : int, default=100
    refine_max_samples : int or None, default=None
        Rows used by the refinement (all when ``None``; in oracle mode at most 200 000 unless set).
    max_auto_neurons : int, default=10
    chunk_size : int, default=65536
        Rows per chunk of every pass (bounds memory in oracle mode).
    n_jobs : int, default=1
        Threads for the moment contractions. Results do not depend on it.
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
        The number of neurons used (resolved when ``n_neurons=None``).
    n_features_in_ : int
    candidates_ : ndarray of shape (n_candidates, n_features)
        The candidate directions (unit rows) of the selected round: its new cluster centres
        and the directions the previous round had selected.
    subspace_ : ndarray of shape (n_features, n_neurons_)
        The estimate of the neurons' span used by the selected round.
    validation_mse_ : float
        Held-out mean squared error of the raw moment solution at selection.
    rounds_ : list of dict
        Per round: candidates found, held-out error, directions selected.
    refinement_ : dict
        Iterations, convergence flag, final training loss of the refinement.
    timings_ : dict
        Seconds spent per stage.
    n_passes_ : int
        Passes made over the data (or over the oracle's regenerated stream).

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

    def __init__(
        self,
        n_neurons=None,
        *,
        tensor_orders=(4,),
        n_contraction_pairs=64,
        n_subspace_directions=2,
        scales=(0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
        min_support=0.2,
        max_rounds=8,
        tol=1e-6,
        validation_fraction=0.2,
        refine=True,
        refine_method="lm",
        refine_max_iter=100,
        refine_max_samples=None,
        max_auto_neurons=10,
        chunk_size=65536,
        n_jobs=1,
        random_state=None,
        verbose=False,
    ):
        self.n_neurons = n_neurons
        self.tensor_orders = tensor_orders
        self.n_contraction_pairs = n_contraction_pairs
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
        self.max_auto_neurons = max_auto_neurons
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- public
    def fit(self, X, y):
        """Fit on data ``X`` (rows assumed drawn from N(0, I)) and targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, order="C")
        y = np.asarray(y, dtype=np.float64)
        self._check_params(X.shape[1])
        self._check_sample_count(X.shape[0], X.shape[1])
        if np.ptp(y) == 0:
            raise ValueError(f"y is constant (every value is {y[0]!r}): there is nothing to learn")
        rng = as_generator(self.random_state)
        n = X.shape[0]
        mask = np.zeros(n, dtype=bool)
        mask[rng.choice(n, size=self._n_validation(n, X.shape[1]), replace=False)] = True
        source = ArraySource(X, y, mask, check_positive_int(self.chunk_size, "chunk_size"))
        cap = self.refine_max_samples
        refine_rows = slice(None) if cap is None else slice(0, check_positive_int(cap, "refine_max_samples"))
        return self._fit_source(source, rng, lambda: (X[refine_rows], y[refine_rows]))

    def fit_oracle(self, oracle, n_samples, n_features=None):
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

        Returns
        -------
        self
        """
        if not callable(oracle):
            raise ValueError(f"oracle must be callable as oracle(X) -> y, got {type(oracle).__name__}")
        if n_features is None:
            n_features = getattr(oracle, "n_features", None)
            if n_features is None:
                raise ValueError("n_features is required when the oracle has no n_features attribute")
        d = check_positive_int(n_features, "n_features")
        n = check_positive_int(n_samples, "n_samples")
        self._check_params(d)
        self._check_sample_count(n, d)
        rng = as_generator(self.random_state)
        seed_stream, seed_refine = np.random.SeedSequence(rng.integers(2**63)).spawn(2)
        chunk = check_positive_int(self.chunk_size, "chunk_size")
        source = OracleSource(oracle, n, d, chunk, self._n_validation(n, d) / n, seed_stream)
        self.n_features_in_ = d

        def refine_data():
            m = min(n, self.refine_max_samples or 200_000)
            X = np.random.default_rng(seed_refine).standard_normal((m, d))
            y = np.concatenate([source.query(X[s:s + chunk]) for s in range(0, m, chunk)])
            return X, y

        return self._fit_source(source, rng, refine_data)

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
        X = validate_data(self, X, dtype=np.float64, reset=False, order="C")
        return self.network_.evaluate_trusted(X)

    def relu_network(self):
        """The fitted model as a :class:`narrowrelu.ReLUNetwork` (used by :func:`narrowrelu.population_mse`)."""
        check_is_fitted(self, "network_")
        return self.network_

    # ----------------------------------------------------------------- checks
    def _check_params(self, n_features):
        if self.n_neurons is not None:
            k = self.n_neurons
            if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
                raise ValueError(f"n_neurons must be an integer >= 1 or None, got {k!r}")
            if k > n_features:
                raise ValueError(f"n_neurons = {k} exceeds n_features = {n_features}; need 1 <= n_neurons <= n_features")
        orders = tuple(self.tensor_orders)
        if not orders or any(m not in (4, 6) for m in orders):
            raise ValueError(f"tensor_orders must be a non-empty subset of (4, 6), got {self.tensor_orders!r}")
        if not (isinstance(self.tol, numbers.Real) and 0.0 <= self.tol < 1.0):
            raise ValueError(f"tol must be a number in [0, 1), got {self.tol!r}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must lie in (0, 1), got {self.validation_fraction!r}")
        if self.refine_method not in REFINERS:
            raise ValueError(f"refine_method must be one of {sorted(REFINERS)}, got {self.refine_method!r}")
        if not 0.0 < self.min_support <= 1.0:
            raise ValueError(f"min_support must lie in (0, 1], got {self.min_support!r}")
        if not self.scales or any(not (0 < s < 1) for s in self.scales):
            raise ValueError(f"scales must be a non-empty sequence of numbers in (0, 1), got {self.scales!r}")
        for name in ("n_contraction_pairs", "n_subspace_directions", "max_rounds", "refine_max_iter", "n_jobs", "max_auto_neurons"):
            check_positive_int(getattr(self, name), name)

    def _max_neurons(self, n_features):
        return self.n_neurons if self.n_neurons is not None else 1

    def required_samples(self, n_features):
        """The fewest rows a fit accepts: :math:`d + k + 2`, so that the training rows cover the
        :math:`d + k + 1` coefficients of the output regression and one row is held out.

        This makes the fit well posed, not accurate: the order-4 moments need many more rows
        (thousands at d = 20) before the neurons stand out from the noise."""
        k = self._max_neurons(n_features)
        return n_features + k + 2

    def _check_sample_count(self, n, d):
        need = self.required_samples(d)
        if n < need:
            raise ValueError(
                f"too few samples for the moments asked: n_samples = {n} with n_features = {d} and "
                f"n_neurons = {self._max_neurons(d)}; at least {need} are needed"
            )

    def _n_validation(self, n, d):
        most = n - (d + self._max_neurons(d) + 1)
        return int(min(max(1, round(self.validation_fraction * n)), most))

    # ----------------------------------------------------------------- fitting
    def _fit_source(self, source, rng, refine_data):
        # BLAS on one thread throughout: parallelism comes from n_jobs over row blocks, whose
        # results are summed in a fixed order, so the model does not depend on the thread count.
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit_source_pinned(source, rng, refine_data)

    def _fit_source_pinned(self, source, rng, refine_data):
        self.timings_ = {}
        total_passes = self._estimate_passes()
        with tqdm(total=total_passes * source.n_chunks(), disable=not self.verbose, desc="moment passes", unit="chunk") as progress:
            with self._timed("linear"):
                lin = linear_stage(source, progress)
            self.n_features_in_ = source.n_features
            if lin.var_y <= 1e-14 * max(lin.mean_y**2, 1e-300):
                raise ValueError("y is constant on the training rows: there is nothing to learn")
            self._warn_if_not_gaussian(lin)
            base = ReLUNetwork(np.empty((0, source.n_features)), np.empty(0), lin.mean_yx, lin.mean_y)
            with self._timed("second_moment"):
                M2 = second_moment_stage(source, base, self._block_rows(source.n_features), self.n_jobs, progress)
            cache = self._projection_cache(source)
            if self.n_neurons is not None:
                result = self._fit_k(source, cache, rng, base, M2, self.n_neurons, progress, lin.var_y)
            else:
                result = self._fit_auto_k(source, cache, rng, base, M2, progress, lin.var_y)
            del cache
            with self._timed("final_regression"):
                self._store(result, source, progress)
            progress.total = progress.n
            progress.refresh()
        self.n_passes_ = source.n_passes
        if self.refine:
            with self._timed("refinement"):
                X, y = refine_data()
                refined = REFINERS[self.refine_method](
                    self.raw_network_, X, y, max_iter=self.refine_max_iter, n_jobs=self.n_jobs
                )
            self.network_ = refined.network
            self.refinement_ = {
                "method": self.refine_method,
                "n_iter": refined.n_iter,
                "converged": refined.converged,
                "train_mse": refined.loss,
                "n_samples": X.shape[0],
            }
        else:
            self.network_ = self.raw_network_
            self.refinement_ = None
        return self

    @staticmethod
    def _block_rows(n_features):
        return 1 << max(8, int(np.log2(BLOCK_BYTES / (8 * n_features))))

    def _projection_cache(self, source):
        """Buffers for the projections of a round: every row for in-memory data (at most half
        the data's size), and at most ``ORACLE_CACHE_BYTES`` in oracle mode."""
        d = source.n_features
        k = self._max_neurons(d) if self.n_neurons is not None else min(d, self.max_auto_neurons)
        width = k + min(d, 2 * k + 2)
        if isinstance(source, ArraySource):
            budget = max(ORACLE_CACHE_BYTES, source.X.nbytes // 2)
        else:
            budget = ORACLE_CACHE_BYTES
        rows = max(1, budget // ProjectionCache.bytes_per_row(width))
        share = source.n_validation / source.n_samples
        n_val = min(source.n_validation, max(1, int(round(rows * share))))
        return ProjectionCache(min(source.n_train, rows - n_val), n_val, width)

    def _estimate_passes(self):
        """Passes at most: the linear one, M_2, one in the first round and two in each later
        one, and a final regression; with ``n_neurons=None``, the rounds for each k tried."""
        per_k = 2 * self.max_rounds - 1
        return 3 + per_k * (1 if self.n_neurons is not None else self.max_auto_neurons)

    def _fit_auto_k(self, source, cache, rng, base, M2, progress, var_y):
        best = None
        k_max = min(source.n_features, self.max_auto_neurons)
        for k in range(1, k_max + 1):
            result = self._fit_k(source, cache, rng, base, M2, k, progress, var_y)
            if best is not None and result["fit"].validation_mse >= best["fit"].validation_mse * (1 - 1e-3):
                break
            best = result
        return best

    def _fit_k(self, source, cache, rng, base, M2, k, progress, var_y):
        d = source.n_features
        P = top_eigenvectors(M2, k)
        current = base
        sign_free = None
        best = None
        rounds = []
        orders = tuple(sorted(set(self.tensor_orders)))
        min_count = max(2, int(np.ceil(self.min_support * self.n_contraction_pairs)))
        for rnd in range(self.max_rounds):
            extra = np.empty((0, d))
            if sign_free is not None:
                coords = rng.standard_normal((self.n_subspace_directions, k))
                coords /= np.linalg.norm(coords, axis=1, keepdims=True)
                with self._timed("products"):
                    M2P, CP = products_stage(source, current, P, coords, self._block_rows(source.n_features), self.n_jobs, progress)
                with self._timed("candidates"):
                    intercept, linear, directions, weights = sign_free
                    lifted = lift_directions(directions, P, M2P)
                    extra = directions[novel_rows(lifted, directions)]
                    current = sign_free_to_relu_network(intercept, linear, lifted, weights)
                    P, _ = stacked_subspace([M2P] + list(CP), k)
            L = linear_basis(P, np.vstack([base.linear_weights[None], current.linear_weights[None], current.hidden_weights]))
            with self._timed("projections"):
                layout = projection_stage(source, current, extra, L, k, orders, cache, self._block_rows(source.n_features), self.n_jobs, progress)
            with self._timed("candidates"):
                centres, support, n_cloud = candidate_stage(layout.tensors, self.n_contraction_pairs, self.scales, min_count, rng)
                stored = np.vstack([current.hidden_weights, extra])
                new_coords = centres[novel_rows(stored, centres @ P.T)]
                pool = np.vstack([stored, new_coords @ P.T])
            with self._timed("regression"):
                n_base = 1 + L.shape[1]
                sub_train = regression_stage(cache, layout, new_coords, max_rows=SELECTION_ROWS, parts=("train",))[0]
                sub_validation = regression_stage(cache, layout, new_coords, max_rows=SELECTION_ROWS // 4, parts=("validation",))[0]
                chosen = np.sort(SparseDirectionRegression(sub_train, sub_validation, n_base).select(k).selected)
                train, validation = regression_stage(cache, layout, new_coords, columns=chosen)
                fit = SparseDirectionRegression(train, validation, n_base).fit_subset(np.arange(chosen.size))
            rounds.append(
                {
                    "round": rnd,
                    "n_candidates_raw": int(n_cloud),
                    "n_centres": int(centres.shape[0]),
                    "pool_size": int(pool.shape[0]),
                    "n_selected": int(chosen.size),
                    "validation_mse": float(fit.validation_mse),
                }
            )
            if best is not None and fit.validation_mse >= best["fit"].validation_mse * (1 - ROUND_IMPROVEMENT):
                break
            best = {"fit": fit, "selected": pool[chosen], "pool": pool, "L": L, "P": P, "train": train, "validation": validation, "k": k,
                    "complete": cache.complete}
            if fit.validation_mse <= self.tol * var_y:
                break
            sign_free = (fit.intercept, L @ fit.linear, pool[chosen], fit.weights)
            current = sign_free_to_relu_network(*sign_free)
        best["rounds"] = rounds
        return best

    def _store(self, result, source, progress):
        """The final weights of the selected model, from all rows (training and held-out)."""
        fit, pool, L, selected = result["fit"], result["pool"], result["L"], result["selected"]
        n_base = 1 + L.shape[1]
        if result["complete"]:
            everything = result["train"] + result["validation"]
        else:
            everything = final_regression_stage(source, L, selected, progress)
        base, mu = SparseDirectionRegression(everything, everything, n_base).coefficients(np.arange(selected.shape[0]))
        self.raw_network_ = sign_free_to_relu_network(base[0], L @ base[1:], selected, mu)
        self.n_neurons_ = result["k"]
        self.candidates_ = pool
        self.subspace_ = result["P"]
        self.validation_mse_ = float(fit.validation_mse)
        self.rounds_ = result["rounds"]

    def _warn_if_not_gaussian(self, lin):
        n = max(lin.n_checked, 1)
        mean_off = np.max(np.abs(lin.x_mean))
        var_off = np.max(np.abs(lin.x_var - 1.0))
        if mean_off > 0.2 + 5.0 / np.sqrt(n) or var_off > 0.3 + 5.0 * np.sqrt(2.0 / n):
            warnings.warn(
                f"the inputs do not look standard Gaussian (largest column |mean| {mean_off:.3g}, largest "
                f"|variance - 1| {var_off:.3g}); the method assumes x ~ N(0, I): standardise or whiten X first",
                NonGaussianInputWarning,
                stacklevel=3,
            )

    @contextmanager
    def _timed(self, stage):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings_[stage] = self.timings_.get(stage, 0.0) + time.perf_counter() - start
