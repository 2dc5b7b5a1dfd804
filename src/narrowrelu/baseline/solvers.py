"""Solvers of the GD baseline on a flat parameter vector: fixed-step GD (population loss in a numba
kernel), mini-batch GD and Adam, and L-BFGS, each recording a :class:`TrainingHistory`."""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from ..metrics import teacher_neuron_distances
from ..network import unpack_parameters
from ._kernels import population_gd_kernel

_ADAM_BETAS = (0.9, 0.999)


_ADAM_EPS = 1e-8


_LBFGS_FTOL = 1e-15


class Diverged(ArithmeticError):
    """The objective or the parameters became non-finite at step ``step``."""

    def __init__(self, step):
        super().__init__(f"non-finite loss or parameters at step {step}")
        self.step = step


def _check_finite(theta, value, step):
    if not (np.isfinite(value) and np.all(np.isfinite(theta))):
        raise Diverged(step)


class TrainingHistory:
    """Objective per step, and every ``every`` steps the singular values of :math:`W` and (with
    a teacher) :func:`teacher_neuron_distances`."""

    def __init__(self, n_neurons, n_features, every, terms=None):
        self.m, self.d = n_neurons, n_features
        self.every = every
        self.terms = terms
        self.loss = []
        self.steps = []
        self.singular_values = []
        self.teacher_distance = []

    def checkpoint(self, step, theta):
        if self.steps and self.steps[-1] == step:
            return
        W, a, _, _ = unpack_parameters(theta, self.m, self.d, linear=False)
        self.steps.append(int(step))
        self.singular_values.append(np.linalg.svd(W, compute_uv=False))
        if self.terms is not None:
            self.teacher_distance.append(
                teacher_neuron_distances(W, a, self.terms.hidden_weights, self.terms.output_weights)
            )

    def due(self, step):
        return self.every is not None and step % self.every == 0

    def as_dict(self):
        return {
            "loss": np.asarray(self.loss, dtype=float),
            "step": np.asarray(self.steps, dtype=int),
            "singular_values": np.asarray(self.singular_values),
            "teacher_distance": np.asarray(self.teacher_distance) if self.terms is not None else None,
        }


@dataclass
class TrainingResult:
    """Final flat parameters, objective, gradient norm, steps and history of one run."""

    theta: np.ndarray
    objective: float
    grad_norm: float
    n_iter: int
    converged: bool
    history: TrainingHistory
    message: str = ""


def population_gradient_descent(theta, objective, mask, step, max_iter, tol, history):
    """Plain GD with fixed ``step`` on the population objective, in the numba kernel.

    Runs :math:`\\theta \\leftarrow \\theta - \\eta\\nabla L(\\theta)` on the trained entries until
    :math:`\\|\\nabla L\\| \\le` ``tol`` or ``max_iter`` steps, stopping at each checkpoint of
    ``history`` to record it. ``theta`` is updated in place.
    """
    m, d = objective.m, objective.d
    md = m * d
    W = theta[:md].reshape(m, d)
    a = theta[md:md + m]
    b = theta[-1:]
    losses = np.empty(max_iter)
    W_norm, W_hat, grad_W, grad_a = objective.scratch
    decay = float(objective.decay[0])
    done = 0
    history.checkpoint(0, theta)
    while True:
        chunk = max_iter - done if history.every is None else min(history.every, max_iter - done)
        taken, value, norm = population_gd_kernel(
            W, a, b, *objective.teacher_arguments(), step, decay, bool(mask[md]), bool(mask[-1]),
            chunk, tol, losses[done:], W_norm, W_hat, grad_W, grad_a,
        )
        done += taken
        _check_finite(theta, value, done)
        history.checkpoint(done, theta)
        if taken < chunk or done == max_iter:
            break
    history.loss.extend(losses[:done].tolist())
    history.loss.append(value)
    return TrainingResult(theta, value, norm, done, norm <= tol, history)


def first_order_descent(theta, objective, mask, optimizer, step, max_iter, tol, history, batches=None):
    """GD or Adam on ``objective`` (a callable ``(theta, rows) -> (value, gradient)``).

    With ``batches`` (an iterator of row-index arrays, one per step, and ``batches.epoch_end``
    telling when a pass ends) each step uses one mini-batch and the full gradient is checked
    against ``tol`` at the end of each pass; otherwise every step is full-batch.
    """
    first = np.zeros_like(theta)
    second = np.zeros_like(theta)
    beta1, beta2 = _ADAM_BETAS
    history.checkpoint(0, theta)
    value, grad = objective(theta)
    norm = float(np.linalg.norm(grad[mask]))
    converged = norm <= tol
    t = 0
    while not converged and t < max_iter:
        if batches is not None:
            value, grad = objective(theta, next(batches))
        history.loss.append(value)
        g = np.where(mask, grad, 0.0)
        if optimizer == "adam":
            first = beta1 * first + (1 - beta1) * g
            second = beta2 * second + (1 - beta2) * g * g
            corr = np.sqrt(1 - beta2 ** (t + 1)) / (1 - beta1 ** (t + 1))
            theta -= step * corr * first / (np.sqrt(second) + _ADAM_EPS)
        else:
            theta -= step * g
        t += 1
        _check_finite(theta, value, t)
        if history.due(t):
            history.checkpoint(t, theta)
        if batches is None or batches.epoch_end():
            value, grad = objective(theta)
            _check_finite(grad, value, t)
            norm = float(np.linalg.norm(grad[mask]))
            converged = norm <= tol
    if batches is not None and not converged:
        value, grad = objective(theta)
        norm = float(np.linalg.norm(grad[mask]))
    history.loss.append(value)
    history.checkpoint(t, theta)
    return TrainingResult(theta, value, norm, t, converged, history)


def lbfgs_descent(theta, objective, mask, max_iter, tol, history):
    """L-BFGS (``scipy.optimize.minimize(method="L-BFGS-B")``) over the trained entries.

    ``tol`` is scipy's ``gtol`` (largest gradient component); the run also stops, converged, once
    an iteration lowers the objective by a relative :math:`10^{-15}` or less (the floor of
    double precision, reached on kinks of the ReLU loss before a small gradient).
    """
    free = theta.copy()

    def fun(x):
        free[mask] = x
        value, grad = objective(free)
        return value, grad[mask]

    def callback(intermediate_result):
        history.loss.append(float(intermediate_result.fun))
        step = len(history.loss)
        if history.due(step):
            free[mask] = intermediate_result.x
            history.checkpoint(step, free)

    history.checkpoint(0, theta)
    history.loss.append(objective(theta)[0])
    res = minimize(fun, theta[mask], jac=True, method="L-BFGS-B", callback=callback,
                   options={"maxiter": max_iter, "gtol": tol, "ftol": _LBFGS_FTOL})
    theta[mask] = res.x
    value, grad = objective(theta)
    _check_finite(theta, value, int(res.nit))
    history.checkpoint(int(res.nit), theta)
    return TrainingResult(
        theta, value, float(np.linalg.norm(grad[mask])), int(res.nit), bool(res.success), history, str(res.message)
    )


class MiniBatches:
    """Endless shuffled mini-batches of ``n`` rows; ``epoch_end()`` after the last batch of a pass."""

    def __init__(self, n, batch_size, rng):
        self.n, self.size, self.rng = n, batch_size, rng
        self._order = rng.permutation(n)
        self._pos = 0
        self._ended = False

    def __iter__(self):
        return self

    def __next__(self):
        if self._pos >= self.n:
            self._order = self.rng.permutation(self.n)
            self._pos = 0
        rows = self._order[self._pos:self._pos + self.size]
        self._pos += self.size
        self._ended = self._pos >= self.n
        return rows

    def epoch_end(self):
        return self._ended
