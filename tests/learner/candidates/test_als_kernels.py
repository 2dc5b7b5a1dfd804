"""The compiled ALS sweeps of the CP polish (narrowrelu.learner.candidates._als_kernels) against their reference,
tensorly's parafac with the same start, stopping rule and sweep cap."""

import numpy as np
import pytest
import tensorly as tl
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorly.cp_tensor import CPTensor
from tensorly.decomposition import parafac

from narrowrelu.learner.candidates._als_kernels import BREAKDOWN, _khatri_rao, _unfoldings, als_sweeps


def _low_rank_tensor(rng, k, order, rank, noise):
    T = noise * rng.standard_normal((k,) * order)
    for _ in range(rank):
        v = rng.standard_normal(k)
        t = v / np.linalg.norm(v)
        for _ in range(order - 1):
            t = np.multiply.outer(t, v / np.linalg.norm(v))
        T += rng.uniform(-1.5, 1.5) * t
    return T


@settings(max_examples=25)
@given(seed=st.integers(0, 10_000), k=st.integers(2, 7), order=st.sampled_from([3, 4]),
       n_iter=st.sampled_from([1, 7, 60]))
def test_sweeps_equal_tensorly_parafac(seed, k, order, n_iter):
    """From the same start (its weights in the last factor, as parafac puts them), the factors after
    ``n_iter`` sweeps, or at the stop on a change of the relative error below tol, equal tensorly's to
    rounding, over ranks below, at and above the tensor's."""
    rng = np.random.default_rng(seed)
    T = _low_rank_tensor(rng, k, order, int(rng.integers(1, k + 1)), 1e-3)
    r = int(rng.integers(1, k + 1))
    start = rng.standard_normal((k, r))
    weights = rng.uniform(0.5, 2.0, r)
    reference = parafac(tl.tensor(T), rank=r, init=CPTensor((weights, [start.copy() for _ in range(order)])),
                        n_iter_max=n_iter, tol=1e-12, normalize_factors=False)

    def sweeps_from(first):
        factors = np.ascontiguousarray(np.broadcast_to(first, (order, k, r)))
        factors[-1] *= weights
        return factors, als_sweeps(T.ravel(), factors, n_iter, 1e-12)

    factors, sweeps = sweeps_from(start)
    assert 1 <= sweeps <= n_iter
    # how far a change of the start at rounding level (1e-15) moves this trajectory's end: where the
    # stop on the error's change falls a sweep earlier for one of two equal computations, they differ
    # by that sweep's step (seed 9967, k = 2, order 3: 34 sweeps, 5.6e-9 of the scale either way)
    nudged, _ = sweeps_from(start * (1 + 1e-15 * np.random.default_rng(seed + 1).standard_normal(start.shape)))
    spread = max(np.abs(a - b).max() for a, b in zip(factors, nudged))
    for mine, theirs in zip(factors, reference.factors):
        np.testing.assert_allclose(mine, theirs, rtol=1e-8, atol=1e-10 * np.abs(theirs).max() + 10 * spread)


def test_sweeps_stop_at_convergence_on_an_exact_tensor():
    """On an exact rank-2 tensor from its own factors the error is 0 from the first sweep: the second
    sweep's change is below tol and the sweeps stop there, factors unchanged up to rounding."""
    rng = np.random.default_rng(3)
    V = rng.standard_normal((4, 2))
    T = np.einsum("as,bs,cs,ds->abcd", V, V, V, V)
    factors = np.ascontiguousarray(np.broadcast_to(V, (4, 4, 2)))
    assert als_sweeps(T.ravel(), factors, 500, 1e-12) == 2
    np.testing.assert_allclose(np.einsum("as,bs,cs,ds->abcd", *factors), T, atol=1e-12)


def test_a_singular_step_is_reported_as_breakdown():
    """Two equal columns make every normal-equation matrix singular: the kernel says so instead of raising."""
    T = _low_rank_tensor(np.random.default_rng(0), 3, 3, 2, 0.0)
    column = np.ones(3)
    factors = np.ascontiguousarray(np.broadcast_to(np.column_stack([column, column]), (3, 3, 2)))
    assert als_sweeps(T.ravel(), factors, 10, 1e-12) == BREAKDOWN


@pytest.mark.parametrize("order", [3, 4])
def test_unfoldings_and_khatri_rao_match_numpy(order):
    """Unfolding n times the Khatri-Rao product of the other factors is the MTTKRP written with einsum."""
    rng = np.random.default_rng(order)
    k, r = 3, 2
    T = rng.standard_normal((k,) * order)
    factors = rng.standard_normal((order, k, r))
    unfolded = _unfoldings(T.ravel(), order, k)
    letters = "abcd"[:order]
    product = np.empty((k ** (order - 1), r))
    for mode in range(order):
        np.testing.assert_array_equal(unfolded[mode], np.moveaxis(T, mode, 0).reshape(k, -1))
        _khatri_rao(factors, mode, product)
        others = [letters[i] + "s" for i in range(order) if i != mode]
        spec = f"{letters}," + ",".join(others) + f"->{letters[mode]}s"
        expected = np.einsum(spec, T, *[factors[i] for i in range(order) if i != mode])
        np.testing.assert_allclose(unfolded[mode] @ product, expected, rtol=1e-12, atol=1e-12)
