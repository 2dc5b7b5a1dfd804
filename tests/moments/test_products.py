"""Thin products C_jQ and M_2Q without the d x d matrices (narrowrelu.moments.products); the
order-4 one-pass kernel itself is checked in ``test_kernels.py``."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from narrowrelu.moments.products import HermiteContractionProducts
from narrowrelu.moments.contraction import hermite_moment_contraction, second_moment


@given(
    seed=st.integers(0, 2**32 - 1),
    order=st.sampled_from([2, 4, 6]),
    d=st.integers(1, 7),
    k=st.integers(1, 4),
    in_span=st.booleans(),
)
def test_products_equal_full_contraction_times_test_matrix(seed, order, d, k, in_span):
    """C_j Q and M_2 Q from the thin pass equal the explicit d x d contractions times Q, both
    for directions inside span(Q) (projections read off XQ) and outside it."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((300, d))
    y = rng.standard_normal(300)
    Q = rng.standard_normal((d, k))
    G = rng.standard_normal((3, k)) @ Q.T if in_span else rng.standard_normal((3, d))
    full = hermite_moment_contraction(X, y, G, order=order)
    acc = HermiteContractionProducts(G, order, Q, chunk_size=67).update(X, y)
    scale = np.abs(full).max() * np.abs(Q).sum(axis=0).max()
    np.testing.assert_allclose(acc.result(), full @ Q, rtol=0, atol=1e-10 * scale)
    M2Q = second_moment(X, y) @ Q
    np.testing.assert_allclose(acc.second_moment_product(), M2Q, rtol=0, atol=1e-12 * np.abs(M2Q).max() + 1e-15)


def test_products_bit_identical_across_threads():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5000, 6))
    y = rng.standard_normal(5000)
    G = rng.standard_normal((4, 6))
    Q = rng.standard_normal((6, 2))
    one = HermiteContractionProducts(G, 4, Q, chunk_size=500, n_jobs=1).update(X, y)
    two = HermiteContractionProducts(G, 4, Q, chunk_size=500, n_jobs=2).update(X, y)
    assert np.array_equal(one.result(), two.result())
    assert np.array_equal(one.second_moment_product(), two.second_moment_product())
