"""The residual diagnostic (narrowrelu.learner.residual_diagnostic): its statistics against explicit
Hermite tensors, its null calibration, and its verdicts (wrong model, more neurons, fits)."""

import itertools
import math
import warnings

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermeval

from narrowrelu import MomentReLURegressor, ReLUNetwork, Teacher
from narrowrelu.hermite import hermite_tensor
from narrowrelu.learner.residual_diagnostic import (
    ModelMisfitWarning,
    _ResidualSums,
    _statistics,
    diagnostic_span,
    ResidualChecks,
    residual_diagnostic,
)
from narrowrelu.learner import residual_diagnostic as diagnostic_module
from narrowrelu.learner.sources import ArraySource


def _source(X, y, held=None):
    held = np.ones(len(y), dtype=bool) if held is None else held
    return ArraySource(X, y, held, 257)


def _reference_features(Z, m):
    """Explicit :math:`h_\\alpha(z)` for every multi-index of degree ``m`` (numpy's HermiteE)."""
    cols = []
    for coords in itertools.combinations_with_replacement(range(Z.shape[1]), m):
        alpha = np.bincount(coords, minlength=Z.shape[1])
        col = np.ones(Z.shape[0])
        for j, a in enumerate(alpha):
            col *= hermeval(Z[:, j], np.eye(a + 1)[a]) / math.sqrt(math.factorial(a))
        cols.append(col)
    return np.array(cols).T


def test_statistics_match_explicit_hermite_tensors():
    rng = np.random.default_rng(0)
    d, n = 4, 600
    X = rng.standard_normal((n, d))
    net = ReLUNetwork(rng.standard_normal((2, d)), [1.0, -0.5], rng.standard_normal(d), 0.3)
    y = net(X) + np.sin(X[:, 0]) + 0.1 * rng.standard_normal(n)
    held = rng.random(n) < 0.5
    Q = diagnostic_span(net)
    acc = _ResidualSums(net, Q, np.iinfo(np.int64).max)
    for s in range(0, n, 57):
        acc.add(X[s:s + 57][held[s:s + 57]], y[s:s + 57][held[s:s + 57]])
    stats, sigma2 = _statistics(acc, 1.0)
    Xh, r = X[held], (y - net(X))[held]
    m = len(r)
    assert sigma2 == pytest.approx(np.mean(r**2), rel=1e-12)
    Z = Xh @ Q
    by_order = {s.order: s for s in stats}
    assert set(by_order) == {1, 2, 3, 4}
    for order, coords in ((1, Xh), (2, Xh), (3, Z), (4, Z)):
        T = np.mean([ri * hermite_tensor(x, order) for ri, x in zip(r, coords)], axis=0)
        energy = np.sum(T * T) / math.factorial(order)
        s = by_order[order]
        assert s.dof == math.comb(coords.shape[1] + order - 1, order)
        assert s.share == pytest.approx(max(energy - s.dof * sigma2 / m, 0.0), rel=1e-9, abs=1e-15)
        if order <= 2:
            assert s.statistic == pytest.approx(m * energy / sigma2, rel=1e-9)
        else:
            H = _reference_features(coords, order)
            c = (H * r[:, None]).mean(axis=0)
            V = (H * r[:, None] ** 2).T @ H / m
            assert np.sum(c * c) == pytest.approx(energy, rel=1e-9)  # h is the orthonormal Hermite basis
            assert s.statistic == pytest.approx(m * c @ np.linalg.solve(V, c), rel=1e-7)



def test_orders_3_and_4_are_made_of_the_first_high_order_rows(monkeypatch):
    """Orders 1 and 2 sum every held-out row read, orders 3 and 4 the first HIGH_ORDER_ROWS of
    them: their statistics equal those of a diagnostic that reads only those rows, whatever comes
    after (here an order-3 structure that a read of every row would flag)."""
    rng = np.random.default_rng(4)
    d, n = 4, 4000
    X = rng.standard_normal((n, d))
    net = ReLUNetwork(rng.standard_normal((2, d)), [1.0, -0.5], np.zeros(d), 0.0)
    y = net(X) + 0.1 * rng.standard_normal(n)
    y[1000:] += 0.5 * (X[1000:, 0] ** 3 - 3 * X[1000:, 0])  # He_3 along e_1 beyond the first 1000 rows
    every = {s.order: s for s in residual_diagnostic(_source(X, y), net)["statistics"]}
    assert every[3].flagged and every[3].n_rows == n
    monkeypatch.setattr(diagnostic_module, "HIGH_ORDER_ROWS", 1000)
    capped = {s.order: s for s in residual_diagnostic(_source(X, y), net)["statistics"]}
    first = {s.order: s for s in residual_diagnostic(_source(X, y), net, max_rows=1000)["statistics"]}
    for order in (3, 4):
        assert capped[order].n_rows == 1000
        assert capped[order].statistic == pytest.approx(first[order].statistic, rel=1e-12)
    assert not capped[3].flagged
    for order in (1, 2):
        assert capped[order].n_rows == n and capped[order].statistic == every[order].statistic

def test_span_holds_linear_part_and_heaviest_neurons():
    U = np.eye(12)[:10]
    net = ReLUNetwork(U, np.arange(1.0, 11.0), np.eye(12)[11], 0.0)
    Q = diagnostic_span(net, max_span=4)
    assert Q.shape == (12, 4)
    np.testing.assert_allclose(Q.T @ Q, np.eye(4), atol=1e-12)
    # the linear part and the neurons of weights 10, 9, 8 (rows 9, 8, 7)
    for j in (11, 9, 8, 7):
        assert np.linalg.norm(Q.T @ np.eye(12)[j]) == pytest.approx(1.0)


def test_null_statistics_are_chi_square():
    # r independent of x: (S - D) / sqrt(2 D) has mean 0 and sd 1; 40 draws, mean within 4 SE
    d, k, n = 8, 2, 4000
    teacher = Teacher.random(d, k, random_state=0)
    scores = {m: [] for m in (1, 2, 3, 4)}
    flagged = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, d))
        diag = residual_diagnostic(_source(X, teacher(X) + 0.3 * rng.standard_normal(n)), teacher)
        flagged += diag["verdict"] != "fits"
        for s in diag["statistics"]:
            scores[s.order].append((s.statistic - s.dof) / np.sqrt(2 * s.dof))
    assert flagged == 0
    for m, z in scores.items():
        assert len(z) == 40
        assert abs(np.mean(z)) < 4 / np.sqrt(40), (m, np.mean(z))
        assert 0.6 < np.std(z) < 1.4, (m, np.std(z))


@pytest.fixture(scope="module")
def three_of_six():
    """Inputs (d = 10), a six-neuron teacher's labels, a model of its first three neurons, and
    the labels of those three neurons with a bias inside each ReLU."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20_000, 10))
    teacher = Teacher.random(10, 6, random_state=2)
    three = ReLUNetwork(teacher.hidden_weights[:3], teacher.output_weights[:3])
    beta = np.array([0.8, -0.6, 1.0])
    biased = np.maximum(X @ teacher.hidden_weights[:3].T + beta, 0) @ teacher.output_weights[:3]
    return X, teacher(X), three, biased


def test_biased_target_is_a_wrong_model_and_missing_neurons_are_even(three_of_six):
    X, y, three, biased = three_of_six
    # the model holds three of the six neurons: the residual is three bias-free ReLUs, even orders only
    diag = residual_diagnostic(_source(X, y), three)
    assert diag["verdict"] == "more neurons"
    odd = next(s for s in diag["statistics"] if s.order == 3)
    assert not odd.significant
    assert "more neurons" in diag["message"]
    # a bias inside each ReLU gives order-3 structure the bias-free fit cannot remove
    diag = residual_diagnostic(_source(X, biased), three)
    assert diag["verdict"] == "wrong model"
    assert "outside the model" in diag["message"]


def test_outside_the_model_is_the_odd_order_verdict_on_the_first_held_out_rows(three_of_six, monkeypatch):
    X, y, three, biased = three_of_six
    # three neurons missing is not outside the model; biases inside the ReLUs are
    assert not ResidualChecks(_source(X, y)).outside_the_model(three)
    assert ResidualChecks(_source(X, biased)).outside_the_model(three)
    # only the first OUTSIDE_ROWS held-out rows are read: the biased rows come after them
    mixed = np.concatenate([y[:10_000], biased[10_000:]])
    monkeypatch.setattr(diagnostic_module, "OUTSIDE_ROWS", 10_000)
    assert not ResidualChecks(_source(X, mixed)).outside_the_model(three)
    monkeypatch.setattr(diagnostic_module, "OUTSIDE_ROWS", 20_000)
    assert ResidualChecks(_source(X, mixed)).outside_the_model(three)


def test_the_final_diagnostic_is_the_check_s_own_only_for_its_network_on_every_held_out_row(three_of_six,
                                                                                            monkeypatch):
    X, y, three, biased = three_of_six
    held = np.zeros(y.size, dtype=bool)
    held[::4] = True
    checks = ResidualChecks(_source(X, biased, held))
    checks.outside_the_model(three)
    checked = checks._checked[1]
    assert checks.final(three) is checked
    fresh = residual_diagnostic(_source(X, biased, held), three)
    assert [s.statistic for s in checks.final(three)["statistics"]] == [s.statistic for s in fresh["statistics"]]
    # another network, or a check on fewer than every held-out row, is diagnosed anew
    other = ReLUNetwork(three.hidden_weights[:2], three.output_weights[:2])
    assert checks.final(other)["n_rows"] == 5000 and checks.final(other) is not checked
    monkeypatch.setattr(diagnostic_module, "OUTSIDE_ROWS", 4000)
    checks.outside_the_model(three)
    assert checks._checked[1]["n_rows"] == 4000 and checks.final(three)["n_rows"] == 5000


def test_no_neuron_is_grown_on_a_residual_outside_the_model():
    # a biased target fitted without hidden_biases: each bias-free neuron added after the
    # refinement would fit a little more of it, up to d of them (8 here, where 4 are kept)
    teacher = Teacher.random(8, 3, bias_scale=1.0, random_state=3)
    X, f = teacher.sample(20_000, random_state=4)
    y = f + 0.1 * np.std(f) * np.random.default_rng(5).standard_normal(f.size)
    with pytest.warns(ModelMisfitWarning, match="outside the model"):
        model = MomentReLURegressor(random_state=0).fit(X, y)
    assert model.refinement_["grown"] == 0 and "odd-order" in model.refinement_["growth_skipped"]
    assert model.n_neurons_ < 8


def test_noiseless_exact_model_fits():
    rng = np.random.default_rng(3)
    teacher = Teacher.random(6, 2, random_state=3)
    X = rng.standard_normal((5000, 6))
    y = teacher(X) + 1e-9 * rng.standard_normal(5000)  # structure-free, far below any material share
    slightly_off = ReLUNetwork(teacher.hidden_weights * (1 + 1e-7), teacher.output_weights)
    diag = residual_diagnostic(_source(X, y), slightly_off)
    assert diag["verdict"] == "fits"


def test_only_held_out_rows_are_read():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((1000, 3))
    y = rng.standard_normal(1000)
    held = np.zeros(1000, dtype=bool)
    held[::4] = True
    y_corrupt = y.copy()
    y_corrupt[~held] = 1e6
    net = ReLUNetwork(np.eye(3)[:1], [1.0])
    a = residual_diagnostic(_source(X, y, held), net)
    b = residual_diagnostic(_source(X, y_corrupt, held), net)
    assert a["n_rows"] == b["n_rows"] == 250
    assert [s.statistic for s in a["statistics"]] == [s.statistic for s in b["statistics"]]


def test_fit_reports_and_warns():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((20_000, 6))
    teacher = Teacher.random(6, 2, random_state=5)
    y = teacher(X) + 0.1 * rng.standard_normal(20_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelMisfitWarning)
        model = MomentReLURegressor(n_neurons=2, random_state=0).fit(X, y)
    diag = model.residual_diagnostic_
    assert diag["verdict"] == "fits" and diag["n_rows"] == 4000
    assert "residual_diagnostic" in model.timings_
    u, v = np.eye(6)[:2]
    with pytest.warns(ModelMisfitWarning, match="outside the model"):
        model = MomentReLURegressor(n_neurons=2, random_state=0).fit(X, np.sin(2 * X @ u) + 0.5 * np.sin(X @ v))
    assert model.residual_diagnostic_["verdict"] == "wrong model"


def test_fit_oracle_reports():
    teacher = Teacher.random(5, 2, random_state=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelMisfitWarning)
        model = MomentReLURegressor(n_neurons=2, random_state=0, settings=dict(n_contraction_pairs=16))
        model.fit_oracle(teacher, 20_000)
    assert model.residual_diagnostic_["verdict"] == "fits"
    assert model.residual_diagnostic_["n_rows"] == model.residual_diagnostic_["n_rows"] > 3000
