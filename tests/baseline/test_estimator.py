"""GDReLURegressor (narrowrelu.baseline.estimator): training in population and empirical mode,
its history, and its parameter and data checks. The scikit-learn common checks are in
``test_sklearn_compat.py``, the statistical recovery suite in ``test_recovery_statistical.py``."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from narrowrelu import ReLUNetwork, Teacher, population_mse
from narrowrelu.baseline.estimator import GDReLURegressor


@pytest.mark.parametrize("optimizer", ["gd", "adam", "lbfgs"])
def test_population_training_recovers_one_neuron(optimizer):
    u = np.array([[0.6, -0.8, 0.0]])
    teacher = Teacher(u, [1.0])
    model = GDReLURegressor(
        n_neurons=1, optimizer=optimizer, max_iter=5000, tol=1e-10, train_output_weights=False,
        fit_intercept=False, random_state=0,
    )
    model.fit_population(teacher)
    assert population_mse(model, teacher) <= 1e-10


def test_population_training_with_output_weights_and_intercept():
    teacher = Teacher(np.array([[1.0, 0.0], [0.0, 1.0]]), [1.0, -0.5], intercept=0.3)
    model = GDReLURegressor(n_neurons=2, optimizer="lbfgs", max_iter=2000, tol=1e-10, n_restarts=4, random_state=1)
    model.fit_population(teacher)
    assert population_mse(model, teacher) <= 1e-8
    assert model.restart_losses_.shape == (4,)


def test_population_history_records_checkpoints():
    teacher = Teacher.orthonormal(3)
    model = GDReLURegressor(
        n_neurons=3, optimizer="gd", max_iter=20_000, tol=1e-9, history_every=50, train_output_weights=False,
        fit_intercept=False, random_state=2,
    ).fit_population(teacher)
    h = model.history_
    assert h["loss"].shape == (model.n_iter_ + 1,)
    assert h["step"][0] == 0 and h["step"][-1] == model.n_iter_
    assert np.all(np.diff(h["step"]) > 0) and np.all(np.diff(h["step"])[:-1] == 50)
    assert h["singular_values"].shape == (h["step"].size, 3)
    assert h["teacher_distance"].shape == (h["step"].size, 3)
    assert model.loss_ == pytest.approx(h["loss"][-1])
    if model.loss_ < 1e-12:
        assert h["teacher_distance"][-1].max() < 1e-5


@pytest.mark.parametrize("optimizer,batch_size", [("lbfgs", None), ("adam", None), ("adam", 64), ("gd", 64)])
def test_empirical_fit_learns_a_small_teacher(optimizer, batch_size):
    teacher = Teacher.random(3, 2, random_state=0)
    X, y = teacher.sample(2000, random_state=1)
    X.setflags(write=False)
    before = X.copy()
    model = GDReLURegressor(
        n_neurons=4, optimizer=optimizer, max_iter=3000, batch_size=batch_size, random_state=0, n_restarts=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    np.testing.assert_array_equal(X, before)
    assert model.score(X, y) > 0.95
    assert model.history_["teacher_distance"] is None
    assert population_mse(model, teacher) < 0.05 * population_mse(ReLUNetwork(np.zeros((1, 3)), [0.0]), teacher)


@pytest.mark.parametrize(
    "params,message",
    [
        (dict(n_neurons=0), "n_neurons must be an integer >= 1"),
        (dict(n_neurons=2.5), "n_neurons must be an integer >= 1"),
        (dict(optimizer="sgd"), "optimizer must be one of"),
        (dict(learning_rate=-1.0), "learning_rate must be a real number > 0 or None, got -1.0"),
        (dict(max_iter=0), "max_iter must be an integer >= 1"),
        (dict(tol=-1.0), "tol must be a real number >= 0"),
        (dict(alpha=-0.1), "alpha must be a real number >= 0"),
        (dict(init_scale=0.0), "init_scale must be a real number > 0"),
        (dict(validation_fraction=1.0), r"validation_fraction must be a real number in \(0, 1\)"),
        (dict(n_restarts=0), "n_restarts must be an integer >= 1"),
        (dict(fit_intercept="yes"), "fit_intercept must be True or False"),
        (dict(train_output_weights=None), "train_output_weights must be True or False"),
        (dict(history_every=0), "history_every must be an integer >= 1 or one of .log., None"),
        (dict(tol=float("nan")), "tol must be a real number >= 0, got nan"),
        (dict(batch_size=16, optimizer="lbfgs"), "batch_size is used by optimizer 'gd' and 'adam' only"),
    ],
)
def test_bad_parameters_raise(params, message):
    X, y = np.random.default_rng(0).standard_normal((20, 2)), np.arange(20.0)
    with pytest.raises(ValueError, match=message):
        GDReLURegressor(**params).fit(X, y)


def test_bad_data_raises():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 2)), rng.standard_normal(20)
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GDReLURegressor().fit(X_nan, y)
    y_inf = y.copy()
    y_inf[0] = np.inf
    with pytest.raises(ValueError, match="[Ii]nf"):
        GDReLURegressor().fit(X, y_inf)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        GDReLURegressor().fit(X, y[:10])
    with pytest.raises(ValueError, match="2D array"):
        GDReLURegressor().fit(X[:, 0], y)
    model = GDReLURegressor(max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features"):
        model.predict(rng.standard_normal((4, 3)))


def test_population_mode_needs_a_matching_teacher():
    model = GDReLURegressor(n_neurons=2)
    with pytest.raises(ValueError, match="needs a teacher"):
        model.fit_population(None)
    with pytest.raises(ValueError, match="not a ReLU network"):
        model.fit_population("teacher")
    with pytest.raises(ValueError, match="teacher has input dimension 3 but the student has 4"):
        model.fit_population(Teacher.orthonormal(3), n_features=4)


def test_relu_network_matches_predict():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((100, 3)), rng.standard_normal(100)
    model = GDReLURegressor(n_neurons=3, max_iter=20, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter = 20"):
        model.fit(X, y)
    np.testing.assert_allclose(model.relu_network()(X), model.predict(X), rtol=1e-12, atol=1e-12)
