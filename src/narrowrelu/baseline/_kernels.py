"""Numba kernels for gradient descent on the exact population loss.

Kernels trust their inputs (float64, C-contiguous, matching shapes), fill arrays that the caller
allocated, and draw no random numbers. The NumPy reference is
:func:`narrowrelu.baseline.population_loss.loss_gradient_trusted`; ``tests/test_kernels.py`` compares them.

The teacher enters through the constants of :class:`narrowrelu.baseline.population_loss.TeacherTerms`:
rows ``U``, their norms and unit rows, output weights ``lam``, linear part ``v``, intercept
``beta``, ReLU mean and second moment.
"""

import numpy as np
from numba import njit

_INV_2PI = 1.0 / (2.0 * np.pi)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


@njit(cache=True)
def population_loss_gradient_kernel(
    W, a, b, U, U_norm, U_hat, lam, v, beta, relu_mean, second_moment, W_norm, W_hat, grad_W, grad_a
):
    """Fill ``grad_W``, ``grad_a`` (and the scratch ``W_norm``, ``W_hat``) with the gradient of
    :math:`\\tfrac12E[(g-f)^2]`; return ``(loss, grad_b)``.

    With :math:`h = \\|\\hat w-\\hat z\\|/2 = \\sin(\\theta/2)`: :math:`\\theta = 2\\arcsin h`,
    :math:`\\cos\\theta = 1-2h^2`, :math:`\\sin\\theta = 2h\\sqrt{1-h^2}` (one transcendental call
    per pair, exact for parallel rows); a zero row on either side gets angle :math:`\\pi/2`.
    """
    m, d = W.shape
    k = U.shape[0]
    for j in range(m):
        s = 0.0
        for c in range(d):
            s += W[j, c] * W[j, c]
        nrm = np.sqrt(s)
        W_norm[j] = nrm
        inv = 1.0 / nrm if nrm > 0 else 0.0
        for c in range(d):
            W_hat[j, c] = W[j, c] * inv
    student_mean = 0.0
    for j in range(m):
        student_mean += a[j] * W_norm[j]
    student_mean *= _INV_SQRT_2PI
    db = b - beta
    second_g = b * b + 2.0 * b * student_mean
    cross = b * beta + b * relu_mean + beta * student_mean
    for j in range(m):
        nj = W_norm[j]
        self_part = 0.0
        teacher_part = 0.0
        along = 0.0
        for c in range(d):
            grad_W[j, c] = 0.0
        for l in range(m + k):
            if l < m:
                nl = W_norm[l]
                coef = a[l]
            else:
                nl = U_norm[l - m]
                coef = -lam[l - m]
            if nj > 0 and nl > 0:
                chord = 0.0
                for c in range(d):
                    z_hat = W_hat[l, c] if l < m else U_hat[l - m, c]
                    diff = W_hat[j, c] - z_hat
                    chord += diff * diff
                half = 0.5 * np.sqrt(chord)
                if half > 1.0:
                    half = 1.0
                theta = 2.0 * np.arcsin(half)
                cos = 1.0 - 2.0 * half * half
                sin = 2.0 * half * np.sqrt(1.0 - half * half)
            else:
                theta = 0.5 * np.pi
                cos = 0.0
                sin = 1.0
            pi_minus = np.pi - theta
            kern = nj * nl * (sin + pi_minus * cos) * _INV_2PI
            if l < m:
                self_part += coef * kern
            else:
                teacher_part -= coef * kern
            along += coef * nl * sin
            scale = pi_minus * coef * _INV_2PI
            for c in range(d):
                z = W[l, c] if l < m else U[l - m, c]
                grad_W[j, c] += scale * z
        wv = 0.0
        for c in range(d):
            wv += W[j, c] * v[c]
        second_g += a[j] * self_part
        cross += 0.5 * a[j] * wv + a[j] * teacher_part
        grad_a[j] = self_part - teacher_part + db * _INV_SQRT_2PI * nj - 0.5 * wv
        along = along * _INV_2PI + db * _INV_SQRT_2PI
        for c in range(d):
            grad_W[j, c] = a[j] * (grad_W[j, c] + along * W_hat[j, c] - 0.5 * v[c])
    loss = 0.5 * (second_g - 2.0 * cross + second_moment)
    grad_b = b + student_mean - beta - relu_mean
    return max(loss, 0.0), grad_b


@njit(cache=True)
def population_gd_kernel(
    W, a, intercept, U, U_norm, U_hat, lam, v, beta, relu_mean, second_moment,
    step, alpha, train_output, train_intercept, n_steps, gtol, losses,
    W_norm, W_hat, grad_W, grad_a,
):
    """Run up to ``n_steps`` plain GD steps in place on ``W``, ``a``, ``intercept[0]``.

    The objective is :math:`\\tfrac12E[(g-f)^2] + \\tfrac\\alpha2(\\|W\\|_F^2 + \\|a\\|^2)` (the
    :math:`a` term only when ``train_output``). ``losses[t]`` receives the objective before step
    ``t``. Stops before a step once the gradient norm over the trained parameters is at most
    ``gtol``. Returns ``(steps_taken, objective, gradient_norm)`` at the final point.
    """
    m, d = W.shape
    taken = 0
    while True:
        loss, grad_b = population_loss_gradient_kernel(
            W, a, intercept[0], U, U_norm, U_hat, lam, v, beta, relu_mean, second_moment,
            W_norm, W_hat, grad_W, grad_a,
        )
        sq = 0.0
        penalty = 0.0
        for j in range(m):
            for c in range(d):
                grad_W[j, c] += alpha * W[j, c]
                penalty += W[j, c] * W[j, c]
                sq += grad_W[j, c] * grad_W[j, c]
        if train_output:
            for j in range(m):
                grad_a[j] += alpha * a[j]
                penalty += a[j] * a[j]
                sq += grad_a[j] * grad_a[j]
        if train_intercept:
            sq += grad_b * grad_b
        objective = loss + 0.5 * alpha * penalty
        norm = np.sqrt(sq)
        if taken == n_steps or norm <= gtol:
            return taken, objective, norm
        losses[taken] = objective
        for j in range(m):
            for c in range(d):
                W[j, c] -= step * grad_W[j, c]
        if train_output:
            for j in range(m):
                a[j] -= step * grad_a[j]
        if train_intercept:
            intercept[0] -= step * grad_b
        taken += 1
