"""The training history of GDReLURegressor (narrowrelu.baseline.history): log-spaced checkpoints,
each recorded quantity against a direct recomputation at that iteration, units of ``fit``, and
fits that do not depend on whether (or how often) the history is recorded."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from narrowrelu import Teacher
from narrowrelu.baseline.estimator import GDReLURegressor
from narrowrelu.baseline.history import LOG_POINTS_PER_DECADE, TrainingHistory, log_spaced_steps
from narrowrelu.baseline.population_loss import population_loss_gradient


def test_log_spaced_steps_are_what_next_due_walks_through():
    assert np.sum((log_spaced_steps(20_000) >= 1000) & (log_spaced_steps(20_000) < 10_000)) == LOG_POINTS_PER_DECADE
    steps = log_spaced_steps(5000)
    assert steps[0] == 0 and np.all(np.diff(steps) > 0) and steps[-1] <= 5000
    assert list(steps[:18]) == list(range(18))  # every step while the spacing 10^(1/P) is below one step
    history = TrainingHistory(2, 2, "log")
    walked, step = [0], 0
    while (step := history.next_due(step)) <= 5000:
        walked.append(step)
    assert walked == list(steps)
    assert [s for s in range(1, 5001) if history.due(s)] == list(steps[1:])
    assert TrainingHistory(2, 2, 7).next_due(14) == 21 and TrainingHistory(2, 2, None).next_due(3) is None


def _population_model(max_iter, history_every, alpha=0.01, seed=3):
    return GDReLURegressor(
        3, optimizer="gd", learning_rate=0.1, max_iter=max_iter, tol=0.0, init_scale=0.05, alpha=alpha,
        fit_intercept=True, history_every=history_every, random_state=seed,
    )


def _fit_quietly(model, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args) if len(args) == 2 else model.fit_population(*args)


def test_log_history_matches_a_direct_recomputation_at_each_checkpoint():
    teacher = Teacher(np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]]), [1.5, -0.5])
    alpha = 0.01
    model = _fit_quietly(_population_model(300, "log", alpha), teacher)
    h = model.history_
    assert list(h["step"]) == list(log_spaced_steps(300)) + ([300] if 300 not in log_spaced_steps(300) else [])
    unit_teacher = teacher.hidden_weights / np.linalg.norm(teacher.hidden_weights, axis=1)[:, None]
    for idx in (1, 9, 25, len(h["step"]) - 1):
        t = int(h["step"][idx])
        at = _fit_quietly(_population_model(t, None, alpha), teacher)  # the same start, stopped at step t
        W, a, b = at.hidden_weights_, at.output_weights_, at.intercept_
        loss, gW, ga, gb = population_loss_gradient(W, a, b, teacher)
        np.testing.assert_allclose(h["data_loss"][idx], loss, rtol=1e-12)
        np.testing.assert_allclose(h["objective"][idx], loss + alpha / 2 * (np.sum(W**2) + np.sum(a**2)), rtol=1e-12)
        grad = np.concatenate([(gW + alpha * W).ravel(), ga + alpha * a, [gb]])
        np.testing.assert_allclose(h["gradient_norm"][idx], np.linalg.norm(grad), rtol=1e-10)
        np.testing.assert_allclose(h["loss"][t], h["objective"][idx], rtol=1e-12)  # per-step objective agrees
        np.testing.assert_array_equal(h["unit_norms"][idx], np.linalg.norm(W, axis=1))
        np.testing.assert_array_equal(h["output_weights"][idx], a)
        np.testing.assert_allclose(h["singular_values"][idx], np.linalg.svd(W, compute_uv=False), rtol=1e-12)
        cosines = (W / np.linalg.norm(W, axis=1)[:, None]) @ unit_teacher.T
        np.testing.assert_allclose(h["teacher_cosine"][idx], cosines.max(axis=1), rtol=1e-12)
        np.testing.assert_array_equal(h["nearest_teacher"][idx], cosines.argmax(axis=1))
    assert h["teacher_distance"].shape == (h["step"].size, 2)


@pytest.mark.parametrize(
    "params",
    [
        dict(optimizer="gd", learning_rate=0.1),
        dict(optimizer="adam"),
        dict(optimizer="gd", batch_size=16),
        dict(optimizer="lbfgs"),
    ],
)
def test_history_does_not_change_the_fit(params):
    teacher = Teacher.random(3, 2, random_state=0)
    X, y = teacher.sample(200, random_state=1)
    fitted = {}
    for every in (None, "log", 7):
        common = dict(n_neurons=3, max_iter=120, tol=0.0, alpha=1e-3, history_every=every, random_state=5, **params)
        fitted[every] = (_fit_quietly(GDReLURegressor(**common), X, y),
                         _fit_quietly(GDReLURegressor(**common), teacher))
    for mode in (0, 1):
        off = fitted[None][mode]
        for every in ("log", 7):
            on = fitted[every][mode]
            assert np.array_equal(on.hidden_weights_, off.hidden_weights_)
            assert np.array_equal(on.output_weights_, off.output_weights_)
            assert on.intercept_ == off.intercept_ and on.n_iter_ == off.n_iter_ and on.loss_ == off.loss_
            assert len(on.history_["step"]) > len(off.history_["step"]) == 2


def test_empirical_history_is_in_the_units_of_the_data():
    teacher = Teacher.random(3, 2, random_state=2)
    X, y = teacher.sample(300, random_state=3)
    X, y = 3.0 * X, 5.0 * y + 2.0  # standardisation rescales both
    model = _fit_quietly(GDReLURegressor(3, optimizer="lbfgs", max_iter=50, history_every="log", random_state=0), X, y)
    h = model.history_
    np.testing.assert_allclose(h["data_loss"][-1], 0.5 * np.mean((model.predict(X) - y) ** 2), rtol=1e-9)
    np.testing.assert_allclose(h["unit_norms"][-1], np.linalg.norm(model.hidden_weights_, axis=1), rtol=1e-12)
    np.testing.assert_allclose(h["output_weights"][-1], model.output_weights_, rtol=1e-12)
    np.testing.assert_allclose(h["singular_values"][-1], np.linalg.svd(model.hidden_weights_, compute_uv=False),
                               rtol=1e-10)
    assert h["teacher_cosine"] is None and h["nearest_teacher"] is None


def test_lbfgs_checkpoints_are_labelled_by_iteration():
    teacher = Teacher.random(3, 2, random_state=4)
    model = _fit_quietly(GDReLURegressor(2, optimizer="lbfgs", max_iter=25, tol=0.0, history_every=1,
                                         random_state=1), teacher)
    h = model.history_
    assert list(h["step"]) == list(range(model.n_iter_ + 1))
    np.testing.assert_allclose(h["objective"], h["loss"][: model.n_iter_ + 1], rtol=1e-12)
