"""Candidates of a round (narrowrelu.learner.candidates): the named generators in order, Jennrich
pairs clustered into unit centres, the polishers, and the test of which candidate rows are new
(projectively)."""

import numpy as np

from _helpers import orthonormal, unsigned_match
import pytest

from narrowrelu.learner.candidates import GENERATORS, round_candidates
from narrowrelu.learner.directions import novel_rows


def test_candidate_stage_finds_the_neurons_of_exact_tensors():
    """On exact tensors sum_i lambda_i v_i^(x)m (orders 4 and 6) every pair of contractions gives
    the k neurons: the centres are unit and contain every v_i up to sign. Two of the neurons are
    at projective distance 0.02: they merge into one centre (support of both) at scale 0.1 and
    separate at scale 0.01, after the centre of the pair (ordered by support)."""
    rng = np.random.default_rng(3)
    k, n_pairs = 3, 12
    V = np.array([[1.0, 0.0, 0.0], [np.cos(0.2), np.sin(0.2), 0.0], [0.3, -0.4, 0.9]])
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    lam = np.array([1.0, -0.6, 0.4])
    tensors = {m: sum(l * _outer_power(v, m) for l, v in zip(lam, V)) for m in (4, 6)}
    found = round_candidates(tensors, None, ("jennrich",), n_pairs, (0.1, 0.01), 4, rng)
    centres, support, n_cloud, polished = found.centres, found.support, found.n_cloud, found.polished
    assert polished.shape == (0, k)
    assert n_cloud == k * n_pairs
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 1.0, rtol=1e-12)
    assert np.all(unsigned_match(centres, V) < 1e-10)
    assert centres.shape[0] == k + 1 and support.tolist() == [2 * n_pairs, n_pairs, n_pairs, n_pairs]
    merged = centres[0]
    assert unsigned_match(merged[None], V[:2]).max() < 0.02  # between the two close neurons


def test_candidate_stage_polishes_the_current_directions():
    """With the polish, the polished rows are the CP decomposition of the order-4 tensor started
    from the current directions (here the neurons rotated by 0.05 rad): the neurons themselves,
    unit rows; given the order-2 tensor as well, the joint fit returns them with their norms
    inside the span (here 0.9). The centres are those of the plain stage either way."""
    rng = np.random.default_rng(4)
    k = 5
    V = orthonormal(rng, k, k).T @ np.linalg.cholesky(np.eye(k) + 0.3 * np.ones((k, k))).T
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    beta = np.array([1.0, -0.7, 0.5, 1.3, -0.9])
    W = 0.9 * V
    tensors = {4: -sum(b * _outer_power(w, 4) for b, w in zip(beta, W))}
    second = sum(b * _outer_power(w, 2) for b, w in zip(beta, W))
    current = V + 0.05 * rng.standard_normal(V.shape)
    current /= np.linalg.norm(current, axis=1, keepdims=True)
    def stage(*generators):
        found = round_candidates(tensors, second, generators, 8, (0.1, 0.01), 2, np.random.default_rng(5), current)
        return found.centres, found.polished

    plain, _ = stage("jennrich")
    centres, cp = stage("jennrich", "cp_polish")
    np.testing.assert_array_equal(centres, plain)
    assert unsigned_match(cp, V).max() < 1e-8 and unsigned_match(V, cp).max() < 1e-8
    np.testing.assert_allclose(np.linalg.norm(cp, axis=1), 1.0, rtol=1e-12)
    _, fitted = stage("jennrich", "cp_polish", "tensor_fit")
    assert unsigned_match(fitted, V).max() < 1e-8 and unsigned_match(V, fitted).max() < 1e-8
    np.testing.assert_allclose(np.sort(np.linalg.norm(fitted, axis=1)), 0.9, rtol=1e-7)
    # without the CP polish, the joint fit starts from the current directions
    _, direct = stage("jennrich", "tensor_fit")
    assert unsigned_match(direct, V).max() < 1e-8 and unsigned_match(V, direct).max() < 1e-8


def test_generators_run_in_the_order_named_and_the_registry_is_complete(monkeypatch):
    """The stage calls exactly the generators named, in order, each on the previous one's result."""
    assert set(GENERATORS) == {"jennrich", "cp_polish", "tensor_fit"}
    seen = []
    for name, generator in list(GENERATORS.items()):
        def spy(state, rng, name=name, generator=generator):
            seen.append((name, state.polished.shape[0]))
            return generator(state, rng)
        monkeypatch.setitem(GENERATORS, name, spy)
    rng = np.random.default_rng(1)
    V = orthonormal(rng, 3, 3)
    tensors = {4: sum(_outer_power(v, 4) for v in V)}
    second = sum(_outer_power(v, 2) for v in V)
    round_candidates(tensors, second, ("tensor_fit", "jennrich", "cp_polish"), 4, (0.1,), 2, rng)
    assert [name for name, _ in seen] == ["tensor_fit", "jennrich", "cp_polish"]
    assert seen[2][1] == 3  # the CP polish started from the tensor fit's directions
    with pytest.raises(KeyError):
        round_candidates(tensors, second, ("svd",), 4, (0.1,), 2, rng)


def _outer_power(v, m):
    out = np.array(1.0)
    for _ in range(m):
        out = np.multiply.outer(out, v)
    return out


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


