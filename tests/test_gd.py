"""GD baseline: exact population loss and gradient, the numba kernel, GDReLURegressor, and the
Safran-Shamir reproduction command."""

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from narrowrelu import ReLUNetwork, Teacher, monte_carlo_mse, population_mse
from narrowrelu.baseline._kernels import population_loss_gradient_kernel
from narrowrelu.bench.safran_shamir import load_anchors, wilson_interval
from narrowrelu.cli import main
from narrowrelu.baseline.estimator import GDReLURegressor
from narrowrelu.baseline.objectives import empirical_loss_gradient
from narrowrelu.metrics import teacher_neuron_distances
from narrowrelu.baseline.population_loss import loss_gradient_trusted, population_loss, population_loss_gradient, teacher_terms

N_SE = 4  # Monte Carlo tolerance, in standard errors


def random_teacher(rng, d, k, affine):
    U = rng.standard_normal((k, d)) * rng.uniform(0.3, 2.0, size=(k, 1))
    lam = rng.standard_normal(k)
    w = rng.standard_normal(d) * 0.5 if affine else None
    b = float(rng.standard_normal()) if affine else 0.0
    return ReLUNetwork(U, lam, w, b)


def random_student(rng, d, m):
    return rng.standard_normal((m, d)), rng.standard_normal(m), float(rng.standard_normal())


networks = dict(
    seed=st.integers(0, 2**32 - 1),
    d=st.integers(1, 6),
    k=st.integers(1, 4),
    m=st.integers(1, 4),
    affine=st.booleans(),
)


# ----------------------------------------------------------------- population loss and gradient
@settings(max_examples=20)
@given(**networks)
def test_population_loss_matches_monte_carlo(seed, d, k, m, affine):
    rng = np.random.default_rng(seed)
    teacher = random_teacher(rng, d, k, affine)
    W, a, b = random_student(rng, d, m)
    loss = population_loss(W, a, b, teacher)
    estimate = monte_carlo_mse(ReLUNetwork(W, a, None, b), teacher, n_samples=40_000, random_state=seed)
    assert abs(2 * loss - estimate.mean) <= 4 * estimate.stderr + 1e-12


@given(**networks)
def test_population_loss_is_half_population_mse(seed, d, k, m, affine):
    rng = np.random.default_rng(seed)
    teacher = random_teacher(rng, d, k, affine)
    W, a, b = random_student(rng, d, m)
    mse = population_mse(ReLUNetwork(W, a, None, b), teacher)
    assert population_loss(W, a, b, teacher) == pytest.approx(mse / 2, rel=1e-10, abs=1e-12)


@given(**networks)
def test_gradient_matches_central_differences(seed, d, k, m, affine):
    rng = np.random.default_rng(seed)
    teacher = random_teacher(rng, d, k, affine)
    W, a, b = random_student(rng, d, m)
    terms = teacher_terms(teacher)
    _, gW, ga, gb = population_loss_gradient(W, a, b, terms)
    h = 1e-6
    theta = np.concatenate([W.ravel(), a, [b]])

    def loss_at(t):
        return loss_gradient_trusted(t[: m * d].reshape(m, d), t[m * d:m * d + m], t[-1], terms)[0]

    numeric = np.array([(loss_at(theta + h * e) - loss_at(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    analytic = np.concatenate([gW.ravel(), ga, [gb]])
    scale = 1.0 + np.abs(analytic).max()
    np.testing.assert_allclose(analytic, numeric, atol=1e-6 * scale)


@given(**networks)
def test_kernel_matches_numpy_reference(seed, d, k, m, affine):
    rng = np.random.default_rng(seed)
    t = teacher_terms(random_teacher(rng, d, k, affine))
    W, a, b = random_student(rng, d, m)
    if m > 1:
        W[0] = 0.0
    loss, gW, ga, gb = loss_gradient_trusted(W, a, b, t)
    out_W, out_a = np.empty((m, d)), np.empty(m)
    k_loss, k_gb = population_loss_gradient_kernel(
        W, a, b, t.hidden_weights, t.hidden_norms, t.unit_hidden_weights, t.output_weights, t.linear_weights,
        t.intercept, t.relu_mean, t.second_moment, np.empty(m), np.empty((m, d)), out_W, out_a,
    )
    tol = 1e-12 * (1.0 + t.second_moment + np.abs(W).max() ** 2)
    assert k_loss == pytest.approx(loss, abs=tol)
    assert k_gb == pytest.approx(gb, abs=tol)
    np.testing.assert_allclose(out_W, gW, atol=tol)
    np.testing.assert_allclose(out_a, ga, atol=tol)


def test_zero_loss_and_gradient_at_the_teacher():
    teacher = Teacher.orthonormal(4)
    perm = np.random.default_rng(0).permutation(4)
    loss, gW, ga, gb = population_loss_gradient(np.eye(4)[perm], np.ones(4), 0.0, teacher)
    assert loss <= 1e-14
    assert np.abs(gW).max() <= 1e-14 and np.abs(ga).max() <= 1e-14 and abs(gb) <= 1e-14


def test_empirical_gradient_matches_central_differences():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((50, 3)), rng.standard_normal(50)
    W, a, b = random_student(rng, 3, 2)
    _, gW, ga, gb = empirical_loss_gradient(W, a, b, X, y)
    h = 1e-6
    E = np.zeros_like(W)
    E[1, 2] = h
    numeric = (empirical_loss_gradient(W + E, a, b, X, y)[0] - empirical_loss_gradient(W - E, a, b, X, y)[0]) / (2 * h)
    assert gW[1, 2] == pytest.approx(numeric, rel=1e-5)
    assert gb == pytest.approx(
        (empirical_loss_gradient(W, a, b + h, X, y)[0] - empirical_loss_gradient(W, a, b - h, X, y)[0]) / (2 * h), rel=1e-6
    )


# ----------------------------------------------------------------- training
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


def test_teacher_neuron_distances_zero_on_same_neurons():
    rng = np.random.default_rng(0)
    U = rng.standard_normal((3, 4))
    lam = np.array([1.0, -2.0, 0.5])
    perm = [2, 0, 1]
    same = teacher_neuron_distances(U[perm] * 2.0, lam[perm] / 2.0, U, lam)
    assert np.abs(same).max() <= 1e-12
    flipped = teacher_neuron_distances(U, -lam, U, lam)
    assert np.all(flipped > 0)


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


# ----------------------------------------------------------------- bad input
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
        (dict(history_every=0), "history_every must be an integer >= 1 or None"),
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
    with pytest.raises(ValueError, match="teacher has input dimension 3 but the student has 2"):
        population_loss(np.ones((2, 2)), np.ones(2), 0.0, Teacher.orthonormal(3))
    with pytest.raises(ValueError, match="a teacher is required"):
        population_loss(np.ones((2, 2)), np.ones(2), 0.0, None)
    with pytest.raises(ValueError, match="hidden_weights has 2 neurons"):
        population_loss(np.ones((2, 2)), np.ones(3), 0.0, Teacher.orthonormal(2))


# ----------------------------------------------------------------- scikit-learn conventions
@parametrize_with_checks([GDReLURegressor(random_state=0)], expected_failed_checks=lambda est: {})
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_relu_network_matches_predict():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((100, 3)), rng.standard_normal(100)
    model = GDReLURegressor(n_neurons=3, max_iter=20, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter = 20"):
        model.fit(X, y)
    np.testing.assert_allclose(model.relu_network()(X), model.predict(X), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------- the reproduction command
def test_wilson_interval_known_value():
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0


def test_anchors_ship_with_the_package():
    anchors = load_anchors()
    assert anchors[(10, 10)]["runs"] > 0
    assert all(0 <= a["bad_runs"] <= a["runs"] for a in anchors.values())


def test_safran_shamir_cli_writes_json(tmp_path, capsys):
    path = tmp_path / "ss.json"
    status = main(["bench", "safran-shamir", "--k", "3", "--extra-width", "0", "1", "--runs", "4",
                   "--max-iter", "20000", "--json", str(path)])
    assert status == 0
    records = json.loads(path.read_text())
    assert [(r["k"], r["width"]) for r in records] == [(3, 3), (3, 4)]
    for r in records:
        assert {"k", "width", "runs", "failures", "rate", "anchor_rate", "ci_low", "ci_high"} <= set(r)
        assert r["runs"] == 4 and 0 <= r["failures"] <= 4
        assert r["ci_low"] <= r["rate"] <= r["ci_high"]
    assert "failed/runs" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--k", "0"], "--k values must be >= 1"),
        (["--runs", "0"], "--runs must be >= 1"),
        (["--max-iter", "0"], "--max-iter must be >= 1"),
        (["--k", "2", "--extra-width", "-2"], "--extra-width offsets"),
        (["--n-jobs", "0"], "--n-jobs must be >= 1"),
    ],
)
def test_safran_shamir_cli_bad_arguments_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "safran-shamir", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
