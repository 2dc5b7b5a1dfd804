"""Labels that dominate the squared loss (narrowrelu.conditioning.dominant_labels) and the checks of
fit_oracle's outputs: warnings naming rows, clear errors, standard units."""

import warnings

import numpy as np
import pytest

from narrowrelu import GDReLURegressor, MomentReLURegressor, Teacher, population_mse, population_variance
from narrowrelu.conditioning.standard_units import LabelOutlierWarning, dominant_labels, dominant_labels_message

TEACHER = Teacher.random(5, 2, random_state=0)
X, Y = TEACHER.sample(3000, random_state=1)
FAST = dict(n_neurons=2, settings=dict(n_contraction_pairs=16, max_rounds=3), random_state=0)


@pytest.mark.parametrize("value", [1e4 * np.std(Y), 1e6, -1e5])
def test_one_corrupted_label_is_named(value):
    y = Y.copy()
    y[5] = value
    found = dominant_labels(y)
    assert found["rows"] == [5] and found["share"] > 0.99
    assert found["robust_sds"][0] > 1e4
    assert "row 5" in dominant_labels_message(y)


def test_a_handful_of_labels_is_named():
    y = Y.copy()
    y[[3, 70, 900]] = [500.0, -400.0, 450.0]
    assert sorted(dominant_labels(y)["rows"]) == [3, 70, 900]


@pytest.mark.parametrize("noise", ["gaussian", "laplace", "student5"])
@pytest.mark.parametrize("n", [300, 3000, 100_000])
def test_clean_and_heavy_ish_noise_are_quiet(noise, n):
    rng = np.random.default_rng(n)
    f = TEACHER(rng.standard_normal((n, 5)))
    draw = {"gaussian": rng.standard_normal, "laplace": lambda m: rng.laplace(size=m),
            "student5": lambda m: rng.standard_t(5, m)}[noise]
    for scale in (0.0, 0.3, 3.0):
        assert dominant_labels(f + scale * np.std(f) * draw(n)) is None


def test_fit_warns_and_gd_too():
    y = Y.copy()
    y[5] = 1e6
    with pytest.warns(LabelOutlierWarning, match="row 5"):
        MomentReLURegressor(**FAST).fit(X, y)
    with pytest.warns(LabelOutlierWarning, match="row 5"):
        GDReLURegressor(n_neurons=2, random_state=0, max_iter=5).fit(X, y)


def test_clean_fit_has_no_label_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", LabelOutlierWarning)
        MomentReLURegressor(**FAST).fit(X, Y)


def _spike(Z):
    y = TEACHER(Z)
    y[0] = 1e12
    return y


@pytest.mark.parametrize("oracle, match", [
    (_spike, "extreme value 1e\\+12"),
    (lambda Z: TEACHER(Z).astype(complex), "complex"),
    (lambda Z: TEACHER(Z) + 1j, "complex"),
    (lambda Z: np.full(len(Z), "a"), "strings"),
    (lambda Z: np.where(Z[:, 0] > 3, np.nan, TEACHER(Z)), "non-finite"),
])
def test_bad_oracle_outputs_are_refused(oracle, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning on the way
        with pytest.raises(ValueError, match=match):
            MomentReLURegressor(**FAST).fit_oracle(oracle, 20_000, 5)


def test_oracle_dominant_outputs_warn():
    def every_chunk_one_large(Z):
        y = TEACHER(Z)
        y[5] = 1e4
        return y

    with pytest.warns(LabelOutlierWarning, match="oracle"):
        MomentReLURegressor(**FAST, refine=False, max_auto_neurons=1).fit_oracle(every_chunk_one_large, 8000, 5)


@pytest.mark.parametrize("c", [1e300, 1e-300, 1e12])
def test_oracle_fits_in_standard_units(c):
    variance = population_variance(TEACHER)
    model = MomentReLURegressor(**FAST).fit_oracle(lambda Z: c * TEACHER(Z), 20_000, 5)
    net = model.network_
    from narrowrelu import ReLUNetwork

    back = ReLUNetwork(net.hidden_weights, net.output_weights / c, net.linear_weights / c, net.intercept / c)
    assert population_mse(back, TEACHER) < 1e-8 * variance
    assert model.scaling_["y_scale"] == 2.0 ** np.round(np.log2(model.scaling_["y_scale"]))


def test_oracle_offset_is_shifted():
    model = MomentReLURegressor(**FAST).fit_oracle(lambda Z: 1e12 + TEACHER(Z), 20_000, 5)
    assert model.scaling_["y_shift"] == pytest.approx(1e12)
    net = model.network_
    from narrowrelu import ReLUNetwork

    back = ReLUNetwork(net.hidden_weights, net.output_weights, net.linear_weights, net.intercept - 1e12)
    assert population_mse(back, TEACHER) < 1e-6 * population_variance(TEACHER)


def test_oracle_power_of_two_scale_is_exact():
    a = MomentReLURegressor(**FAST).fit_oracle(TEACHER, 20_000).network_
    b = MomentReLURegressor(**FAST).fit_oracle(lambda Z: 8.0 * TEACHER(Z), 20_000, 5).network_
    np.testing.assert_array_equal(b.hidden_weights, a.hidden_weights)
    np.testing.assert_array_equal(b.output_weights, 8.0 * a.output_weights)
    np.testing.assert_array_equal(b.linear_weights, 8.0 * a.linear_weights)
    assert b.intercept == 8.0 * a.intercept
