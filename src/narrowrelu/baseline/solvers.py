"""Solvers of the GD baseline on a flat parameter vector: fixed-step GD (population loss in a numba
kernel), mini-batch GD and Adam, and L-BFGS, each recording a :class:`TrainingHistory`."""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from ._kernels import population_gd_kernel
from .history import TrainingHistory

__all__ = ["Diverged", "MiniBatches", "TrainingHistory", "TrainingResult", "first_order_descent", "lbfgs_descent",
           "population_gradient_descent"]

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
    :math:`\\|\\nabla L\\| \\le` ``tol`` or ``max_iter`` steps, the kernel running from one checkpoint
    of ``history`` to the next (the iterates do not depend on where it stops). ``theta`` is updated in
    place.
    """
    m, d = objective.m, objective.d
    md = m * d
    W = theta[:md].reshape(m, d)
    a = theta[md:md + m]
    b = theta[-1:]
    losses = np.empty(max_iter)
    W_norm, W_hat, grad_W, grad_a = objective.scratch
    decay = float(objective.decay[0])
    constants = (*objective.teacher_arguments(), step, decay, bool(mask[md]), bool(mask[-1]))

    def advance(n_steps, done):
        return population_gd_kernel(W, a, b, *constants, n_steps, tol, losses[done:], W_norm, W_hat, grad_W, grad_a)

    _, value, norm = advance(0, 0)  # the objective and gradient norm at the start; no step
    history.checkpoint(0, theta, value, norm)
    done = 0
    while True:
        due = history.next_due(done)
        chunk = max_iter - done if due is None else min(due, max_iter) - done
        taken, value, norm = advance(chunk, done)
        done += taken
        _check_finite(theta, value, done)
        history.checkpoint(done, theta, value, norm)
        if taken < chunk or done == max_iter:
            break
    history.loss.extend(losses[:done].tolist())
    history.loss.append(value)
    return TrainingResult(theta, value, norm, done, norm <= tol, history)


def first_order_descent(theta, objective, mask, optimizer, step, max_iter, tol, history, batches=None):
    """GD or Adam on ``objective`` (a callable ``(theta, rows) -> (value, gradient)``).

    With ``batches`` (an iterator of row-index arrays, one per step, and ``batches.epoch_end``
    telling when a pass ends) each step uses one mini-batch and the full gradient is checked
    against ``tol`` at the end of each pass (and evaluated at the checkpoints of ``history``);
    otherwise every step is full-batch.
    """
    first = np.zeros_like(theta)
    second = np.zeros_like(theta)
    beta1, beta2 = _ADAM_BETAS
    value, grad = objective(theta)
    norm = float(np.linalg.norm(grad[mask]))
    history.checkpoint(0, theta, value, norm)
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
        full_pass = batches is None or batches.epoch_end()
        if full_pass or history.due(t):
            full_value, full_grad = objective(theta)
            _check_finite(full_grad, full_value, t)
            full_norm = float(np.linalg.norm(full_grad[mask]))
            if history.due(t):
                history.checkpoint(t, theta, full_value, full_norm)
            if full_pass:
                value, grad, norm = full_value, full_grad, full_norm
                converged = norm <= tol
    if batches is not None and not converged:
        value, grad = objective(theta)
        norm = float(np.linalg.norm(grad[mask]))
    history.loss.append(value)
    history.checkpoint(t, theta, value, norm)
    return TrainingResult(theta, value, norm, t, converged, history)


def lbfgs_descent(theta, objective, mask, max_iter, tol, history):
    """L-BFGS (``scipy.optimize.minimize(method="L-BFGS-B")``) over the trained entries.

    ``tol`` is scipy's ``gtol`` (largest gradient component); the run also stops, converged, once
    an iteration lowers the objective by a relative :math:`10^{-15}` or less (the floor of
    double precision, reached on kinks of the ReLU loss before a small gradient). A checkpoint of
    ``history`` costs one more evaluation of the objective.
    """
    free = theta.copy()

    def fun(x):
        free[mask] = x
        value, grad = objective(free)
        return value, grad[mask]

    def callback(intermediate_result):
        history.loss.append(float(intermediate_result.fun))
        step = len(history.loss) - 1  # the iteration just completed: history.loss starts at iteration 0
        if history.due(step):
            free[mask] = intermediate_result.x
            value, grad = objective(free)
            history.checkpoint(step, free, value, float(np.linalg.norm(grad[mask])))

    value, grad = objective(theta)
    history.checkpoint(0, theta, value, float(np.linalg.norm(grad[mask])))
    history.loss.append(value)
    res = minimize(fun, theta[mask], jac=True, method="L-BFGS-B", callback=callback,
                   options={"maxiter": max_iter, "gtol": tol, "ftol": _LBFGS_FTOL})
    theta[mask] = res.x
    value, grad = objective(theta)
    _check_finite(theta, value, int(res.nit))
    norm = float(np.linalg.norm(grad[mask]))
    history.checkpoint(int(res.nit), theta, value, norm)
    return TrainingResult(theta, value, norm, int(res.nit), bool(res.success), history, str(res.message))


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
