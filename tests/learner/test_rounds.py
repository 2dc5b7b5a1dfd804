"""The round loop of the moment learner (narrowrelu.learner.rounds.fit_moments), as a plain
function over a source: what it returns, how many passes it makes, its invariance to ``n_jobs``,
and the oracle-mode cache budget."""

import numpy as np
import pytest

import narrowrelu.learner.rounds as rounds
from _helpers import relative_mse
from narrowrelu import MomentReLURegressor, ReLUNetwork, Teacher, population_mse, population_variance
from narrowrelu.learner.sources.projection_cache import ProjectionCache
from narrowrelu.learner.passes import BLOCK_BYTES, block_rows
from narrowrelu.learner.rounds import MomentFit, RoundResult, fit_moments
from narrowrelu.learner.settings import MomentSettings
from narrowrelu.learner.sources import ArraySource

SETTINGS = MomentSettings(n_neurons=2, n_contraction_pairs=24, max_rounds=4)


@pytest.fixture(scope="module")
def small_teacher_data():
    teacher = Teacher.random(n_features=6, n_neurons=2, random_state=3)
    X, y = teacher.sample(12_000, random_state=4)
    mask = np.random.default_rng(5).random(X.shape[0]) < 0.2
    return teacher, X, y, mask


def fit(data, settings=SETTINGS, chunk=4096, seed=0):
    _, X, y, mask = data
    source = ArraySource(X, y, mask, chunk)
    return fit_moments(source, settings, np.random.default_rng(seed)), source


def test_fit_moments_returns_a_moment_fit_that_recovers_the_teacher(small_teacher_data):
    teacher, X, _, _ = small_teacher_data
    result, source = fit(small_teacher_data)
    assert isinstance(result, MomentFit) and isinstance(result.network, ReLUNetwork)
    assert result.n_neurons == 2 and result.network.n_neurons <= 2
    # noiseless data: the raw moment solution is already close (the refinement is not part of it)
    assert relative_mse(result.network, teacher) < 1e-4
    assert result.validation_mse < 1e-4 * np.var(small_teacher_data[2])
    # the rounds, numbered in order, each with a candidate cloud and a selection of at most k
    assert result.rounds and all(isinstance(r, RoundResult) for r in result.rounds)
    assert [r.round for r in result.rounds] == list(range(len(result.rounds)))
    assert len(result.rounds) <= SETTINGS.max_rounds
    for r in result.rounds:
        assert r.n_candidates_raw <= SETTINGS.n_contraction_pairs * 2
        assert 0 < r.n_selected <= 2 and r.n_selected <= r.pool_size
        assert np.isfinite(r.validation_mse)
    # linear + M2 passes, one in the first round and two in each later one; in-memory data
    # fits the cache, so there is no final regression pass
    assert result.n_passes == source.n_passes == 2 + 2 * len(result.rounds) - 1
    assert result.n_passes <= SETTINGS.max_passes()
    np.testing.assert_allclose(np.linalg.norm(result.candidates, axis=1), 1.0, rtol=1e-10)
    P = result.subspace
    assert P.shape == (6, 2)
    np.testing.assert_allclose(P.T @ P, np.eye(2), atol=1e-12)
    assert {"linear", "second_moment", "projections", "candidates", "regression",
            "final_regression"} <= set(result.timings)
    assert result.linear.n_train == source.n_train


def test_fit_moments_bit_identical_across_n_jobs(small_teacher_data):
    one, _ = fit(small_teacher_data, chunk=3000)
    two, _ = fit(small_teacher_data, MomentSettings(n_neurons=2, n_contraction_pairs=24, max_rounds=4, n_jobs=2),
                 chunk=3000)
    for name in ("hidden_weights", "output_weights", "linear_weights"):
        assert np.array_equal(getattr(one.network, name), getattr(two.network, name))
    assert one.network.intercept == two.network.intercept
    assert np.array_equal(one.candidates, two.candidates) and np.array_equal(one.subspace, two.subspace)
    assert one.rounds == two.rounds and one.n_passes == two.n_passes


def test_fit_moments_with_n_neurons_none_resolves_k(small_teacher_data):
    settings = MomentSettings(n_neurons=None, n_contraction_pairs=24, max_rounds=3, max_auto_neurons=4)
    assert settings.neuron_counts(6) == [1, 2, 3, 4] and settings.neuron_counts(2) == [1, 2]
    assert MomentSettings(n_neurons=3).neuron_counts(6) == [3]
    # a told k above the neurons M2 shows is searched up to (fit_moments starts at those shown)
    told = MomentSettings(n_neurons=3, search_below_told=True)
    assert told.neuron_counts(6) == [1, 2, 3]
    assert told.max_passes() > MomentSettings(n_neurons=3).max_passes()
    result, _ = fit(small_teacher_data, settings)
    assert result.n_neurons == 2
    assert relative_mse(result.network, small_teacher_data[0]) < 1e-4


def test_fit_moments_refuses_a_constant_target():
    X = np.random.default_rng(0).standard_normal((500, 3))
    source = ArraySource(X, np.full(500, 2.0), np.arange(500) % 5 == 0, 128)
    with pytest.raises(ValueError, match="constant"):
        fit_moments(source, SETTINGS, np.random.default_rng(0))


def test_block_rows_is_a_power_of_two_within_the_budget():
    for d in (1, 7, 64, 5000):
        rows = block_rows(d)
        assert rows & (rows - 1) == 0 and rows >= 256
        assert rows * 8 * d <= BLOCK_BYTES or rows == 256


# ----------------------------------------------------------------------------- end to end (oracle)
def passes_of_rounds(model):
    """linear + M2, one pass in the first round and two in each later one."""
    return 2 + 2 * len(model.rounds_) - 1


def test_fit_oracle_with_a_tiny_cache_still_recovers(monkeypatch):
    teacher = Teacher.random(n_features=6, n_neurons=2, random_state=3)
    params = dict(n_neurons=2, random_state=0, refine=False)
    default = MomentReLURegressor(**params).fit_oracle(teacher, 20_000)
    assert default.n_passes_ == passes_of_rounds(default)  # the cache held every row: no final pass
    monkeypatch.setattr(rounds, "ORACLE_CACHE_BYTES", 8 * 40 * 300)
    tiny = MomentReLURegressor(**params).fit_oracle(teacher, 20_000)
    assert tiny.n_passes_ == passes_of_rounds(tiny) + 1  # the final regression pass
    assert len(tiny.rounds_) == len(default.rounds_)
    assert tiny.n_passes_ == default.n_passes_ + 1
    assert population_mse(tiny, teacher) < 1e-3 * population_variance(teacher)
    assert population_mse(default, teacher) < 1e-3 * population_variance(teacher)


def test_cache_budget_matches_its_buffers():
    """The estimator sizes the oracle-mode cache so that its buffers take the budget, not more."""
    width = 17
    rows = rounds.ORACLE_CACHE_BYTES // ProjectionCache.bytes_per_row(width)
    cache = ProjectionCache(rows - rows // 5, rows // 5, width)
    used = sum(a.nbytes for a in cache._flat.values()) + sum(a.nbytes for a in cache._y.values())
    assert rounds.ORACLE_CACHE_BYTES - ProjectionCache.bytes_per_row(width) < used <= rounds.ORACLE_CACHE_BYTES


def handover_data():
    teacher = Teacher.random(n_features=10, n_neurons=3, random_state=1)
    return teacher.with_noise(0.1 * np.sqrt(population_variance(teacher))).sample(6000, random_state=2)


def round_mses(X, y, **params):
    """The held-out MSE of each round of a fit told k = 3."""
    return [r.validation_mse for r in MomentReLURegressor(n_neurons=3, random_state=0, **params).fit(X, y).rounds_]


def settled_gain(n_rows):
    """The gain the hand-over asks of a round of a model of 3 neurons on 10 features without a spare neuron."""
    from narrowrelu.learner.estimator import REFINE_HANDOFF
    from narrowrelu.network import n_parameters

    return REFINE_HANDOFF * n_parameters(3, 10) / (n_rows - round(0.2 * n_rows))


def test_rounds_hand_over_below_a_large_sample_once_a_model_without_a_spare_neuron_gains_little(monkeypatch):
    """With a refinement to follow, the rounds of a model with no wasted or doubled neuron stop at
    a gain below ``handoff`` p/n (MomentSettings.settled_improvement) from 50 rows per parameter
    up (136 here), not only beyond 500; a raw
    fit runs on to ROUND_IMPROVEMENT. Both draw the same contractions, so the refined fit's rounds
    are the first of the raw fit's. (The forecast of the next round's gain, which can stop the
    rounds one earlier, is switched off here: the next test is about it.)"""
    from narrowrelu.network import n_parameters

    monkeypatch.setattr(rounds, "forecast_gain", lambda gain, previous: np.inf)
    X, y = handover_data()
    assert 50 * n_parameters(3, 10) < X.shape[0] < 500 * n_parameters(3, 10)
    raw_mse = round_mses(X, y, refine=False)
    mse = round_mses(X, y)
    assert len(mse) < len(raw_mse)
    assert mse == raw_mse[:len(mse)]
    assert mse[-1] >= mse[-2] * (1 - settled_gain(X.shape[0]))
    assert all(b < a * (1 - 1e-5) for a, b in zip(mse[:-2], mse[1:-1]))


def test_rounds_stop_before_a_round_forecast_to_gain_less_than_the_hand_over(monkeypatch):
    """With a refinement to follow, the rounds stop after a kept round when the next one's forecast
    gain, :math:`g_r^2/g_{r-1}` from the last two rounds' relative falls of the held-out MSE, is
    below the gain the hand-over asks: the rounds run are the first of those the same fit makes
    without the forecast (the same contractions), the last of them was kept, and it is the first
    whose forecast falls short."""
    X, y = handover_data()
    mse = round_mses(X, y)
    with monkeypatch.context() as patch:
        patch.setattr(rounds, "forecast_gain", lambda gain, previous: np.inf)
        full = round_mses(X, y)
    assert len(mse) < len(full)
    assert mse == full[:len(mse)]
    settled = settled_gain(X.shape[0])
    gains = [1 - b / a for a, b in zip(mse[:-1], mse[1:])]
    assert gains[-1] > settled  # the last round run was kept
    assert rounds.forecast_gain(gains[-1], gains[-2]) < settled
    assert all(rounds.forecast_gain(g, g0) >= settled for g0, g in zip(gains[:-2], gains[1:-1]))


def test_forecast_gain_is_the_next_term_of_a_geometric_sequence():
    assert rounds.forecast_gain(0.02, 0.4) == pytest.approx(1e-3)
    assert rounds.forecast_gain(0.1, 0.1) == pytest.approx(0.1)
    for gain, previous in ((None, 0.1), (0.1, None), (0.1, 0.0), (0.1, -0.01)):
        assert rounds.forecast_gain(gain, previous) == np.inf
