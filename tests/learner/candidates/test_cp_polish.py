"""The CP polish of candidate directions (narrowrelu.learner.candidates.cp_polish): alternating least squares on
the projected tensor from given starts, and the choice of the starts."""

import itertools

import numpy as np
import pytest
from _helpers import unsigned_match
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from narrowrelu.learner.candidates.cp_polish import cp_polish, polish_starts


def _tensor(lam, V, order):
    T = 0.0
    for l, v in zip(lam, V):
        t = v
        for _ in range(order - 1):
            t = np.multiply.outer(t, v)
        T = T + l * t
    return T


def _neurons(rng, k, spread=0.4):
    """``k`` unit directions in ``k`` dimensions, correlated (not orthogonal), and weights of both signs."""
    V = rng.standard_normal((k, k)) + spread * rng.standard_normal(k)
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    lam = rng.choice([-1.0, 1.0], size=k) * rng.uniform(0.5, 1.5, size=k)
    return lam, V


def _rotate(rng, V, angle):
    W = V + angle * rng.standard_normal(V.shape)
    return W / np.linalg.norm(W, axis=1, keepdims=True)


@settings(max_examples=20)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 7), order=st.sampled_from([3, 4]))
def test_polish_recovers_an_exact_decomposition_from_nearby_starts(seed, k, order):
    """On an exact rank-k tensor sum lambda_i v_i^(x)m, ALS from starts 0.03 rad away converges
    to the v_i (up to sign), for weights of either sign and non-orthogonal directions (run to
    convergence: 1000 sweeps, no early stop). ALS converges linearly at a rate set by the
    directions' conditioning and can crawl ("swamp") when they are correlated: at cond(V) up to 5,
    1 case in ~1000 was still 1e-9 away after 1000 sweeps (10 000 reach 0), so the property is
    stated for cond(V) <= 3 (764 of 764 cases exact to 1e-16 in a scan of 200 seeds)."""
    rng = np.random.default_rng(seed)
    lam, V = _neurons(rng, k)
    assume(k == 1 or np.linalg.cond(V) <= 3)
    polished = cp_polish(_tensor(lam, V, order), _rotate(rng, V, 0.03), n_iter=1000, tol=0.0)
    assert polished.shape == (k, k)
    np.testing.assert_allclose(np.linalg.norm(polished, axis=1), 1.0, rtol=1e-12)
    assert unsigned_match(polished, V).max() < 1e-10
    assert unsigned_match(V, polished).max() < 1e-10


def test_polish_brings_noisy_starts_closer_to_the_neurons():
    """With a symmetric perturbation of relative size 1e-4, ALS from 0.1 rad lands within the
    perturbation's reach: 100 times closer (projective distance) than the starts."""
    rng = np.random.default_rng(7)
    k = 8
    lam, V = _neurons(rng, k)
    T = _tensor(lam, V, 4)
    noise = rng.standard_normal(T.shape)
    sym = sum(np.transpose(noise, p) for p in itertools.permutations(range(4))) / 24
    starts = _rotate(rng, V, 0.1)
    polished = cp_polish(T + 1e-4 * np.abs(T).max() * sym, starts)
    assert unsigned_match(polished, V).max() < unsigned_match(starts, V).max() / 100


def test_polish_drops_zero_starts_and_leaves_inputs_unchanged():
    rng = np.random.default_rng(2)
    lam, V = _neurons(rng, 3)
    T = _tensor(lam, V, 4)
    starts = np.vstack([_rotate(rng, V, 0.01)[:2], np.zeros(3)])
    before_T, before_s = T.copy(), starts.copy()
    assert cp_polish(T, starts).shape == (2, 3)
    assert cp_polish(T, np.zeros((2, 3))).shape == (0, 3)
    np.testing.assert_array_equal(T, before_T)
    np.testing.assert_array_equal(starts, before_s)


@pytest.mark.parametrize("n_current", [0, 2, 4])
def test_polish_starts_take_current_then_new_centres_then_random(n_current):
    k = 4
    current = np.eye(k)[:n_current]
    centres = np.vstack([np.eye(k)[0], [0.0, 0.0, 0.6, 0.8]])  # the first repeats current[0]
    starts = polish_starts(current, centres, k, np.random.default_rng(9))
    assert starts.shape == (k, k)
    np.testing.assert_allclose(np.linalg.norm(starts, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(starts[:n_current], current)
    if n_current < k:
        fresh = centres if n_current == 0 else centres[1:]
        np.testing.assert_array_equal(starts[n_current:n_current + fresh.shape[0]], fresh[: k - n_current])
    again = polish_starts(current, centres, k, np.random.default_rng(9))
    np.testing.assert_array_equal(starts, again)
