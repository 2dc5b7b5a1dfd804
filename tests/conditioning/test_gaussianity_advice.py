"""The Gaussianity diagnostic's advice matches the cause: unequal scales -> whiten=True, constant
columns named (no numpy/scipy RuntimeWarning), repeated rows said plainly and not taken for a mean."""

import warnings

import numpy as np
import pytest

from narrowrelu import MomentReLURegressor, Teacher
from narrowrelu.conditioning.gaussianity import NonGaussianInputWarning, gaussianity_scores, non_gaussian_message

TEACHER = Teacher.random(5, 2, random_state=0)
X, Y = TEACHER.sample(20_000, random_state=1)


def test_scaled_column_gets_whiten_advice_not_a_mean():
    X100 = X.copy()
    X100[:, 0] *= 100
    with pytest.warns(NonGaussianInputWarning) as record:
        MomentReLURegressor(n_neurons=2, random_state=0, settings=dict(n_contraction_pairs=16)).fit(X100, Y)
    message = " ".join(str(w.message) for w in record if issubclass(w.category, NonGaussianInputWarning))
    assert "whiten=True" in message and "has mean" not in message


def test_mean_z_is_in_the_columns_units():
    # a column of standard deviation 100 and mean 0: its mean's z-score is standard normal
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((20_000, 4))
    Z[:, 0] *= 100
    assert gaussianity_scores(Z)["mean"][0] < 4.5
    message = non_gaussian_message(Z)
    assert "whiten=True" in message and "mean" not in message


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_constant_column_is_named_without_runtime_warnings(value):
    Xc = np.c_[X, np.full(len(X), value)]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        MomentReLURegressor(n_neurons=2, random_state=0, settings=dict(n_contraction_pairs=16)).fit(Xc, Y)
    assert not [w for w in record if issubclass(w.category, RuntimeWarning)]
    messages = [str(w.message) for w in record if issubclass(w.category, NonGaussianInputWarning)]
    assert len(messages) == 1
    assert "column 5" in messages[0] and "constant" in messages[0]
    assert "fit with whiten=True" not in messages[0]  # the other columns pass


def test_repeated_rows_are_said_plainly():
    Xr = np.repeat(X[:2000], 10, axis=0)
    scores = gaussianity_scores(Xr)
    assert scores["duplicates"][0] == 18_000
    message = non_gaussian_message(Xr)
    assert "repeat" in message and "has mean" not in message


def test_gaussian_inputs_still_pass():
    for seed in range(5):
        assert non_gaussian_message(np.random.default_rng(seed).standard_normal((20_000, 8))) is None


def test_a_mean_gets_the_advice_to_centre_with_hidden_biases():
    message = non_gaussian_message(X + 0.5)
    assert "has mean" in message and "standard errors from 0" in message
    assert "fit with whiten=True, hidden_biases=True" in message and "N(mu, Sigma)" in message
