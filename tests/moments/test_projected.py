"""Full Hermite tensors of projected data (narrowrelu.moments.projected): the distinct-monomial
raw moments equal einsum, the tensors are symmetric and equal the explicit row-by-row tensor,
and match their population value within a stated number of standard errors."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _helpers import (
    assert_close_to_scale,
    batched,
    contract,
    explicit_moment_tensor,
    explicit_projected_tensor,
    small_data,
)
from narrowrelu import Teacher, hermite_moment_contraction, projected_hermite_tensor, relu_hermite_coefficient
from narrowrelu.hermite import symmetric_outer_sum
from narrowrelu.moments.projected import ProjectedRawMoments

N_SE = 5.0  # statistical tolerance, in standard errors


@given(
    seed=st.integers(0, 2**32 - 1), k=st.integers(1, 4), order=st.sampled_from([2, 4, 6]), n_blocks=st.integers(1, 3)
)
def test_projected_raw_moments_equal_einsum(seed, k, order, n_blocks):
    """The distinct-monomial sums expand to E[y z^{(x)j}] for every even j <= order, also when the
    rows arrive in blocks and when the row count given to add() excludes zero-weight rows."""
    rng = np.random.default_rng(seed)
    n = 23
    Z, y = rng.standard_normal((n, k)), rng.standard_normal(n)
    y[:3] = 0.0  # three rows with weight zero, left out of the count
    acc = ProjectedRawMoments(k, order)
    cuts = np.linspace(3, n, n_blocks + 1).astype(int)
    for s, e in zip(cuts[:-1], cuts[1:]):
        acc.add(acc.chunk_sums(Z[s:e], y[s:e]), e - s)
    raw = acc.raw_moments()
    m = n - 3
    assert raw[0] == pytest.approx(y.sum() / m, rel=1e-12, abs=1e-14)
    letters = "abcdef"
    for j in range(2, order + 1, 2):
        spec = "n," + ",".join(f"n{letters[i]}" for i in range(j)) + "->" + letters[:j]
        expected = np.einsum(spec, y, *([Z] * j)) / m
        assert raw[j].shape == (k,) * j
        assert_close_to_scale(raw[j], expected)
    assert acc.sums[order].shape == (math.comb(k + order // 2 - 1, order // 2),) * 2


@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 4), order=st.sampled_from([4, 6]))
def test_projected_hermite_tensors_symmetric_and_equal_explicit(seed, k, order):
    rng = np.random.default_rng(seed)
    Z, y = rng.standard_normal((17, k)), rng.standard_normal(17)
    acc = ProjectedRawMoments(k, order).update(Z, y)
    tensors = acc.hermite_tensors([4, order])
    for m, T in tensors.items():
        assert T.shape == (k,) * m
        for perm in itertools.permutations(range(m)):
            assert_close_to_scale(np.transpose(T, perm), T, rel=1e-13)
        # rounding is relative to the size of the summed terms |y| (1 + |z|)^m, not to the result: at
        # k = 1, order 6, 17 rows, terms of ~1e2 cancel to ~5e-3 (seed 82 failed at 1.3e-12 of the result)
        terms = float(np.mean(np.abs(y) * (1.0 + np.linalg.norm(Z, axis=1)) ** m))
        expected = explicit_projected_tensor(Z, y, m)
        np.testing.assert_allclose(T, expected, rtol=0, atol=1e-13 * max(terms, np.max(np.abs(expected))))


@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 4), order=st.sampled_from([3, 5]), n_blocks=st.integers(1, 3))
def test_odd_orders_equal_explicit(seed, k, order, n_blocks):
    """With ``odd=True`` the odd raw moments (degree-q by degree-(q+1) monomials) give E[y He_m(z)]
    for odd m, in blocks too, and the even orders are unchanged."""
    rng = np.random.default_rng(seed)
    Z, y = rng.standard_normal((19, k)), rng.standard_normal(19)
    acc, even = ProjectedRawMoments(k, order, odd=True), ProjectedRawMoments(k, order - 1)
    cuts = np.linspace(0, 19, n_blocks + 1).astype(int)
    for s, e in zip(cuts[:-1], cuts[1:]):
        acc.update(Z[s:e], y[s:e])
        even.update(Z[s:e], y[s:e])
    T = acc.hermite_tensors([order, order - 1])
    terms = float(np.mean(np.abs(y) * (1.0 + np.linalg.norm(Z, axis=1)) ** order))
    np.testing.assert_allclose(T[order], explicit_projected_tensor(Z, y, order), rtol=0, atol=1e-13 * terms)
    np.testing.assert_array_equal(T[order - 1], even.hermite_tensors([order - 1])[order - 1])
    for perm in itertools.permutations(range(order)):
        np.testing.assert_allclose(np.transpose(T[order], perm), T[order], rtol=0, atol=1e-13 * terms)


@pytest.mark.parametrize("order", [2, 4, 6])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_projected_tensor_equals_explicit(order, k):
    X, y = small_data(n=150, d=k, seed=k)
    expected = explicit_moment_tensor(X, y, order)
    got = projected_hermite_tensor(X, y, order=order, chunk_size=40)
    assert got.shape == (k,) * order
    assert_close_to_scale(got, expected)


def test_projected_tensor_contracted_matches_contraction():
    # two independent routes to the same numbers
    X, y = small_data(n=300, d=3, seed=4)
    g = np.array([0.2, -0.7, 1.1])
    T6 = projected_hermite_tensor(X, y, order=6)
    assert_close_to_scale(contract(T6, g, 4), hermite_moment_contraction(X, y, g, order=6), rel=1e-11)


def test_projected_tensor_matches_population_value():
    # full order-4 tensor in k = 2 dimensions: E[f He_4(z)] = a_4 sum_i lambda_i u_i^(x)4
    k, n, n_batches = 2, 1_000_000, 40
    teacher = Teacher.random(n_features=k, n_neurons=2, random_state=21)
    X, y = teacher.sample(n, random_state=22)
    full = projected_hermite_tensor(X, y, order=4)
    _, se = batched(X, y, lambda a, b: projected_hermite_tensor(a, b, order=4), n_batches)
    expected = relu_hermite_coefficient(4) * symmetric_outer_sum(teacher.output_weights, teacher.hidden_weights, 4)
    err = np.abs(full - expected)
    assert np.all(err <= N_SE * se), f"max |error| / SE = {np.max(err / se):.2f} > {N_SE}"
    assert np.max(N_SE * se) < 0.25 * np.max(np.abs(expected))
