"""The joint weighted fit of the projected Hermite tensors (narrowrelu.learner.candidates.tensor_fit): its
criterion against a sum over distinct entries, its gradient and Gauss–Newton matrix against
NumPy references, exact recovery, and the accuracy the second-order tensor adds under noise; the compiled kernels
(narrowrelu.learner.candidates._tensor_fit_kernels) against NumPy: the partial contraction against einsum, the
best weights against lstsq, and the Levenberg–Marquardt loop against the same loop written in NumPy."""

import itertools
import math

import numpy as np
import pytest

from _helpers import unsigned_match
from narrowrelu.hermite import relu_hermite_coefficient, symmetric_outer_sum
from narrowrelu.learner.candidates._tensor_fit_kernels import _partial, best_weights, levenberg_marquardt
from narrowrelu.learner.candidates.tensor_fit import FIT_FTOL, FIT_ITERATIONS, FIT_TOL, _Criterion, fit_hermite_tensors
from narrowrelu.moments.projected import projected_hermite_tensor


def model_tensor(V, beta, m):
    return relu_hermite_coefficient(m) / relu_hermite_coefficient(2) * symmetric_outer_sum(beta, V, m)


def symmetrised(T):
    m = T.ndim
    return sum(np.transpose(T, p) for p in itertools.permutations(range(m))) / math.factorial(m)


def problem(seed=0, k=4, r=3, orders=(2, 4), noise=0.01):
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((r, k))
    V *= rng.uniform(0.7, 1.0, size=(r, 1)) / np.linalg.norm(V, axis=1, keepdims=True)
    beta = rng.uniform(0.5, 1.5, size=r) * rng.choice([-1.0, 1.0], size=r)
    tensors = {m: model_tensor(V, beta, m) + noise * symmetrised(rng.standard_normal((k,) * m)) for m in orders}
    return V, beta, tensors


def test_criterion_is_the_sum_over_distinct_entries_weighted_by_one_over_alpha_factorial():
    V, beta, tensors = problem(seed=1, orders=(2, 4, 6))
    k = V.shape[1]
    reference = 0.0
    for m, T in tensors.items():
        R = T - model_tensor(V, beta, m)
        for index in itertools.combinations_with_replacement(range(k), m):
            alpha_factorial = np.prod([math.factorial(c) for c in np.bincount(index, minlength=k)])
            reference += R[index] ** 2 / alpha_factorial
    got = _Criterion(tensors).value(V, beta)
    assert got == pytest.approx(reference, rel=1e-10)


def test_gradient_and_gauss_newton_matrix_match_numpy_references():
    """The gradient against central differences of Q; the Gauss–Newton matrix against 2 J^T W J
    from the explicit Jacobian of the full model tensors (W = 1/m! per order)."""
    V, beta, tensors = problem(seed=2, orders=(2, 4))
    r, k = V.shape
    crit = _Criterion(tensors)
    grad, H = crit.gradient_and_matrix(V, beta)
    theta = np.concatenate([V.ravel(), beta])

    def unpack(t):
        return t[: r * k].reshape(r, k), t[r * k:]

    h = 1e-6
    numeric = np.array([(crit.value(*unpack(theta + h * e)) - crit.value(*unpack(theta - h * e))) / (2 * h)
                        for e in np.eye(theta.size)])
    np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-7 * np.abs(grad).max())

    def model_vector(t):
        Vt, bt = unpack(t)
        return np.concatenate([model_tensor(Vt, bt, m).ravel() / math.sqrt(math.factorial(m)) for m in sorted(tensors)])

    J = np.stack([(model_vector(theta + h * e) - model_vector(theta - h * e)) / (2 * h) for e in np.eye(theta.size)],
                 axis=1)
    np.testing.assert_allclose(H, 2 * J.T @ J, rtol=0, atol=1e-7 * np.abs(H).max())


@pytest.mark.parametrize("orders", [(2, 4), (2, 4, 6)])
def test_fit_recovers_the_components_of_exact_tensors(orders):
    """Noiseless tensors: from starts 0.1 rad off, the fitted v_l (norms under 1, the share
    inside the span) and beta_l (of both signs) are the true ones up to the sign of v_l."""
    V, beta, tensors = problem(seed=3, k=5, r=4, orders=orders, noise=0.0)
    rng = np.random.default_rng(0)
    starts = V / np.linalg.norm(V, axis=1, keepdims=True) + 0.1 * rng.standard_normal(V.shape)
    kept = starts.copy()
    got, got_beta = fit_hermite_tensors(tensors, starts)
    assert np.array_equal(starts, kept)
    assert unsigned_match(got, V).max() < 1e-10
    match = np.argmax(np.abs(V @ got.T), axis=1)
    np.testing.assert_allclose(np.abs(np.sum(got[match] * V, axis=1)), np.sum(V * V, axis=1), rtol=1e-8)
    np.testing.assert_allclose(got_beta[match], beta, rtol=1e-8)


def test_zero_and_empty_starts():
    _, _, tensors = problem(seed=4)
    V, beta = fit_hermite_tensors(tensors, np.zeros((2, 4)))
    assert V.shape == (0, 4) and beta.shape == (0,)
    V, beta = fit_hermite_tensors(tensors, np.empty((0, 4)))
    assert V.shape == (0, 4) and beta.shape == (0,)


def _direction_errors(seed, n=20_000, k=3, sigma=1.0):
    """Squared sines between the true directions of a relu network in k dimensions and those of
    the joint fit (orders 2 and 4) and of the fit of the order-4 tensor alone, on tensors whose
    noise is that of n rows with label noise sigma: the exact tensors plus those of the noise
    (as the learner's control variate leaves them)."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((k, k)))[0].T @ np.linalg.cholesky(np.eye(k) + 0.3 * np.ones((k, k))).T
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    beta = relu_hermite_coefficient(2) * np.array([1.0, -0.8, 0.6])
    Z = rng.standard_normal((n, k))
    noise = sigma * rng.standard_normal(n)
    tensors = {m: model_tensor(U, beta, m) + projected_hermite_tensor(Z, noise, order=m) for m in (2, 4)}
    starts = U + 0.05 * rng.standard_normal(U.shape)
    errors = []
    for used in ({2: tensors[2], 4: tensors[4]}, {4: tensors[4]}):
        V, _ = fit_hermite_tensors(used, starts)
        V /= np.linalg.norm(V, axis=1, keepdims=True)
        errors.append(float(np.sum(1.0 - np.max(np.abs(U @ V.T), axis=1) ** 2)))
    return errors


def test_the_second_order_tensor_makes_the_directions_more_accurate():
    """Over 60 data sets, the joint fit's squared direction error is below that of the order-4
    fit alone by more than 3 standard errors of the paired difference (the theory, module
    docstring: half the in-span degrees of freedom read with six times the precision)."""
    errors = np.array([_direction_errors(seed) for seed in range(60)])
    gain = errors[:, 1] - errors[:, 0]
    assert gain.mean() > 3 * gain.std(ddof=1) / np.sqrt(gain.size)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_partial_contraction_matches_einsum(m):
    rng = np.random.default_rng(m)
    k = 5
    T = rng.standard_normal((k,) * m)
    v = rng.standard_normal(k)
    out = np.empty(k)
    _partial(np.concatenate([np.zeros(3), T.ravel()]), m, 3, k, v, out, np.empty(2 * k ** (m - 1)))
    expected = T
    for _ in range(m - 1):
        expected = expected @ v
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_best_weights_match_least_squares_on_the_normal_matrix():
    V, _, tensors = problem(seed=3, k=5, r=4, orders=(2, 4), noise=0.02)
    crit = _Criterion(tensors)
    G = V @ V.T
    A = sum(c * c * w * G ** int(m) for m, _, c, w, _ in crit.terms)
    b = sum(c * w * np.array([np.einsum("abcd,a,b,c,d->", T, v, v, v, v) if T.ndim == 4 else v @ T @ v for v in V])
            for (m, _, c, w, _), T in zip(crit.terms, [tensors[2], tensors[4]]))
    np.testing.assert_allclose(best_weights(crit.flat, crit.terms, V), np.linalg.lstsq(A, b, rcond=None)[0],
                               rtol=1e-10, atol=1e-12)


def numpy_levenberg_marquardt(crit, V, beta, n_iter, ftol, tol):
    """The loop of the kernel in NumPy, on the compiled criterion (damping, scaling and stops alike)."""
    q = crit.value(V, beta)
    damping = 1e-3
    r, k = V.shape
    for _ in range(n_iter):
        grad, H = crit.gradient_and_matrix(V, beta)
        scale = np.diag(H).copy()
        scale[scale <= 0] = 1.0
        improved = False
        while damping < 1e12:
            step = np.linalg.solve(H + damping * np.diag(scale), -grad)
            V_new, beta_new = V + step[: r * k].reshape(r, k), beta + step[r * k:]
            q_new = crit.value(V_new, beta_new)
            if np.isfinite(q_new) and q_new <= q:
                improved = True
                break
            damping *= 10
        if not improved:
            break
        fall = q - q_new
        V, beta, q = V_new, beta_new, q_new
        damping = max(damping / 10, 1e-12)
        if fall <= ftol * max(abs(q), 1e-300) or fall <= tol * crit.terms[0][4]:
            break
    return V, beta


@pytest.mark.parametrize("seed", range(6))
def test_levenberg_marquardt_matches_the_numpy_loop(seed):
    """From 0.1-perturbed directions of noisy tensors, the compiled loop ends where the NumPy loop does,
    to 1e-7 (both stop on the same relative fall, where rounding can move the stop by an iteration)."""
    rng = np.random.default_rng(seed)
    V0, _, tensors = problem(seed=seed, k=int(rng.integers(3, 7)), r=3, orders=(2, 4), noise=0.02)
    starts = V0 + 0.1 * rng.standard_normal(V0.shape)
    starts /= np.linalg.norm(starts, axis=1, keepdims=True)
    crit = _Criterion(tensors)
    beta = crit.best_weights(starts)
    V_ref, beta_ref = numpy_levenberg_marquardt(crit, starts.copy(), beta.copy(), FIT_ITERATIONS, FIT_FTOL, FIT_TOL)
    V, b = starts.copy(), beta.copy()
    iterations = levenberg_marquardt(crit.flat, crit.terms, V, b, FIT_ITERATIONS, FIT_FTOL, FIT_TOL)
    assert 1 <= iterations <= FIT_ITERATIONS
    np.testing.assert_allclose(V, V_ref, rtol=0, atol=1e-7)
    np.testing.assert_allclose(b, beta_ref, rtol=0, atol=1e-7)
