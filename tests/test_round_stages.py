"""The stages of a round of the moment learner (narrowrelu.learner.passes) and their building blocks:
the thin-product numba kernels, the projection cache, the distinct-monomial raw moments and
the row sources.

Every stage is checked against an explicit NumPy computation on the training rows only (the
held-out rows of a source must add nothing), and for invariance to ``n_jobs`` (bit for bit)
and to the chunking of the source (up to rounding).
"""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import narrowrelu.learner.rounds as moment_estimator
import narrowrelu.learner.passes as pipeline
import narrowrelu.learner.regression as regression
from narrowrelu import MomentReLURegressor, ReLUNetwork, Teacher, population_mse, population_variance
from narrowrelu.moments._kernels import accumulate_row_products, project_rows
from narrowrelu.hermite import hermite_from_raw_moments
from narrowrelu.moments.model import network_hermite_contraction, network_projected_tensor
from narrowrelu.moments.projected import ProjectedRawMoments
from narrowrelu.moments.thin import thin_projection, thin_transposed_product
from narrowrelu.learner.passes import final_regression_stage, linear_stage, products_stage, projection_stage, second_moment_stage
from narrowrelu.learner.subspace import lift_directions, linear_basis
from narrowrelu.learner.candidates import novel_rows
from narrowrelu.learner.regression import regression_stage
from narrowrelu.learner.projection_cache import ProjectionCache
from narrowrelu.learner.sources import ArraySource, OracleSource


# ----------------------------------------------------------------------------- helpers
def assert_close_to_scale(got, expected, rel=1e-12):
    scale = max(float(np.max(np.abs(expected))), 1e-300)
    np.testing.assert_allclose(got, expected, rtol=0, atol=rel * scale)


def orthonormal(rng, d, k):
    return np.linalg.qr(rng.standard_normal((d, k)))[0]


def random_network(rng, d, h):
    """A model with neurons of various norms, a linear part and a constant."""
    return ReLUNetwork(rng.standard_normal((h, d)), rng.standard_normal(h), 0.3 * rng.standard_normal(d), 0.7)


def problem(seed=0, n=1003, d=5, h=2, chunk=128, validation=0.3):
    """Data from one network, a different current model, and an ArraySource with a random
    held-out mask (n deliberately not a multiple of the chunk size)."""
    rng = np.random.default_rng(seed)
    teacher = random_network(rng, d, 3)
    model = random_network(rng, d, h)
    X = rng.standard_normal((n, d))
    y = teacher(X) + 0.1 * rng.standard_normal(n)
    mask = rng.random(n) < validation
    return rng, X, y, mask, model, ArraySource(X, y, mask, chunk)


def explicit_m2(X, r):
    """mean_i r_i (x_i x_i^T - I)."""
    n, d = X.shape
    return (X.T * r) @ X / n - r.mean() * np.eye(d)


def explicit_c4(X, r, g):
    """mean_i r_i He_4(x_i)(g, g, ., .) = mean r [H_2 (xx^T - I) - 2 s (g x^T + x g^T) + 2 g g^T]."""
    n, d = X.shape
    s = X @ g
    h2 = s**2 - g @ g
    v = (r * s) @ X / n
    return (X.T * (r * h2)) @ X / n - (r * h2).mean() * np.eye(d) - 2 * (np.outer(g, v) + np.outer(v, g)) + 2 * r.mean() * np.outer(g, g)


def explicit_projected_tensor(Z, r, order):
    """mean_i r_i He_m(z_i) from raw moments formed by einsum (independent of ProjectedRawMoments)."""
    n, k = Z.shape
    letters = "abcdefgh"
    raw = {0: np.asarray(r.mean())}
    for j in range(2, order + 1, 2):
        spec = "n," + ",".join(f"n{letters[i]}" for i in range(j)) + "->" + letters[:j]
        raw[j] = np.einsum(spec, r, *([Z] * j)) / n
    return hermite_from_raw_moments(raw, order)


def feature_matrix(X, L, directions):
    """[1, X L, |X c_j|]."""
    return np.hstack([np.ones((X.shape[0], 1)), X @ L, np.abs(X @ directions.T)])


# ----------------------------------------------------------------------------- kernels
shapes = dict(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 13),
    d=st.integers(1, 9),
    w=st.integers(1, 9),
    read_only=st.booleans(),
)


@given(**shapes)
def test_project_rows_matches_numpy(seed, n, d, w, read_only):
    """out = X @ St.T for every remainder of the width modulo 4 (the four-column unrolling)."""
    rng = np.random.default_rng(seed)
    X, St = rng.standard_normal((n, d)), rng.standard_normal((w, d))
    if read_only:
        X.setflags(write=False)
        St.setflags(write=False)
    out = np.full((n, w), np.nan)
    project_rows(X, St, out)
    np.testing.assert_allclose(out, X @ St.T, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(thin_projection(X, St), X @ St.T, rtol=1e-13, atol=1e-13)


@given(**shapes)
def test_accumulate_row_products_matches_numpy(seed, n, d, w, read_only):
    """acc += W.T @ X for every remainder of n modulo 4 (the four-row unrolling), adding to
    what acc already holds."""
    rng = np.random.default_rng(seed)
    X, W = rng.standard_normal((n, d)), rng.standard_normal((n, w))
    if read_only:
        X.setflags(write=False)
        W.setflags(write=False)
    start = rng.standard_normal((w, d))
    acc = start.copy()
    accumulate_row_products(X, W, acc)
    np.testing.assert_allclose(acc, start + W.T @ X, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(thin_transposed_product(X, W), W.T @ X, rtol=1e-13, atol=1e-12)


def test_thin_transposed_product_accepts_non_contiguous_weights():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((11, 6))
    Wt = rng.standard_normal((3, 11))
    W = Wt.T  # Fortran-ordered view
    assert not W.flags.c_contiguous
    np.testing.assert_allclose(thin_transposed_product(X, W), Wt @ X, rtol=1e-13, atol=1e-12)


# ----------------------------------------------------------------------------- projection cache
def test_cache_splits_rows_by_mask_in_order():
    rng = np.random.default_rng(0)
    cache = ProjectionCache(100, 100, 5)
    cache.start(4)
    stored_Z, stored_y, stored_mask = [], [], []
    for m in (7, 1, 12):
        Z, y = rng.standard_normal((m, 4)), rng.standard_normal(m)
        held = rng.random(m) < 0.4
        cache.add(Z, y, held)
        stored_Z.append(Z), stored_y.append(y), stored_mask.append(held)
    Z, y, held = np.vstack(stored_Z), np.concatenate(stored_y), np.concatenate(stored_mask)
    assert cache.complete
    Zt, yt = cache.rows("train")
    Zv, yv = cache.rows("validation")
    assert np.array_equal(Zt, Z[~held].astype(np.float32)) and np.array_equal(yt, y[~held])
    assert np.array_equal(Zv, Z[held].astype(np.float32)) and np.array_equal(yv, y[held])
    assert Zt.flags.c_contiguous and Zv.flags.c_contiguous


def test_cache_overflow_drops_rows_and_marks_incomplete():
    rng = np.random.default_rng(1)
    cache = ProjectionCache(5, 2, 3)
    cache.start(3)
    Z, y = rng.standard_normal((6, 3)), rng.standard_normal(6)
    held = np.array([False, True, False, False, True, False])
    cache.add(Z, y, held)  # 4 training rows, 2 held-out: fits exactly
    assert cache.complete
    Z2, y2 = rng.standard_normal((4, 3)), rng.standard_normal(4)
    held2 = np.array([True, False, False, False])  # 3 more training rows, only 1 fits; 1 held-out, none fits
    cache.add(Z2, y2, held2)
    assert not cache.complete
    Zt, yt = cache.rows("train")
    assert np.array_equal(Zt, np.vstack([Z[~held], Z2[1:2]]).astype(np.float32)) and np.array_equal(yt, np.concatenate([y[~held], y2[1:2]]))
    Zv, yv = cache.rows("validation")
    assert np.array_equal(Zv, Z[held].astype(np.float32)) and np.array_equal(yv, y[held])
    cache.start(3)  # a new pass forgets the rows and the overflow
    assert cache.complete and cache.rows("train")[0].shape == (0, 3)


def test_cache_overflow_of_held_out_rows_alone_marks_incomplete():
    cache = ProjectionCache(10, 1, 2)
    cache.start(2)
    cache.add(np.ones((3, 2)), np.ones(3), np.array([True, True, False]))
    assert not cache.complete
    assert cache.rows("validation")[0].shape == (1, 2) and cache.rows("train")[0].shape == (1, 2)


def test_cache_narrower_width_after_wider_one():
    rng = np.random.default_rng(2)
    cache = ProjectionCache(20, 20, 6)
    cache.start(6)
    cache.add(rng.standard_normal((15, 6)), rng.standard_normal(15), rng.random(15) < 0.5)
    cache.start(3)
    Z, y = rng.standard_normal((9, 3)), rng.standard_normal(9)
    held = np.array([0, 1, 0, 0, 1, 0, 1, 0, 0], dtype=bool)
    cache.add(Z[:4], y[:4], held[:4])
    cache.add(Z[4:], y[4:], held[4:])
    Zt, yt = cache.rows("train")
    Zv, yv = cache.rows("validation")
    assert Zt.shape == (6, 3) and Zv.shape == (3, 3)
    assert np.array_equal(Zt, Z[~held].astype(np.float32)) and np.array_equal(yt, y[~held])
    assert np.array_equal(Zv, Z[held].astype(np.float32)) and np.array_equal(yv, y[held])


def test_cache_width_over_maximum_raises():
    cache = ProjectionCache(4, 4, 5)
    cache.start(5)
    with pytest.raises(ValueError, match="exceeds"):
        cache.start(6)


# ----------------------------------------------------------------------------- projected raw moments
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 4), order=st.sampled_from([2, 4, 6]), n_blocks=st.integers(1, 3))
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
        assert_close_to_scale(T, explicit_projected_tensor(Z, y, m))


# ----------------------------------------------------------------------------- sources
def test_array_source_yields_views_with_their_mask():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((23, 3)), rng.standard_normal(23)
    X.setflags(write=False)
    mask = rng.random(23) < 0.3
    source = ArraySource(X, y, mask, 5)
    assert (source.n_samples, source.n_features, source.n_chunks()) == (23, 3, 5)
    assert source.n_validation == mask.sum() and source.n_train == 23 - mask.sum()
    for _ in range(2):
        blocks = list(source.chunks())
        assert [b[0].shape[0] for b in blocks] == [5, 5, 5, 5, 3]
        assert all(np.shares_memory(b[0], X) and np.shares_memory(b[1], y) for b in blocks)
        assert np.array_equal(np.vstack([b[0] for b in blocks]), X)
        assert np.array_equal(np.concatenate([b[1] for b in blocks]), y)
        assert np.array_equal(np.concatenate([b[2] for b in blocks]), mask)
    assert source.n_passes == 2


def test_oracle_source_replays_the_same_stream():
    calls = []

    def oracle(X):
        calls.append(X.shape[0])
        return X[:, 0] - 2 * X[:, 1]

    source = OracleSource(oracle, 23, 3, 10, 0.3, np.random.SeedSequence(5))
    assert source.n_chunks() == 3
    assert source.n_validation == 3 + 3 + 1 and source.n_train == 23 - 7
    first, second = list(source.chunks()), list(source.chunks())
    assert source.n_passes == 2 and calls == [10, 10, 3, 10, 10, 3]
    for (X1, y1, h1), (X2, y2, h2) in zip(first, second):
        assert np.array_equal(X1, X2) and np.array_equal(y1, y2) and np.array_equal(h1, h2)
        np.testing.assert_array_equal(y1, X1[:, 0] - 2 * X1[:, 1])
        m = X1.shape[0]
        assert np.array_equal(h1, np.arange(m) < round(0.3 * m))
    assert not np.array_equal(first[0][0], first[1][0][: first[0][0].shape[0]])  # chunks differ
    assert sum(int(h.sum()) for _, _, h in first) == source.n_validation


def test_oracle_source_rejects_bad_output():
    source = OracleSource(lambda X: np.zeros(X.shape[0] + 1), 10, 2, 10, 0.2, np.random.SeedSequence(0))
    with pytest.raises(ValueError, match="returned shape"):
        list(source.chunks())


# ----------------------------------------------------------------------------- linear and M2 stages
def test_linear_stage_uses_training_rows_only():
    _, X, y, mask, _, source = problem(seed=3)
    lin = linear_stage(source)
    Xt, yt = X[~mask], y[~mask]
    assert (lin.n_train, lin.n_validation) == ((~mask).sum(), mask.sum())
    assert lin.mean_y == pytest.approx(yt.mean(), rel=1e-12)
    assert lin.var_y == pytest.approx(yt.var(), rel=1e-10)
    assert_close_to_scale(lin.mean_yx, yt @ Xt / yt.size)
    # the Gaussianity check reads every GAUSSIANITY_STRIDE-th row of each chunk, held-out rows included
    stride = pipeline.GAUSSIANITY_STRIDE
    checked = np.vstack([Xc[::stride] for Xc, _, _ in source.chunks()])
    assert lin.n_checked == checked.shape[0]
    assert_close_to_scale(lin.x_mean, checked.mean(axis=0))
    assert_close_to_scale(lin.x_var, checked.var(axis=0), rel=1e-10)


def test_linear_stage_ignores_held_out_targets():
    """Changing the targets of held-out rows changes nothing but the held-out count."""
    _, X, y, mask, _, source = problem(seed=3)
    y2 = y.copy()
    y2[mask] = 1e6
    a, b = linear_stage(source), linear_stage(ArraySource(X, y2, mask, 128))
    assert a.mean_y == b.mean_y and a.var_y == b.var_y and np.array_equal(a.mean_yx, b.mean_yx)


def test_second_moment_stage_excludes_held_out_rows():
    _, X, y, mask, model, source = problem(seed=4)
    got = second_moment_stage(source, model, 100, 1)
    r = (y - model(X))[~mask]
    expected = explicit_m2(X[~mask], r) + network_hermite_contraction(model, np.zeros((1, X.shape[1])), 2)[0]
    assert_close_to_scale(got, expected)
    # held-out rows matter: the same computation on all rows differs
    everything = explicit_m2(X, y - model(X)) + network_hermite_contraction(model, np.zeros((1, X.shape[1])), 2)[0]
    assert np.abs(everything - expected).max() > 1e-3 * np.abs(expected).max()


def test_second_moment_stage_control_variate_is_exact():
    """With the data's own network as the model the residual vanishes, and the stage returns the
    model's exact moment a_2 sum lambda_i |u_i| u_i u_i^T, whatever the held-out rows."""
    rng = np.random.default_rng(5)
    net = random_network(rng, 4, 3)
    X = rng.standard_normal((300, 4))
    source = ArraySource(X, net(X), rng.random(300) < 0.5, 64)
    U, lam = net.hidden_weights, net.output_weights
    norms = np.linalg.norm(U, axis=1)
    expected = (1 / math.sqrt(2 * math.pi)) * ((U / norms[:, None]).T * (lam * norms)) @ (U / norms[:, None])
    assert_close_to_scale(second_moment_stage(source, net, 50, 1), expected)


# ----------------------------------------------------------------------------- products stage
def test_products_stage_excludes_held_out_rows():
    rng, X, y, mask, model, source = problem(seed=6, d=6, h=2)
    d, k = 6, 3
    P = orthonormal(rng, d, k)
    coords = rng.standard_normal((2, k))
    G = coords @ P.T
    M2P, CP = products_stage(source, model, P, coords, 50, 1)
    Xt, r = X[~mask], (y - model(X))[~mask]
    M2 = explicit_m2(Xt, r) + network_hermite_contraction(model, np.zeros((1, d)), 2)[0]
    assert_close_to_scale(M2P, M2 @ P)
    model_c4 = network_hermite_contraction(model, G, 4)
    expected = np.stack([(explicit_c4(Xt, r, G[j]) + model_c4[j]) @ P for j in range(2)])
    assert CP.shape == (2, d, k)
    assert_close_to_scale(CP, expected, rel=1e-11)


def test_products_stage_with_model_without_neurons():
    rng = np.random.default_rng(7)
    d, k = 5, 2
    X = rng.standard_normal((401, d))
    y = random_network(rng, d, 2)(X)
    mask = rng.random(401) < 0.2
    base = ReLUNetwork(np.empty((0, d)), np.empty(0), rng.standard_normal(d), 0.4)
    P = orthonormal(rng, d, k)
    coords = rng.standard_normal((1, k))
    M2P, CP = products_stage(ArraySource(X, y, mask, 100), base, P, coords, 64, 1)
    Xt, r = X[~mask], (y - base(X))[~mask]
    assert_close_to_scale(M2P, explicit_m2(Xt, r) @ P)
    assert_close_to_scale(CP[0], explicit_c4(Xt, r, coords[0] @ P.T) @ P, rel=1e-11)


# ----------------------------------------------------------------------------- projection stage
def projection_setup(seed=8, n=1003, d=6, h=2, e=2, k=3, chunk=128):
    rng, X, y, mask, model, source = problem(seed=seed, n=n, d=d, h=h, chunk=chunk)
    P = orthonormal(rng, d, k)
    extra = rng.standard_normal((e, d))
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    L = linear_basis(P, np.vstack([model.linear_weights[None], model.hidden_weights]))
    return rng, X, y, mask, model, source, P, extra, L


def projection_cache_for(L, h, e, n):
    return ProjectionCache(n, n, 1 + h + e + L.shape[1])


def test_projection_stage_stores_projections_and_tensors():
    rng, X, y, mask, model, source, P, extra, L = projection_setup()
    k, h, e = P.shape[1], 2, 2
    cache = projection_cache_for(L, h, e, X.shape[0])
    layout = projection_stage(source, model, extra, L, k, (4, 6), cache, 50, 1)
    assert (layout.n_hidden, layout.n_extra, layout.n_linear, layout.k) == (h, e, L.shape[1], k)
    S = np.hstack([extra.T, L])
    Zt, yt = cache.rows("train")
    Zv, yv = cache.rows("validation")
    assert cache.complete
    # stored in single precision
    assert_close_to_scale(Zt, X[~mask] @ S, rel=1e-6)
    assert_close_to_scale(Zv, X[mask] @ S, rel=1e-6)
    # the model's neurons through their coordinates in L
    assert_close_to_scale(L @ layout.hidden_coords, model.hidden_weights.T)
    assert np.array_equal(yt, y[~mask]) and np.array_equal(yv, y[mask])
    r = (y - model(X))[~mask]
    Z = X[~mask] @ P
    for m in (4, 6):
        expected = explicit_projected_tensor(Z, r, m) + network_projected_tensor(model, P, m)
        assert_close_to_scale(layout.tensors[m], expected, rel=1e-11)


def test_projection_stage_tensor_equals_projected_hermite_tensor():
    from narrowrelu import projected_hermite_tensor

    rng, X, y, mask, model, source, P, extra, L = projection_setup(seed=9)
    cache = projection_cache_for(L, 2, 2, X.shape[0])
    layout = projection_stage(source, model, extra, L, P.shape[1], (4,), cache, 64, 1)
    r = (y - model(X))[~mask]
    expected = projected_hermite_tensor(X[~mask] @ P, r, 4) + network_projected_tensor(model, P, 4)
    assert_close_to_scale(layout.tensors[4], expected, rel=1e-12)


# ----------------------------------------------------------------------------- invariances
def run_all_stages(X, y, mask, model, P, coords, extra, L, source_chunk, block, n_jobs):
    source = ArraySource(X, y, mask, source_chunk)
    M2 = second_moment_stage(source, model, block, n_jobs)
    M2P, CP = products_stage(source, model, P, coords, block, n_jobs)
    cache = projection_cache_for(L, model.n_neurons, extra.shape[0], X.shape[0])
    layout = projection_stage(source, model, extra, L, P.shape[1], (4, 6), cache, block, n_jobs)
    return [M2, M2P, CP, layout.tensors[4], layout.tensors[6], *cache.rows("train"), *cache.rows("validation")]


def test_stages_bit_identical_across_n_jobs():
    rng, X, y, mask, model, _, P, extra, L = projection_setup(seed=10, n=3001)
    coords = rng.standard_normal((2, P.shape[1]))
    one = run_all_stages(X, y, mask, model, P, coords, extra, L, 1000, 64, 1)
    two = run_all_stages(X, y, mask, model, P, coords, extra, L, 1000, 64, 2)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


def test_stages_depend_on_chunking_only_through_rounding():
    rng, X, y, mask, model, _, P, extra, L = projection_setup(seed=11, n=3001)
    coords = rng.standard_normal((2, P.shape[1]))
    big = run_all_stages(X, y, mask, model, P, coords, extra, L, 3001, 4096, 1)
    small = run_all_stages(X, y, mask, model, P, coords, extra, L, 97, 31, 2)
    for a, b in zip(big, small):
        assert a.shape == b.shape
        assert_close_to_scale(b, a, rel=1e-10)


# ----------------------------------------------------------------------------- lifting
def lift_problem(seed=12, d=8, k=3, tilt=0.05):
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((k, d))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    P = np.linalg.qr(np.linalg.qr(U.T)[0] + tilt * rng.standard_normal((d, k)))[0]  # span(U) slightly rotated
    shadows = (P @ (P.T @ U.T)).T
    directions = shadows / np.linalg.norm(shadows, axis=1, keepdims=True)
    products = [U.T @ np.diag(beta) @ (U @ P) for beta in (np.array([1.0, -0.5, 2.0]), np.array([-0.3, 0.8, 0.1]))]
    return U, P, directions, products


def test_lift_recovers_neurons_outside_the_subspace():
    U, P, directions, products = lift_problem()
    assert np.linalg.matrix_rank(P.T @ U.T) == U.shape[0]
    before = np.abs(np.sum(directions * U, axis=1))
    assert np.all(before < 1 - 1e-4)  # the shadows in P are off by a measurable angle
    lifted = lift_directions(directions, P, products[1])
    cosines = np.sum(lifted * U, axis=1)
    assert np.all(np.abs(cosines) > 1 - 1e-10)
    np.testing.assert_allclose(np.linalg.norm(lifted, axis=1), 1.0, rtol=1e-12)
    assert np.all(np.sum(lifted * directions, axis=1) > 0)  # sign matched to the input
    # the input is not modified
    assert np.array_equal(directions, lift_problem()[2])


def test_lift_with_one_product_and_negated_inputs():
    U, P, directions, products = lift_problem(seed=13)
    flipped = directions * np.array([[1.0], [-1.0], [1.0]])
    lifted = lift_directions(flipped, P, products[0])
    np.testing.assert_allclose(lifted, U * np.array([[1.0], [-1.0], [1.0]]), atol=1e-9)


def test_lift_far_from_input_leaves_direction_unchanged():
    U, P, directions, products = lift_problem(seed=14)
    # the products point elsewhere: columns beta_i v_i with v_i orthogonal to c_i
    d = U.shape[1]
    rng = np.random.default_rng(0)
    V = rng.standard_normal((3, d))
    V -= np.sum(V * directions, axis=1, keepdims=True) * directions
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    wrong = [V.T @ np.diag([1.0, 2.0, -1.0]) @ (U @ P)]
    assert np.array_equal(lift_directions(directions, P, wrong[0]), directions)
    # per direction: with min_cosine between the cosines, only the closer ones move
    cos = np.abs(np.sum(directions * U, axis=1))
    low, mid = np.sort(cos)[:2]
    threshold = (low + mid) / 2  # strictly between two of the cosines: no tie
    lifted = lift_directions(directions, P, products[0], min_cosine=threshold)
    moved = cos >= threshold
    assert moved.sum() == 2
    assert np.array_equal(lifted[~moved], directions[~moved])
    assert np.all(np.abs(np.sum(lifted[moved] * U[moved], axis=1)) > 1 - 1e-10)


def test_lift_of_no_directions_and_zero_products():
    U, P, directions, products = lift_problem(seed=15)
    assert lift_directions(np.empty((0, 8)), P, products[0]).shape == (0, 8)
    zero = [np.zeros_like(products[0])]
    assert np.array_equal(lift_directions(directions, P, zero[0]), directions)


# ----------------------------------------------------------------------------- linear basis, novel rows
def check_linear_basis(P, extra):
    L = linear_basis(P, extra)
    np.testing.assert_allclose(L.T @ L, np.eye(L.shape[1]), atol=1e-12)
    assert np.array_equal(L[:, : P.shape[1]], P)
    for e in extra:
        assert np.linalg.norm(e - L @ (L.T @ e)) <= 1e-10 * max(np.linalg.norm(e), 1.0)
    return L


def test_linear_basis_orthonormal_starts_with_p_and_spans_extra():
    rng = np.random.default_rng(16)
    d, k = 7, 2
    P = orthonormal(rng, d, k)
    a, b = rng.standard_normal(d), rng.standard_normal(d)
    assert check_linear_basis(P, np.vstack([a, b])).shape == (d, k + 2)
    assert check_linear_basis(P, np.vstack([a, b, P @ [1.0, 2.0]])).shape == (d, k + 2)  # trailing row in span(P)
    assert check_linear_basis(P, np.vstack([a, b, a - 3 * b])).shape == (d, k + 2)  # trailing dependent row
    assert check_linear_basis(P, np.empty((0, d))) is P
    assert check_linear_basis(P, rng.standard_normal((d, d))).shape == (d, d)


@pytest.mark.parametrize("first", ["in_span", "zero", "duplicate"])
def test_linear_basis_with_a_degenerate_row_before_a_new_one(first):
    rng = np.random.default_rng(17)
    d, k = 7, 2
    P = orthonormal(rng, d, k)
    a, b = rng.standard_normal(d), rng.standard_normal(d)
    rows = {
        "in_span": [P @ [2.0, 0.0], a],
        "zero": [np.zeros(d), a],
        "duplicate": [a, a, b],
    }[first]
    check_linear_basis(P, np.vstack(rows))


def test_novel_rows_drops_repeats_up_to_sign():
    rng = np.random.default_rng(18)
    d = 5
    pool = orthonormal(rng, d, 3).T
    fresh = orthonormal(rng, d, 2).T
    near = pool[1] + 1e-3 * fresh[0]
    near /= np.linalg.norm(near)
    new = np.vstack([
        -pool[0],  # in the pool, negated
        fresh[0],
        pool[2] * (1 + 1e-12),  # in the pool up to rounding
        -fresh[0],  # repeats an earlier new row
        near,  # close to the pool, but not within tol
        fresh[1],
        fresh[1],
    ])
    assert novel_rows(pool, new).tolist() == [False, True, False, False, True, True, False]
    assert novel_rows(np.empty((0, d)), new).tolist() == [True, True, True, False, True, True, False]
    assert novel_rows(pool, np.empty((0, d))).shape == (0,)


# ----------------------------------------------------------------------------- regression stages
def regression_setup(seed=19, n=1003):
    rng, X, y, mask, model, source, P, extra, L = projection_setup(seed=seed, n=n)
    cache = projection_cache_for(L, 2, 2, n)
    layout = projection_stage(source, model, extra, L, P.shape[1], (4,), cache, 64, 1)
    new_coords = rng.standard_normal((3, P.shape[1]))
    new_coords /= np.linalg.norm(new_coords, axis=1, keepdims=True)
    candidates = np.vstack([model.hidden_weights, extra, new_coords @ P.T])
    return X, y, mask, source, L, cache, layout, new_coords, candidates


def test_regression_stage_equals_explicit_gram(monkeypatch):
    X, y, mask, _, L, cache, layout, new_coords, candidates = regression_setup()
    expected = {}
    for name, rows in (("train", ~mask), ("validation", mask)):
        F = feature_matrix(X[rows], L, candidates)
        expected[name] = (F.T @ F, F.T @ y[rows], y[rows] @ y[rows], rows.sum())
    for block_rows in (regression.REGRESSION_BLOCK_ROWS, 7):
        monkeypatch.setattr(regression, "REGRESSION_BLOCK_ROWS", block_rows)
        for stats, name in zip(regression_stage(cache, layout, new_coords), ("train", "validation")):
            gram, moment, yy, n = expected[name]
            assert stats.n == n
            assert_close_to_scale(stats.gram, gram, rel=1e-6)  # projections stored in single precision
            assert_close_to_scale(stats.moment, moment, rel=1e-6)
            assert stats.yy == pytest.approx(yy, rel=1e-12)


def test_regression_stage_max_rows_takes_a_strided_subsample():
    X, y, mask, _, L, cache, layout, new_coords, candidates = regression_setup(seed=20)
    n_train, n_val = (~mask).sum(), mask.sum()
    max_rows = 150
    train, validation = regression_stage(cache, layout, new_coords, max_rows=max_rows)
    for stats, rows, n in ((train, ~mask, n_train), (validation, mask, n_val)):
        stride = -(-n // max_rows)
        assert stride > 1
        assert stats.n == -(-n // stride) <= max_rows
        F = feature_matrix(X[rows][::stride], L, candidates)
        assert_close_to_scale(stats.gram, F.T @ F, rel=1e-6)
        assert_close_to_scale(stats.moment, F.T @ y[rows][::stride], rel=1e-6)
    # one part only, in the order asked
    (only_validation,) = regression_stage(cache, layout, new_coords, max_rows=max_rows, parts=("validation",))
    assert only_validation.n == validation.n and np.array_equal(only_validation.gram, validation.gram)
    swapped = regression_stage(cache, layout, new_coords, parts=("validation", "train"))
    assert (swapped[0].n, swapped[1].n) == (n_val, n_train)
    # max_rows above the row count: every row
    full, _ = regression_stage(cache, layout, new_coords)
    everything, _ = regression_stage(cache, layout, new_coords, max_rows=n_train)
    assert everything.n == n_train and np.array_equal(everything.gram, full.gram)


@pytest.mark.parametrize("columns", [[0, 3, 5], [1, 2], [4, 6], [0, 1, 2, 3, 4, 5, 6], []])
def test_regression_stage_columns_give_the_sub_gram(columns):
    """Columns 0-1 are the stored neurons, 2-3 the extra directions, 4-6 the new ones."""
    X, y, mask, _, L, cache, layout, new_coords, _ = regression_setup(seed=21)
    n_base = 1 + L.shape[1]
    keep = np.concatenate([np.arange(n_base), n_base + np.asarray(columns, dtype=int)])
    full = regression_stage(cache, layout, new_coords)
    sub = regression_stage(cache, layout, new_coords, columns=np.asarray(columns, dtype=int))
    for f, s in zip(full, sub):
        assert s.gram.shape == (keep.size, keep.size)
        assert s.n == f.n and s.yy == f.yy
        assert_close_to_scale(s.gram, f.gram[np.ix_(keep, keep)], rel=1e-14)
        assert_close_to_scale(s.moment, f.moment[keep], rel=1e-14)


def test_final_regression_stage_uses_every_row():
    X, y, mask, source, L, cache, layout, new_coords, candidates = regression_setup(seed=22)
    directions = candidates[[1, 5]]
    stats = final_regression_stage(source, L, directions)
    F = feature_matrix(X, L, directions)
    assert stats.n == X.shape[0]
    assert_close_to_scale(stats.gram, F.T @ F)
    assert_close_to_scale(stats.moment, F.T @ y)
    assert stats.yy == pytest.approx(y @ y, rel=1e-12)
    # and equals the cached train + validation statistics of the same columns
    train, validation = regression_stage(cache, layout, new_coords, columns=np.array([1, 5]))
    both = train + validation
    assert both.n == stats.n
    assert_close_to_scale(both.gram, stats.gram, rel=1e-6)


# ----------------------------------------------------------------------------- end to end (oracle)
def passes_of_rounds(model):
    """linear + M2, one pass in the first round and two in each later one."""
    return 2 + 2 * len(model.rounds_) - 1


def test_fit_oracle_with_a_tiny_cache_still_recovers(monkeypatch):
    teacher = Teacher.random(n_features=6, n_neurons=2, random_state=3)
    params = dict(n_neurons=2, random_state=0, refine=False)
    default = MomentReLURegressor(**params).fit_oracle(teacher, 20_000)
    assert default.n_passes_ == passes_of_rounds(default)  # the cache held every row: no final pass
    monkeypatch.setattr(moment_estimator, "ORACLE_CACHE_BYTES", 8 * 40 * 300)
    tiny = MomentReLURegressor(**params).fit_oracle(teacher, 20_000)
    assert tiny.n_passes_ == passes_of_rounds(tiny) + 1  # the final regression pass
    assert len(tiny.rounds_) == len(default.rounds_)
    assert tiny.n_passes_ == default.n_passes_ + 1
    assert population_mse(tiny, teacher) < 1e-3 * population_variance(teacher)
    assert population_mse(default, teacher) < 1e-3 * population_variance(teacher)


def test_cache_budget_matches_its_buffers():
    """The estimator sizes the oracle-mode cache so that its buffers take the budget, not more."""
    width = 17
    rows = moment_estimator.ORACLE_CACHE_BYTES // ProjectionCache.bytes_per_row(width)
    cache = ProjectionCache(rows - rows // 5, rows // 5, width)
    used = sum(a.nbytes for a in cache._flat.values()) + sum(a.nbytes for a in cache._y.values())
    assert moment_estimator.ORACLE_CACHE_BYTES - ProjectionCache.bytes_per_row(width) < used <= moment_estimator.ORACLE_CACHE_BYTES
