"""The research knobs (narrowrelu.learner.settings.LearnerSettings): checked where they are
given, and each passed on to the stage that reads it (a pass-through test per knob, in
tensorly's way: the stage is wrapped, and the test asserts it received the value set)."""

import numpy as np
import pytest

import narrowrelu.learner.estimator as estimator_module
import narrowrelu.learner.rounds as rounds_module
from narrowrelu import LearnerSettings, MomentReLURegressor, Teacher
from narrowrelu.learner.settings import MomentSettings, refinement_rows
from narrowrelu.network import n_parameters

FAST = {"n_contraction_pairs": 16, "max_rounds": 2}


@pytest.fixture(scope="module")
def data():
    teacher = Teacher.random(n_features=5, n_neurons=2, random_state=0)
    return teacher.sample(6000, random_state=1)


def recorded(monkeypatch, module, name):
    """Wrap ``module.name`` so that every call's arguments are kept."""
    calls = []
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append((args, kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


# field, a value other than the default, the stage it reaches, and what that stage received
PASS_THROUGH = [
    ("tensor_orders", (4, 6), rounds_module, "projection_pass", lambda a, kw: a[5]),
    ("n_contraction_pairs", 12, rounds_module, "round_candidates", lambda a, kw: a[3]),
    ("candidate_generators", ("jennrich", "tensor_fit"), rounds_module, "round_candidates", lambda a, kw: a[2]),
    ("scales", (0.2, 0.02), rounds_module, "round_candidates", lambda a, kw: a[4]),
    ("min_support", 0.5, rounds_module, "round_candidates", lambda a, kw: a[5]),
    ("n_subspace_directions", 3, rounds_module, "products_pass", lambda a, kw: a[3].shape[0]),
    ("refine_method", "lm", estimator_module, "refine_moment_solution", lambda a, kw: a[0]),
    ("refine_starts", 1, estimator_module, "refine_moment_solution", lambda a, kw: a[4]),
    ("refine_max_iter", 7, estimator_module, "refine_moment_solution", lambda a, kw: a[5]),
    ("refine_max_samples", 4000, estimator_module, "refine_moment_solution", lambda a, kw: a[3].n_samples),
    ("shrink_linear_part", False, estimator_module, "refine_moment_solution", lambda a, kw: kw["shrink_linear"]),
    ("k_search", "paired_test", estimator_module, "fit_moments", lambda a, kw: a[1].k_search),
]


@pytest.mark.parametrize("field, value, module, stage, received", PASS_THROUGH, ids=[p[0] for p in PASS_THROUGH])
def test_each_knob_reaches_its_stage(data, monkeypatch, field, value, module, stage, received):
    X, y = data
    assert getattr(LearnerSettings(), field) != value
    calls = recorded(monkeypatch, module, stage)
    knobs = {**FAST, "max_rounds": 3, field: value}
    MomentReLURegressor(n_neurons=2, random_state=0, tol=0.0, settings=knobs).fit(X, y)
    assert calls, f"{stage} was not called"
    seen = [received(args, kwargs) for args, kwargs in calls]
    if field == "min_support":
        value = int(np.ceil(value * FAST["n_contraction_pairs"]))
    assert all(v == value for v in seen), f"{stage} received {seen} for {field}={value!r}"


def test_max_rounds_bounds_the_rounds(data):
    X, y = data
    model = MomentReLURegressor(n_neurons=2, random_state=0, tol=0.0, settings={**FAST, "max_rounds": 1}).fit(X, y)
    assert len(model.rounds_) == 1
    assert model.settings_.max_rounds == 1


def test_every_field_has_a_pass_through_test():
    covered = {p[0] for p in PASS_THROUGH} | {"max_rounds"}
    assert covered == {f for f in LearnerSettings.__dataclass_fields__}


def test_dict_and_dataclass_give_the_same_fit(data):
    X, y = data
    a = MomentReLURegressor(n_neurons=2, random_state=0, settings=FAST).fit(X, y)
    b = MomentReLURegressor(n_neurons=2, random_state=0, settings=LearnerSettings(**FAST)).fit(X, y)
    assert np.array_equal(a.network_.to_vector(), b.network_.to_vector())
    assert a.settings_ == b.settings_ == LearnerSettings(**FAST)


@pytest.mark.parametrize("bad, message", [
    ({"n_pairs": 3}, "settings has unknown field.*'n_pairs'.*the fields are tensor_orders"),
    ({"n_contraction_pairs": 0}, "settings.n_contraction_pairs must be an integer >= 1, got 0"),
    ({"candidate_generators": ("jennrich", "svd")}, "settings.candidate_generators must be a non-empty sequence"),
    ({"refine_method": "newton"}, "settings.refine_method must be one of 'gn', 'lm', 'lbfgs', got 'newton'"),
    ("fast", "settings must be a dict or a LearnerSettings or None, got 'fast'"),
])
def test_bad_settings_are_refused_at_fit(data, bad, message):
    X, y = data
    model = MomentReLURegressor(n_neurons=2, settings=bad)  # __init__ only assigns
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)


def test_the_estimator_has_at_most_12_parameters():
    assert len(MomentReLURegressor().get_params()) <= 12


def test_moment_settings_take_the_knobs_the_rounds_read():
    knobs = LearnerSettings(n_contraction_pairs=5, scales=[0.1], candidate_generators=["jennrich"])
    s = MomentSettings.from_knobs(knobs, n_neurons=3, tol=0.0, max_auto_neurons=4, n_jobs=2, handoff=0.25)
    assert (s.n_contraction_pairs, s.scales, s.candidate_generators) == (5, (0.1,), ("jennrich",))
    assert (s.n_neurons, s.tol, s.max_auto_neurons, s.n_jobs, s.handoff) == (3, 0.0, 4, 2, 0.25)


def test_refinement_rows_rule():
    assert refinement_rows("gn", 1000, None, in_memory=False) is None
    assert refinement_rows("lm", 1000, None, in_memory=True) is None
    assert refinement_rows("lm", 10**6, None, in_memory=False) == 200_000
    assert refinement_rows("gn", 1000, 300, in_memory=True) == 300
    assert refinement_rows("lbfgs", 1000, 5000, in_memory=False) == 1000


def test_parameter_count():
    assert n_parameters(3, 20) == 3 * 21 + 21


def test_the_hand_over_of_a_k_started_from_k_minus_1_counts_the_rows_per_parameter_of_k_minus_1():
    """In a search, the rounds of k stop at the hand-over where the rows number more than
    ``handoff_rows_per_parameter`` per parameter of the model they start from (k - 1)."""
    from narrowrelu.learner.settings import ROUND_IMPROVEMENT, WIDENED_ROUND_IMPROVEMENT

    d, k = 20, 4
    s = MomentSettings(n_neurons=None, handoff=0.25, handoff_rows_per_parameter=500)
    n = 500 * n_parameters(k - 1, d) + 1
    assert n <= 500 * n_parameters(k, d)
    assert s.round_improvement(k, d, n, n) == ROUND_IMPROVEMENT
    assert s.round_improvement(k, d, n, n, rows_k=k - 1) == pytest.approx(0.25 * n_parameters(k, d) / n)
    # below it, a k started from k - 1 asks a round for a larger gain than a k fitted from scratch
    assert s.round_improvement(k, d, n - 2, n - 2, rows_k=k - 1) == WIDENED_ROUND_IMPROVEMENT > ROUND_IMPROVEMENT
    assert s.round_improvement(k, d, n - 2, n - 2, rows_k=k) == ROUND_IMPROVEMENT
    assert s.round_improvement(k, d, n - 2, n - 2) == ROUND_IMPROVEMENT


def test_a_model_without_a_spare_neuron_hands_over_at_a_quarter_of_the_rate_below_a_large_sample():
    from narrowrelu.learner.settings import ROUND_IMPROVEMENT, SETTLED_ROWS_PER_PARAMETER

    d, k, n = 20, 4, 10_000
    s = MomentSettings(n_neurons=k, handoff=0.25, handoff_rows_per_parameter=500)
    assert n < 500 * n_parameters(k, d)
    assert s.round_improvement(k, d, n, n) == ROUND_IMPROVEMENT
    assert s.settled_improvement(k, d, n, n) == pytest.approx(0.25 * n_parameters(k, d) / n)
    # without a refinement to follow, or on fewer rows, the rounds run on as before
    assert MomentSettings(n_neurons=k).settled_improvement(k, d, n, n) == 0.0
    few = SETTLED_ROWS_PER_PARAMETER * n_parameters(k, d) - 1
    assert s.settled_improvement(k, d, few, few) == 0.0 < s.settled_improvement(k, d, few, few + 1)


def test_the_gain_a_round_needs_rises_to_the_hand_over_without_a_spare_neuron_and_in_a_widened_k():
    from narrowrelu.learner.settings import ROUND_IMPROVEMENT, WIDENED_ROUND_IMPROVEMENT

    d, k, n = 20, 4, 10_000
    s = MomentSettings(n_neurons=None, handoff=0.25, handoff_rows_per_parameter=500)
    settled = s.settled_improvement(k, d, n, n)
    assert settled > WIDENED_ROUND_IMPROVEMENT > ROUND_IMPROVEMENT
    assert s.round_gain_needed(k, d, n, n) == ROUND_IMPROVEMENT
    assert s.round_gain_needed(k, d, n, n, spare=False) == settled
    assert s.round_gain_needed(k, d, n, n, widened=True) == settled
    assert s.round_gain_needed(k, d, n, n, widened=True, spare=False) == settled
    # below SETTLED_ROWS_PER_PARAMETER per parameter, a widened k keeps its own threshold
    few = 1000
    assert s.round_gain_needed(k, d, few, few, widened=True) == WIDENED_ROUND_IMPROVEMENT
    assert s.round_gain_needed(k, d, few, few, spare=False) == ROUND_IMPROVEMENT
