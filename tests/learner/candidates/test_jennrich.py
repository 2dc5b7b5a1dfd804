"""Candidate directions from random contractions of a low-dimensional moment tensor
(narrowrelu.learner.candidates.jennrich): contraction to a matrix, Jennrich's simultaneous
diagonalisation, and the candidates of exact low-rank symmetric tensors."""

import numpy as np
import pytest
from _helpers import unsigned_match
from hypothesis import given
from hypothesis import strategies as st

from narrowrelu.learner.candidates.jennrich import (
    contract_each_to_matrix,
    jennrich_candidates,
    simultaneous_diagonalisations,
)

LETTERS = "abcdefgh"


def symmetric_tensor(lam, V, order):
    """sum_i lam_i v_i^(x)order, built by einsum."""
    spec = "i," + ",".join(f"i{LETTERS[j]}" for j in range(order)) + "->" + LETTERS[:order]
    return np.einsum(spec, lam, *([V] * order))


def independent_unit_rows(rng, k):
    """k unit rows, linearly independent but not orthogonal (condition number below 100)."""
    while True:
        V = rng.standard_normal((k, k))
        V /= np.linalg.norm(V, axis=1, keepdims=True)
        if np.linalg.cond(V) < 100:
            return V


@given(seed=st.integers(0, 2**32 - 1), order=st.integers(2, 6), k=st.integers(1, 4), n=st.integers(0, 3))
def test_contract_each_to_matrix_equals_einsum(seed, order, k, n):
    """All but the last two modes contracted with each g, also for a tensor that is not symmetric."""
    rng = np.random.default_rng(seed)
    T = rng.standard_normal((k,) * order)
    G = rng.standard_normal((n, k))
    spec = ",".join([LETTERS[:order], *LETTERS[:order - 2]]) + "->" + LETTERS[order - 2:order]
    expected = [np.einsum(spec, T, *([g] * (order - 2))) for g in G]
    got = contract_each_to_matrix(T, G)
    assert got.shape == (n, k, k)
    np.testing.assert_allclose(got, np.reshape(expected, (n, k, k)), rtol=1e-12, atol=1e-12 * np.abs(T).sum())


@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 6))
def test_simultaneous_diagonalisations_recover_the_common_eigenvectors(seed, k):
    """A = V D1 V^T, B = V D2 V^T: the rows returned are the columns of V, normalised, up to sign."""
    rng = np.random.default_rng(seed)
    V = independent_unit_rows(rng, k).T  # columns v_i
    ratios = np.linspace(1.0, 3.0, k) * rng.choice([-1.0, 1.0], size=k)  # distinct eigenvalues of A B^-1
    d2 = rng.uniform(0.5, 2.0, size=k) * rng.choice([-1.0, 1.0], size=k)
    A, B = V @ np.diag(ratios * d2) @ V.T, V @ np.diag(d2) @ V.T
    rows = simultaneous_diagonalisations(A[None], B[None])
    assert rows.shape == (k, k)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-12)
    assert np.all(unsigned_match(rows, V.T) < 1e-10)
    assert np.all(unsigned_match(V.T, rows) < 1e-10)  # one row per column: none repeated


def test_a_pair_with_a_singular_b_gives_no_rows_and_leaves_the_others():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 3, 3))
    A = A + A.transpose(0, 2, 1)
    B = np.stack([np.diag([1.0, 2.0, 3.0]), np.diag([1.0, 1.0, 0.0]), np.diag([3.0, 1.0, 2.0])])
    rows = simultaneous_diagonalisations(A, B)
    assert rows.shape == (6, 3)
    np.testing.assert_array_equal(rows[:3], simultaneous_diagonalisations(A[:1], B[:1]))
    np.testing.assert_array_equal(rows[3:], simultaneous_diagonalisations(A[2:], B[2:]))
    assert simultaneous_diagonalisations(A[1:2], B[1:2]).shape == (0, 3)


@pytest.mark.parametrize("orders", [(4,), (6,), (4, 6)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jennrich_candidates_contain_every_component(orders, seed):
    rng = np.random.default_rng(seed)
    k, n_pairs = 3, 6
    V = independent_unit_rows(rng, k)
    lam = np.array([1.0, -0.7, 0.4])
    tensors = [symmetric_tensor(lam, V, m) for m in orders]
    candidates = jennrich_candidates(tensors, n_pairs, np.random.default_rng(seed + 10))
    assert candidates.shape == (n_pairs * k, k)
    np.testing.assert_allclose(np.linalg.norm(candidates, axis=1), 1.0, rtol=1e-12)
    assert np.all(unsigned_match(candidates, V) < 1e-8), unsigned_match(candidates, V)
    # every candidate is one of the components (exact tensors: no spurious directions)
    assert np.all(unsigned_match(V, candidates) < 1e-8)
    # the generator drives everything: the same seed gives the same candidates
    again = jennrich_candidates(tensors, n_pairs, np.random.default_rng(seed + 10))
    assert np.array_equal(candidates, again)


def test_jennrich_candidates_of_no_pairs_and_of_a_rank_deficient_tensor():
    rng = np.random.default_rng(5)
    V = independent_unit_rows(rng, 3)
    T = symmetric_tensor(np.array([1.0, 2.0, 0.0]), V, 4)  # rank 2 in 3 dimensions: B is singular
    assert jennrich_candidates([T], 0, rng).shape == (0, 3)
    assert jennrich_candidates([T], 4, rng).shape == (0, 3)


@pytest.mark.parametrize("orders", [(4,), (4, 6), (3, 4, 5)])
def test_jennrich_candidates_equal_the_pair_by_pair_form(orders):
    """The stacked contractions and eigenproblems give what one tensordot and one eig per pair gave,
    from the same draws, on a tensor that is not of low rank (noisy moments)."""
    rng = np.random.default_rng(3)
    k, n_pairs = 4, 12
    tensors = []
    for m in orders:
        T = rng.standard_normal((k,) * m)
        tensors.append(sum(np.transpose(T, p) for p in [tuple(np.roll(range(m), s)) for s in range(m)]))
    draws = np.random.default_rng(7)
    expected = []
    for _ in range(n_pairs):
        T = tensors[draws.integers(len(tensors))]
        A, B = T, T
        g, h = draws.standard_normal((2, k))
        for _ in range(T.ndim - 2):
            A, B = np.tensordot(g, A, axes=(0, 0)), np.tensordot(h, B, axes=(0, 0))
        _, vecs = np.linalg.eig(np.linalg.solve(B, A).T)
        rows = np.real(vecs).T
        expected.append(rows / np.linalg.norm(rows, axis=1, keepdims=True))
    got = jennrich_candidates(tensors, n_pairs, np.random.default_rng(7))
    assert got.shape == (n_pairs * k, k)
    np.testing.assert_allclose(np.abs(np.sum(got * np.vstack(expected), axis=1)), 1.0, atol=1e-9)
