"""The moment learner's round loop, as a plain function over a source.

:func:`fit_moments` runs the whole moment pipeline on a :mod:`~narrowrelu.learner.sources` source:

1. the constant and linear part, :math:`E[y]` and :math:`E[yx]` (one pass);
2. :math:`M_2 = E[r(xx^T - I)]` of the residual of the linear part, whose top eigenvectors are
   the first estimate :math:`P` of the neurons' span, and the residual's mean square (one pass;
   two more, a least-squares fit of the linear part and :math:`M_2` again, where
   :math:`d\\,\\mathrm{Var}(y)/n`, the mean square of :math:`E[yx]`'s error along :math:`x`, is above
   ``LINEAR_ERROR_SHARE`` of it);
3. rounds. A round after the first makes one products pass (:math:`M_2P` and :math:`C_jP` of
   the current model's residual, the model's exact moments added back), lifts the current
   directions with :math:`M_2P` and takes the next :math:`P` from the stacked products; every
   round makes one projection pass (the projections of every row on
   :math:`[c_1..c_e, L]`, stored, and the :math:`k`-dimensional Hermite tensors of the residual);
   candidates come from Jennrich pairs and multiscale clustering, and the output regression with
   sparse selection runs on the stored projections;
4. rounds stop when the held-out MSE falls by less than a fraction of itself (``ROUND_IMPROVEMENT``,
   or, when a refinement follows, ``handoff`` times the parametric rate :math:`p/n` if that is
   larger) or below ``tol * Var(y)``, and, when a refinement follows, before a round whose
   forecast gain (:func:`forecast_gain`, from the last two rounds') is below that fraction: the
   round would be run only to be dropped, or kept for a gain that the refinement brings in a
   pass or two; with ``n_neurons=None`` the loop runs for
   ``k = k0, k0 + 1, ...``, :math:`k_0` the number of eigenvalues of :math:`M_2` beyond the noise
   edge (:func:`~narrowrelu.learner.refine.surplus.visible_neurons`, at least 1), the first
   :math:`k` fitted as a fit told it; with ``growth_follows`` and ``k_search="growth"`` (the
   default call) that first :math:`k` is the only one, the refinement's growth adding the
   neurons beyond it (the edge from the mean square of the residual of the linear
   part, measured in the same pass: ``Var(y) - |E[yx]|^2`` is a difference of two sampling
   estimates that a large linear part swamps), each :math:`k+1` started from the model of :math:`k` and its
   span widened by the top eigenvector of the residual's :math:`M_2` (no new pass), and keeps :math:`k+1` while a paired
   test on the held-out rows says it fits better (:func:`paired_improvement`: the mean of
   :math:`r_{k,i}^2 - r_{k+1,i}^2` over its standard error above ``AUTO_K_Z``), stopping at the
   first ``k`` fitted to within ``max(tol, AUTO_K_FITTED)`` times that mean square (a larger one
   would only split a neuron) and at the limit :func:`auto_neuron_limit` (``d``, the rows, and
   ``max_auto_neurons`` when given); with ``growth_follows`` (a refinement follows, whose growth
   tries one neuron more in any case) :math:`k+1` is tried only while the residual of the model
   of :math:`k` shows a neuron missing
   (:func:`~narrowrelu.learner.refine.surplus.residual_structure`: an eigenvalue of its second
   moment beyond the noise edge, one pass over at most its first rows; where the moment model's
   does, that of the model the paired test compares :math:`k+1` with, ``selection_model``'s
   ``incumbent``, made then and kept for the test), as its rounds and the two models of its test
   would only ask that growth's question at the cost of a fit; a told
   ``n_neurons`` at least twice the neurons :math:`M_2` shows is searched up to the same way
   (``search_below_told``, on at least ``TOLD_SEARCH_ROWS_PER_PARAMETER`` rows per parameter of
   one neuron more; from :math:`k = 1` without ``search_from_visible``, as the biased learner
   searches);
5. the final output weights of the selected model from all rows (training and held-out).

The result is a :class:`MomentFit`; :class:`~narrowrelu.MomentReLURegressor` is a thin class
around this function.
"""

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..moments.model import network_hermite_contraction
from ..network import ReLUNetwork, n_parameters
from .candidates import round_candidates
from .directions import in_span_coordinates, nearest_rows, novel_rows
from .output.gram_from_cache import cached_gram_statistics
from .output.sparse_regression import SparseDirectionRegression, sign_free_to_relu_network
from .passes import (
    block_rows,
    final_regression_pass,
    least_squares_linear_pass,
    linear_pass,
    products_pass,
    projection_pass,
    second_moment_pass,
)
from .refine.split_neurons import free_neuron
from .refine.surplus import merge_surplus, residual_structure, visible_neurons
from .settings import auto_neuron_limit
from .sources.projection_cache import ProjectionCache
from .span import complete_outside_span, lift_directions, linear_basis, stacked_subspace, top_eigenvectors

# memory for the projections kept between the stages of a round, in oracle mode
ORACLE_CACHE_BYTES = 2**28
# training rows (and a quarter as many held-out ones) on which the output regression chooses
# its directions; the chosen model is then fitted and scored on every row
SELECTION_ROWS = 2**18
# with n_neurons=None, k + 1 neurons are kept when the mean over the held-out rows of
# r_k^2 - r_{k+1}^2 is above this many standard errors: a one-sided false-alarm rate of
# 1 - Phi(3) = 0.13 % per k tried when k + 1 fits no better
AUTO_K_Z = 3.0
# and only when that mean is above this share of the held-out rows' variance of y (|mean| below it
# scores z = 0): there both models fit to rounding (noiseless data), and the statistic is rounding
# noise (a biased d = 6, k = 2 teacher fitted exactly by k = 2, 3 and 4 scored z = -0.44 at one
# commit and 5.5 at the next, whose sums differ in the last bits, and went on to k = 4)
PAIRED_TIE_LEVEL = 1e-12
# with surplus_handoff, rounds stop after SURPLUS_ROUNDS in a row whose model has at least
# SURPLUS_NEURONS surplus neurons (merge_surplus merges or drops that many): a model of the right
# k can show one (a close pair, or a cluster, comes out of a round as one direction twice)
SURPLUS_ROUNDS = 2
SURPLUS_NEURONS = 2
# a told n_neurons is searched up to (search_below_told) only where M2 shows at most this share of
# it: neurons M2 does not show are then more likely surplus than a close pair's or a cluster's
# (those hide one or two of k: the told fit would search, at 1.5-3.5x its time, to the same fit)
TOLD_SEARCH_VISIBLE_SHARE = 0.5
# and where the rows number at least this many per parameter of one neuron more than M2 shows: on
# fewer the paired test can miss a neuron the told k has (a close pair's second at noise 0.3, z
# about 2), and the told k is fitted directly, as it asks
TOLD_SEARCH_ROWS_PER_PARAMETER = 100
# the linear part of the residual the fit starts from is refitted by least squares when the error
# of E[yx] as its estimate, of mean square about d Var(y) / n, is above this share of the residual's
# mean square (a large linear part beside the neurons; at most 0.14 on the sweeps' teachers, where
# E[yx] is the neurons' own linear part, at n = 1 000, d = 20)
LINEAR_ERROR_SHARE = 0.25
# with n_neurons=None, no larger k is tried once the held-out MSE is within this fraction of the
# mean square y leaves after its linear part (what the neurons explain; Var(y) would let a large
# linear part hide neurons): a neuron that explained less would be below the resolution the
# method aims at
AUTO_K_FITTED = 1e-4
# why a search that ran to its limit stopped there, when it tried more than one k
STILL_IMPROVING = "each added neuron still fitted the held-out rows significantly better"


@dataclass
class RoundResult:
    """One round: the size of the candidate cloud, its cluster centres, the regression's pool,
    the directions selected and the held-out MSE of the round's model."""

    round: int
    n_candidates_raw: int
    n_centres: int
    pool_size: int
    n_selected: int
    validation_mse: float


@dataclass
class _Selection:
    """The best round of one :math:`k`: its fit, pool, bases and Gram statistics."""

    fit: object
    selected: np.ndarray
    pool: np.ndarray
    L: np.ndarray
    P: np.ndarray
    train: object
    validation: object
    k: int
    complete: bool
    rounds: list = field(default_factory=list)
    first_round: object = None
    later_round: bool = False


@dataclass
class MomentFit:
    """What :func:`fit_moments` returns.

    Attributes
    ----------
    network : ReLUNetwork
        The raw moment solution, output weights fitted on all rows.
    n_neurons : int
        The :math:`k` used (resolved when ``n_neurons=None``).
    candidates : ndarray of shape (n_candidates, n_features)
        The selected round's candidate pool (unit rows).
    subspace : ndarray of shape (n_features, k)
        The span estimate :math:`P` of the selected round.
    validation_mse : float
        Held-out MSE of the selected model at selection.
    rounds : list of RoundResult
        The rounds of the selected :math:`k`.
    first_round_network : ReLUNetwork or None
        The model of the first round (output weights from the training rows): a second start
        for the refinement, see :class:`~narrowrelu.MomentReLURegressor` (``refine_starts``);
        ``None`` when the first round is the one selected.
    linear : LinearStatistics
        The first pass's statistics: row counts, E[y], Var(y), E[yx] on the training rows.
    n_passes : int
        Passes made over the source.
    timings : dict
        Seconds per stage.
    k_search : list of dict
        With ``n_neurons=None``, or a search below a told ``n_neurons``: per :math:`k` tried, its
        held-out MSE and the paired test's statistic against the :math:`k` before (``z``); empty
        otherwise.
    limit_reached : bool
        With ``n_neurons=None``: the search stopped at :func:`auto_neuron_limit` while the last
        :math:`k` still improved significantly, or started there with more neurons visible in
        :math:`M_2`.
    limit_why : str
        Which of the two, in words (empty when ``limit_reached`` is false).
    search_stop : dict
        Where a search stopped before its last :math:`k`, and why: ``{"k": k kept, "why": ...}``
        (the paired test of :math:`k+1`, or :math:`k` already fitting the held-out rows); empty
        otherwise.
    """

    network: ReLUNetwork
    n_neurons: int
    candidates: np.ndarray
    subspace: np.ndarray
    validation_mse: float
    rounds: list
    first_round_network: ReLUNetwork
    linear: object
    n_passes: int
    timings: dict
    k_search: list = field(default_factory=list)
    limit_reached: bool = False
    search_stop: dict = field(default_factory=dict)
    limit_why: str = ""


class _Timer:
    def __init__(self, timings):
        self.timings = timings

    @contextmanager
    def __call__(self, stage):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start


def projection_cache_for(source, max_neurons):
    """Buffers for the projections of a round: every row for data (at most half the data's size,
    ``source.data_bytes``), and at most ``ORACLE_CACHE_BYTES`` in oracle mode, made by the
    source where its rows live."""
    d = source.n_features
    width = max_neurons + min(d, 2 * max_neurons + 2)
    budget = max(ORACLE_CACHE_BYTES, source.data_bytes // 2)
    rows = max(1, budget // ProjectionCache.bytes_per_row(width))
    share = source.n_validation / source.n_samples
    n_val = min(source.n_validation, max(1, int(round(rows * share))))
    return source.projection_cache(min(source.n_train, rows - n_val), n_val, width)


def fit_moments(source, settings, rng, progress=None, selection_model=None):
    """Run the moment pipeline on ``source`` (see the module docstring).

    Parameters
    ----------
    source : Source
        Replayable row blocks with their held-out masks (:class:`~narrowrelu.learner.sources.Source`).
    settings : MomentSettings
        Validated parameters.
    rng : numpy.random.Generator
        Draws the contraction directions.
    progress : tqdm or None
        Ticked once per chunk of every pass.
    selection_model : callable or None
        In a search for :math:`k`, ``selection_model(network, source, progress, incumbent=False,
        rows_neurons=None)`` is the model of each :math:`k`'s moment solution that the paired test
        compares (fitted on the training rows only; ``incumbent=True`` for the :math:`k` kept,
        which :math:`k+1` is compared with; both on the rows of a model of ``rows_neurons``
        :math:`= k+1` neurons); ``None``: the moment solution itself. The biased learner passes its refined
        biased start (:func:`narrowrelu.learner.biases.biased_selection_model`).

    Returns
    -------
    MomentFit
    """
    timings = {}
    timed = _Timer(timings)
    d = source.n_features
    chunk = block_rows(d)
    with timed("linear"):
        lin = linear_pass(source, progress)
    if lin.var_y <= 1e-14 * max(lin.mean_y**2, 1e-300):
        raise ValueError("y is constant on the training rows: there is nothing to learn")
    base = ReLUNetwork(np.empty((0, d)), np.empty(0), lin.mean_yx, lin.mean_y)
    with timed("second_moment"):
        M2, linear_residual = second_moment_pass(source, base, chunk, settings.n_jobs, progress, mean_square=True)
    if d * lin.var_y > LINEAR_ERROR_SHARE * lin.n_train * linear_residual:
        # E[yx]'s own error leaves (E[yx] - w).x in the residual, noise in M2 and in the rounds' tensors
        with timed("linear"):
            intercept, weights = least_squares_linear_pass(source, progress)
        base = ReLUNetwork(np.empty((0, d)), np.empty(0), weights, intercept)
        with timed("second_moment"):
            M2, linear_residual = second_moment_pass(source, base, chunk, settings.n_jobs, progress, mean_square=True)
    counts = settings.neuron_counts(d, source.n_samples)
    visible = 0
    told_search = settings.n_neurons is not None and settings.search_below_told
    if (settings.search_from_visible and settings.n_neurons is None) or told_search:
        visible = visible_neurons(M2, np.sqrt(linear_residual), lin.n_train)
        if settings.search_from_visible:
            counts = [k for k in counts if k >= min(max(1, visible), counts[-1])]
        if told_search and (
                visible > TOLD_SEARCH_VISIBLE_SHARE * settings.n_neurons
                or source.n_samples < TOLD_SEARCH_ROWS_PER_PARAMETER * n_parameters(visible + 1, d)):
            counts = [settings.n_neurons]
    if settings.n_neurons is None and settings.growth_follows and settings.search_from_visible \
            and settings.k_search == "growth":
        # the refinement's growth adds the neurons beyond those M2 shows, one Gauss-Newton
        # refinement each from screened births and splits: less than the moment fit, its refined
        # selection model and the paired test that each k + 1 of the search costs
        counts = counts[:1]
    cache = projection_cache_for(source, max(counts))
    best = best_model = None
    model_of = selection_model or (lambda network, *_, **__: network)
    search = []
    limit_reached = False
    limit_why = ""
    stop = {}
    fitted = max(settings.tol, AUTO_K_FITTED)
    for k in counts:
        if best is not None and settings.growth_follows:
            with timed("k_search"):
                network = _selection_network(best)
                structure = residual_structure(network, source)
                if structure.significant and selection_model is not None:
                    # at few rows per parameter the raw model's own error stands above the edge: the
                    # model the paired test would compare k + 1 with is asked too (and kept for it)
                    best_model = model_of(network, source, progress, incumbent=True, rows_neurons=k)
                    structure = residual_structure(best_model, source)
            if not structure.significant:
                stop = {"k": best.k, "why": (f"the second moment of its residual shows no neuron beyond the noise "
                                             f"level (top |eigenvalue| {structure.eigenvalue:.3g}, edge "
                                             f"{structure.level:.3g}); the refinement tries one more")}
                break
        if best is None:
            result = _fit_k(source, cache, rng, base, M2, k, settings, timed, progress, lin.var_y)
        else:
            start, P = _widened_start(best, M2)
            result = _fit_k(source, cache, rng, base, M2, k, settings, timed, progress, lin.var_y, start, P)
        entry = {"k": k, "validation_mse": float(result.fit.validation_mse), "z": None}
        search.append(entry)
        if best is not None:
            with timed("k_search"):
                best_model = best_model or model_of(_selection_network(best), source, progress, incumbent=True,
                                                    rows_neurons=k)
                model = model_of(_selection_network(result), source, progress, rows_neurons=k)
                entry["z"] = paired_improvement(source, best_model, model, progress)
            if not entry["z"] > AUTO_K_Z:
                stop = {"k": best.k, "why": (f"k = {k} fitted the held-out rows no better (paired z = "
                                             f"{entry['z']:.2f}, at most {AUTO_K_Z:g})")}
                break
            best_model = None
        best = result
        if best.fit.validation_mse <= fitted * linear_residual:
            # this k already fits the held-out rows: a larger one would only split a neuron
            stop = {"k": best.k, "why": (f"it fits the held-out rows to within {fitted:g} of the mean square y "
                                         "leaves after its linear part")}
            break
    else:
        limit_reached = settings.n_neurons is None and (len(search) > 1 or visible > best.k)
        if limit_reached:
            limit_why = (STILL_IMPROVING if len(search) > 1 else
                         f"the second moment of the linear residual shows {visible} neurons beyond its noise level")
    del cache
    with timed("final_regression"):
        network = _final_network(best, source, progress)
    return MomentFit(
        network=network,
        n_neurons=best.k,
        candidates=best.pool,
        subspace=best.P,
        validation_mse=float(best.fit.validation_mse),
        rounds=best.rounds,
        first_round_network=best.first_round if best.later_round else None,
        linear=lin,
        n_passes=source.n_passes,
        timings=timings,
        k_search=search if settings.n_neurons is None or counts[0] < settings.n_neurons else [],
        limit_reached=limit_reached,
        limit_why=limit_why,
        search_stop=stop if best.k < counts[-1] else {},
    )


def _selection_network(selection):
    """The model of a :class:`_Selection`, output weights from the training rows."""
    fit = selection.fit
    return sign_free_to_relu_network(fit.intercept, selection.L @ fit.linear, selection.selected, fit.weights)


def _widened_start(selection, M2):
    """The start of :math:`k+1` from the selection of :math:`k`: its model, and its span
    :math:`P` widened by the top eigenvector (largest :math:`|\\mu|`) of the residual's second
    moment :math:`M_2 - a_2\\sum_j\\lambda_ju_ju_j^T` outside :math:`P` (the model's exact moment:
    no pass)."""
    network = _selection_network(selection)
    d = network.n_features
    residual = M2 - network_hermite_contraction(network, np.zeros((1, d)), 2)[0]
    P = selection.P
    Q = np.eye(d) - P @ P.T
    vals, vecs = np.linalg.eigh(Q @ residual @ Q)
    e = Q @ vecs[:, int(np.argmax(np.abs(vals)))]
    e /= np.linalg.norm(e)
    return network, np.column_stack([P, e])


class _PairedSums:
    def __init__(self):
        self.total = 0.0
        self.squares = 0.0
        self.rows = 0
        self.sum_y = 0.0
        self.sum_y2 = 0.0

    def merge(self, other):
        self.total += other.total
        self.squares += other.squares
        self.rows += other.rows
        self.sum_y += other.sum_y
        self.sum_y2 += other.sum_y2
        return self


def paired_improvement(source, smaller, larger, progress=None):
    """The paired test of ``larger`` against ``smaller`` on the held-out rows: with
    :math:`D_i = (y_i - g_{\\text{smaller}}(x_i))^2 - (y_i - g_{\\text{larger}}(x_i))^2`, the
    statistic :math:`\\bar D / (s_D/\\sqrt m)` over the :math:`m` held-out rows (approximately
    standard normal when the larger model fits no better in expectation; positive when it fits
    better), or 0 when :math:`|\\bar D|` is at most ``PAIRED_TIE_LEVEL`` times the held-out rows'
    variance of :math:`y` (both models fit to rounding). One pass (each model evaluated on the
    held-out rows only)."""

    def chunk(acc, X, y, held):
        if not np.any(held):
            return
        Xh = np.ascontiguousarray(X[held], dtype=np.float64)
        yh = np.asarray(y, dtype=np.float64).reshape(-1)[held]
        D = (yh - smaller.evaluate_trusted(Xh)) ** 2 - (yh - larger.evaluate_trusted(Xh)) ** 2
        acc.total += float(D.sum())
        acc.squares += float(D @ D)
        acc.rows += D.size
        acc.sum_y += float(yh.sum())
        acc.sum_y2 += float(yh @ yh)

    acc = source.fold(_PairedSums(), chunk, progress)
    m = acc.rows
    if m < 2:
        return 0.0
    mean = acc.total / m
    if abs(mean) <= PAIRED_TIE_LEVEL * max(acc.sum_y2 / m - (acc.sum_y / m) ** 2, 0.0):
        return 0.0
    var = max(acc.squares / m - mean * mean, 0.0) * m / (m - 1)
    if var == 0.0:
        return 0.0 if mean == 0.0 else float(np.sign(mean) * np.inf)
    return float(mean / np.sqrt(var / m))


def _fit_k(source, cache, rng, base, M2, k, settings, timed, progress, var_y, start=None, P=None):
    d = source.n_features
    chunk = block_rows(d)
    P = top_eigenvectors(M2, k) if P is None else P
    current = base if start is None else start
    sign_free = None
    best = None
    rounds = []
    orders = tuple(sorted(set(settings.tensor_orders)))
    min_count = max(2, int(np.ceil(settings.min_support * settings.n_contraction_pairs)))
    spare = True
    surplus_rounds = 0
    previous_gain = None
    for rnd in range(settings.max_rounds):
        extra = np.empty((0, d))
        if sign_free is not None:
            coords = rng.standard_normal((settings.n_subspace_directions, k))
            coords /= np.linalg.norm(coords, axis=1, keepdims=True)
            with timed("products"):
                M2P, CP = products_pass(source, current, P, coords, chunk, settings.n_jobs, progress)
            with timed("candidates"):
                intercept, linear, directions, weights = sign_free
                lifted = lift_directions(directions, P, M2P)
                extra = directions[novel_rows(lifted, directions)]
                current = sign_free_to_relu_network(intercept, linear, lifted, weights)
                P, _ = stacked_subspace([M2P] + list(CP), k)
        L = linear_basis(P, np.vstack([base.linear_weights[None], current.linear_weights[None],
                                       current.hidden_weights]))
        with timed("projections"):
            layout = projection_pass(source, current, extra, L, k, orders, cache, chunk, settings.n_jobs, progress)
        with timed("candidates"):
            stored = np.vstack([current.hidden_weights, extra])
            found = round_candidates(layout.tensors, layout.second, settings.candidate_generators,
                                    settings.n_contraction_pairs, settings.scales, min_count, rng,
                                    in_span_coordinates(stored, P))
            centres, n_cloud = found.centres, found.n_cloud
            polished = complete_outside_span(found.polished, P, current.hidden_weights)
            fresh = np.vstack([polished, centres @ P.T])
            new_coords = fresh[novel_rows(stored, fresh)] @ L
            pool = np.vstack([stored, new_coords @ L.T])
        with timed("regression"):
            n_base = 1 + L.shape[1]
            sub_train = cached_gram_statistics(cache, layout, new_coords, max_rows=SELECTION_ROWS, parts=("train",))[0]
            sub_validation = cached_gram_statistics(cache, layout, new_coords, max_rows=SELECTION_ROWS // 4,
                                                    parts=("validation",))[0]
            starts = [nearest_rows(pool, polished)] if polished.shape[0] else []
            chosen = np.sort(SparseDirectionRegression(sub_train, sub_validation,
                                                       n_base).select(k, starts=starts).selected)
            train, validation = cached_gram_statistics(cache, layout, new_coords, columns=chosen)
            fit = SparseDirectionRegression(train, validation, n_base).fit_subset(np.arange(chosen.size))
        rounds.append(RoundResult(rnd, int(n_cloud), int(centres.shape[0]), int(pool.shape[0]), int(chosen.size),
                                  float(fit.validation_mse)))
        if best is not None and fit.validation_mse >= best.fit.validation_mse * (1 - needed):
            break
        gain = None if best is None else 1.0 - fit.validation_mse / best.fit.validation_mse
        best = _Selection(fit, pool[chosen], pool, L, P, train, validation, k, cache.complete,
                          first_round=best.first_round if best is not None else None)
        if rnd == 0:
            best.first_round = sign_free_to_relu_network(fit.intercept, L @ fit.linear, pool[chosen], fit.weights)
        else:
            best.later_round = True
        if fit.validation_mse <= settings.tol * var_y:
            break
        sign_free = (fit.intercept, L @ fit.linear, pool[chosen], fit.weights)
        current = sign_free_to_relu_network(*sign_free)
        spare = free_neuron(current) is not None
        surplus = settings.surplus_handoff and len(merge_surplus(current)[1]) >= SURPLUS_NEURONS
        surplus_rounds = surplus_rounds + 1 if surplus else 0
        if surplus_rounds >= SURPLUS_ROUNDS:
            break
        # the gain the next round must bring, for the model it starts from
        needed = settings.round_gain_needed(k, d, source.n_train, source.n_samples, widened=start is not None,
                                            spare=spare)
        if settings.handoff > 0 and forecast_gain(gain, previous_gain) < needed:
            break
        previous_gain = gain
    best.rounds = rounds
    return best


def forecast_gain(gain, previous_gain):
    """The relative fall of the held-out MSE the next round is expected to bring, from the last two
    rounds' (``gain`` after ``previous_gain``): :math:`g_r^2/g_{r-1}`, the next term of a geometric
    sequence, as the rounds' gains fall once a model is in its basin (random teachers, d = 20,
    n = 10⁴, noise 0.1: k = 2, gains 0.45, 0.020, then none; k = 6, 0.47, 0.054, 0.010, 0.002,
    the forecasts after the second and third 0.006 and 0.0019 against a hand-over gain of
    0.0046). ``inf`` until two rounds have gained (nothing to extrapolate from)."""
    if gain is None or previous_gain is None or not previous_gain > 0:
        return np.inf
    return gain * gain / previous_gain


def _final_network(best, source, progress):
    """The selected model's output weights from all rows (training and held-out)."""
    n_base = 1 + best.L.shape[1]
    if best.complete:
        everything = best.train + best.validation
    else:
        everything = final_regression_pass(source, best.L, best.selected, progress)
    coef, mu = SparseDirectionRegression(everything, everything, n_base).coefficients(np.arange(best.selected.shape[0]))
    return sign_free_to_relu_network(coef[0], best.L @ coef[1:], best.selected, mu)
