"""Helpers shared by several test modules: slow NumPy references, small random problems and
tolerance checks. Imported as ``from _helpers import ...`` (pytest puts ``tests/`` on the path)."""

import numpy as np

from narrowrelu import ReLUNetwork, population_mse, population_variance
from narrowrelu.hermite import hermite_from_raw_moments, hermite_tensor
from narrowrelu.learner.sources.projection_cache import ProjectionCache
from narrowrelu.learner.sources import ArraySource
from narrowrelu.learner.span import linear_basis


# ----------------------------------------------------------------------------- tolerances
def assert_close_to_scale(got, expected, rel=1e-12):
    """``|got - expected| <= rel * max|expected|`` entrywise (rounding relative to the result's scale)."""
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-300)
    np.testing.assert_allclose(got, expected, rtol=0, atol=rel * scale)


def relative_mse(model, teacher):
    """Exact population MSE of ``model`` against ``teacher``, relative to the teacher's variance."""
    return population_mse(model, teacher) / population_variance(teacher)


def unsigned_match(found, truth):
    """For each row of ``truth``, ``1 - max_j |cos(found_j, truth_i)|`` (projective distance to the
    nearest row of ``found``; 1 when ``found`` is empty)."""
    if found.shape[0] == 0:
        return np.ones(truth.shape[0])
    F = found / np.linalg.norm(found, axis=1, keepdims=True)
    T = truth / np.linalg.norm(truth, axis=1, keepdims=True)
    return 1.0 - np.abs(T @ F.T).max(axis=1)


# ----------------------------------------------------------------------------- random problems
def orthonormal(rng, d, k):
    return np.linalg.qr(rng.standard_normal((d, k)))[0]


def random_network(rng, d, k, affine=True, scale=1.0):
    """Hidden rows of random (non-unit) norms, output weights of both signs, optional affine part."""
    U = rng.standard_normal((k, d)) * rng.uniform(0.2, 2.0, size=(k, 1)) * scale
    lam = rng.standard_normal(k)
    w = rng.standard_normal(d) * 0.5 if affine else None
    b = float(rng.standard_normal()) if affine else 0.0
    return ReLUNetwork(U, lam, w, b)


def random_model(rng, d, h):
    """A model with neurons of various norms, a linear part and a constant (the current model of a round)."""
    return ReLUNetwork(rng.standard_normal((h, d)), rng.standard_normal(h), 0.3 * rng.standard_normal(d), 0.7)


def problem(seed=0, n=1003, d=5, h=2, chunk=128, validation=0.3):
    """Data from one network, a different current model, and an ArraySource with a random
    held-out mask (n deliberately not a multiple of the chunk size)."""
    rng = np.random.default_rng(seed)
    teacher = random_model(rng, d, 3)
    model = random_model(rng, d, h)
    X = rng.standard_normal((n, d))
    y = teacher(X) + 0.1 * rng.standard_normal(n)
    mask = rng.random(n) < validation
    return rng, X, y, mask, model, ArraySource(X, y, mask, chunk)


def projection_setup(seed=8, n=1003, d=6, h=2, e=2, k=3, chunk=128):
    """:func:`problem` plus a span estimate ``P``, extra unit directions and the round's linear basis ``L``."""
    rng, X, y, mask, model, source = problem(seed=seed, n=n, d=d, h=h, chunk=chunk)
    P = orthonormal(rng, d, k)
    extra = rng.standard_normal((e, d))
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    L = linear_basis(P, np.vstack([model.linear_weights[None], model.hidden_weights]))
    return rng, X, y, mask, model, source, P, extra, L


def projection_cache_for(L, h, e, n):
    """A cache wide enough for a round with ``h`` model neurons and ``e`` extra directions."""
    return ProjectionCache(n, n, 1 + h + e + L.shape[1])


# ----------------------------------------------------------------------------- references
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
    return ((X.T * (r * h2)) @ X / n - (r * h2).mean() * np.eye(d) - 2 * (np.outer(g, v) + np.outer(v, g))
            + 2 * r.mean() * np.outer(g, g))


def explicit_projected_tensor(Z, r, order):
    """mean_i r_i He_m(z_i) from raw moments formed by einsum (independent of ProjectedRawMoments)."""
    n, k = Z.shape
    letters = "abcdefgh"
    raw = {0: np.asarray(r.mean())}
    for j in range(2 - order % 2, order + 1, 2):
        spec = "n," + ",".join(f"n{letters[i]}" for i in range(j)) + "->" + letters[:j]
        raw[j] = np.einsum(spec, r, *([Z] * j)) / n
    return hermite_from_raw_moments(raw, order)


def explicit_moment_tensor(X, y, order):
    """mean_i y_i He_m(x_i), materialised (size d^m) row by row: the slowest reference."""
    T = np.zeros((X.shape[1],) * order)
    for x, yi in zip(X, y):
        T += yi * hermite_tensor(x, order)
    return T / X.shape[0]


def contract(T, g, times):
    """Contract the first ``times`` modes of ``T`` with ``g``."""
    for _ in range(times):
        T = np.tensordot(T, g, axes=([0], [0]))
    return T


def feature_matrix(X, L, directions):
    """[1, X L, |X c_j|]: the features of the output regression."""
    return np.hstack([np.ones((X.shape[0], 1)), X @ L, np.abs(X @ directions.T)])


def small_data(n=200, d=4, seed=0, noise=0.1):
    """Samples of a random 3-neuron teacher with a linear part and an intercept."""
    from narrowrelu import Teacher

    teacher = Teacher.random(n_features=d, n_neurons=3, noise_std=noise, random_state=seed)
    teacher = Teacher(teacher.hidden_weights, teacher.output_weights, np.full(d, 0.3), 0.7, noise)
    return teacher.sample(n, random_state=seed + 100)


def batched(X, y, fn, n_batches):
    """Mean and standard error of ``fn`` over equal batches of the rows (the SE of the full-data estimate)."""
    parts = np.array([fn(Xb, yb) for Xb, yb in zip(np.array_split(X, n_batches), np.array_split(y, n_batches))])
    return parts.mean(axis=0), parts.std(axis=0, ddof=1) / np.sqrt(n_batches)


def random_student(rng, d, m):
    """Student parameters ``(W, a, b)`` of width ``m`` for the GD baseline."""
    return rng.standard_normal((m, d)), rng.standard_normal(m), float(rng.standard_normal())
