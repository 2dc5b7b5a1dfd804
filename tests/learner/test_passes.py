"""The passes of a round of the moment learner (narrowrelu.learner.passes): the linear part,
M_2, the products M_2P and C_jP, and the projection pass.

Every stage is checked against an explicit NumPy computation on the training rows only (the
held-out rows of a source must add nothing), and for invariance to ``n_jobs`` (bit for bit)
and to the chunking of the source (up to rounding). The final regression pass is tested with
the regression stage it must agree with (``test_regression_stage.py``).
"""

import math

import numpy as np
import pytest

from _helpers import (
    assert_close_to_scale,
    explicit_c4,
    explicit_m2,
    explicit_projected_tensor,
    orthonormal,
    problem,
    projection_cache_for,
    projection_setup,
    random_model,
)
from narrowrelu import ReLUNetwork
from narrowrelu.learner.passes import (
    least_squares_linear_pass,
    linear_pass,
    products_pass,
    projection_pass,
    second_moment_pass,
)
from narrowrelu.learner.sources import ArraySource
from narrowrelu.moments.model import network_hermite_contraction, network_projected_tensor


# ----------------------------------------------------------------------------- linear and M2 stages
def test_linear_stage_uses_training_rows_only():
    _, X, y, mask, _, source = problem(seed=3)
    lin = linear_pass(source)
    Xt, yt = X[~mask], y[~mask]
    assert (lin.n_train, lin.n_validation) == ((~mask).sum(), mask.sum())
    assert lin.mean_y == pytest.approx(yt.mean(), rel=1e-12)
    assert lin.var_y == pytest.approx(yt.var(), rel=1e-10)
    assert_close_to_scale(lin.mean_yx, yt @ Xt / yt.size)


def test_linear_stage_ignores_held_out_targets():
    """Changing the targets of held-out rows changes nothing but the held-out count."""
    _, X, y, mask, _, source = problem(seed=3)
    y2 = y.copy()
    y2[mask] = 1e6
    a, b = linear_pass(source), linear_pass(ArraySource(X, y2, mask, 128))
    assert a.mean_y == b.mean_y and a.var_y == b.var_y and np.array_equal(a.mean_yx, b.mean_yx)


def test_second_moment_stage_excludes_held_out_rows():
    _, X, y, mask, model, source = problem(seed=4)
    got = second_moment_pass(source, model, 100, 1)
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
    net = random_model(rng, 4, 3)
    X = rng.standard_normal((300, 4))
    source = ArraySource(X, net(X), rng.random(300) < 0.5, 64)
    U, lam = net.hidden_weights, net.output_weights
    norms = np.linalg.norm(U, axis=1)
    expected = (1 / math.sqrt(2 * math.pi)) * ((U / norms[:, None]).T * (lam * norms)) @ (U / norms[:, None])
    assert_close_to_scale(second_moment_pass(source, net, 50, 1), expected)


# ----------------------------------------------------------------------------- products stage
def test_products_stage_excludes_held_out_rows():
    rng, X, y, mask, model, source = problem(seed=6, d=6, h=2)
    d, k = 6, 3
    P = orthonormal(rng, d, k)
    coords = rng.standard_normal((2, k))
    G = coords @ P.T
    M2P, CP = products_pass(source, model, P, coords, 50, 1)
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
    y = random_model(rng, d, 2)(X)
    mask = rng.random(401) < 0.2
    base = ReLUNetwork(np.empty((0, d)), np.empty(0), rng.standard_normal(d), 0.4)
    P = orthonormal(rng, d, k)
    coords = rng.standard_normal((1, k))
    M2P, CP = products_pass(ArraySource(X, y, mask, 100), base, P, coords, 64, 1)
    Xt, r = X[~mask], (y - base(X))[~mask]
    assert_close_to_scale(M2P, explicit_m2(Xt, r) @ P)
    assert_close_to_scale(CP[0], explicit_c4(Xt, r, coords[0] @ P.T) @ P, rel=1e-11)



# ----------------------------------------------------------------------------- projection stage
def test_projection_stage_stores_projections_and_tensors():
    rng, X, y, mask, model, source, P, extra, L = projection_setup()
    k, h, e = P.shape[1], 2, 2
    cache = projection_cache_for(L, h, e, X.shape[0])
    layout = projection_pass(source, model, extra, L, k, (4, 6), cache, 50, 1)
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
    layout = projection_pass(source, model, extra, L, P.shape[1], (4,), cache, 64, 1)
    r = (y - model(X))[~mask]
    expected = projected_hermite_tensor(X[~mask] @ P, r, 4) + network_projected_tensor(model, P, 4)
    assert_close_to_scale(layout.tensors[4], expected, rel=1e-12)


# ----------------------------------------------------------------------------- invariances
def run_all_stages(X, y, mask, model, P, coords, extra, L, source_chunk, block, n_jobs):
    source = ArraySource(X, y, mask, source_chunk)
    M2 = second_moment_pass(source, model, block, n_jobs)
    M2P, CP = products_pass(source, model, P, coords, block, n_jobs)
    cache = projection_cache_for(L, model.n_neurons, extra.shape[0], X.shape[0])
    layout = projection_pass(source, model, extra, L, P.shape[1], (4, 6), cache, block, n_jobs)
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




def test_second_moment_stage_measures_the_residual_mean_square_on_training_rows():
    _, X, y, mask, model, source = problem(seed=4)
    M2, mean_square = second_moment_pass(source, model, 100, 1, mean_square=True)
    assert np.array_equal(M2, second_moment_pass(source, model, 100, 1))
    r = (y - model(X))[~mask]
    assert mean_square == pytest.approx(np.mean(r**2), rel=1e-12)


def test_least_squares_linear_stage_is_the_fit_on_training_rows():
    _, X, y, mask, _, source = problem(seed=5)
    intercept, weights = least_squares_linear_pass(source)
    A = np.column_stack([np.ones(int((~mask).sum())), X[~mask]])
    expected = np.linalg.lstsq(A, y[~mask], rcond=None)[0]
    assert intercept == pytest.approx(expected[0], rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(weights, expected[1:], rtol=1e-9, atol=1e-12)
