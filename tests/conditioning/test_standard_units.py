"""Centring with whitening (narrowrelu.conditioning.standard_units, ``whiten=True, center_x=True``):
the fit's inputs are centred and white, the map of a biased network back to X's coordinates is
exact, and without ``center_x`` a mean is refused with a message that names ``hidden_biases=True``."""

import numpy as np
import pytest

from narrowrelu import ReLUNetwork
from narrowrelu.conditioning.standard_units import condition


def shifted_gaussian(n=4000, d=5, mean_size=1.0, scale=1.0, seed=0):
    """Rows x = mu + Sigma^{1/2} z (condition number 10, a random rotation), times ``scale``;
    entries of mu are +-``mean_size``. Returns X, y (a noisy function of x) and mu * scale."""
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    root = (Q * np.sqrt(np.geomspace(1, 10, d))) @ Q.T
    mu = mean_size * rng.choice([-1.0, 1.0], d)
    X = (mu + rng.standard_normal((n, d)) @ root) * scale
    y = np.maximum(X[:, 0], 0.0) + rng.standard_normal(n)
    return X, y, mu * scale


def random_biased_network(k, d, seed):
    rng = np.random.default_rng(seed)
    return ReLUNetwork(rng.standard_normal((k, d)), rng.standard_normal(k), rng.standard_normal(d),
                       rng.standard_normal(), rng.standard_normal(k))


@pytest.mark.parametrize("scale", [1.0, 3.0, 1e-30])
def test_centred_whitened_inputs_have_zero_mean_and_identity_covariance(scale):
    X, y, _ = shifted_gaussian(scale=scale)
    X0 = X.copy()
    data = condition(X, y, whiten=True, center_x=True)
    n, d = X.shape
    # the empirical mean and covariance are removed exactly, up to rounding (entries of x' are O(1))
    np.testing.assert_allclose(data.X.mean(axis=0), 0.0, atol=1e-13)
    np.testing.assert_allclose(data.X.T @ data.X / n, np.eye(d), atol=1e-12)
    np.testing.assert_allclose(data.x_mean, X.mean(axis=0), rtol=1e-13, atol=0)
    np.testing.assert_array_equal(X, X0)  # the input is not modified


def test_a_mean_far_larger_than_the_spread_is_removed_without_losing_the_covariance():
    # mean 1e6 against a spread of 1 to 3: a covariance taken as E[xx^T] - mu mu^T would lose 12
    # of its 16 digits; taken about the mean, the whitened rows are white to 1e-9
    X, y, _ = shifted_gaussian(mean_size=1e6)
    data = condition(X, y, whiten=True, center_x=True)
    np.testing.assert_allclose(data.X.T @ data.X / X.shape[0], np.eye(X.shape[1]), atol=1e-9)


@pytest.mark.parametrize("scale", [1.0, 3.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_biased_network_of_the_centred_inputs_maps_back_exactly(scale, seed):
    # g(x) = m_y + s_y f'(A(x - mu)): the network to_original returns, evaluated on the raw rows,
    # is the fit-coordinate network on the standardised rows, mapped by hand
    X, y, _ = shifted_gaussian(n=2000, scale=scale, seed=seed)
    data = condition(X, y, whiten=True, center_x=True)
    net = random_biased_network(3, X.shape[1], seed)
    mapped = data.to_original(net)
    expected = data.y_shift + data.y_scale * net(data.X)
    got = mapped(X)
    assert np.max(np.abs(got - expected)) <= 1e-12 * np.max(np.abs(expected))
    # a bias-free network of x' is a biased one of x once the mean is taken out
    plain = ReLUNetwork(net.hidden_weights, net.output_weights, net.linear_weights, net.intercept)
    assert data.to_original(plain).has_biases
    again = data.y_shift + data.y_scale * plain(data.X)
    assert np.max(np.abs(data.to_original(plain)(X) - again)) <= 1e-12 * np.max(np.abs(again))


def test_a_biased_network_maps_back_exactly_without_centring_too():
    X, y, _ = shifted_gaussian(mean_size=0.0, scale=3.0)
    data = condition(X, y, whiten=True)
    assert data.x_mean is None
    net = random_biased_network(3, X.shape[1], 5)
    expected = data.y_shift + data.y_scale * net(data.X)
    assert np.max(np.abs(data.to_original(net)(X) - expected)) <= 1e-12 * np.max(np.abs(expected))
    np.testing.assert_array_equal(data.to_original(net).hidden_biases, net.hidden_biases)


def test_center_x_is_ignored_without_whitening():
    X, y, _ = shifted_gaussian()
    data = condition(X, y, center_x=True)
    assert data.x_mean is None and data.whitener is None
    np.testing.assert_allclose(data.X * data.x_scale, X, rtol=1e-15)  # rescaled only, not centred


def test_a_mean_without_centring_is_refused_naming_hidden_biases():
    X, y, _ = shifted_gaussian(mean_size=0.5)
    with pytest.raises(ValueError) as info:
        condition(X, y, whiten=True)
    message = str(info.value)
    assert message.startswith("whiten=True: column")
    assert "bias inside the ReLU" in message and "Pass hidden_biases=True to learn inputs with a mean" in message
    # centred, the same data are accepted
    condition(X, y, whiten=True, center_x=True)


def test_a_singular_covariance_is_refused_with_centring_too():
    X, y, _ = shifted_gaussian()
    with pytest.raises(ValueError, match="covariance of X is singular"):
        condition(np.hstack([X, X[:, :1] + 2.0]), y, whiten=True, center_x=True)


def test_an_overflowing_bias_is_refused_in_the_map_back():
    # a mean a million spreads away: the hidden rows stay finite, their bias -u.mu does not
    X, y, _ = shifted_gaussian(mean_size=1e6)
    data = condition(X, y, whiten=True, center_x=True)
    net = ReLUNetwork(np.full((1, X.shape[1]), 1e305), [1.0])
    with pytest.raises(ValueError, match="the fitted network's hidden biases overflow float64"):
        data.to_original(net)


def test_outlier_quartiles_read_enough_rows_on_wide_data(monkeypatch):
    """However wide the data, the quartiles come from ``QUARTILE_MIN_ROWS`` rows at least: from a
    handful of rows they can be equal, a zero scale that would refuse nothing (emulated here with
    a tiny entry budget at d = 20)."""
    import narrowrelu.conditioning.standard_units as su

    assert su.quartile_rows(1) == su.SUBSAMPLE_ROWS
    assert su.quartile_rows(200) == su.QUARTILE_ENTRIES // 200
    assert su.quartile_rows(10**7) == su.QUARTILE_MIN_ROWS
    monkeypatch.setattr(su, "QUARTILE_ENTRIES", 10)
    X = np.random.default_rng(7).standard_normal((5000, 20))
    X[321, 4] = 1e12
    with pytest.raises(ValueError, match=r"row 321, column 4"):
        su.check_outliers(X, "X")


@pytest.mark.parametrize("d", [3, 200])
def test_outlier_quartiles_read_a_bounded_subsample_and_still_refuse_a_corrupted_entry(monkeypatch, d):
    import narrowrelu.conditioning.standard_units as su

    seen = []
    original = su.refuse_outliers

    def spy(sub, *args, **kwargs):
        seen.append(sub.shape)
        return original(sub, *args, **kwargs)

    monkeypatch.setattr(su, "refuse_outliers", spy)
    rng = np.random.default_rng(d)
    X = rng.standard_normal((50_000, d))
    X0 = X.copy()
    top = su.check_outliers(X, "X")
    assert top == np.abs(X).max()
    rows, cols = seen[-1]
    cap = su.quartile_rows(d)  # 16 666 rows at d = 3, 250 at d = 200
    assert cols == d and cap <= rows <= 2 * cap  # every (n // cap)-th row
    X[12_345, d - 1] = 1e10
    with pytest.raises(ValueError, match=rf"row 12345, column {d - 1}"):
        su.check_outliers(X, "X")
    X[12_345, d - 1] = X0[12_345, d - 1]
    assert np.array_equal(X, X0)
