"""The neurons' span and the round's bases (narrowrelu.learner.span): the lift of
directions out of the span estimate, and the linear basis [P, E]."""

import numpy as np
import pytest

from _helpers import orthonormal
from narrowrelu.learner.span import complete_outside_span, lift_directions, linear_basis


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


# ----------------------------------------------------------------------------- linear basis
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




def test_lift_keeps_the_direction_inside_the_span():
    """Directions off inside the span: with keep_span the lifted P^T c stays parallel to the
    input's, and the part outside the span is the neuron's, in proportion; without it, the
    in-span error of a weak neuron grows by the factors beta_l / beta_i."""
    U, P, directions, products = lift_problem(seed=16)
    rng = np.random.default_rng(1)
    inside = directions @ P + 0.01 * rng.standard_normal((3, P.shape[1]))
    noisy = inside @ P.T
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    kept = lift_directions(noisy, P, products[1])
    shadows = (P.T @ kept.T).T
    cos_inside = np.sum(shadows * (noisy @ P), axis=1) / np.linalg.norm(shadows,
                                                                        axis=1) / np.linalg.norm(noisy @ P, axis=1)
    np.testing.assert_allclose(cos_inside, 1.0, atol=1e-12)
    outside = kept - (kept @ P) @ P.T
    truth_outside = U - (U @ P) @ P.T
    ratio = np.linalg.norm(outside, axis=1) / np.linalg.norm(truth_outside, axis=1)
    np.testing.assert_allclose(ratio, 1.0, atol=0.1)
    mixed = lift_directions(noisy, P, products[1], keep_span=False)
    weak = np.argmin(np.abs([-0.3, 0.8, 0.1]))
    error = 1 - np.abs(np.sum(U * kept, axis=1))
    error_mixed = 1 - np.abs(np.sum(U * mixed, axis=1))
    assert error_mixed[weak] > 3 * error[weak]


def test_complete_outside_span_takes_the_complement_from_the_matching_direction():
    U, P, directions, _ = lift_problem(seed=17)
    coords = 2.0 * (U @ P)  # the in-span coordinates, at any scale
    rng = np.random.default_rng(2)
    coords_noisy = coords + 0.01 * rng.standard_normal(coords.shape)
    out = complete_outside_span(coords_noisy, P, -U)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-12)
    # inside the span: the direction of the coordinates; outside: -U's, in U's proportion
    inside = out @ P
    v = coords_noisy / np.linalg.norm(coords_noisy, axis=1, keepdims=True)
    np.testing.assert_allclose(np.abs(np.sum(inside * v, axis=1)) / np.linalg.norm(inside, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(inside, axis=1), np.linalg.norm(U @ P, axis=1), rtol=1e-12)
    sign = np.sign(np.sum(inside * v, axis=1))[:, None]
    np.testing.assert_allclose(sign * (out - inside @ P.T), U - (U @ P) @ P.T, atol=1e-12)
    # exact coordinates give the neurons back
    np.testing.assert_allclose(np.abs(np.sum(complete_outside_span(coords, P, U) * U, axis=1)), 1.0, atol=1e-12)
    # no match: the direction stays in the span
    far = complete_outside_span(coords[:1], P, U[1:] * 0 + np.eye(U.shape[1])[:2])
    np.testing.assert_allclose(far, (coords[:1] / np.linalg.norm(coords[:1])) @ P.T, atol=1e-12)
    assert complete_outside_span(np.empty((0, 3)), P, U).shape == (0, U.shape[1])
