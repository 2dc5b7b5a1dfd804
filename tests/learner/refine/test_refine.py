"""Local least-squares refinement (narrowrelu.learner.refine): parameter packing, the chunked
normal equations against a dense Jacobian, and Levenberg–Marquardt / L-BFGS from a perturbed
start on noiseless data."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import narrowrelu.learner.refine.normal_equations as refine
from _helpers import random_network, relative_mse
from narrowrelu import ReLUNetwork, Teacher
from narrowrelu.learner.refine.quasi_newton import lbfgs
from narrowrelu.learner.refine.normal_equations import levenberg_marquardt, loss_and_normal_equations
from narrowrelu.learner.refine.result import RefinementResult
from narrowrelu.network import unpack_parameters


def dense_reference(theta, X, y, k):
    """The residual r = f - y and the Jacobian of f, one row per sample, from the formulas
    df/du_j = lam_j 1[u_j.x > 0] x, df/dlam_j = relu(u_j.x), df/dw = x, df/db = 1."""
    n, d = X.shape
    U = theta[: k * d].reshape(k, d)
    lam = theta[k * d: k * d + k]
    w = theta[k * d + k: k * d + k + d]
    b = theta[-1]
    columns = []
    for j in range(k):
        columns.append(lam[j] * (X @ U[j] > 0)[:, None] * X)
    for j in range(k):
        columns.append(np.maximum(X @ U[j], 0.0)[:, None])
    columns += [X, np.ones((n, 1))]
    J = np.hstack(columns)
    r = np.maximum(X @ U.T, 0.0) @ lam + X @ w + b - y
    return r, J


def perturbed(net, rng, scale):
    return ReLUNetwork(
        net.hidden_weights + scale * rng.standard_normal(net.hidden_weights.shape),
        net.output_weights + scale * rng.standard_normal(net.n_neurons),
        net.linear_weights + scale * rng.standard_normal(net.n_features),
        net.intercept + scale,
    )


@given(seed=st.integers(0, 2**32 - 1), k=st.integers(0, 4), d=st.integers(1, 5))
def test_pack_unpack_round_trip(seed, k, d):
    rng = np.random.default_rng(seed)
    net = random_network(rng, d, k)
    theta = net.to_vector()
    assert theta.shape == (k * (d + 1) + d + 1,)
    U, lam, w, b = unpack_parameters(theta, k, d)
    assert np.array_equal(U, net.hidden_weights) and np.array_equal(lam, net.output_weights)
    assert np.array_equal(w, net.linear_weights) and b == net.intercept
    assert np.array_equal(ReLUNetwork(U, lam, w, b).to_vector(), theta)


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    d=st.integers(1, 5),
    k=st.integers(1, 3),
    chunk=st.integers(1, 70),
    with_hessian=st.booleans(),
)
def test_chunked_normal_equations_equal_dense_jacobian(seed, n, d, k, chunk, with_hessian):
    rng = np.random.default_rng(seed)
    theta = random_network(rng, d, k).to_vector()
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    with mock.patch.object(refine, "_chunk_rows", lambda p: chunk):
        loss, Jtr, JtJ = loss_and_normal_equations(theta, X, y, k, with_hessian=with_hessian)
    assert_normal_equations(loss, Jtr, JtJ, *dense_reference(theta, X, y, k))
    if with_hessian:
        assert np.array_equal(JtJ, JtJ.T)
    else:
        assert JtJ is None


def assert_normal_equations(loss, Jtr, JtJ, r, J):
    """The chunked sums against the dense residual ``r`` and Jacobian ``J``, to the rounding of
    sums over rows relative to the sums of absolute values (``JtJ`` when computed)."""
    aJ, ar = np.abs(J), np.abs(r)
    assert loss == pytest.approx(r @ r, rel=1e-12, abs=1e-300)
    assert np.all(np.abs(Jtr - J.T @ r) <= 1e-12 * (aJ.T @ ar) + 1e-300)
    if JtJ is not None:
        assert np.all(np.abs(JtJ - J.T @ J) <= 1e-12 * (aJ.T @ aJ) + 1e-300)


def biased_dense_reference(theta, X, y, k):
    """Residual and Jacobian with hidden biases, theta = (vec U, lam, w, beta, b): the columns
    df/du_j = lam_j 1[u_j.x + beta_j > 0] x, df/dlam_j = relu(u_j.x + beta_j), df/dw = x,
    df/dbeta_j = lam_j 1[u_j.x + beta_j > 0], df/db = 1."""
    n, d = X.shape
    U, lam, w, b, beta = unpack_parameters(theta, k, d, biased=True)
    pre = X @ U.T + beta
    gate = (pre > 0) * lam
    columns = [gate[:, j:j + 1] * X for j in range(k)] + [np.maximum(pre, 0.0), X, gate, np.ones((n, 1))]
    return np.maximum(pre, 0.0) @ lam + X @ w + b - y, np.hstack(columns)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60), d=st.integers(1, 5), k=st.integers(1, 3),
       chunk=st.integers(1, 70))
def test_biased_normal_equations_equal_dense_jacobian(seed, n, d, k, chunk):
    rng = np.random.default_rng(seed)
    net = random_network(rng, d, k)
    theta = ReLUNetwork(net.hidden_weights, net.output_weights, net.linear_weights, net.intercept,
                        rng.standard_normal(k)).to_vector(biased=True)
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    with mock.patch.object(refine, "_chunk_rows", lambda p: chunk):
        loss, Jtr, JtJ = loss_and_normal_equations(theta, X, y, k, biased=True)
    assert JtJ is not None
    assert_normal_equations(loss, Jtr, JtJ, *biased_dense_reference(theta, X, y, k))


def test_biased_jacobian_is_the_derivative():
    """Central differences of the loss along random directions match 2 J^T r (away from kinks:
    steps of 1e-6 cross a gate with probability ~1e-6 per row)."""
    rng = np.random.default_rng(7)
    d, k = 4, 2
    net = random_network(rng, d, k)
    theta = ReLUNetwork(net.hidden_weights, net.output_weights, net.linear_weights, net.intercept,
                        rng.standard_normal(k)).to_vector(biased=True)
    X, y = rng.standard_normal((200, d)), rng.standard_normal(200)
    _, Jtr, _ = loss_and_normal_equations(theta, X, y, k, biased=True)
    for _ in range(5):
        v = rng.standard_normal(theta.size)
        h = 1e-6
        plus = loss_and_normal_equations(theta + h * v, X, y, k, with_hessian=False, biased=True)[0]
        minus = loss_and_normal_equations(theta - h * v, X, y, k, with_hessian=False, biased=True)[0]
        assert (plus - minus) / (2 * h) == pytest.approx(2 * Jtr @ v, rel=1e-5)


def test_levenberg_marquardt_learns_biases():
    teacher = Teacher.random(n_features=5, n_neurons=2, bias_scale=1.0, random_state=8)
    X, y = teacher.sample(4000, random_state=9)
    start = perturbed(teacher, np.random.default_rng(10), 0.05)
    start = ReLUNetwork(start.hidden_weights, start.output_weights, start.linear_weights, start.intercept,
                        teacher.hidden_biases + 0.1)
    result = levenberg_marquardt(start, X, y)
    assert result.network.has_biases
    assert relative_mse(result.network, teacher) < 1e-20


@pytest.fixture(scope="module")
def noiseless():
    teacher = Teacher.random(n_features=5, n_neurons=3, random_state=2)
    teacher = Teacher(teacher.hidden_weights, teacher.output_weights, np.linspace(-0.5, 0.5, 5), 0.3)
    X, y = teacher.sample(3000, random_state=3)
    start = perturbed(teacher, np.random.default_rng(4), 0.05)
    return teacher, X, y, start


def test_levenberg_marquardt_recovers_a_noiseless_teacher(noiseless):
    teacher, X, y, start = noiseless
    assert relative_mse(start, teacher) > 1e-4
    X.setflags(write=False)
    y.setflags(write=False)
    X_before, y_before, theta_before = X.copy(), y.copy(), start.to_vector()
    result = levenberg_marquardt(start, X, y)
    assert isinstance(result, RefinementResult)
    assert relative_mse(result.network, teacher) <= 1e-12
    assert result.converged and result.n_iter < 100
    assert result.loss <= 1e-20 * np.mean(y**2)
    assert all(b <= a for a, b in zip(result.losses, result.losses[1:]))  # only decreasing steps are taken
    assert result.loss == pytest.approx(result.losses[-1] / X.shape[0], rel=1e-12, abs=1e-300)
    # nothing is modified: the data, the start network
    assert np.array_equal(X, X_before) and np.array_equal(y, y_before)
    assert np.array_equal(start.to_vector(), theta_before)


def test_lbfgs_improves_on_the_start(noiseless):
    teacher, X, y, start = noiseless
    result = lbfgs(start, X, y, max_iter=300)
    assert isinstance(result, RefinementResult)
    assert relative_mse(result.network, teacher) < 1e-3 * relative_mse(start, teacher)
    # the loss reported is the best evaluated (mean over rows), below the start's
    assert result.loss == pytest.approx(min(result.losses) / X.shape[0], rel=1e-9)
    assert result.loss < result.losses[0] / X.shape[0]


def test_results_bit_identical_for_one_and_two_jobs(noiseless, monkeypatch):
    _, X, y, start = noiseless
    monkeypatch.setattr(refine, "_chunk_rows", lambda p: 257)  # several chunks
    theta = start.to_vector()
    one = loss_and_normal_equations(theta, X, y, 3, n_jobs=1)
    two = loss_and_normal_equations(theta, X, y, 3, n_jobs=2)
    assert one[0] == two[0] and np.array_equal(one[1], two[1]) and np.array_equal(one[2], two[2])
    for method in (levenberg_marquardt, lbfgs):
        a, b = method(start, X, y, max_iter=20, n_jobs=1), method(start, X, y, max_iter=20, n_jobs=2)
        assert a.loss == b.loss and a.n_iter == b.n_iter and a.losses == b.losses
        assert np.array_equal(a.network.to_vector(), b.network.to_vector())
