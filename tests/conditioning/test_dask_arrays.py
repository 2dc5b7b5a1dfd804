"""The standardisation of dask arrays (:func:`narrowrelu.conditioning.dask_arrays.condition_dask`)
against the NumPy one (:func:`narrowrelu.conditioning.condition`) on the same data: the same maps
and standardised data to 1e-12 relative (sums in another order), and the same refusals with the
same messages. Inputs are never modified."""

import warnings

import numpy as np
import pytest

from narrowrelu import MomentReLURegressor, Teacher
from narrowrelu.conditioning import condition
from narrowrelu.conditioning.dask_arrays import condition_dask
from narrowrelu.conditioning.gaussianity import NonGaussianInputWarning

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

FAST = {"settings": {"n_contraction_pairs": 16, "max_rounds": 3}}


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="sync"):
        yield


def data(n=6000, d=5, seed=0):
    X, y = Teacher.random(n_features=d, n_neurons=2, random_state=seed).sample(n, random_state=seed + 1)
    return X, y + 0.1 * np.random.default_rng(seed + 2).standard_normal(n)


def chunked(X, y, rows=1700):
    """Dask arrays of ``X`` and ``y`` (rows in uneven chunks: ``rows``, then the rest in two)."""
    n = X.shape[0]
    sizes = (rows, (n - rows) // 2, n - rows - (n - rows) // 2)
    return da.from_array(X, chunks=(sizes, (X.shape[1],))), da.from_array(y, chunks=(sizes,))


def assert_close(got, expected, rtol=1e-12):
    """Equal within ``rtol`` relative to the largest entry of ``expected``."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max(initial=0.0) <= rtol * np.abs(expected).max(initial=0.0)


@pytest.mark.parametrize("whiten, center_x, offset", [(False, False, 0.0), (True, False, 0.0), (True, True, 0.0),
                                                     (True, True, 0.7), (False, True, 0.7)])
@pytest.mark.parametrize("scale, n", [(1.0, 6000), (3.0, 6000), (1.0, 45_001), (1e-120, 6000), (1e150, 6000)])
def test_same_maps_and_data_as_the_numpy_conditioning(whiten, center_x, offset, scale, n):
    # 45 001 rows: the outlier check reads every 2nd row; 1e-120 and 1e150: X's sums of squares
    # are taken on X / max|X| (beyond SAFE_SQUARE); offset: a mean, centred with center_x (and
    # left alone without whitening)
    X, y = data(n=n, d=4)
    X = (X + offset) * scale
    X0, y0 = X.copy(), y.copy()
    expected = condition(X, y, whiten=whiten, center_x=center_x)
    got = condition_dask(*chunked(X, y), whiten=whiten, center_x=center_x)
    if whiten and center_x:
        assert_close(got.x_mean, expected.x_mean)
    else:
        assert got.x_mean is None and expected.x_mean is None
    assert isinstance(got.X, da.Array) and isinstance(got.y, da.Array)  # lazy, block by block
    for name in ("y_shift", "y_scale", "x_scale"):
        assert getattr(got, name) == pytest.approx(getattr(expected, name), rel=1e-12, abs=0), name
    assert (got.x_scale == 1.0) == (scale == 1.0 and offset == 0.0)  # standard normal X is fitted as given
    if whiten:
        assert_close(got.whitener, expected.whitener)
    else:
        assert got.whitener is None and expected.whitener is None
    Xc, yc = dask.compute(got.X, got.y)
    assert_close(Xc, expected.X)
    assert_close(yc, expected.y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize("which", ["X", "y"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused_naming_the_input(which, value):
    X, y = data(n=3000)
    (X if which == "X" else y).flat[2345] = value
    with pytest.raises(ValueError, match=f"^{which} has non-finite values"):
        condition_dask(*chunked(X, y, rows=1000))
    with pytest.raises(ValueError, match=f"^{which} has non-finite values"):
        MomentReLURegressor(n_neurons=2).fit(*chunked(X, y, rows=1000))


def refusal(f):
    with pytest.raises(ValueError) as info:
        f()
    return str(info.value)


@pytest.mark.parametrize("which, index, value, n", [
    ("X", (4321, 2), 1e12, 6000), ("X", (17, 0), -1e12, 6000), ("y", 5000, 1e12, 6000),
    ("X", (40_321, 4), 1e12, 45_001),  # medians and quartiles of every 2nd row
])
def test_an_extreme_entry_is_refused_as_in_numpy(which, index, value, n):
    X, y = data(n=n)
    X[:] = np.random.default_rng(5).standard_normal(X.shape)
    (X if which == "X" else y)[index] = value
    X0, y0 = X.copy(), y.copy()
    message = refusal(lambda: condition_dask(*chunked(X, y)))
    where = f"row {index[0]}, column {index[1]}" if which == "X" else f"row {index}"
    assert message.startswith(f"{which} has an extreme value {value:.3g} at {where}, more than")
    assert message == refusal(lambda: condition(X, y))
    # and through fit, on either kind of array
    assert refusal(lambda: MomentReLURegressor(n_neurons=2).fit(*chunked(X, y))) == message
    assert refusal(lambda: MomentReLURegressor(n_neurons=2).fit(X, y)) == message
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize("value", [0.0, 2.5, -1e-320])
def test_constant_y_is_refused(value):
    X, _ = data(n=3000)
    y = np.full(3000, value)
    message = refusal(lambda: condition_dask(*chunked(X, y)))
    assert message.startswith(f"y is constant (every value is {value!r} to float64 precision)")
    assert refusal(lambda: condition(X, y)).startswith("y is constant")
    assert refusal(lambda: MomentReLURegressor(n_neurons=2).fit(*chunked(X, y))) == message


def test_all_zero_x_is_refused():
    _, y = data(n=3000)
    assert refusal(lambda: condition_dask(*chunked(np.zeros((3000, 5)), y))) == \
        refusal(lambda: condition(np.zeros((3000, 5)), y))


def test_whitening_refuses_a_mean_and_a_singular_covariance_as_in_numpy():
    X, y = data(n=6000)
    shifted = X + 0.5
    message = refusal(lambda: condition_dask(*chunked(shifted, y), whiten=True))
    assert "whiten=True: column" in message and "bias inside the ReLU" in message
    assert "Pass hidden_biases=True to learn inputs with a mean" in message
    assert message == refusal(lambda: condition(shifted, y, whiten=True))
    assert refusal(lambda: MomentReLURegressor(n_neurons=2, whiten=True).fit(*chunked(shifted, y))) == message
    # without whitening the mean is not refused (the fit warns instead)
    condition_dask(*chunked(shifted, y))
    singular = np.hstack([X, X[:, :1]])
    message = refusal(lambda: condition_dask(*chunked(singular, y), whiten=True))
    expected = refusal(lambda: condition(singular, y, whiten=True))
    # the smallest eigenvalue is rounding noise (~1e-16), different in each
    assert "singular or nearly so" in message
    assert message.split("(eigenvalues")[0] == expected.split("(eigenvalues")[0]


def test_non_gaussian_inputs_warn_as_in_numpy():
    X, y = data(n=6000)
    uniform = np.random.default_rng(3).uniform(-np.sqrt(3), np.sqrt(3), X.shape)
    X0 = uniform.copy()
    messages = []
    for inputs in ((uniform, y), chunked(uniform, y)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            MomentReLURegressor(n_neurons=2, refine=False, random_state=0, **FAST).fit(*inputs)
        messages.append([str(w.message) for w in caught if issubclass(w.category, NonGaussianInputWarning)])
    assert len(messages[0]) == 1 and "excess kurtosis" in messages[0][0]
    assert messages[1] == messages[0]
    np.testing.assert_array_equal(uniform, X0)


def test_a_mean_far_larger_than_the_spread_is_centred_without_losing_the_covariance():
    # mean 1e6 against a spread of 1: the sums are taken about the subsample's mean, so the
    # covariance keeps its digits (E[xx^T] - mu mu^T would keep 4 of 16) and X' is white to 1e-9
    X, y = data(n=6000)
    got = condition_dask(*chunked(X + 1e6, y), whiten=True, center_x=True)
    Xc = got.X.compute()
    np.testing.assert_allclose(Xc.T @ Xc / Xc.shape[0], np.eye(X.shape[1]), atol=1e-9)
    np.testing.assert_allclose(got.x_mean, (X + 1e6).mean(axis=0), rtol=1e-14)


def test_inputs_with_a_mean_are_learned_on_dask_arrays_with_hidden_biases():
    # noiseless, x = mu + Sigma^{1/2} z: the dask fit is the NumPy fit up to rounding
    teacher = Teacher.random(n_features=4, n_neurons=2, random_state=3)
    rng = np.random.default_rng(4)
    Q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    X = rng.choice([-1.0, 1.0], 4) + rng.standard_normal((6000, 4)) @ ((Q * np.sqrt(np.geomspace(1, 10, 4))) @ Q.T)
    y = teacher(X)
    settings = dict(n_neurons=2, whiten=True, hidden_biases=True, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = MomentReLURegressor(**settings).fit(X, y)
        remote = MomentReLURegressor(**settings).fit(*chunked(X, y))
    np.testing.assert_allclose(remote.scaling_["x_mean"], X.mean(axis=0), rtol=1e-13)
    scale = np.sqrt(np.mean(y**2))
    assert np.max(np.abs(remote.predict(X) - y)) <= 1e-6 * scale
    assert np.max(np.abs(remote.predict(X) - local.predict(X))) <= 1e-6 * scale
