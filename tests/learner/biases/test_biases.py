"""The biased stage end to end (narrowrelu.learner.biases): the raw biased start from exact
directions, and MomentReLURegressor(hidden_biases=True) on noiseless and noisy biased teachers."""

import warnings

import numpy as np
import pytest

from narrowrelu import MomentReLURegressor, Teacher, population_mse, population_variance
from narrowrelu.learner.biases import biased_start, fit_biased
from narrowrelu.learner.refine.surplus import NeuronCountWarning
from narrowrelu.learner.sources import ArraySource
from narrowrelu.network import ReLUNetwork, n_parameters


def biased_teacher(d, k, seed, scale=1.0):
    return Teacher.random(d, k, bias_scale=scale, random_state=seed)


def test_start_from_the_true_directions_is_close():
    """Given the teacher's directions (scaled, one flipped), the start recovers biases and weights
    to sampling error: relative MSE below 1e-3 on 1e5 noiseless rows."""
    teacher = biased_teacher(6, 3, 0)
    X, y = teacher.sample(100_000, random_state=1)
    U = teacher.hidden_weights * np.array([[2.0], [-1.0], [0.5]])
    start = biased_start(ReLUNetwork(U, np.ones(3)), ArraySource(X, y, np.zeros(len(y), bool), 8192))
    assert start.has_biases
    assert population_mse(start, teacher) / population_variance(teacher) < 1e-3


def test_refined_noiseless_teacher_is_exact():
    teacher = biased_teacher(6, 2, 1)
    X, y = teacher.sample(20_000, random_state=2)
    source = ArraySource(X, y, np.zeros(len(y), bool), 4096)
    moment = ReLUNetwork(teacher.hidden_weights + 0.05, np.ones(2))
    _, net, summary = fit_biased(moment, source, refine=True, rows=None)
    assert population_mse(net, teacher) / population_variance(teacher) < 1e-12
    assert summary["method"] == "lm" and summary["converged"]
    assert summary["train_mse"] < summary["start_losses"]["biased moment solution"]


@pytest.mark.parametrize("seed", [0, 1])
def test_estimator_learns_a_noiseless_biased_teacher(seed):
    teacher = biased_teacher(8, 2, seed)
    X, y = teacher.sample(30_000, random_state=seed + 5)
    model = MomentReLURegressor(n_neurons=2, hidden_biases=True, random_state=0).fit(X, y)
    assert model.network_.has_biases and model.raw_network_.has_biases
    assert population_mse(model.network_, teacher) / population_variance(teacher) < 1e-10
    np.testing.assert_allclose(model.predict(X[:50]), teacher(X[:50]), atol=1e-4 * np.std(y))


def test_estimator_at_the_parametric_rate_with_noise():
    """Noise 0.1 std f: the refined excess within 1 + 5 sqrt(2/p) of sigma^2 p/n (the excess of an
    efficient fit is sigma^2/n times a chi-square with p degrees of freedom: relative sd sqrt(2/p),
    here 5 standard deviations)."""
    d, k, n = 8, 2, 40_000
    teacher = biased_teacher(d, k, 3)
    sigma = 0.1 * np.sqrt(population_variance(teacher))
    X, y = teacher.with_noise(sigma).sample(n, random_state=4)
    model = MomentReLURegressor(n_neurons=k, hidden_biases=True, random_state=0).fit(X, y)
    p = n_parameters(k, d, biased=True)
    excess = population_mse(model.network_, teacher) / (sigma**2 * p / n)
    assert excess < 1 + 5 * np.sqrt(2 / p)


def test_bias_free_fit_of_a_biased_teacher_is_much_worse():
    """The stage matters: without hidden_biases the same data fit at least 100 times worse."""
    teacher = biased_teacher(8, 2, 0)
    X, y = teacher.sample(30_000, random_state=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        free = MomentReLURegressor(n_neurons=2, random_state=0).fit(X, y)
    biased = MomentReLURegressor(n_neurons=2, hidden_biases=True, random_state=0).fit(X, y)
    assert population_mse(free.network_, teacher) > 100 * population_mse(biased.network_, teacher)


def test_without_refinement_the_raw_network_is_returned():
    teacher = biased_teacher(6, 2, 2)
    X, y = teacher.sample(20_000, random_state=6)
    model = MomentReLURegressor(n_neurons=2, hidden_biases=True, refine=False, random_state=0).fit(X, y)
    assert model.refinement_ is None
    assert model.network_ is model.raw_network_ or model.network_ == model.raw_network_
    assert model.network_.has_biases


def test_fit_oracle_learns_biases():
    """Oracle mode: the biased stage's passes over the regenerated stream, the refinement on a
    fresh draw held in memory."""
    teacher = biased_teacher(6, 2, 4)
    model = MomentReLURegressor(n_neurons=2, hidden_biases=True, random_state=0, chunk_size=5000)
    model.fit_oracle(teacher, n_samples=30_000)
    assert model.refinement_["method"] == "lm"
    # the same summary keys as a fit without biases (odd orders are in this model: no growth stop)
    assert model.refinement_["growth_skipped"] == "" and model.refinement_["grown"] == 0
    # the linear part shrunk by James-Stein, with the information matrix of the biased fit
    shrinkage = model.refinement_["linear_shrinkage"]
    assert shrinkage["skipped"] == "" and 0.0 <= shrinkage["factor"] <= 1.0
    assert population_mse(model.network_, teacher) / population_variance(teacher) < 1e-10


def test_auto_k_with_biases_finds_k():
    teacher = biased_teacher(8, 3, 6)
    sigma = 0.1 * np.sqrt(population_variance(teacher))
    X, y = teacher.with_noise(sigma).sample(40_000, random_state=7)
    model = MomentReLURegressor(hidden_biases=True, random_state=0).fit(X, y)
    assert model.n_neurons_ == 3
    assert [entry["k"] for entry in model.k_search_] == [1, 2, 3, 4]
    assert model.k_search_[-1]["z"] <= 3 < min(entry["z"] for entry in model.k_search_[1:-1])


def test_an_over_specified_biased_fit_keeps_the_true_k_and_says_so():
    """n_neurons = 6 on three biased units (d = 10, n = 2e4, noise 0.1 std f): M2 shows at most half
    of the 6, so k is searched up to 6 from k = 1, as without n_neurons; the fit keeps 3, says why in
    surplus_ and a NeuronCountWarning, and is as accurate as the fit told 3. (It used to keep all six
    units without a word, at 1.4-2.5 times the told fit's error.) A unit fitted to noise would add
    d + 2 = 12 parameters to p = 47, 1.26 times the error: the over-specified fit stays below that.
    Told the right k, the fit makes no search."""
    teacher = biased_teacher(10, 3, 0, scale=0.5)
    X, y = teacher.with_noise(0.1 * np.sqrt(population_variance(teacher))).sample(20_000, random_state=0)
    right = MomentReLURegressor(n_neurons=3, hidden_biases=True, random_state=0).fit(X, y)
    assert right.k_search_ == [] and right.n_neurons_ == 3
    with pytest.warns(NeuronCountWarning, match=r"n_neurons = 6: 3 neuron\(s\) were surplus and the model keeps 3"):
        over = MomentReLURegressor(n_neurons=6, hidden_biases=True, random_state=0).fit(X, y)
    assert over.n_neurons_ == 3 and over.network_.n_neurons == 3 and over.network_.hidden_biases.shape == (3,)
    assert [entry["k"] for entry in over.k_search_] == [1, 2, 3, 4]
    assert len(over.surplus_) == 3 and all("stopped at k = 3" in line for line in over.surplus_)
    assert population_mse(over, teacher) <= 1.26 * population_mse(right, teacher)
