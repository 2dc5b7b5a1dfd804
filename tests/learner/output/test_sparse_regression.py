import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from narrowrelu.learner.output.sparse_regression import (
    GramStatistics,
    SparseDirectionRegression,
    sign_free_to_relu_network,
)


@given(seed=st.integers(0, 2**32 - 1), k=st.integers(0, 5), d=st.integers(1, 6))
def test_sign_free_model_equals_its_relu_network(seed, k, d):
    """b + beta.x + sum mu_j |c_j.x| is exactly the exported ReLU network, whatever the signs chosen."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((k, d))
    mu, beta, b = rng.standard_normal(k), rng.standard_normal(d), rng.standard_normal()
    X = rng.standard_normal((50, d))
    net = sign_free_to_relu_network(b, beta, C, mu)
    expected = b + X @ beta + np.abs(X @ C.T) @ mu
    np.testing.assert_allclose(net(X), expected, rtol=1e-12, atol=1e-12)


def test_gram_statistics_stream_with_an_implicit_intercept():
    """Rows of G added in two blocks give F^T F, F^T y, y^T y of F = [1, G] over all rows, and so
    do the sum of the two blocks' statistics and F added explicitly."""
    rng = np.random.default_rng(0)
    G, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    F = np.hstack([np.ones((40, 1)), G])
    stats = GramStatistics.empty(4).add_rows_with_intercept(G[:15], y[:15]).add_rows_with_intercept(G[15:], y[15:])
    np.testing.assert_allclose(stats.gram, F.T @ F, atol=1e-12)
    np.testing.assert_allclose(stats.moment, F.T @ y, atol=1e-12)
    assert stats.n == 40 and np.isclose(stats.yy, y @ y)
    first = GramStatistics.empty(4).add_rows_with_intercept(G[:15], y[:15])
    both = first + GramStatistics.empty(4).add_rows_with_intercept(G[15:], y[15:])
    np.testing.assert_allclose(both.gram, stats.gram, atol=1e-12)
    assert both.n == 40 and np.isclose(both.yy, stats.yy)
    explicit = GramStatistics.empty(4).add_rows(F[:15], y[:15]).add_rows(F[15:], y[15:])
    np.testing.assert_allclose(explicit.gram, stats.gram, atol=1e-12)
    np.testing.assert_allclose(explicit.moment, stats.moment, atol=1e-12)


def test_sparse_selection_finds_the_true_directions_among_decoys():
    rng = np.random.default_rng(1)
    d = 5
    true = np.eye(d)[:2]
    decoys = rng.standard_normal((6, d))
    decoys /= np.linalg.norm(decoys, axis=1, keepdims=True)
    pool = np.vstack([decoys[:3], true[:1], decoys[3:], true[1:]])
    stats = []
    for n in (4000, 1000):
        X = rng.standard_normal((n, d))
        y = 0.3 + X @ np.full(d, 0.1) + np.abs(X @ true.T) @ np.array([1.0, -0.7])
        F = np.hstack([np.ones((n, 1)), X, np.abs(X @ pool.T)])
        s = GramStatistics(F.T @ F, F.T @ y, float(y @ y), n)
        stats.append(s)
    fit = SparseDirectionRegression(stats[0], stats[1], 1 + d).select(max_terms=4)
    weights = dict(zip(fit.selected.tolist(), fit.weights))
    # noiseless: the true directions carry their weights, any decoy kept carries none
    np.testing.assert_allclose([weights.pop(3), weights.pop(7)], [1.0, -0.7], atol=1e-8)
    np.testing.assert_allclose(list(weights.values()), 0.0, atol=1e-8)
    assert fit.validation_mse < 1e-12  # the Gram formula cancels to ~1e-16 of y.y


def _trap(seed=1, d=5, n=(3000, 1000)):
    """Noiseless y = 0.2 + |u1.x| + 0.8|u2.x| with u1, u2 0.35 rad apart; the pool holds their
    bisector, noisy copies of each and of the bisector (rows 0-3), then u1, u2 (rows 4, 5). With
    this seed, forward selection takes the bisector first and single swaps cannot leave it: each
    true direction alone beside a decoy fits worse than the decoy pair."""
    rng = np.random.default_rng(seed)
    u1 = rng.standard_normal(d)
    u1 /= np.linalg.norm(u1)
    v = rng.standard_normal(d)
    v -= (v @ u1) * u1
    v /= np.linalg.norm(v)
    true = np.vstack([u1, np.cos(0.35) * u1 + np.sin(0.35) * v])
    bisector = true.sum(axis=0) / np.linalg.norm(true.sum(axis=0))
    decoys = np.array(
        [bisector] + [t + 0.15 * rng.standard_normal(d) for t in true] + [bisector + 0.1 * rng.standard_normal(d)]
    )
    pool = np.vstack([decoys / np.linalg.norm(decoys, axis=1, keepdims=True), true])
    stats = []
    for m in n:
        X = rng.standard_normal((m, d))
        y = 0.2 + np.abs(X @ true.T) @ np.array([1.0, 0.8])
        F = np.hstack([np.ones((m, 1)), X, np.abs(X @ pool.T)])
        stats.append(GramStatistics(F.T @ F, F.T @ y, float(y @ y), m))
    return SparseDirectionRegression(stats[0], stats[1], 1 + d)


def test_a_start_reaches_a_coupled_pair_that_single_swaps_miss():
    regression = _trap()
    forward = regression.select(2)
    assert sorted(forward.selected.tolist()) != [4, 5] and forward.validation_mse > 1e-4
    started = regression.select(2, starts=[[4, 5]])
    assert sorted(started.selected.tolist()) == [4, 5] and started.validation_mse < 1e-12
    # a start that does not help leaves the forward path's fit; duplicates and extra terms are cut
    assert regression.select(2, starts=[[0, 0, 1, 2]]).validation_mse <= forward.validation_mse
    assert sorted(regression.select(2, starts=[[5, 4, 0]]).selected.tolist()) == [4, 5]


def _random_regression(seed, d, n_pool, n=(300, 100)):
    rng = np.random.default_rng(seed)
    pool = rng.standard_normal((n_pool, d))
    true = rng.standard_normal((2, d))
    stats = []
    for m in n:
        X = rng.standard_normal((m, d))
        y = np.abs(X @ true.T) @ np.array([1.0, -0.6]) + 0.3 * rng.standard_normal(m)
        F = np.hstack([np.ones((m, 1)), X, np.abs(X @ pool.T)])
        stats.append(GramStatistics(F.T @ F, F.T @ y, float(y @ y), m))
    return SparseDirectionRegression(stats[0], stats[1], 1 + d)


@given(seed=st.integers(0, 2**32 - 1), size=st.integers(0, 4))
def test_rss_of_each_added_column_equals_its_own_solve(seed, size):
    """The rank-one form of RSS(S + {j}) equals the sum of squares of that subset's own solve."""
    regression = _random_regression(seed, d=3, n_pool=9)
    subset = np.random.default_rng(seed).permutation(9)[:size].tolist()
    expected = [regression.train_rss(subset + ([] if j in subset else [j])) for j in range(9)]
    np.testing.assert_allclose(regression.train_rss_adding_each(subset), expected, rtol=1e-9)


def _reference_select(regression, max_terms, max_sweeps=5):
    """The subset search written one solve per subset: forward steps, held-out size, first-improvement swaps."""
    path, current = [[]], []
    for _ in range(max_terms):
        rest = [j for j in range(regression.n_candidates) if j not in current]
        current = current + [min(rest, key=lambda j: regression.train_rss(current + [j]))]
        path.append(current)
    subset = path[int(np.argmin([regression.validation_mse(s) for s in path]))]
    rss = regression.train_rss(subset)
    for _ in range(max_sweeps if subset else 0):
        improved = False
        for pos in range(len(subset)):
            for j in range(regression.n_candidates):
                trial = subset[:pos] + [j] + subset[pos + 1:]
                if j not in subset and regression.train_rss(trial) < rss * (1 - 1e-9):
                    subset, rss, improved = trial, regression.train_rss(trial), True
        if not improved:
            break
    return subset


@given(seed=st.integers(0, 2**32 - 1), max_terms=st.integers(1, 4))
def test_subset_search_equals_the_search_written_one_solve_per_subset(seed, max_terms):
    regression = _random_regression(seed, d=3, n_pool=8)
    assert regression.select(max_terms).selected.tolist() == _reference_select(regression, max_terms)
