"""Thin products by numba kernels (narrowrelu.moments.thin); the kernels themselves are checked
in ``test_kernels.py``."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from narrowrelu.moments.thin import thin_projection, thin_transposed_product

shapes = dict(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 13),
    d=st.integers(1, 9),
    w=st.integers(1, 9),
    read_only=st.booleans(),
)


@given(**shapes)
def test_thin_projection_matches_numpy(seed, n, d, w, read_only):
    rng = np.random.default_rng(seed)
    X, St = rng.standard_normal((n, d)), rng.standard_normal((w, d))
    if read_only:
        X.setflags(write=False)
        St.setflags(write=False)
    np.testing.assert_allclose(thin_projection(X, St), X @ St.T, rtol=1e-13, atol=1e-13)


@given(**shapes)
def test_thin_transposed_product_matches_numpy(seed, n, d, w, read_only):
    rng = np.random.default_rng(seed)
    X, W = rng.standard_normal((n, d)), rng.standard_normal((n, w))
    if read_only:
        X.setflags(write=False)
        W.setflags(write=False)
    np.testing.assert_allclose(thin_transposed_product(X, W), W.T @ X, rtol=1e-13, atol=1e-12)


def test_thin_transposed_product_accepts_non_contiguous_weights():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((11, 6))
    Wt = rng.standard_normal((3, 11))
    W = Wt.T  # Fortran-ordered view
    assert not W.flags.c_contiguous
    np.testing.assert_allclose(thin_transposed_product(X, W), Wt @ X, rtol=1e-13, atol=1e-12)


