"""Planted teachers, their families and chunked sampling (narrowrelu.teacher)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from narrowrelu import ReLUNetwork, Teacher, population_mse

N_SE = 4.0  # statistical tolerance, in standard errors


def cosine(u, v):
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


@given(d=st.integers(1, 30), k=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_random_family(d, k, seed):
    t = Teacher.random(n_features=d, n_neurons=k, random_state=seed)
    assert isinstance(t, ReLUNetwork)
    assert t.hidden_weights.shape == (k, d) and t.output_weights.shape == (k,)
    np.testing.assert_allclose(np.linalg.norm(t.hidden_weights, axis=1), 1.0, rtol=0, atol=1e-14)
    assert np.all((np.abs(t.output_weights) >= 0.5) & (np.abs(t.output_weights) <= 1.5))
    np.testing.assert_array_equal(t.linear_weights, 0.0)
    assert t.intercept == 0.0 and t.noise_std == 0.0
    again = Teacher.random(n_features=d, n_neurons=k, random_state=seed)
    np.testing.assert_array_equal(t.hidden_weights, again.hidden_weights)
    np.testing.assert_array_equal(t.output_weights, again.output_weights)


def test_random_family_has_both_signs_and_spread_directions():
    t = Teacher.random(n_features=10, n_neurons=200, random_state=0)
    assert (t.output_weights > 0).sum() > 50 and (t.output_weights < 0).sum() > 50
    # uniform on the sphere: the mean direction is near zero (|mean| ~ 1/sqrt(k) = 0.07)
    assert np.linalg.norm(t.hidden_weights.mean(axis=0)) < 0.25


@pytest.mark.parametrize("k", [1, 3, 10])
def test_orthonormal_family(k):
    t = Teacher.orthonormal(k, noise_std=0.5)
    assert t.n_features == k and t.n_neurons == k
    np.testing.assert_array_equal(t.hidden_weights, np.eye(k))
    np.testing.assert_array_equal(t.output_weights, np.ones(k))
    assert t.noise_std == 0.5


@given(
    d=st.integers(2, 20),
    k=st.integers(2, 6),
    c=st.floats(-0.999, 0.9999),
    seed=st.integers(0, 2**32 - 1),
)
def test_close_pair_family(d, k, c, seed):
    t = Teacher.close_pair(n_features=d, cosine=c, n_neurons=k, random_state=seed)
    U, lam = t.hidden_weights, t.output_weights
    assert U.shape == (k, d)
    np.testing.assert_allclose(np.linalg.norm(U, axis=1), 1.0, rtol=0, atol=1e-13)
    assert cosine(U[0], U[1]) == pytest.approx(c, abs=1e-12)
    assert lam[0] == 1.0 and lam[1] == -1.0
    assert np.all((np.abs(lam[2:]) >= 0.5) & (np.abs(lam[2:]) <= 1.5))


@pytest.mark.parametrize("bad", [1.0, -1.0, 1.5, float("nan")])
def test_close_pair_rejects_bad_cosine(bad):
    with pytest.raises(ValueError, match="cosine"):
        Teacher.close_pair(n_features=3, cosine=bad)


@given(
    d=st.integers(3, 15),
    n_clusters=st.integers(1, 4),
    size=st.integers(1, 3),
    c=st.floats(0.5, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_clusters_family(d, n_clusters, size, c, seed):
    t = Teacher.clusters(n_features=d, n_clusters=n_clusters, cluster_size=size, cosine=c, random_state=seed)
    U = t.hidden_weights
    assert U.shape == (n_clusters * size, d)
    np.testing.assert_allclose(np.linalg.norm(U, axis=1), 1.0, rtol=0, atol=1e-13)
    # the centres are not returned; check that each block of `size` consecutive rows admits a
    # unit centre v with u . v = c for every member: the minimum-norm solution of U_b v = c 1
    # must have norm <= 1 (then adding a null-space component reaches norm exactly 1)
    for b in range(n_clusters):
        block = U[b * size:(b + 1) * size]
        v, *_ = np.linalg.lstsq(block, np.full(size, c), rcond=None)
        np.testing.assert_allclose(block @ v, c, atol=1e-9)
        assert np.linalg.norm(v) <= 1.0 + 1e-9
    if c == 1.0:
        for b in range(n_clusters):
            np.testing.assert_allclose(U[b * size:(b + 1) * size], np.tile(U[b * size], (size, 1)), rtol=0, atol=1e-15)


def test_clusters_members_are_tight_and_clusters_apart():
    # cosine 0.99 to the centre: members within angle 2 arccos(0.99) of each other (cosine > 0.96)
    t = Teacher.clusters(n_features=50, n_clusters=3, cluster_size=4, cosine=0.99, random_state=3)
    G = t.hidden_weights @ t.hidden_weights.T
    for b in range(3):
        block = G[4 * b:4 * b + 4, 4 * b:4 * b + 4]
        assert block.min() > 2 * 0.99**2 - 1 - 1e-12
    # members are not all identical (the offsets from the centre are random)
    assert G[0, 1] < 1 - 1e-6
    # random centres in d = 50 are nearly orthogonal
    assert abs(G[0, 4]) < 0.7 and abs(G[0, 8]) < 0.7


@given(
    n=st.integers(1, 300),
    chunk=st.integers(1, 400),
    noise=st.sampled_from([0.0, 0.3]),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=30)
def test_sample_equals_concatenated_chunks(n, chunk, noise, seed):
    t = Teacher.random(n_features=3, n_neurons=2, noise_std=noise, random_state=1)
    X, y = t.sample(n, random_state=seed)
    chunks = list(t.sample_chunks(n, chunk_size=chunk, random_state=seed))
    assert all(len(cy) <= chunk for _, cy in chunks)
    assert len(chunks) == -(-n // chunk)
    # the same inputs and noise bit for bit; targets to BLAS rounding (matrix products of
    # different shapes may round differently)
    np.testing.assert_array_equal(np.vstack([c[0] for c in chunks]), X)
    np.testing.assert_allclose(np.concatenate([c[1] for c in chunks]), y, rtol=0,
                               atol=1e-14 * max(1.0, np.abs(y).max()))
    if noise:
        clean = t.with_noise(0.0)
        xi = y - clean(X)
        xi_chunks = np.concatenate([cy - clean(cx) for cx, cy in chunks])
        np.testing.assert_allclose(xi_chunks, xi, rtol=0, atol=1e-14 * max(1.0, np.abs(y).max()))
    assert X.shape == (n, 3) and y.shape == (n,)


def test_same_random_state_same_data():
    t = Teacher.random(n_features=4, n_neurons=2, noise_std=0.1, random_state=0)
    X1, y1 = t.sample(100, random_state=5)
    X2, y2 = t.sample(100, random_state=5)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, _ = t.sample(100, random_state=6)
    assert not np.array_equal(X1, X3)
    X4, y4 = t.sample(100, random_state=np.random.SeedSequence(5))
    assert X4.shape == X1.shape
    gen = np.random.default_rng(7)
    Xa, _ = t.sample(50, random_state=gen)
    Xb, _ = t.sample(50, random_state=gen)
    assert not np.array_equal(Xa, Xb)  # a generator is advanced, not reused


def test_noiseless_sample_is_the_network():
    base = Teacher.random(n_features=4, n_neurons=3, random_state=0)
    t = Teacher(base.hidden_weights, base.output_weights, [0.1, 0.2, -0.3, 0.0], 1.5)
    X, y = t.sample(500, random_state=1)
    np.testing.assert_allclose(y, t(X), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(
        t(X), 1.5 + X @ t.linear_weights + np.maximum(X @ t.hidden_weights.T, 0) @ t.output_weights, rtol=1e-13
    )


@pytest.mark.parametrize("sigma", [0.05, 1.0, 3.0])
def test_noise_has_requested_std(sigma):
    n = 200_000
    t = Teacher.random(n_features=5, n_neurons=3, random_state=2).with_noise(sigma)
    assert t.noise_std == sigma
    X, y = t.sample(n, random_state=3)
    xi = y - t(X)
    # SE of a Gaussian sample std is sigma / sqrt(2 n); SE of the mean is sigma / sqrt(n)
    assert abs(xi.std(ddof=1) - sigma) <= N_SE * sigma / np.sqrt(2 * n)
    assert abs(xi.mean()) <= N_SE * sigma / np.sqrt(n)
    assert abs(np.corrcoef(xi, X[:, 0])[0, 1]) <= N_SE / np.sqrt(n)


def test_inputs_are_standard_gaussian():
    n, d = 200_000, 3
    X, _ = Teacher.orthonormal(d).sample(n, random_state=0)
    assert np.all(np.abs(X.mean(axis=0)) <= N_SE / np.sqrt(n))
    # SE of a sample variance of N(0,1) is sqrt(2 / n); of an off-diagonal covariance, 1 / sqrt(n)
    C = np.cov(X.T)
    assert np.all(np.abs(np.diag(C) - 1) <= N_SE * np.sqrt(2 / n))
    assert np.all(np.abs(C[np.triu_indices(d, 1)]) <= N_SE / np.sqrt(n))


def test_with_noise_keeps_the_function():
    t = Teacher.random(n_features=4, n_neurons=3, random_state=0)
    t2 = t.with_noise(0.7)
    assert population_mse(t, t2) <= 1e-15
    assert t.noise_std == 0.0  # the original is unchanged


def test_teacher_arrays_are_read_only_copies():
    U = np.eye(3)
    t = Teacher(U, np.ones(3))
    U[0, 0] = 5.0
    assert t.hidden_weights[0, 0] == 1.0
    with pytest.raises(ValueError):
        t.hidden_weights[0, 0] = 2.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(noise_std=-0.1), "noise_std must be >= 0"),
        (dict(noise_std=float("nan")), "noise_std contains"),
        (dict(noise_std=[0.1, 0.2]), "noise_std must be 0-dimensional"),
    ],
)
def test_teacher_rejects_bad_noise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Teacher(np.eye(2), [1.0, 1.0], **kwargs)


def test_families_reject_bad_sizes():
    with pytest.raises(ValueError, match="n_features"):
        Teacher.random(n_features=0, n_neurons=2)
    with pytest.raises(ValueError, match="n_neurons"):
        Teacher.random(n_features=3, n_neurons=0)
    with pytest.raises(ValueError, match="n_neurons"):
        Teacher.orthonormal(2.5)
    with pytest.raises(ValueError, match="n_features"):
        Teacher.close_pair(n_features=1)
    with pytest.raises(ValueError, match="n_neurons"):
        Teacher.close_pair(n_features=3, n_neurons=1)
    with pytest.raises(ValueError, match="cosine"):
        Teacher.clusters(n_features=3, n_clusters=2, cosine=1.01)
    with pytest.raises(ValueError, match="n_samples"):
        Teacher.orthonormal(2).sample(0)
    with pytest.raises(ValueError, match="chunk_size"):
        next(Teacher.orthonormal(2).sample_chunks(10, chunk_size=0))
    with pytest.raises(ValueError, match="random_state"):
        Teacher.orthonormal(2).sample(10, random_state="seed")
