"""The GD baseline with hidden biases: exact population loss and gradient with biases, the
empirical objective, and GDReLURegressor(hidden_biases=True) (narrowrelu.baseline)."""

import warnings

import numpy as np
import pytest

from narrowrelu import ReLUNetwork, Teacher, population_mse, population_variance
from narrowrelu.baseline.biased_population_loss import biased_loss_gradient_trusted
from narrowrelu.baseline.estimator import GDReLURegressor
from narrowrelu.baseline.objectives import biased_empirical_loss_gradient, empirical_loss_gradient
from narrowrelu.baseline.population_loss import (
    biased_population_loss_gradient,
    population_loss_gradient,
    teacher_terms,
)

N_SE = 4.0  # statistical tolerance, in standard errors


def biased_teacher(d=5, k=3, seed=1, affine=True):
    t = Teacher.random(d, k, bias_scale=1.0, random_state=seed)
    rng = np.random.default_rng(seed)
    if not affine:
        return t
    return Teacher(t.hidden_weights, t.output_weights, 0.3 * rng.standard_normal(d), 0.4, hidden_biases=t.hidden_biases)


def student(rng, m, d):
    return rng.standard_normal((m, d)), rng.standard_normal(m), rng.standard_normal(m), 0.2


def flat_gradient(W, c, a, b, teacher):
    loss, gW, gc, ga, gb = biased_population_loss_gradient(W, c, a, b, teacher)
    return loss, np.concatenate([gW.ravel(), gc, ga, [gb]])


def finite_differences(W, c, a, b, teacher, eps=1e-5):
    m, d = W.shape
    theta = np.concatenate([W.ravel(), c, a, [b]])

    def loss(th):
        return biased_population_loss_gradient(th[:m * d].reshape(m, d), th[m * d:m * d + m],
                                               th[m * d + m:m * d + 2 * m], th[-1], teacher)[0]

    return np.array([(loss(theta + eps * e) - loss(theta - eps * e)) / (2 * eps) for e in np.eye(theta.size)])


@pytest.mark.parametrize("case", ["generic", "flat_row", "bias_free_teacher", "zero_bias_student"])
def test_biased_population_gradient_matches_finite_differences(case):
    rng = np.random.default_rng(0)
    teacher = Teacher.random(5, 3, random_state=2) if case == "bias_free_teacher" else biased_teacher()
    W, c, a, b = student(rng, 4, 5)
    if case == "flat_row":
        W[2] = 0.0
        c[2] = 0.7
    if case == "zero_bias_student":
        c[:] = 0.0
    loss, grad = flat_gradient(W, c, a, b, teacher)
    assert loss == pytest.approx(0.5 * population_mse(ReLUNetwork(W, a, None, b, c), teacher), rel=1e-12)
    # central differences at eps = 1e-5 are accurate to about 1e-9 here
    np.testing.assert_allclose(grad, finite_differences(W, c, a, b, teacher), rtol=0, atol=1e-8 * np.abs(grad).max())


def test_biased_population_gradient_matches_monte_carlo():
    """The gradient is E[(g - f) dg/dtheta]: dg/dw_j = a_j 1[w_j.x + c_j > 0] x, dg/dc_j = a_j 1[...]."""
    rng = np.random.default_rng(3)
    teacher = biased_teacher()
    W, c, a, b = student(rng, 3, 5)
    _, gW, gc, ga, gb = biased_population_loss_gradient(W, c, a, b, teacher)
    n = 400_000
    X = rng.standard_normal((n, 5))
    pre = X @ W.T + c
    r = np.maximum(pre, 0) @ a + b - teacher(X)
    samples = {
        "W": ((pre > 0) * (r[:, None] * a))[:, :, None] * X[:, None, :],
        "c": (pre > 0) * (r[:, None] * a),
        "a": np.maximum(pre, 0) * r[:, None],
        "b": r[:, None],
    }
    for name, exact in (("W", gW), ("c", gc), ("a", ga), ("b", np.array([gb]))):
        s = samples[name]
        mean, se = s.mean(axis=0), s.std(axis=0) / np.sqrt(n)
        assert np.all(np.abs(exact - mean) <= N_SE * se), name


def test_biased_gradient_at_zero_biases_is_the_bias_free_one():
    rng = np.random.default_rng(4)
    teacher = Teacher.random(6, 3, random_state=5)
    W, _, a, b = student(rng, 4, 6)
    W[1] = 2.0 * teacher.hidden_weights[0]
    free = population_loss_gradient(W, a, b, teacher)
    loss, gW, _, ga, gb = biased_population_loss_gradient(W, np.zeros(4), a, b, teacher)
    assert loss == pytest.approx(free[0], rel=1e-13)
    np.testing.assert_allclose(gW, free[1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ga, free[2], rtol=1e-12, atol=1e-14)
    assert gb == pytest.approx(free[3], rel=1e-13, abs=1e-15)
    # a biased teacher is scored exactly by the bias-free student's loss too
    biased = biased_teacher(6, 3, 5)
    assert population_loss_gradient(W, a, b, biased)[0] == pytest.approx(
        0.5 * population_mse(ReLUNetwork(W, a, None, b), biased), rel=1e-12)
    with pytest.raises(ValueError, match="hidden_biases has 3 entries"):
        biased_population_loss_gradient(W, np.zeros(3), a, b, teacher)
    # the trusted form on precomputed teacher terms is the checked one
    c = np.linspace(-1.0, 1.0, 4)
    trusted = biased_loss_gradient_trusted(W, c, a, b, teacher_terms(biased))
    checked = biased_population_loss_gradient(W, c, a, b, biased)
    for x, y in zip(trusted, checked):
        np.testing.assert_array_equal(x, y)


def test_biased_empirical_gradient_matches_finite_differences():
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((200, 4)), rng.standard_normal(200)
    W, c, a, b = student(rng, 3, 4)
    gc = biased_empirical_loss_gradient(W, c, a, b, X, y)[2]
    eps = 1e-6
    for j in range(3):
        cp, cm = c.copy(), c.copy()
        cp[j] += eps
        cm[j] -= eps
        up = biased_empirical_loss_gradient(W, cp, a, b, X, y)[0]
        down = biased_empirical_loss_gradient(W, cm, a, b, X, y)[0]
        assert gc[j] == pytest.approx((up - down) / (2 * eps), rel=1e-6, abs=1e-9)
    free = empirical_loss_gradient(W, a, b, X, y)
    zero = biased_empirical_loss_gradient(W, np.zeros(3), a, b, X, y)
    assert zero[0] == free[0]
    np.testing.assert_array_equal(zero[1], free[1])


def test_fit_population_with_biases_reaches_the_teacher():
    teacher = biased_teacher(6, 2, 7, affine=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDReLURegressor(n_neurons=4, hidden_biases=True, max_iter=1500, tol=1e-10, n_restarts=2,
                                random_state=0).fit_population(teacher)
    assert population_mse(model, teacher) <= 1e-8 * population_variance(teacher)
    assert model.hidden_biases_.shape == (4,) and np.any(model.hidden_biases_ != 0)
    # a bias-free student cannot: its exact loss stays well above zero
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        free = GDReLURegressor(n_neurons=4, max_iter=1500, tol=1e-10, n_restarts=2, random_state=0)
        free.fit_population(teacher)
    assert np.all(free.hidden_biases_ == 0)
    assert population_mse(free, teacher) == pytest.approx(2 * free.loss_, rel=1e-9)
    assert population_mse(free, teacher) > 100 * population_mse(model, teacher)


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_first_order_steps_on_the_biased_population_loss_descend(optimizer):
    teacher = biased_teacher(4, 2, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDReLURegressor(n_neurons=3, optimizer=optimizer, hidden_biases=True, max_iter=200,
                                random_state=0).fit_population(teacher)
    loss = model.history_["loss"]
    assert loss[-1] < 0.5 * loss[0]
    assert model.loss_ == pytest.approx(0.5 * population_mse(model, teacher), rel=1e-9)


def test_fit_on_data_with_biases_and_units():
    teacher = biased_teacher(5, 2, 9)
    X, y = teacher.with_noise(0.01).sample(4000, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDReLURegressor(n_neurons=4, hidden_biases=True, max_iter=300, random_state=0).fit(X, y)
        # a few steps: longer L-BFGS runs on y and 10 y part ways through rounding
        short = GDReLURegressor(n_neurons=4, hidden_biases=True, max_iter=5, random_state=0).fit(X, y)
        scaled = GDReLURegressor(n_neurons=4, hidden_biases=True, max_iter=5, random_state=0).fit(X, 10.0 * y)
        fixed = GDReLURegressor(n_neurons=4, hidden_biases=True, train_output_weights=False, max_iter=5,
                                random_state=0).fit(X, 10.0 * y)
        fixed_unit = GDReLURegressor(n_neurons=4, hidden_biases=True, train_output_weights=False, max_iter=5,
                                     random_state=0).fit(X, y)
    np.testing.assert_allclose(model.predict(X[:20]), model.relu_network()(X[:20]), rtol=1e-12, atol=1e-12)
    # fit(X, s y) is s fit(X, y) (the fit runs on standardised y): the biases are those of fit(X, y)
    np.testing.assert_allclose(scaled.predict(X[:20]), 10.0 * short.predict(X[:20]), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(scaled.hidden_biases_, short.hidden_biases_, rtol=1e-8, atol=1e-10)
    assert np.any(short.hidden_biases_ != 0)
    # with fixed output weights a = 1 the scale of y goes into the rows and the biases
    np.testing.assert_allclose(fixed.output_weights_, 1.0)
    np.testing.assert_allclose(fixed.hidden_biases_, 10.0 * fixed_unit.hidden_biases_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fixed.predict(X[:20]), 10.0 * fixed_unit.predict(X[:20]), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(fixed.predict(X[:20]), fixed.relu_network()(X[:20]), rtol=1e-12, atol=1e-12)
    # the excess risk is far below the bias-free model of the same budget
    assert population_mse(model, teacher) < 0.05 * population_variance(teacher)
