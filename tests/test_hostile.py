"""Hostile inputs: extreme scales, non-finite values, wrong dtypes and shapes, bad CLI values,
corrupted cell stores. Each gets a clear ValueError (or argparse exit 2) naming the problem, or a
correct result; never a deep traceback or a silent wrong answer."""

import json
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from narrowrelu import GDReLURegressor, MomentReLURegressor, ReLUNetwork, Teacher, population_mse, population_variance
from narrowrelu.bench._args import count, integer, real
from narrowrelu.bench.sample_complexity.lock import alive as _alive
from narrowrelu.bench.sample_complexity.sweep import CellStore, pending_jobs, plan_jobs
from narrowrelu.cli import main
from narrowrelu.conditioning.standard_units import check_numeric, condition
from narrowrelu._parallel import resolve_n_jobs

FAST = dict(settings=dict(n_contraction_pairs=16, max_rounds=3))
TEACHER = Teacher.random(n_features=5, n_neurons=2, random_state=0)
X0, Y0 = TEACHER.sample(3000, random_state=1)
VAR = population_variance(TEACHER)


def rescaled(net, x_factor=1.0, y_factor=1.0):
    """The network g(x) = f(x * x_factor) / y_factor, for f fitted on (X / x_factor, y * y_factor)."""
    return ReLUNetwork(net.hidden_weights * x_factor, net.output_weights / y_factor,
                       net.linear_weights * x_factor / y_factor, net.intercept / y_factor)


@pytest.fixture(scope="module")
def moment_reference():
    return MomentReLURegressor(n_neurons=2, random_state=0, **FAST).fit(X0, Y0).network_


@pytest.mark.parametrize("c", [1e-150, 1e-14, 1e14, 1e150])
def test_moment_fit_is_equivariant_in_y(c, moment_reference):
    net = MomentReLURegressor(n_neurons=2, random_state=0, **FAST).fit(X0, c * Y0).network_
    # the standardised y differs by rounding only: the two fits agree to ~1e-12 of Var f
    assert population_mse(rescaled(net, y_factor=c), moment_reference) <= 1e-10 * VAR


@pytest.mark.parametrize("c", [1e-300, 1e-100, 3.0, 1e100, 1e300])
def test_moment_fit_is_equivariant_in_x(c):
    net = MomentReLURegressor(n_neurons=2, random_state=0, **FAST).fit(c * X0, Y0).network_
    assert np.all(np.isfinite(net.hidden_weights))
    # noiseless teacher: the refinement reaches ~1e-15 relative whatever the input scale
    assert population_mse(rescaled(net, x_factor=c), TEACHER) <= 1e-8 * VAR


@pytest.mark.parametrize("c", [1e-150, 1e150])
def test_gd_fit_is_equivariant_in_y_and_x(c):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GDReLURegressor(n_neurons=2, max_iter=200, random_state=0).fit(X0, Y0).relu_network()
        by_y = GDReLURegressor(n_neurons=2, max_iter=200, random_state=0).fit(X0, c * Y0).relu_network()
        by_x = GDReLURegressor(n_neurons=2, max_iter=200, random_state=0).fit(X0 * c, Y0).relu_network()
    # the same standardised problem up to rounding; 200 L-BFGS steps amplify it to ~1e-8 at most
    assert population_mse(rescaled(by_y, y_factor=c), ref) <= 1e-6 * VAR
    assert population_mse(rescaled(by_x, x_factor=c), ref) <= 1e-6 * VAR


@pytest.mark.parametrize("where, value, name", [("X", 1e300, "X"), ("y", 1e300, "y"), ("y", -1e300, "y")])
@pytest.mark.parametrize("estimator", [MomentReLURegressor(n_neurons=2), GDReLURegressor(n_neurons=2)])
def test_one_extreme_entry_is_refused(where, value, name, estimator):
    X, y = X0.copy(), Y0.copy()
    (X if where == "X" else y).flat[17] = value
    with pytest.raises(ValueError, match=f"^{name} has an extreme value"):
        estimator.fit(X, y)
    assert X0.flat[17] != value  # inputs untouched


@given(st.sampled_from(["X", "y"]), st.integers(0, 2999), st.sampled_from([np.nan, np.inf, -np.inf]),
       st.sampled_from(["moment", "gd"]))
def test_non_finite_values_are_named(which, row, value, est):
    X, y = X0[:200].copy(), Y0[:200].copy()
    (X if which == "X" else y).flat[row % (X.size if which == "X" else y.size)] = value
    model = MomentReLURegressor(n_neurons=2) if est == "moment" else GDReLURegressor(n_neurons=2)
    with pytest.raises(ValueError, match=f"(?i)(input )?{which}|infinity|NaN"):
        model.fit(X, y)


@pytest.mark.parametrize("y, match", [
    (np.array(["a"] * 3000), "strings"), (np.array(["1.5"] * 3000), "strings"),
    (Y0.astype(complex), "Complex"), (np.array([None] * 3000, dtype=object), "numeric"),
])
@pytest.mark.parametrize("est", [MomentReLURegressor, GDReLURegressor])
def test_non_numeric_y_is_refused(y, match, est):
    with pytest.raises(ValueError, match=match):
        est(n_neurons=2).fit(X0, y)


@given(st.sampled_from([np.float32, np.int64, np.int8, bool]), st.sampled_from(["X", "y"]))
def test_other_numeric_dtypes_are_accepted(dtype, which):
    X = (X0[:300] * 10).astype(dtype) if which == "X" else X0[:300]
    y = (Y0[:300] * 10).astype(dtype) if which == "y" else Y0[:300]
    if np.ptp(np.asarray(y, dtype=float)) == 0:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = MomentReLURegressor(n_neurons=2, refine=False, **FAST).fit(X, y).network_
    assert np.all(np.isfinite(net.hidden_weights)) and np.isfinite(net.intercept)


def test_tiny_y_is_not_called_constant():
    net = MomentReLURegressor(n_neurons=2, random_state=0, **FAST).fit(X0, 1e-200 * Y0).network_
    assert population_mse(rescaled(net, y_factor=1e-200), TEACHER) <= 1e-8 * VAR


def test_network_overflowing_the_original_units_is_refused():
    with pytest.raises(ValueError, match="overflow float64"):
        MomentReLURegressor(n_neurons=2, **FAST).fit(X0 * 1e-300, Y0 * 1e200)


def test_gd_divergence_says_so():
    with pytest.raises(ValueError, match="gd diverged.*lower learning_rate"):
        GDReLURegressor(n_neurons=2, optimizer="gd", learning_rate=1e6, random_state=0).fit(X0, Y0)


@pytest.mark.parametrize("scale, finite", [(1e100, True), (1e200, False)])
def test_population_scores_stay_finite_or_raise(scale, finite):
    big = ReLUNetwork(np.eye(5)[:2] * scale, [1.0, -1.0])
    if finite:
        assert np.isfinite(population_mse(big, TEACHER)) and np.isfinite(population_variance(big))
        # Var relu(s x1) - relu(s x2) = s^2 (1 - 1/pi): exact up to rounding
        assert population_variance(big) == pytest.approx(scale**2 * (1 - 1 / np.pi), rel=1e-12)
    else:
        for f in (lambda: population_mse(big, TEACHER), lambda: population_variance(big)):
            with pytest.raises(ValueError, match="overflows float64"):
                f()


def test_whitening_learns_correlated_gaussian_inputs():
    rng = np.random.default_rng(3)
    Q = np.linalg.qr(rng.standard_normal((5, 5)))[0]
    root = (Q * np.sqrt(np.geomspace(1, 10, 5))) @ Q.T
    model = MomentReLURegressor(n_neurons=2, whiten=True, random_state=0, **FAST).fit(X0 @ root, Y0)
    net = model.network_
    seen_in_z = ReLUNetwork(net.hidden_weights @ root, net.output_weights, net.linear_weights @ root, net.intercept)
    assert population_mse(seen_in_z, TEACHER) <= 1e-8 * VAR  # noiseless: exact after refinement
    assert np.allclose(np.linalg.norm(model.candidates_, axis=1), 1.0)


def shifted_view(net, mu, root):
    """The network of z computing ``net`` at x = mu + root z (biases absorb the mean)."""
    return ReLUNetwork(net.hidden_weights @ root, net.output_weights, net.linear_weights @ root,
                       net.intercept + net.linear_weights @ mu, net.hidden_biases + net.hidden_weights @ mu)


@pytest.mark.parametrize("seed", [0, 1])
def test_whitening_with_hidden_biases_learns_inputs_with_a_mean(seed):
    # the must-show at small size: x ~ N(mu, Sigma), mu of entries +-1, condition number
    # 10, a bias-free teacher of x, noiseless; scored exactly in z (x = mu + Sigma^{1/2} z)
    d, k = 5, 2
    rng = np.random.default_rng(10 + seed)
    teacher = Teacher.random(n_features=d, n_neurons=k, random_state=seed)
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    root = (Q * np.sqrt(np.geomspace(1, 10, d))) @ Q.T
    mu = rng.choice([-1.0, 1.0], d)
    X = mu + rng.standard_normal((4000, d)) @ root
    y = teacher(X)
    model = MomentReLURegressor(n_neurons=k, whiten=True, hidden_biases=True, random_state=0, **FAST).fit(X, y)
    seen = shifted_view(teacher.relu_network(), mu, root)
    assert seen.has_biases  # in z the teacher has biases: a bias-free learner cannot fit it
    assert population_mse(shifted_view(model.network_, mu, root), seen) <= 1e-6 * population_variance(seen)
    np.testing.assert_allclose(model.scaling_["x_mean"], X.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(model.predict(X), y, atol=1e-6 * np.sqrt(np.mean(y**2)))  # raw x in, y out


def test_whitening_refuses_a_mean_and_a_singular_covariance():
    with pytest.raises(ValueError, match="bias inside the ReLU.*Pass hidden_biases=True to learn inputs with a mean"):
        MomentReLURegressor(n_neurons=2, whiten=True).fit(X0 + 0.5, Y0)
    X = np.hstack([X0, X0[:, :1]])
    with pytest.raises(ValueError, match="singular"):
        MomentReLURegressor(n_neurons=2, whiten=True).fit(X, Y0)
    with pytest.raises(ValueError, match="singular"):
        MomentReLURegressor(n_neurons=2, whiten=True, hidden_biases=True).fit(X + 0.5, Y0)


def test_without_whitening_inputs_are_never_centred():
    model = MomentReLURegressor(n_neurons=2, hidden_biases=True, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the Gaussianity diagnostic names the mean
        model.fit(X0 + 0.5, Y0)
    assert model.scaling_["x_mean"] is None and model.scaling_["whitener"] is None


def test_fit_oracle_draws_standard_inputs_whatever_whiten():
    # the oracle's inputs are N(0, I): nothing to whiten or centre, with or without hidden biases
    model = MomentReLURegressor(n_neurons=2, whiten=True, hidden_biases=True, random_state=0, **FAST)
    model.fit_oracle(TEACHER, n_samples=3000)
    assert model.scaling_["x_mean"] is None and model.scaling_["whitener"] is None
    assert population_mse(model, TEACHER) <= 1e-6 * VAR


def test_counts_accept_integral_floats_and_n_jobs_minus_one():
    model = MomentReLURegressor(n_neurons=2, refine=False, n_jobs=-1, random_state=0, **FAST)
    model.fit_oracle(TEACHER, n_samples=3e3)
    with pytest.raises(ValueError, match="n_samples must be an integer"):
        model.fit_oracle(TEACHER, n_samples=3e3 + 0.5)


def test_condition_helpers_refuse_clearly():
    with pytest.raises(ValueError, match="X is all zeros"):
        condition(np.zeros((50, 3)), np.arange(50.0))
    with pytest.raises(ValueError, match="y is constant"):
        condition(X0, np.full(3000, 1e-320))
    check_numeric([1, 2.5], "y")


@pytest.mark.parametrize("argv", [
    ["bench", "sample-complexity", "--n-min", "nan"], ["bench", "sample-complexity", "--n-max", "inf"],
    ["bench", "sample-complexity", "--noise", "inf"], ["bench", "sample-complexity", "--n-jobs", "-2"],
    ["demo", "--seed", "-1"], ["demo", "--n", "5"], ["demo", "--k", "3.5"], ["bench", "recovery", "--n", "10"],
    ["bench", "recovery", "--json", "/missing/dir/x.json"], ["bench", "perf", "--noise", "-1"],
    ["bench", "race", "--mc-samples", "1"], ["bench", "safran-shamir", "--runs", "0"],
])
def test_cli_bad_values_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len([line for line in err.splitlines() if "error:" in line]) == 1
    assert f"narrowrelu {argv[0]}" in err or f"narrowrelu bench {argv[1]}" in err  # the subcommand's usage


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("narrowrelu ")


def test_cell_store_skips_and_counts_bad_lines(tmp_path):
    store = CellStore(str(tmp_path))
    good = {"family": "random", "d": 5, "k": 2, "n": 100, "seed": 0, "noise": 0.1, "method": "gd_k",
            "mse": 1.0, "error": "ValueError: boom"}
    store.append([good])
    with open(store.path, "ab") as fh:
        fh.write(b"\xff\xfe not utf-8\n" + json.dumps({**good, "d": [1]}).encode() + b"\n{\"family\": ")
    records = store.load()
    assert len(records) == 1 and store.skipped == 3
    jobs = plan_jobs(["random"], [2], 5, [100], 1, 0.1, ["gd_k"])
    assert pending_jobs(jobs, records) == []
    assert len(pending_jobs(jobs, records, retry_failed=True)) == 1


def test_watchdog_liveness_probe():
    import os

    assert _alive(os.getpid()) and not _alive(2**22 + 12345)


def test_argument_types():
    import argparse
    import os

    assert count(1)("3e3") == 3000 and integer(1, allowed=(-1,))("-1") == -1 and real(0)("0") == 0.0
    for parse, text in ((count(1), "2.5"), (count(1), "inf"), (real(0), "nan"), (real(0, closed="neither"), "0"),
                        (integer(0), "-1"), (integer(1, allowed=(-1,)), "-2")):
        with pytest.raises(argparse.ArgumentTypeError, match="must be"):
            parse(text)
    assert resolve_n_jobs(-1) == (os.cpu_count() or 1) and resolve_n_jobs(3) == 3
