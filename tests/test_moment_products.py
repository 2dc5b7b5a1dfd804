import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from narrowrelu.moment_products import HermiteContractionProducts
from narrowrelu.moments import hermite_moment_contraction


@given(seed=st.integers(0, 2**32 - 1), order=st.sampled_from([2, 4, 6]), d=st.integers(1, 7), k=st.integers(1, 4))
def test_products_equal_full_contraction_times_test_matrix(seed, order, d, k):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((300, d))
    y = rng.standard_normal(300)
    G = np.zeros((1, d)) if order == 2 else rng.standard_normal((3, d))
    Q = rng.standard_normal((d, k))
    full = hermite_moment_contraction(X, y, G, order=order)
    product = HermiteContractionProducts(G, order, Q, chunk_size=67).update(X, y).result()
    scale = np.abs(full).max() * np.abs(Q).sum(axis=0).max()
    np.testing.assert_allclose(product, full @ Q, rtol=0, atol=1e-12 * scale)


def test_products_bit_identical_across_threads():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5000, 6))
    y = rng.standard_normal(5000)
    G = rng.standard_normal((4, 6))
    Q = rng.standard_normal((6, 2))
    one = HermiteContractionProducts(G, 4, Q, chunk_size=500, n_jobs=1).update(X, y).result()
    two = HermiteContractionProducts(G, 4, Q, chunk_size=500, n_jobs=2).update(X, y).result()
    assert np.array_equal(one, two)
