"""Multiscale clustering of candidate directions in projective space (narrowrelu.learner.candidates.cluster).

Candidates c and -c are the same point: distances, centres and clusters must not depend on the
signs of the rows. Planted clouds: unit vectors around a few centres, each with a random sign.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _helpers import orthonormal, unsigned_match
from narrowrelu.learner.candidates.cluster import multiscale_cluster_centres, projective_centre, projective_distances


def planted_cloud(rng, centres, sizes, noise):
    """``sizes[i]`` unit vectors within ~``noise`` of ``centres[i]``, each with a random sign."""
    rows = []
    for c, m in zip(centres, sizes):
        members = c + noise * rng.standard_normal((m, c.size))
        members /= np.linalg.norm(members, axis=1, keepdims=True)
        rows.append(members * rng.choice([-1.0, 1.0], size=(m, 1)))
    return np.vstack(rows)


def unit_rows(rng, n, k):
    C = rng.standard_normal((n, k))
    return C / np.linalg.norm(C, axis=1, keepdims=True)


# ----------------------------------------------------------------------------- distances and centres
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12), k=st.integers(1, 5))
def test_projective_distances_are_sign_free_and_in_range(seed, n, k):
    rng = np.random.default_rng(seed)
    C = unit_rows(rng, n, k)
    D = projective_distances(C)
    np.testing.assert_allclose(D, 1.0 - np.abs(C @ C.T), atol=1e-15)
    assert np.all(np.diag(D) == 0.0) and np.array_equal(D, D.T)
    assert np.all((D >= 0.0) & (D <= 1.0 + 1e-15))
    signs = rng.choice([-1.0, 1.0], size=(n, 1))
    np.testing.assert_allclose(projective_distances(C * signs), D, rtol=0, atol=1e-15)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12), k=st.integers(1, 5))
def test_projective_centre_is_unit_sign_free_and_maximises_squared_cosines(seed, n, k):
    rng = np.random.default_rng(seed)
    C = unit_rows(rng, n, k)
    c = projective_centre(C)
    assert c.shape == (k,)
    assert np.linalg.norm(c) == pytest.approx(1.0, rel=1e-12)
    flipped = projective_centre(C * rng.choice([-1.0, 1.0], size=(n, 1)))
    assert abs(abs(c @ flipped) - 1.0) < 1e-8 or _top_eigenvalue_degenerate(C)
    # the top eigenvector of sum c_i c_i^T: no unit vector has a larger sum of squared cosines
    score = np.sum((C @ c) ** 2)
    for v in unit_rows(rng, 20, k):
        assert np.sum((C @ v) ** 2) <= score + 1e-12 * n


def _top_eigenvalue_degenerate(C):
    vals = np.linalg.eigvalsh(C.T @ C)
    return vals.size > 1 and vals[-1] - vals[-2] < 1e-6 * max(vals[-1], 1.0)


def test_projective_centre_of_a_signed_cluster_is_its_centre():
    rng = np.random.default_rng(0)
    truth = unit_rows(rng, 1, 4)[0]
    C = planted_cloud(rng, [truth], [30], 1e-3)
    assert np.any(C @ truth < 0) and np.any(C @ truth > 0)  # both signs present: a plain mean would cancel
    assert 1.0 - abs(projective_centre(C) @ truth) < 1e-6


# ----------------------------------------------------------------------------- multiscale clustering
def test_planted_clusters_are_recovered_in_order_of_support():
    rng = np.random.default_rng(1)
    truth = orthonormal(rng, 4, 3).T
    C = planted_cloud(rng, truth, [12, 8, 5], 1e-3)
    centres, support = multiscale_cluster_centres(C, (0.1, 0.01), 3)
    assert centres.shape == (3, 4)
    assert support.tolist() == [12, 8, 5]
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 1.0, rtol=1e-12)
    for c, t in zip(centres, truth):  # ordered by support, as planted
        assert 1.0 - abs(c @ t) < 1e-5


def test_min_support_drops_small_clusters_and_isolated_points():
    rng = np.random.default_rng(2)
    truth = orthonormal(rng, 5, 3).T
    C = np.vstack([planted_cloud(rng, truth, [12, 8, 3], 1e-3), unit_rows(rng, 4, 5)])
    centres, support = multiscale_cluster_centres(C, (0.01,), 4)
    assert support.tolist() == [12, 8]
    assert np.all(unsigned_match(centres, truth[:2]) < 1e-5)
    assert unsigned_match(centres, truth[2:])[0] > 0.5  # the cluster of 3 is gone
    # min_support 1 keeps everything, singletons included
    _, every = multiscale_cluster_centres(C, (0.01,), 1)
    assert sorted(every.tolist(), reverse=True)[:3] == [12, 8, 3] and every.sum() == C.shape[0]


def test_close_clusters_merge_at_coarse_scales_and_separate_at_fine_ones():
    rng = np.random.default_rng(3)
    a = np.array([1.0, 0.0, 0.0])
    b = np.array([np.cos(0.14), np.sin(0.14), 0.0])  # projective distance 1 - cos 0.14 ~ 0.0098
    C = planted_cloud(rng, [a, b], [10, 9], 1e-4)
    coarse, coarse_support = multiscale_cluster_centres(C, (0.1,), 3)
    assert coarse_support.tolist() == [19]
    assert np.all(unsigned_match(coarse, np.vstack([a, b])) < 0.01)  # between the two
    assert np.all(unsigned_match(coarse, np.vstack([a, b])) > 1e-3)  # and neither of them
    fine, fine_support = multiscale_cluster_centres(C, (0.001,), 3)
    assert fine_support.tolist() == [10, 9]
    assert np.all(unsigned_match(fine, np.vstack([a, b])) < 1e-6)
    both, both_support = multiscale_cluster_centres(C, (0.1, 0.001), 3)
    assert both_support.tolist() == [19, 10, 9]
    np.testing.assert_allclose(np.abs(np.sum(both * np.vstack([coarse, fine]), axis=1)), 1.0, atol=1e-12)


def test_centres_found_at_several_scales_are_not_repeated():
    rng = np.random.default_rng(4)
    truth = orthonormal(rng, 4, 2).T
    C = planted_cloud(rng, truth, [7, 6], 1e-4)
    one, one_support = multiscale_cluster_centres(C, (0.01,), 2)
    many, many_support = multiscale_cluster_centres(C, (0.3, 0.1, 0.03, 0.01, 0.003), 2)
    assert many.shape == one.shape == (2, 4)
    assert many_support.tolist() == one_support.tolist() == [7, 6]
    np.testing.assert_allclose(np.abs(np.sum(many * one, axis=1)), 1.0, atol=1e-12)


def test_too_few_candidates_give_no_centres():
    C = np.eye(3)[:1]
    for min_support in (1, 2):
        centres, support = multiscale_cluster_centres(C, (0.1,), min_support)
        assert centres.shape == (0, 3) and support.shape == (0,)
    centres, support = multiscale_cluster_centres(np.eye(3), (0.1,), 4)  # fewer rows than min_support
    assert centres.shape == (0, 3) and support.shape == (0,)


@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(2, 5),
    sizes=st.lists(st.integers(2, 9), min_size=1, max_size=3, unique=True),
    noise=st.sampled_from([1e-4, 1e-2]),
)
def test_centres_do_not_depend_on_row_order_or_signs(seed, k, sizes, noise):
    if len(sizes) > k:
        sizes = sizes[:k]
    rng = np.random.default_rng(seed)
    truth = orthonormal(rng, k, len(sizes)).T
    C = planted_cloud(rng, truth, sizes, noise)
    scales, min_support = (0.3, 0.05, 0.001), 2
    centres, support = multiscale_cluster_centres(C, scales, min_support)
    perm = rng.permutation(C.shape[0])
    signs = rng.choice([-1.0, 1.0], size=(C.shape[0], 1))
    centres2, support2 = multiscale_cluster_centres((C * signs)[perm], scales, min_support)
    assert centres2.shape == centres.shape
    assert sorted(support2.tolist()) == sorted(support.tolist())
    # the same set of centres up to sign (matched one to one, supports equal)
    for c, s in zip(centres, support):
        match = np.argmax(np.abs(centres2 @ c))
        assert 1.0 - abs(centres2[match] @ c) < 1e-10 and support2[match] == s
    # and the planted centres are among them, each with its support
    assert np.all(unsigned_match(centres, truth) < 10 * noise**2 + 1e-8)
