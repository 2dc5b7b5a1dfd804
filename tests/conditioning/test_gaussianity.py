"""The Gaussianity diagnostic of the inputs (narrowrelu.conditioning.gaussianity): silent on N(0, I),
loud on non-Gaussian, correlated and shifted inputs, and pointing to the right remedy."""

import numpy as np
import pytest

from narrowrelu.conditioning.gaussianity import (gaussianity_scores, kurtosis_z, non_gaussian_message, skewness_z,
                                                subsample_rows, z_threshold)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [1_000, 20_000])
def test_standard_gaussian_passes(seed, n):
    X = np.random.default_rng(seed).standard_normal((n, 10))
    assert non_gaussian_message(X) is None


def test_threshold_is_bonferroni_bound():
    # 4d + d(d-1)/2 = 270 tests at d = 20, family-wise 1e-4: |z| > 5.08
    assert 5.0 < z_threshold(20) < 5.2
    assert subsample_rows(10**7, 20) == 50_000 and subsample_rows(100, 20) == 100


def _inputs(kind, rng, n=20_000, d=10):
    if kind == "rademacher":
        return rng.choice([-1.0, 1.0], size=(n, d))
    if kind == "uniform":
        return rng.uniform(-np.sqrt(3), np.sqrt(3), size=(n, d))
    if kind == "student":
        return rng.standard_t(5, size=(n, d)) / np.sqrt(5 / 3)
    if kind == "correlated":
        Z = rng.standard_normal((n, d))
        Z[:, 1] = (Z[:, 0] + Z[:, 1]) / np.sqrt(2)
        return Z
    if kind == "shifted":
        return rng.standard_normal((n, d)) + 0.5
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, expected", [
    ("rademacher", "excess kurtosis"), ("uniform", "excess kurtosis"), ("student", "excess kurtosis"),
    ("correlated", "whiten=True"), ("shifted", "mean"),
])
def test_non_gaussian_inputs_are_named(kind, expected):
    message = non_gaussian_message(_inputs(kind, np.random.default_rng(1)))
    assert message is not None and expected in message and "N(0, I)" in message
    if kind in ("rademacher", "uniform", "student"):
        assert "no scaler" in message


def test_scores_cover_every_group():
    scores = gaussianity_scores(np.random.default_rng(0).standard_normal((500, 3)))
    assert set(scores) == {"mean", "variance", "covariance", "skewness", "kurtosis"}
    assert all(np.isfinite(s[0]) for s in scores.values())


@pytest.mark.parametrize("draw", ["normal", "exponential", "student", "uniform"])
@pytest.mark.parametrize("n", [20, 200, 20_000])
def test_skewness_and_kurtosis_scores_equal_scipy_tests(draw, n):
    """The scores from the moments at hand are scipy's skewtest and kurtosistest statistics."""
    from scipy.stats import kurtosis, kurtosistest, skew, skewtest

    rng = np.random.default_rng(n)
    X = {"normal": rng.standard_normal, "exponential": rng.standard_exponential,
         "student": lambda size: rng.standard_t(5, size), "uniform": rng.random}[draw]((n, 3))
    np.testing.assert_allclose(skewness_z(skew(X, axis=0), n), skewtest(X, axis=0).statistic, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(kurtosis_z(kurtosis(X, axis=0, fisher=False), n), kurtosistest(X, axis=0).statistic,
                               rtol=1e-10, atol=1e-12)


def test_distinct_rows_are_found_whether_or_not_their_projections_tie():
    from narrowrelu.conditioning.gaussianity import _distinct_rows

    rng = np.random.default_rng(4)
    S = rng.standard_normal((500, 3))
    assert np.array_equal(_distinct_rows(S), np.arange(500))
    repeated = np.vstack([S, S[[7, 3]], S[:1]])
    assert np.array_equal(_distinct_rows(repeated), np.arange(500))
    # two different rows with the same projection on sqrt(2), sqrt(3), sqrt(4): the rows decide
    tie = np.array([[np.sqrt(3.0), 0.0, 1.0], [0.0, np.sqrt(2.0), 1.0]])
    keys = tie @ np.sqrt(np.arange(2.0, 5.0))
    assert keys[0] == keys[1]
    assert np.array_equal(_distinct_rows(tie), [0, 1])
    assert np.array_equal(_distinct_rows(np.vstack([tie, tie[1:]])), [0, 1])
    assert np.array_equal(_distinct_rows(S[:1]), [0]) and _distinct_rows(S[:0]).size == 0
