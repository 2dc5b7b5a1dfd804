"""Implicit Hermite moment contractions (narrowrelu.moments.contraction, narrowrelu.moments._blas).

Three kinds of check:

* exact: the implicit contractions equal explicit einsum contractions of the materialised tensor
  ``mean_i y_i He_m(x_i)`` (small d), to 1e-12 relative to the scale of the result;
* invariance: chunk size, number of threads, streaming in blocks, sign flips of the teacher;
* statistical: the empirical contraction matches its expectation
  ``a_m sum_i lambda_i (u_i.g)^(m-2) u_i u_i^T`` within a stated number of standard errors,
  the standard errors estimated from independent batches of the same data.
"""

import threading
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import assert_close_to_scale, batched, contract, explicit_moment_tensor, small_data
from narrowrelu import ReLUNetwork, Teacher, population_mse, projected_hermite_tensor, relu_hermite_coefficient
from narrowrelu.moments.contraction import (
    HermiteContractionAccumulator,
    hermite_moment_contraction,
    linear_moments,
    second_moment,
)

N_SE = 5.0  # statistical tolerance, in standard errors


def expected_contraction(teacher, g, order):
    """a_m sum_i lambda_i (u_i . g)^(m-2) u_i u_i^T (population value; unit u_i, zero intercept)."""
    U, lam = teacher.hidden_weights, teacher.output_weights
    coef = lam * (U @ g) ** (order - 2)
    return relu_hermite_coefficient(order) * (U.T * coef) @ U


# ----------------------------------------------------------------------------- exact checks
@pytest.mark.parametrize("order", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("d", [1, 3, 5])
def test_contraction_equals_explicit_einsum(order, d):
    X, y = small_data(n=120, d=d, seed=order * 10 + d)
    rng = np.random.default_rng(d)
    G = rng.standard_normal((3, d)) * np.array([[1.0], [0.5], [2.0]])  # directions of any norm
    T = explicit_moment_tensor(X, y, order)
    got = hermite_moment_contraction(X, y, G, order=order, chunk_size=50)
    assert got.shape == (3, d, d)
    for j in range(3):
        expected = contract(T, G[j], order - 2)
        assert_close_to_scale(got[j], expected)
        np.testing.assert_array_equal(got[j], got[j].T)
        # one direction alone: the row pass splits the rows itself (contraction_row_split)
        alone = hermite_moment_contraction(X, y, G[j], order=order, chunk_size=50)
        assert_close_to_scale(alone, expected)
        np.testing.assert_array_equal(alone, alone.T)


def test_single_direction_returns_matrix():
    X, y = small_data(n=50, d=3)
    g = np.array([0.3, -1.0, 0.2])
    single = hermite_moment_contraction(X, y, g, order=4)
    stacked = hermite_moment_contraction(X, y, g[None, :], order=4)
    assert single.shape == (3, 3)
    np.testing.assert_array_equal(single, stacked[0])


def test_zero_direction_order_2_is_second_moment():
    X, y = small_data(n=100, d=5)
    expected = explicit_moment_tensor(X, y, 2)
    assert_close_to_scale(second_moment(X, y), expected)
    assert_close_to_scale(np.einsum("i,ij,ik->jk", y, X, X) / len(y) - y.mean() * np.eye(5), expected)


def test_zero_direction_higher_order():
    # g = 0 leaves only the full pairings of the contracted slots: He_m(x)(0,..,0,.,.) = 0 unless m = 2
    X, y = small_data(n=60, d=3)
    for order in (3, 4, 5):
        np.testing.assert_array_equal(hermite_moment_contraction(X, y, np.zeros(3), order=order), 0.0)


def test_linear_moments():
    X, y = small_data(n=100, d=4)
    mean_y, mean_yx = linear_moments(X, y)
    assert mean_y == pytest.approx(y.mean(), rel=1e-14)
    np.testing.assert_allclose(mean_yx, (X * y[:, None]).mean(axis=0), rtol=1e-13, atol=1e-15)
    acc = HermiteContractionAccumulator(np.ones((1, 4)), 4, chunk_size=7).update(X, y)
    assert acc.mean_y() == pytest.approx(mean_y, rel=1e-13)
    np.testing.assert_allclose(acc.mean_yx(), mean_yx, rtol=1e-12, atol=1e-15)
    assert acc.n_samples == 100


# ----------------------------------------------------------------------------- invariances
@pytest.mark.parametrize("order", [2, 4, 6])
def test_chunk_size_invariance(order):
    X, y = small_data(n=1003, d=6, seed=order)
    G = np.random.default_rng(1).standard_normal((2, 6))
    ref = hermite_moment_contraction(X, y, G, order=order, chunk_size=1003)
    for chunk in (1, 7, 64, 1000, 5000):
        got = hermite_moment_contraction(X, y, G, order=order, chunk_size=chunk)
        assert_close_to_scale(got, ref)


@pytest.mark.parametrize("chunk", [1, 13, 256])
def test_n_jobs_bit_identical(chunk):
    X, y = small_data(n=2000, d=7, seed=3)
    G = np.random.default_rng(2).standard_normal((3, 7))
    one = hermite_moment_contraction(X, y, G, order=4, chunk_size=chunk, n_jobs=1)
    two = hermite_moment_contraction(X, y, G, order=4, chunk_size=chunk, n_jobs=2)
    three = hermite_moment_contraction(X, y, G, order=4, chunk_size=chunk, n_jobs=3)
    assert np.array_equal(one, two)
    assert np.array_equal(one, three)
    assert np.array_equal(second_moment(X, y, chunk_size=chunk), second_moment(X, y, chunk_size=chunk, n_jobs=2))


def test_streaming_updates_equal_one_pass():
    X, y = small_data(n=1000, d=5, seed=8)
    G = np.random.default_rng(3).standard_normal((2, 5))
    whole = HermiteContractionAccumulator(G, 4, chunk_size=100).update(X, y)
    # blocks aligned to the chunk size give the very same sums, in the same order
    aligned = HermiteContractionAccumulator(G, 4, chunk_size=100)
    for s in (0, 300, 500, 900):
        e = {0: 300, 300: 500, 500: 900, 900: 1000}[s]
        aligned.update(X[s:e], y[s:e])
    assert aligned.n_samples == 1000
    assert np.array_equal(whole.result(), aligned.result())
    # any other blocks agree to rounding
    ragged = HermiteContractionAccumulator(G, 4, chunk_size=100)
    for s, e in ((0, 1), (1, 333), (333, 334), (334, 1000)):
        ragged.update(X[s:e], y[s:e])
    assert_close_to_scale(ragged.result(), whole.result())
    assert whole.mean_y() == pytest.approx(ragged.mean_y(), rel=1e-13)


def test_accumulator_does_not_alias_directions():
    X, y = small_data(n=100, d=3)
    G = np.array([[1.0, 2.0, 0.5]])
    acc = HermiteContractionAccumulator(G, 4)
    G[0, 0] = 100.0
    acc.update(X, y)
    expected = hermite_moment_contraction(X, y, np.array([[1.0, 2.0, 0.5]]), order=4)
    np.testing.assert_array_equal(acc.result(), expected)


def test_accumulator_result_before_update_raises():
    acc = HermiteContractionAccumulator(np.ones((1, 3)), 4)
    with pytest.raises(ValueError, match="no samples"):
        acc.result()


@given(seed=st.integers(0, 2**31 - 1), d=st.integers(2, 6), k=st.integers(1, 4))
@settings(max_examples=15)
def test_sign_flip_leaves_even_moments_unchanged(seed, d, k):
    # lambda relu(u.x) = lambda relu(-u.x) + lambda u.x: flip some u_i and move lambda_i u_i into w
    rng = np.random.default_rng(seed)
    teacher = Teacher.random(n_features=d, n_neurons=k, random_state=rng)
    w = rng.standard_normal(d)
    original = ReLUNetwork(teacher.hidden_weights, teacher.output_weights, w, 0.4)
    flip = rng.random(k) < 0.5
    signs = np.where(flip, -1.0, 1.0)
    U2 = teacher.hidden_weights * signs[:, None]
    w2 = w + (teacher.output_weights[flip, None] * teacher.hidden_weights[flip]).sum(axis=0)
    flipped = ReLUNetwork(U2, teacher.output_weights, w2, 0.4)
    assert population_mse(original, flipped) < 1e-12
    X = rng.standard_normal((400, d))
    y1, y2 = original(X), flipped(X)
    scale = np.max(np.abs(y1))
    np.testing.assert_allclose(y1, y2, rtol=0, atol=1e-12 * scale)
    G = rng.standard_normal((2, d))
    for order in (2, 4, 6):
        assert_close_to_scale(
            hermite_moment_contraction(X, y2, G, order=order), hermite_moment_contraction(X, y1, G, order=order)
        )
    assert_close_to_scale(second_moment(X, y2), second_moment(X, y1))
    assert_close_to_scale(
        projected_hermite_tensor(X[:, :2], y2, order=4), projected_hermite_tensor(X[:, :2], y1, order=4)
    )


# ----------------------------------------------------------------------------- statistics
@pytest.mark.parametrize("order, n", [(2, 200_000), (4, 1_000_000), (6, 3_000_000)])
def test_contraction_matches_population_value(order, n):
    d, n_batches = 4, 40
    teacher = Teacher.random(n_features=d, n_neurons=3, noise_std=0.2, random_state=11)
    X, y = teacher.sample(n, random_state=12)
    G = np.vstack([teacher.hidden_weights[0], np.random.default_rng(13).standard_normal(d)])
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    full = hermite_moment_contraction(X, y, G, order=order)
    mean, se = batched(X, y, lambda a, b: hermite_moment_contraction(a, b, G, order=order), n_batches)
    # equal-size batches: the batch mean is the full-data estimate (up to rounding)
    assert_close_to_scale(mean, full, rel=1e-10)
    expected = np.array([expected_contraction(teacher, g, order) for g in G])
    err = np.abs(full - expected)
    assert np.all(err <= N_SE * se), f"max |error| / SE = {np.max(err / se):.2f} > {N_SE}"
    # the test can fail: a 25% error in the largest entry (or a wrong sign, or zero) exceeds the tolerance
    assert np.max(N_SE * se) < 0.25 * np.max(np.abs(expected))


def test_linear_moments_match_population_value():
    # E[y] = b + sum lambda_i / sqrt(2 pi); E[y x] = w + sum lambda_i u_i / 2
    d, n = 5, 200_000
    base = Teacher.random(n_features=d, n_neurons=3, random_state=31)
    w = np.linspace(-1, 1, d)
    teacher = Teacher(base.hidden_weights, base.output_weights, w, 0.3, noise_std=0.5)
    X, y = teacher.sample(n, random_state=32)
    mean_y, mean_yx = linear_moments(X, y)
    se_y = y.std(ddof=1) / np.sqrt(n)
    se_yx = (X * y[:, None]).std(axis=0, ddof=1) / np.sqrt(n)
    assert abs(mean_y - (0.3 + base.output_weights.sum() / np.sqrt(2 * np.pi))) <= N_SE * se_y
    expected = w + 0.5 * base.output_weights @ base.hidden_weights
    assert np.all(np.abs(mean_yx - expected) <= N_SE * se_yx)


# ----------------------------------------------------------------------------- memory
def test_contraction_never_allocates_a_d4_array():
    d, n = 60, 300
    X, y = small_data(n=n, d=d, seed=5)
    G = np.random.default_rng(0).standard_normal((1, d))
    hermite_moment_contraction(X, y, G, order=6)  # load the kernels outside the measurement
    d4_bytes = d**4 * 8  # 104 MB
    bound = d**3 * 8 * 2  # 3.5 MB: a few d x d and chunk buffers fit, a d^4 (or even d^4 / 30) array does not
    tracemalloc.start()
    try:
        for order in (4, 6):
            hermite_moment_contraction(X, y, G, order=order, chunk_size=4096)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        # the probe is meaningful: tracemalloc does see a d^4 numpy allocation
        probe = np.empty(d**4)
        _, probe_peak = tracemalloc.get_traced_memory()
        del probe
    finally:
        tracemalloc.stop()
    assert probe_peak >= d4_bytes
    assert peak < bound < d4_bytes / 25, f"peak {peak} bytes"


# ----------------------------------------------------------------------------- kernels
def test_accumulator_pickles_and_resumes():
    import pickle

    X, y = small_data(n=400, d=4, seed=9)
    G = np.ones((1, 4))
    acc = HermiteContractionAccumulator(G, 4, chunk_size=100).update(X[:200], y[:200])
    acc = pickle.loads(pickle.dumps(acc))
    acc.update(X[200:], y[200:])
    assert np.array_equal(acc.result(), HermiteContractionAccumulator(G, 4, chunk_size=100).update(X, y).result())


@pytest.mark.parametrize("n_pos, n_neg", [(30, 20), (0, 5), (5, 0), (1, 1)])
def test_signed_gram_matches_numpy(n_pos, n_neg):
    from narrowrelu.moments._blas import signed_gram

    rng = np.random.default_rng(n_pos + 7 * n_neg)
    P, N = rng.standard_normal((n_pos, 6)), rng.standard_normal((n_neg, 6))
    expected = np.einsum("ia,ib->ab", P, P) - np.einsum("ia,ib->ab", N, N)
    out = signed_gram(P, N)
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13)
    assert np.array_equal(out, out.T)
    before = np.arange(36.0).reshape(6, 6)
    added = signed_gram(P, N, out=before.copy())
    np.testing.assert_allclose(added, before + expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("d", [5, 70])
@pytest.mark.parametrize("signs", ["mixed", "positive", "negative", "zeros"])
def test_weighted_gram_matches_numpy_on_either_side_of_the_syrk_threshold(d, signs):
    from narrowrelu.moments._blas import SYRK_MIN_FEATURES, weighted_gram

    assert (d < SYRK_MIN_FEATURES) != (d == 70)
    rng = np.random.default_rng(d)
    X = rng.standard_normal((301, d))
    w = {"mixed": rng.standard_normal(301), "positive": rng.random(301), "negative": -rng.random(301),
         "zeros": np.where(rng.random(301) < 0.5, 0.0, rng.standard_normal(301))}[signs]
    X0, w0 = X.copy(), w.copy()
    out = weighted_gram(X, w)
    expected = X.T @ (w[:, None] * X)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    if d < SYRK_MIN_FEATURES:  # one product, as the callers computed it before
        assert np.array_equal(out, (X * w[:, None]).T @ X)
    else:
        assert np.array_equal(out, out.T)
    assert np.array_equal(X, X0) and np.array_equal(w, w0)


@pytest.mark.parametrize("block_rows", [1, 64, 300, 301, 4096])
def test_weighted_gram_by_row_blocks_matches_numpy_and_reuses_its_scratch(monkeypatch, block_rows):
    """From SYRK_MIN_FEATURES columns the rows are split by sign GRAM_BLOCK_ROWS at a time into two
    scratch buffers of the thread, and each block's rank updates are added in row order: the same
    Gram whatever the block size (to rounding), with no buffer of all the rows."""
    from narrowrelu.moments import _blas

    monkeypatch.setattr(_blas, "GRAM_BLOCK_ROWS", block_rows)
    monkeypatch.setattr(_blas, "_SCRATCH", threading.local())
    rng = np.random.default_rng(block_rows)
    X, w = rng.standard_normal((301, 70)), rng.standard_normal(301)
    expected = X.T @ (w[:, None] * X)
    out = _blas.weighted_gram(X, w)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    assert np.array_equal(out, out.T)
    scratch = _blas._SCRATCH.buffers
    assert scratch[0].shape == (min(301, block_rows), 70)
    again = _blas.weighted_gram(X, w)
    assert np.array_equal(again, out) and _blas._SCRATCH.buffers is scratch
