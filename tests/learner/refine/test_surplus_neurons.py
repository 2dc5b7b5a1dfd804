"""Surplus neurons (an over-specified n_neurons), the residual test for missing ones (an
under-specified n_neurons), and the screening of refinement tries."""

import warnings

import numpy as np
import pytest

import narrowrelu.learner.rounds as rounds_module
from narrowrelu import MomentReLURegressor, ReLUNetwork, Teacher, population_mse, population_variance
from narrowrelu.learner.refine import refine_network
from narrowrelu.learner.refine.gauss_newton import ABANDONED, gauss_newton
from narrowrelu.learner.refine.surplus import (
    NeuronCountWarning,
    grow_neurons,
    merge_surplus,
    noise_gain,
    prune_surplus,
    residual_structure,
    visible_neurons,
)
from narrowrelu.learner.sources import ArraySource
from narrowrelu.teacher import make_teacher


def _source(X, y):
    return ArraySource(X, y, np.zeros(X.shape[0], dtype=bool), 4096)


def _unit(v):
    return v / np.linalg.norm(v)


def test_merge_surplus_applies_the_exact_identities():
    rng = np.random.default_rng(0)
    d = 6
    e, f, g = (_unit(rng.standard_normal(d)) for _ in range(3))
    # a doubled neuron (same direction, two norms), an opposite pair, and a lone neuron
    U = np.vstack([2.0 * e, 0.5 * e, f, -3.0 * f, g])
    lam = np.array([0.7, -0.2, 1.1, 0.4, -0.9])
    net = ReLUNetwork(U, lam, rng.standard_normal(d), 0.3)
    merged, actions = merge_surplus(net)
    assert merged.n_neurons == 3
    assert len(actions) == 2
    assert population_mse(merged, net) <= 1e-24 * population_variance(net)


def test_merge_surplus_turns_a_cancelling_opposite_pair_into_a_linear_term_and_drops_it():
    rng = np.random.default_rng(1)
    d = 5
    e, g = _unit(rng.standard_normal(d)), _unit(rng.standard_normal(d))
    net = ReLUNetwork(np.vstack([e, -e, g]), np.array([0.8, -0.8, 1.0]), np.zeros(d), 0.0)
    merged, actions = merge_surplus(net)
    assert merged.n_neurons == 1
    assert np.allclose(merged.linear_weights, 0.8 * e)  # 0.8 relu(t) - 0.8 relu(-t) = 0.8 t
    assert population_mse(merged, net) <= 1e-24


def test_merge_surplus_leaves_a_close_pair_and_returns_the_same_object():
    teacher = Teacher.close_pair(n_features=10, n_neurons=4, random_state=0)
    net = teacher.relu_network()
    merged, actions = merge_surplus(net)
    assert merged is net and actions == []


@pytest.mark.parametrize("d, m", [(5, 2000), (12, 3000)])
def test_residual_structure_false_alarm_rate_under_pure_noise(d, m):
    # 200 pure-noise residuals (fixed seed): the edge test's false-alarm rate is below 0.2 %
    # (Tracy-Widom margin of 4 units); 200 draws at a true rate 0.002 give 0 alarms with
    # probability 0.67 and at most 2 with probability 0.999, so more than 2 fails the claim
    rng = np.random.default_rng(d)
    empty = ReLUNetwork(np.zeros((0, d)), np.zeros(0), np.zeros(d), 0.0)
    alarms = 0
    for _ in range(200):
        X = rng.standard_normal((m, d))
        y = 3.0 * rng.standard_normal(m)
        alarms += residual_structure(empty, _source(X, y)).significant
    assert alarms <= 2


def test_residual_structure_finds_a_missing_neuron():
    teacher = Teacher.random(n_features=10, n_neurons=3, random_state=2)
    X, y = teacher.sample(20_000, random_state=3)
    y = y + 0.1 * np.sqrt(population_variance(teacher)) * np.random.default_rng(4).standard_normal(y.size)
    net = teacher.relu_network()
    two = ReLUNetwork(net.hidden_weights[:2], net.output_weights[:2], net.linear_weights, net.intercept)
    missing = residual_structure(two, _source(X, y))
    assert missing.significant
    missing_unit = _unit(net.hidden_weights[2])
    assert abs(missing.direction @ missing_unit) > 0.95
    assert not residual_structure(net, _source(X, y)).significant


def _linear_residual_moment(X, y):
    """E_m[r(xx^T - I)] of the residual of the least-squares affine fit, its RMS and m."""
    A = np.column_stack([np.ones(len(y)), X])
    r = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    M2 = (X * r[:, None]).T @ X / len(y) - r.mean() * np.eye(X.shape[1])
    return M2, float(np.sqrt(np.mean(r**2))), len(y)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_visible_neurons_counts_the_independent_neurons_of_a_target(k):
    """Random teachers (directions independent, |lambda| >= 0.5) on 20 000 rows: one eigenvalue of the
    linear residual's M2 per neuron beyond the noise edge, no more."""
    teacher = Teacher.random(n_features=10, n_neurons=k, random_state=k)
    X, y = teacher.sample(20_000, random_state=k + 1)
    y = y + 0.1 * np.sqrt(population_variance(teacher)) * np.random.default_rng(k).standard_normal(y.size)
    assert visible_neurons(*_linear_residual_moment(X, y)) == k


def test_visible_neurons_sees_none_in_pure_noise_and_a_cancelling_pair_only_above_the_noise():
    """Pure noise: none beyond the edge (the edge test's false-alarm rate, 200 draws as above). A
    close pair at cosine 0.99 with weights +1 and -1 leaves a_2 (uu^T - vv^T), eigenvalues
    +-a_2 sin(theta) = +-0.056: both seen under noise 0.01 (edge 0.004), neither under noise 2
    (edge 0.12), where the count is below the neurons."""
    rng = np.random.default_rng(5)
    alarms = sum(visible_neurons(*_linear_residual_moment(rng.standard_normal((3000, 8)), rng.standard_normal(3000)))
                 for _ in range(200))
    assert alarms <= 2
    u = np.eye(8)[0]
    v = 0.99 * u + np.sqrt(1 - 0.99**2) * np.eye(8)[1]
    pair = ReLUNetwork(np.vstack([u, v]), np.array([1.0, -1.0]), np.zeros(8), 0.0)
    X = rng.standard_normal((20_000, 8))
    noise = rng.standard_normal(20_000)
    assert visible_neurons(*_linear_residual_moment(X, pair.evaluate_trusted(X) + 0.01 * noise)) == 2
    assert visible_neurons(*_linear_residual_moment(X, pair.evaluate_trusted(X) + 2.0 * noise)) == 0


def _perturbed_teacher_problem(seed):
    teacher = Teacher.random(n_features=8, n_neurons=2, random_state=seed)
    X, y = teacher.sample(5000, random_state=seed + 1)
    rng = np.random.default_rng(seed + 2)
    y = y + 0.1 * rng.standard_normal(y.size)
    net = teacher.relu_network()
    start = ReLUNetwork(net.hidden_weights + 0.2 * rng.standard_normal((2, 8)), net.output_weights,
                        net.linear_weights, net.intercept)
    return start, _source(X, y)


def test_gauss_newton_abandons_a_try_that_cannot_beat_the_level():
    # the noise variance is 0.01: no fit gets below about 0.0099, so a level of 0.005 is hopeless
    start, source = _perturbed_teacher_problem(5)
    free = gauss_newton(start, source)
    assert free.converged and free.loss > 0.009
    screened = gauss_newton(start, source, abandon_above=0.005)
    assert screened.stop_reason == ABANDONED
    assert not screened.converged
    assert screened.n_passes < free.n_passes
    # a level the try beats at once is never reached: the same iterates as without one
    same = gauss_newton(start, source, abandon_above=10 * free.losses[0])
    assert same.loss == free.loss


def test_refine_network_gives_an_abandoned_try_no_dense_fallback():
    start, source = _perturbed_teacher_problem(8)
    result = refine_network("gn", start, source, abandon_above=0.005)
    assert getattr(result, "stop_reason", None) == ABANDONED


def _prune_problem(weights, extra, seed=3, n=8000, d=6):
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((len(weights), d))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    teacher = ReLUNetwork(U, np.asarray(weights, dtype=float), np.zeros(d), 0.0)
    X = rng.standard_normal((n, d))
    y = teacher.evaluate_trusted(X) + 0.1 * rng.standard_normal(n)
    source = _source(X, y)
    start = teacher if extra is None else ReLUNetwork(np.vstack([U, extra]), np.append(weights, 0.02),
                                                      np.zeros(d), 0.0)

    def refine(net, level=None):
        return refine_network("gn", net, source, abandon_above=level, dense_fallback=False)

    return refine, refine(start), source


def test_prune_surplus_removes_a_neuron_fitted_to_noise():
    refine, result, source = _prune_problem([1.0, -0.8], extra=_unit(np.arange(1.0, 7.0)))
    assert result.network.n_neurons == 3
    pruned, actions = prune_surplus(refine, result, source)
    assert pruned.network.n_neurons == 2 and len(actions) == 1
    # the neuron fitted to noise lowered the sum of squares by less than the BIC penalty
    n = source.n_samples
    assert 0 <= (pruned.loss - result.loss) * n <= noise_gain(result.loss, 7, n) * n / (n - 28)


def test_prune_surplus_keeps_a_small_neuron_the_target_has():
    # contribution 0.25 against 1: a wasted neuron by its weight, but without it the sum of squares
    # rises by about 0.25^2 E[relu^2] n = 250, the BIC penalty of its 7 parameters is 0.01 * 7 * ln 8000 = 0.6
    refine, result, source = _prune_problem([1.0, -1.0, 0.25], extra=None)
    pruned, actions = prune_surplus(refine, result, source)
    assert pruned is result and actions == []


@pytest.fixture(scope="module")
def three_neurons():
    teacher = Teacher.random(n_features=8, n_neurons=3, random_state=11)
    X, y = teacher.sample(20_000, random_state=12)
    return teacher, X, y


@pytest.mark.parametrize("search", [True, False])
def test_over_specified_noiseless_fit_recovers_the_teacher_with_the_true_k(three_neurons, search, monkeypatch):
    """n_neurons = 6 for 3 neurons, on 20 000 rows (d = 8): M2 shows 3, and the search below the told k
    fits k = 3 to rounding level and stops there, never fitting a spare neuron. On rows too few for
    that search (forced here), the rounds run at k = 6 and the refinement merges or prunes the
    surplus: the same teacher either way."""
    if not search:
        monkeypatch.setattr(rounds_module, "TOLD_SEARCH_ROWS_PER_PARAMETER", 10**9)
    teacher, X, y = three_neurons
    with pytest.warns(NeuronCountWarning, match="surplus"):
        model = MomentReLURegressor(n_neurons=6, random_state=0).fit(X, y)
    assert model.n_neurons_ == 3
    assert model.network_.n_neurons == 3
    assert len(model.surplus_) == 3
    assert population_mse(model, teacher) / population_variance(teacher) < 1e-12
    assert not model.underfit_
    if search:
        assert [entry["k"] for entry in model.k_search_] == [3]
        assert max(r.n_selected for r in model.rounds_) == 3
        assert all(line.startswith("not fitted: the search for k below n_neurons stopped at k = 3: it fits")
                   for line in model.surplus_)
    else:
        assert model.k_search_ == [] and model.raw_network_.n_neurons == 6


def test_over_specified_noisy_fit_keeps_the_true_k_and_the_right_k_accuracy():
    # d = 10, k = 3, n = 2e4, noise 0.1 std f, n_neurons = 6 (the recipe of benchmarks/auto_k.py, seed 13):
    # the refinement used to keep the unmerged first-round start, 6 neurons fitted partly to noise
    # (relative MSE 5.9e-5 against 1.8e-5 told k = 3) while the warning reported 3 merged
    teacher = make_teacher("random", 10, 3, 13)
    X, y = teacher.sample(20_000, random_state=1013)
    y = y + 0.1 * np.sqrt(population_variance(teacher)) * np.random.default_rng([13, 77]).standard_normal(y.size)
    right = MomentReLURegressor(n_neurons=3, random_state=13).fit(X, y)
    with pytest.warns(NeuronCountWarning, match=r"n_neurons = 6: 3 neuron\(s\) were surplus and the model keeps 3"):
        over = MomentReLURegressor(n_neurons=6, random_state=13).fit(X, y)
    assert over.n_neurons_ == 3 and over.network_.n_neurons == 3 and len(over.surplus_) == 3
    assert over.refinement_["grown"] == 0
    # the search below the told k stopped at 3 (its residual shows no neuron missing; the growth
    # tried one more and kept none), and says so
    assert [entry["k"] for entry in over.k_search_] == [3]
    assert all("stopped at k = 3: the second moment of its residual shows no neuron" in line
               for line in over.surplus_)
    # both fits reach the parametric rate sigma^2 p / n, p = 44; one neuron fitted to noise would add
    # d + 1 = 11 parameters, 1.25 times the error: the over-specified fit must stay below that
    assert population_mse(over, teacher) <= 1.25 * population_mse(right, teacher)


@pytest.mark.parametrize("share", [rounds_module.TOLD_SEARCH_VISIBLE_SHARE, 1.0])
def test_a_told_k_that_m2_nearly_shows_is_fitted_directly(share, monkeypatch):
    """A close pair teacher told its k = 6 (d = 10, n = 20 000, 260 rows per parameter): M2 shows 5
    of its neurons, more than half, so the told k is fitted directly, with no search; were any
    share enough (1.0), the fit would search from k = 5."""
    monkeypatch.setattr(rounds_module, "TOLD_SEARCH_VISIBLE_SHARE", share)
    teacher = make_teacher("close_pair", 10, 6, 0)
    X, y = teacher.with_noise(0.1 * np.sqrt(population_variance(teacher))).sample(20_000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MomentReLURegressor(n_neurons=6, random_state=0).fit(X, y)
    if share < 1.0:
        assert model.k_search_ == []
    else:
        assert model.k_search_[0]["k"] == 5
    assert model.n_neurons_ == 6


def test_right_k_fit_gives_no_neuron_count_warning(three_neurons):
    teacher, X, y = three_neurons
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuronCountWarning)
        model = MomentReLURegressor(n_neurons=3, random_state=0).fit(X, y)
    assert model.n_neurons_ == 3 and model.surplus_ == [] and not model.underfit_


def test_under_specified_fit_warns_that_a_neuron_is_missing(three_neurons):
    teacher, X, y = three_neurons
    noisy = y + 0.1 * np.sqrt(population_variance(teacher)) * np.random.default_rng(13).standard_normal(y.size)
    with pytest.warns(NeuronCountWarning, match="n_neurons = 2: the residual"):
        model = MomentReLURegressor(n_neurons=2, random_state=0).fit(X, noisy)
    assert model.underfit_
    assert model.residual_structure_.eigenvalue > model.residual_structure_.edge


def test_a_right_k_cluster_fit_puts_back_a_neuron_its_merge_took_out():
    """A cell of the d = 20 sweep (clusters, k = 6, n = 3 898, seed 1): the moment solution holds two
    units at cosine 0.9988, which the merge makes one; the refinement then tries a neuron back even
    though the residual test sees none missing, and keeps it on the BIC gain. The fit keeps the 6
    neurons asked and reaches the sweep's target, relative MSE below 1e-3 (the parametric rate is
    3.8e-4 of Var f here); without the try it keeps 5 at 1.9e-3."""
    from narrowrelu.bench.sample_complexity.sweep import DATA_SEED_OFFSET

    seed = 1
    teacher = make_teacher("clusters", 20, 6, seed)
    var = population_variance(teacher)
    X, y = teacher.with_noise(0.1 * np.sqrt(var)).sample(3898, random_state=DATA_SEED_OFFSET + seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MomentReLURegressor(n_neurons=6, random_state=seed).fit(X, y)
    # M2 shows 3 neurons, and 3 898 rows are below TOLD_SEARCH_ROWS_PER_PARAMETER per parameter of
    # 4 (p = 4 * 21 + 21): the told k is fitted directly
    assert model.k_search_ == []
    assert any("merged" in line for line in model.surplus_)
    assert model.n_neurons_ == 6 and model.refinement_["grown"] >= 1
    assert population_mse(model, teacher) / var < 1e-3


def test_grow_screens_its_tries_on_fewer_rows_and_tests_the_gain_on_every_row():
    """A neuron left out of a refined fit is found back with its tries screened on the first 4 000
    rows only: their loss to beat is the model's loss there less the gain per row asked on all
    rows, and the try kept is refined and tested on all 40 000."""
    rng = np.random.default_rng(11)
    d = 6
    U = np.array([_unit(v) for v in rng.standard_normal((3, d))])
    teacher = ReLUNetwork(U, np.array([1.0, -0.8, 0.9]), np.zeros(d), 0.0)
    X = rng.standard_normal((40_000, d))
    y = teacher.evaluate_trusted(X) + 0.1 * rng.standard_normal(40_000)
    source = _source(X, y)
    full_levels, screen_levels, screen_rows = [], [], []
    screen_source = _source(X[:4000], y[:4000])

    def refine(net, level=None, iters=None):
        full_levels.append(level)
        return refine_network("gn", net, source, iters or 100, abandon_above=level, dense_fallback=iters is None)

    def screen_refine(net, level=None, iters=None):
        screen_levels.append(level)
        screen_rows.append(screen_source.n_samples)
        return refine_network("gn", net, screen_source, iters or 100, abandon_above=level, dense_fallback=False)

    def screen_loss(net):
        r = y[:4000] - net.evaluate_trusted(X[:4000])
        return float(r @ r) / 4000

    two = refine(ReLUNetwork(U[:2], teacher.output_weights[:2], np.zeros(d), 0.0))
    full_levels.clear()
    grown, count, _ = grow_neurons(refine, two, source, 3, probe=True, screening=(screen_refine, screen_loss))
    assert count == 1 and grown.network.n_neurons == 3
    assert population_mse(grown.network, teacher) < 1e-3 * population_variance(teacher)
    assert screen_levels and set(screen_rows) == {4000}
    # one refinement on every row, the try kept, with the level of all rows
    assert len(full_levels) == 1
    gain_per_row = two.loss - full_levels[0]
    assert gain_per_row > 0
    assert screen_levels[0] == pytest.approx(screen_loss(two.network) - gain_per_row, rel=1e-12)


def test_grow_screening_is_on_a_subsample_only_for_large_sources():
    from narrowrelu.learner.refine import GROW_SCREEN_ROWS_PER_PARAMETER, GROW_SCREEN_SHARE, _grow_screening

    rng = np.random.default_rng(3)
    d = 4
    network = ReLUNetwork(rng.standard_normal((2, d)), np.array([1.0, -1.0]), np.zeros(d), 0.0)
    rows = GROW_SCREEN_ROWS_PER_PARAMETER * (3 * (d + 1) + d + 1)
    m = GROW_SCREEN_SHARE * rows - 1
    small = _source(rng.standard_normal((m, d)), rng.standard_normal(m))
    assert _grow_screening("gn", small, network, 100, 1) is None
    n = GROW_SCREEN_SHARE * rows
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    held = np.zeros(n, dtype=bool)
    held[::5] = True
    screen_refine, screen_loss = _grow_screening("gn", ArraySource(X, y, held, 1000), network, 100, 1)
    result = screen_refine(network, None, 1)
    train = ~held
    r = y[train][:rows] - network.evaluate_trusted(X[train][:rows])
    assert screen_loss(network) == pytest.approx(float(r @ r) / rows, rel=1e-12)
    assert result.losses[0] == pytest.approx(screen_loss(network), rel=1e-12)
