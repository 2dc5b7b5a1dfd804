"""The refined model the search for k compares (narrowrelu.learner.refine.selection)."""

import warnings

import numpy as np

import narrowrelu.learner.estimator as estimator_module
from narrowrelu import MomentReLURegressor, ReLUNetwork
from narrowrelu.learner.refine.gauss_newton import gauss_newton_arrays
from narrowrelu.learner.refine.selection import SELECTION_GN_ITER, SELECTION_ROWS_PER_PARAMETER, refined_selection_model
from narrowrelu.learner.sources.local import ArraySource
from narrowrelu.metrics import population_variance
from narrowrelu.network import n_parameters
from narrowrelu.teacher import make_teacher


def _problem(n=3000, seed=0):
    teacher = make_teacher("random", 6, 2, seed)
    X, y = teacher.with_noise(0.1 * np.sqrt(population_variance(teacher))).sample(n, random_state=seed)
    held = np.random.default_rng(seed).random(n) < 0.2
    rng = np.random.default_rng(seed + 1)
    start = ReLUNetwork(teacher.hidden_weights + 0.1 * rng.standard_normal(teacher.hidden_weights.shape),
                        teacher.output_weights, teacher.linear_weights, teacher.intercept)
    return X, y, held, start


def test_the_model_is_refined_on_the_first_training_rows_only():
    X, y, held, start = _problem()
    model = refined_selection_model(start, ArraySource(X, y, held, 512))
    m = SELECTION_ROWS_PER_PARAMETER * n_parameters(2, 6)
    expected = gauss_newton_arrays(start, X[~held][:m], y[~held][:m], max_iter=SELECTION_GN_ITER).network
    np.testing.assert_array_equal(model.hidden_weights, expected.hidden_weights)
    np.testing.assert_array_equal(model.output_weights, expected.output_weights)
    # the held-out rows, on which the search scores it, change nothing
    y_other = y.copy()
    y_other[held] = 100.0
    again = refined_selection_model(start, ArraySource(X, y_other, held, 512))
    np.testing.assert_array_equal(again.hidden_weights, model.hidden_weights)
    # and it fits the training rows better than the start
    train = ~held
    assert np.mean((model(X[train]) - y[train]) ** 2) < np.mean((start(X[train]) - y[train]) ** 2)


def test_the_search_compares_refined_models_and_stops_at_the_k_they_support(monkeypatch):
    """A clusters teacher (d = 16, k = 6, n = 20 000, seed 0) whose raw moment solutions keep
    improving past k = 6 (a spare neuron fits part of their error): compared raw, the search runs
    the rounds of k = 7, 8 and 9; compared refined, it stops after k = 7. Both end with 6 neurons."""
    teacher = make_teacher("clusters", 16, 6, 0)
    X, y = teacher.with_noise(0.1 * np.sqrt(population_variance(teacher))).sample(20_000, random_state=0)
    searched = {}
    for name, selection in (("refined", refined_selection_model), ("raw", None)):
        monkeypatch.setattr(estimator_module, "refined_selection_model", selection)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = MomentReLURegressor(random_state=0).fit(X, y)
        searched[name] = max(entry["k"] for entry in model.k_search_)
        assert model.n_neurons_ == 6
    assert searched == {"refined": 7, "raw": 9}
