"""Fits too large for their rows, or long, say so before any pass (narrowrelu.learner.workload)."""

import time
import warnings

import pytest

from narrowrelu import MomentReLURegressor, Teacher
from narrowrelu.learner.workload import (
    FitWorkloadWarning,
    LONG_FIT_SECONDS,
    estimated_seconds,
    n_parameters,
    workload_messages,
)


def test_rows_that_cannot_support_the_neurons_are_said_at_once():
    X, y = Teacher.random(30, 30, random_state=0).sample(100, random_state=1)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitWorkloadWarning)
        with pytest.raises(FitWorkloadWarning, match="cannot support 30 neurons"):
            MomentReLURegressor(n_neurons=30, random_state=0).fit(X, y)
    assert time.perf_counter() - start < 5.0


def test_long_fit_is_announced():
    messages = workload_messages(100, 30, [30])
    assert len(messages) == 2 and "minutes" in messages[1]
    assert estimated_seconds(100, 30, [30]) > LONG_FIT_SECONDS
    # the measured 189 s candidate stage at d = k = 30 is within a factor 2 of the model
    assert 189 / 2 < estimated_seconds(100, 30, [30]) < 189 * 2


def test_ordinary_fit_is_quiet():
    assert workload_messages(30_000, 20, [4]) == []
    assert n_parameters(4, 20) == 105
    X, y = Teacher.random(5, 2, random_state=0).sample(3000, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitWorkloadWarning)
        MomentReLURegressor(n_neurons=2, random_state=0, settings=dict(n_contraction_pairs=16)).fit(X, y)


def test_auto_k_counts_every_k():
    assert estimated_seconds(1000, 20, range(1, 11)) > estimated_seconds(1000, 20, [10])


def test_a_told_k_that_may_be_searched_below_is_an_upper_bound():
    # n_neurons = 24 on six neurons (d = 50, n = 5e4) is searched up from the six M2 shows and took
    # 1.5 s; the warning said "may take about 2 minutes"
    told = workload_messages(50_000, 50, [24])[-1]
    below = workload_messages(50_000, 50, [24], searched_below=True)[-1]
    assert "may take about" in told and "searched up to" not in told
    assert "may take up to about" in below and "searched up to from those" in below
