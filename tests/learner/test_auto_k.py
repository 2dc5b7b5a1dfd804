"""Auto k: the paired held-out test, the search it stops, and the warning at an explicit cap."""

import warnings

import numpy as np
import pytest

from narrowrelu import MomentReLURegressor, NonGaussianInputWarning, ReLUNetwork, Teacher, population_variance
from narrowrelu.learner.refine.surplus import NeuronCountWarning
from narrowrelu.learner.rounds import AUTO_K_Z, auto_neuron_limit, paired_improvement
from narrowrelu.learner.sources import ArraySource


def _held_out_source(teacher, n, sigma, seed):
    X, y = teacher.sample(n, random_state=seed)
    y = y + sigma * np.random.default_rng([seed, 1]).standard_normal(n)
    held = np.zeros(n, dtype=bool)
    held[::5] = True
    return ArraySource(X, y, held, 1024)


def test_paired_statistic_is_standard_normal_when_the_models_fit_equally_well():
    # g1 = f + c relu(e.x) and g2 = f - c relu(e.x) have the same expected squared error: the
    # statistic is then N(0, 1) up to the CLT; over 100 fixed seeds its mean is within 3 standard
    # errors (3 / sqrt(100) = 0.3) of 0, its standard deviation within 0.25 of 1, and it
    # exceeds AUTO_K_Z = 3 (probability 0.13 % each) at most twice
    teacher = Teacher.random(n_features=6, n_neurons=2, random_state=0)
    net = teacher.relu_network()
    e = np.eye(6)[0]
    plus = ReLUNetwork(np.vstack([net.hidden_weights, e]), np.r_[net.output_weights, 0.05], net.linear_weights,
                       net.intercept)
    minus = ReLUNetwork(plus.hidden_weights, np.r_[net.output_weights, -0.05], net.linear_weights, net.intercept)
    z = np.array([paired_improvement(_held_out_source(teacher, 5000, 0.3, seed), plus, minus) for seed in range(100)])
    assert abs(z.mean()) < 0.3
    assert 0.75 < z.std() < 1.25
    assert np.sum(z > AUTO_K_Z) <= 2


def test_paired_statistic_sees_a_missing_neuron():
    teacher = Teacher.random(n_features=6, n_neurons=2, random_state=1)
    net = teacher.relu_network()
    one = ReLUNetwork(net.hidden_weights[:1], net.output_weights[:1], net.linear_weights, net.intercept)
    source = _held_out_source(teacher, 5000, 0.1 * np.sqrt(population_variance(teacher)), 7)
    assert paired_improvement(source, one, net) > 10
    assert paired_improvement(source, net, one) < -10


def test_paired_statistic_is_zero_between_two_fits_to_rounding():
    # noiseless rows: the teacher's network and one whose neuron weighs 1e-13 more both fit to
    # rounding; their squared residuals differ by ~1e-26 Var y on every row, all of one sign, so
    # the raw statistic would be large (z = 13.4 here) and keep the "larger" model. Below
    # PAIRED_TIE_LEVEL of Var y the improvement counts as none
    teacher = Teacher.random(n_features=6, n_neurons=2, random_state=1)
    net = teacher.relu_network()
    nudged = ReLUNetwork(net.hidden_weights, net.output_weights * np.r_[1 + 1e-13, 1.0], net.linear_weights,
                         net.intercept)
    source = _held_out_source(teacher, 5000, 0.0, 7)
    assert paired_improvement(source, nudged, net) == 0.0
    assert paired_improvement(source, net, nudged) == 0.0
    # a real gain on the same rows still scores
    one = ReLUNetwork(net.hidden_weights[:1], net.output_weights[:1], net.linear_weights, net.intercept)
    assert paired_improvement(source, one, net) > AUTO_K_Z


def test_auto_neuron_limit_is_bounded_by_d_the_rows_and_the_cap():
    assert auto_neuron_limit(20) == 20
    assert auto_neuron_limit(20, 10_000) == 20
    assert auto_neuron_limit(20, 2_000) == (200 - 21) // 21
    assert auto_neuron_limit(20, 10_000, 4) == 4
    assert auto_neuron_limit(20, 50) == 1


@pytest.fixture(scope="module")
def three_neuron_data():
    teacher = Teacher.random(n_features=8, n_neurons=3, random_state=4)
    X, y = teacher.sample(20_000, random_state=5)
    y = y + 0.1 * np.sqrt(population_variance(teacher)) * np.random.default_rng(6).standard_normal(y.size)
    return X, y


def test_the_default_call_finds_k_and_records_the_search(three_neuron_data):
    X, y = three_neuron_data
    model = MomentReLURegressor(random_state=0).fit(X, y)
    assert model.n_neurons_ == 3
    ks = [entry["k"] for entry in model.k_search_]
    # the search starts at the neurons visible in M2 (never more than there are), goes up one
    # at a time while the paired test passes and stops at the first k + 1 that fails it
    assert 1 <= ks[0] <= 3 and ks == list(range(ks[0], ks[0] + len(ks)))
    assert model.k_search_[0]["z"] is None
    assert all(entry["z"] > AUTO_K_Z for entry in model.k_search_[1:ks.index(3) + 1])
    assert ks[-1] == 3 or model.k_search_[-1]["z"] <= AUTO_K_Z
    assert not model.underfit_


def test_an_explicit_cap_reached_while_improving_warns_naming_it(three_neuron_data):
    X, y = three_neuron_data
    with pytest.warns(NeuronCountWarning, match="max_auto_neurons = 2") as caught:
        model = MomentReLURegressor(max_auto_neurons=2, random_state=0).fit(X, y)
    assert model.n_neurons_ == 2
    assert model.underfit_
    # M2 shows the three neurons, so the search starts at the cap and tries no other k: the warning
    # says so (it said that each added neuron still fitted better, of a neuron never tried)
    assert [entry["k"] for entry in model.k_search_] == [2]
    assert any("shows 3 neurons beyond its noise level" in str(w.message) for w in caught)
    assert not any("each added neuron" in str(w.message) for w in caught)


def test_a_fit_without_k_that_stops_with_a_neuron_missing_says_so():
    """Without k, below the search's limit: a final residual that shows a neuron missing (its top
    eigenvalue beyond the noise edge) means no neuron the growth tried passed its test on these
    rows. The report warns and sets ``underfit``; it does not where the residual is below the edge,
    nor where the growth was skipped for a residual outside the model class (ModelMisfitWarning's
    case)."""
    from narrowrelu.learner.neuron_count import neuron_count_report
    from narrowrelu.learner.refine.surplus import ResidualStructure

    net = Teacher.random(n_features=8, n_neurons=2, random_state=0).relu_network()

    def summary(eigenvalue, skipped=""):
        structure = ResidualStructure(eigenvalue, 0.01, np.eye(8)[0], 0.1, 10_000, np.zeros((8, 8)))
        return {"residual": structure, "growth_skipped": skipped}

    with pytest.warns(NeuronCountWarning, match="keeps 2 neurons and its residual still carries"):
        report = neuron_count_report(net, summary(0.02), None, None, False, 8, 100_000)
    assert report.underfit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not neuron_count_report(net, summary(0.005), None, None, False, 8, 100_000).underfit
        assert not neuron_count_report(net, summary(0.02, "odd-order structure"), None, None, False, 8,
                                       100_000).underfit


def test_neuron_count_report_names_the_cap_only_when_it_stopped_the_search():
    from narrowrelu.learner.neuron_count import neuron_count_report

    net = Teacher.random(n_features=8, n_neurons=2, random_state=0).relu_network()
    with pytest.warns(NeuronCountWarning, match="max_auto_neurons = 2"):
        report = neuron_count_report(net, None, None, 2, True, 8, 100_000)
    assert report.n_neurons == 2 and report.surplus == [] and not report.underfit
    with pytest.warns(NeuronCountWarning, match="the limit of 8 neurons"):
        neuron_count_report(net, None, None, None, True, 8, 100_000)


def test_neuron_count_report_says_where_a_search_below_the_told_k_stopped():
    """n_neurons = 6 searched from k = 3: each neuron of the 6 not in the model gets a line, saying
    at which k the search stopped and why; a merge's lines come after them."""
    from narrowrelu.learner.neuron_count import neuron_count_report

    three = Teacher.random(n_features=8, n_neurons=3, random_state=0).relu_network()
    why = "k = 4 fitted the held-out rows no better (paired z = 1.25, at most 3)"
    with pytest.warns(NeuronCountWarning, match="n_neurons = 6: 3 neuron") as caught:
        report = neuron_count_report(three, None, 6, None, False, 8, 100_000, {"k": 3, "why": why})
    assert report.surplus == ["not fitted: the search for k below n_neurons stopped at k = 3: " + why] * 3
    # the warning gives a line the three share once, with their number
    message = str(caught[0].message)
    assert message.count(why) == 1 and "(3 neurons: not fitted: the search" in message
    # a search that kept 4 and a merge that took one out of them (3 kept): 2 never fitted, then the merge
    why = "k = 5 fitted the held-out rows no better (paired z = -0.50, at most 3)"
    with pytest.warns(NeuronCountWarning) as caught:
        report = neuron_count_report(three, {"surplus": ["merged a pair along one direction (cos 0.9990)"]}, 6, None,
                                     False, 8, 100_000, {"k": 4, "why": why})
    line = "not fitted: the search for k below n_neurons stopped at k = 4: " + why
    assert report.surplus == [line, line, "merged a pair along one direction (cos 0.9990)"]
    assert f"(2 neurons: {line}; merged a pair along one direction (cos 0.9990)); see surplus_" in str(
        caught[0].message)
    # a told k fitted directly has no search to report
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuronCountWarning)
        assert neuron_count_report(three, None, 3, None, False, 8, 100_000, {}).surplus == []


def test_the_search_records_where_and_why_it_stopped():
    """fit_moments' search_stop: the k kept and the paired test that stopped the search, or the
    held-out fit reached; empty when the search ran to its last k or there was none."""
    from narrowrelu.learner.rounds import fit_moments
    from narrowrelu.learner.settings import MomentSettings

    teacher = Teacher.random(n_features=6, n_neurons=2, random_state=3)
    X, y = teacher.sample(6000, random_state=3)
    held = np.random.default_rng(3).random(6000) < 0.2
    noisy = y + 0.1 * np.std(y) * np.random.default_rng(4).standard_normal(6000)
    for target, settings in ((noisy, MomentSettings(n_neurons=None, max_auto_neurons=5)),
                             (y, MomentSettings(n_neurons=None, max_auto_neurons=5, tol=1e-9))):
        fit = fit_moments(ArraySource(X, target, held, 1024), settings, np.random.default_rng(0))
        last = fit.k_search[-1]
        assert fit.search_stop["k"] == fit.n_neurons < 5
        if last["z"] is not None and not last["z"] > AUTO_K_Z:
            assert last["k"] == fit.n_neurons + 1
            assert fit.search_stop["why"] == (f"k = {last['k']} fitted the held-out rows no better (paired z = "
                                              f"{last['z']:.2f}, at most 3)")
        else:
            assert last["k"] == fit.n_neurons and "fits the held-out rows to within" in fit.search_stop["why"]
    told = fit_moments(ArraySource(X, noisy, held, 1024), MomentSettings(n_neurons=2), np.random.default_rng(0))
    assert told.search_stop == {}


def test_with_a_growth_to_follow_the_search_tries_k_plus_one_only_where_the_residual_shows_a_neuron():
    """``growth_follows`` (the default call: a refinement whose growth tries one neuron more in any
    case): once the model of k leaves no eigenvalue of its residual's second moment beyond the noise
    edge, the search stops there instead of fitting and testing k + 1, and says why. Without it the
    same data get the trial of k + 1 and its paired test (a k that leaves a neuron visible is still
    followed by k + 1: test_selection's searches, which climb under the default call)."""
    from narrowrelu.learner.refine.surplus import residual_structure
    from narrowrelu.learner.rounds import fit_moments
    from narrowrelu.learner.settings import MomentSettings

    teacher = Teacher.random(n_features=8, n_neurons=3, random_state=4)
    X, y = teacher.sample(20_000, random_state=5)
    y = y + 0.1 * np.sqrt(population_variance(teacher)) * np.random.default_rng(6).standard_normal(y.size)
    held = np.random.default_rng(7).random(y.size) < 0.2
    source = ArraySource(X, y, held, 4096)
    gated = fit_moments(source, MomentSettings(n_neurons=None, growth_follows=True, k_search="paired_test"),
                        np.random.default_rng(0))
    assert [entry["k"] for entry in gated.k_search] == [3]
    assert gated.search_stop["k"] == 3 and "shows no neuron beyond the noise level" in gated.search_stop["why"]
    assert "k_search" in gated.timings
    trial = fit_moments(source, MomentSettings(n_neurons=None), np.random.default_rng(0))
    assert [entry["k"] for entry in trial.k_search] == [3, 4] and trial.k_search[1]["z"] is not None
    # the model of 2 neurons leaves the third in its residual, the model of 3 nothing
    two = fit_moments(source, MomentSettings(n_neurons=2), np.random.default_rng(0))
    assert residual_structure(two.network, source).significant
    assert not residual_structure(gated.network, source).significant


def test_a_raw_fit_tries_k_plus_one_as_nothing_after_its_search_would(three_neuron_data):
    """The gate on the residual of k is for the default call, whose refinement tries one neuron
    more; ``refine=False`` has nothing after the search, and still fits and tests k + 1."""
    X, y = three_neuron_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refined = MomentReLURegressor(random_state=0).fit(X, y)
        raw = MomentReLURegressor(refine=False, random_state=0).fit(X, y)
    assert [entry["k"] for entry in refined.k_search_] == [3]
    assert [entry["k"] for entry in raw.k_search_] == [3, 4] and raw.n_neurons_ == 3


def test_the_default_search_fits_the_neurons_m2_shows_and_grows_the_rest():
    """A clusters teacher (d = 20, k = 6, noise 0.1 std f) at 30 rows per parameter, whose M2 shows
    fewer than its 6 neurons. ``k_search="growth"`` (the default): the moment fit of those k0 and
    nothing more, the refinement's growth adding the others, each on the BIC gain;
    ``"paired_test"``: the moment search fits and tests k0 + 1, ... and stops short (its raw k + 1
    not significantly better on the held-out rows), the growth adding the rest. Both end at 6
    neurons, the default's fit at the parametric rate sigma^2 p / n: an efficient fit's excess is
    rate x (1 +- sqrt(2 / p)), p = 147, checked at 4 standard deviations (1 + 4 sqrt(2 / 147) = 1.47)."""
    from narrowrelu import population_mse
    from narrowrelu.network import n_parameters
    from narrowrelu.teacher import make_teacher

    teacher = make_teacher("clusters", 20, 6, 100)
    p = n_parameters(6, 20)
    n = 30 * p
    X, y = teacher.sample(n, random_state=1100)
    sigma = 0.1 * np.sqrt(population_variance(teacher))
    y = y + sigma * np.random.default_rng([100, 77]).standard_normal(n)
    grown = MomentReLURegressor(random_state=100).fit(X, y)
    tested = MomentReLURegressor(random_state=100, settings={"k_search": "paired_test"}).fit(X, y)
    assert len(grown.k_search_) == 1 and len(tested.k_search_) > 1
    k0 = grown.k_search_[0]["k"]
    assert tested.k_search_[0]["k"] == k0 < 6
    assert grown.n_neurons_ == tested.n_neurons_ == 6
    assert grown.refinement_["grown"] == 6 - k0
    searched = max(entry["k"] for entry in tested.k_search_ if entry["z"] is None or entry["z"] > AUTO_K_Z)
    assert searched < 6 and tested.refinement_["grown"] == 6 - searched
    rate = sigma**2 * p / n
    assert population_mse(grown, teacher) / rate < 1 + 4 * np.sqrt(2 / p)


def test_a_search_on_non_gaussian_inputs_starts_at_one_neuron():
    # uniform x with unit variance: M2 = E[r(xx^T - I)] of three neurons has more than three
    # eigenvalues beyond the noise edge (five here), so a search started there fits surplus neurons
    teacher = Teacher.random(8, 3, random_state=6)
    X = np.random.default_rng(7).uniform(-np.sqrt(3), np.sqrt(3), (20_000, 8))
    y = teacher.relu_network().evaluate_trusted(X)
    y = y + 0.1 * np.std(y) * np.random.default_rng(8).standard_normal(y.size)
    with pytest.warns(NonGaussianInputWarning):
        model = MomentReLURegressor(random_state=0).fit(X, y)
    assert [entry["k"] for entry in model.k_search_][:3] == [1, 2, 3]
    assert model.n_neurons_ == 3


def _beside_a_linear_part(norm):
    """Three neurons (d = 20) beside a linear part of the given norm, noise 0.1 of the neurons'
    standard deviation; 30 000 rows."""
    teacher = Teacher.random(20, 3, random_state=5)
    w = np.random.default_rng(1).standard_normal(20)
    target = Teacher(teacher.hidden_weights, teacher.output_weights,
                     teacher.linear_weights + norm * w / np.linalg.norm(w), teacher.intercept,
                     noise_std=0.1 * np.sqrt(population_variance(teacher)))
    return target.sample(30_000, random_state=2)


def test_a_large_linear_part_does_not_move_where_the_search_starts():
    # the noise level of M2 is the measured RMS of the linear part's residual;
    # sqrt(Var(y) - |E[yx]|^2), a difference of two estimates of size 10^4, came out four times too
    # large here and started the search at k = 1
    X, y = _beside_a_linear_part(100.0)
    model = MomentReLURegressor(random_state=0).fit(X, y)
    assert model.k_search_[0]["k"] == 3
    assert model.n_neurons_ == 3


def test_a_large_linear_part_is_fitted_by_least_squares_before_the_rounds():
    # E[yx] misses w by sqrt(Var(y)/n) per coordinate, and the rounds' regression fits the linear
    # part only in the span of the neurons and E[yx]: from E[yx], the first round's held-out MSE
    # was 380 times the one without the linear part, and eight rounds left it 6.6 times above
    first = {}
    for norm in (0.0, 100.0):
        X, y = _beside_a_linear_part(norm)
        model = MomentReLURegressor(n_neurons=3, random_state=0).fit(X, y)
        first[norm] = model.rounds_[0].validation_mse * model.scaling_["y_scale"] ** 2
    assert first[100.0] < 1.5 * first[0.0]


def test_a_purely_linear_target_starts_the_search_at_one_neuron():
    # M2 of the least-squares residual is noise; from E[yx] (|w|^2 = 10 against noise 0.01) the
    # residual's edge was too low, and the search fitted k = d = 10 first for the refinement to
    # remove all ten
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 10))
    y = X @ rng.standard_normal(10) + 0.1 * rng.standard_normal(20_000)
    model = MomentReLURegressor(random_state=0).fit(X, y)
    assert model.k_search_[0]["k"] == 1
    assert model.n_neurons_ == 0


def test_a_raw_fit_with_surplus_neurons_says_so_and_keeps_them():
    # refine=False prunes nothing: n_neurons = 8 on three neurons kept two pairs along one direction
    # (cos 0.9995 and 0.9984) without a word; the right k gives no warning
    teacher = Teacher.random(n_features=12, n_neurons=3, random_state=3)
    X, y = teacher.with_noise(0.05).sample(30_000, random_state=2)
    with pytest.warns(NeuronCountWarning, match="n_neurons = 8: the raw fit keeps 2 neuron"):
        model = MomentReLURegressor(n_neurons=8, refine=False, random_state=0).fit(X, y)
    assert model.n_neurons_ == 8 and model.surplus_ == []
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuronCountWarning)
        MomentReLURegressor(n_neurons=3, refine=False, random_state=0).fit(X, y)
