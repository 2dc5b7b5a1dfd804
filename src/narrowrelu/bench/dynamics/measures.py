"""What ``narrowrelu bench dynamics`` reads off a trained student and its history.

- *Growth rate at the origin.* Near :math:`W = 0, a = 0` a unit :math:`(a, w = r\\hat w)` of the
  student follows :math:`\\dot a = rG(\\hat w)`, :math:`\\dot r = aG(\\hat w)` with
  :math:`G(\\hat w) = E[f(x)\\,\\mathrm{relu}(\\hat w\\cdot x)]` (gradient flow on
  :math:`\\tfrac12E[(g-f)^2]`), so :math:`a + r` grows like :math:`e^{Gt}` and the first escape
  from a start of scale :math:`s` comes after :math:`t_1 \\approx \\ln(1/s)/G^*`,
  :math:`G^* = \\max_{\\|\\hat w\\|=1}|G(\\hat w)|`; GD with step :math:`\\eta` multiplies by
  :math:`1 + \\eta G^*` a step: :math:`1/\\ln(1+\\eta G^*)` iterations per unit of :math:`\\ln(1/s)`.
- *Learned teacher neuron.* Unit :math:`j` sits on teacher neuron :math:`i` when :math:`i` is its
  nearest (largest :math:`\\cos(w_j, u_i)`) and that cosine is at least :data:`COSINE_MATCH`;
  :math:`\\rho_i = \\sum_{j\\text{ on }i} a_j\\|w_j\\| / (\\lambda_i\\|u_i\\|)` is the share of the
  neuron carried by the units on it, and neuron :math:`i` is learned at the first checkpoint with
  :math:`\\rho_i \\ge` :data:`LEARNED_SHARE`.
- *Active unit*: :math:`|a_j|\\,\\|w_j\\| \\ge` :data:`ACTIVE_SHARE` :math:`\\cdot\\min_i|\\lambda_i|\\|u_i\\|`;
  *active directions*: the active units grouped by single linkage at
  :math:`\\cos \\ge` :data:`SAME_DIRECTION`.
- *Numerical rank* of :math:`W`: the number of singular values :math:`\\ge` :data:`RANK_RTOL`
  :math:`\\cdot\\sigma_1`; *effective rank*: :math:`\\exp(-\\sum_i p_i\\ln p_i)`,
  :math:`p_i = \\sigma_i/\\sum_l\\sigma_l` (Roy & Vetterli 2007).
"""

import numpy as np
from scipy.optimize import minimize

from ...metrics import relu_kernel

COSINE_MATCH = 0.9
LEARNED_SHARE = 0.5
ACTIVE_SHARE = 0.01
SAME_DIRECTION = 0.99
RANK_RTOL = 1e-3


def growth_rate(teacher, direction):
    """:math:`G(\\hat w) = E[f(x)\\,\\mathrm{relu}(\\hat w\\cdot x)]` for the unit vector along ``direction``."""
    v = np.asarray(direction, dtype=float)
    v = v / np.linalg.norm(v)
    relu_part = relu_kernel(v[None, :], teacher.hidden_weights)[0] @ teacher.output_weights
    return float(relu_part + v @ teacher.linear_weights / 2 + teacher.intercept / np.sqrt(2 * np.pi))


def largest_growth_rate(teacher):
    """:math:`G^* = \\max_{\\|\\hat w\\|=1}|G(\\hat w)|` and the maximiser, by L-BFGS from each teacher
    neuron (both signs) and from :math:`\\pm\\sum_i\\lambda_iu_i`."""
    U, lam = teacher.hidden_weights, teacher.output_weights
    starts = list(U) + list(-U) + [lam @ U, -(lam @ U)]
    best = (-np.inf, None)
    for sign in (1.0, -1.0):
        for start in starts:
            if np.linalg.norm(start) == 0:
                continue
            res = minimize(lambda v: -sign * growth_rate(teacher, v), start, method="L-BFGS-B")
            value = sign * growth_rate(teacher, res.x)
            if value > best[0]:
                best = (value, res.x / np.linalg.norm(res.x))
    return best


def predicted_first_escape_slope(teacher, step):
    """Iterations of GD with ``step`` per unit of :math:`\\ln(1/s)` before the first escape,
    :math:`1/\\ln(1 + \\eta G^*)`."""
    return 1.0 / np.log1p(step * largest_growth_rate(teacher)[0])


def learned_shares(history, teacher):
    """:math:`\\rho_i` at every checkpoint, shape (checkpoints, k)."""
    U, lam = teacher.hidden_weights, teacher.output_weights
    scale = lam * np.linalg.norm(U, axis=1)
    carried = history["output_weights"] * history["unit_norms"]
    on = history["teacher_cosine"] >= COSINE_MATCH
    shares = np.zeros((carried.shape[0], U.shape[0]))
    for i in range(U.shape[0]):
        shares[:, i] = np.where(on & (history["nearest_teacher"] == i), carried, 0.0).sum(axis=1) / scale[i]
    return shares


def learned_iterations(history, teacher):
    """Per teacher neuron, the first checkpoint step with :math:`\\rho_i \\ge` :data:`LEARNED_SHARE`
    (``None`` if never)."""
    shares = learned_shares(history, teacher)
    out = []
    for i in range(shares.shape[1]):
        hit = np.flatnonzero(shares[:, i] >= LEARNED_SHARE)
        out.append(int(history["step"][hit[0]]) if hit.size else None)
    return out


def learned_order(iterations):
    """Teacher indices in the order they were learned (ties by index); never-learned ones left out."""
    return [i for _, i in sorted((t, i) for i, t in enumerate(iterations) if t is not None)]


def sigma_ratio_near(history, iteration):
    """:math:`\\sigma_1/\\sigma_2` of :math:`W` at the checkpoint nearest ``iteration`` in :math:`\\ln t`
    (``nan`` when :math:`W` has one singular value)."""
    sv = history["singular_values"]
    if sv.shape[1] < 2:
        return float("nan")
    steps = history["step"]
    positive = steps >= 1
    nearest = np.argmin(np.abs(np.log(steps[positive]) - np.log(iteration)))
    row = sv[positive][nearest]
    return float(row[0] / row[1]) if row[1] > 0 else float("inf")


def active_units(unit_norms, output_weights, teacher):
    """Boolean mask of the units with :math:`|a_j|\\|w_j\\| \\ge` :data:`ACTIVE_SHARE` times the smallest
    teacher neuron's :math:`|\\lambda_i|\\|u_i\\|` (``unit_norms`` :math:`= \\|w_j\\|`)."""
    smallest = np.min(np.abs(teacher.output_weights) * np.linalg.norm(teacher.hidden_weights, axis=1))
    return np.abs(output_weights) * np.asarray(unit_norms) >= ACTIVE_SHARE * smallest


def count_directions(hidden_weights, mask):
    """Groups of the masked rows linked by :math:`\\cos \\ge` :data:`SAME_DIRECTION` (single linkage)."""
    rows = hidden_weights[mask]
    if rows.shape[0] == 0:
        return 0
    unit = rows / np.linalg.norm(rows, axis=1)[:, None]
    linked = unit @ unit.T >= SAME_DIRECTION
    label = -np.ones(rows.shape[0], dtype=int)
    groups = 0
    for seed in range(rows.shape[0]):
        if label[seed] >= 0:
            continue
        stack, label[seed] = [seed], groups
        while stack:
            for other in np.flatnonzero(linked[stack.pop()] & (label < 0)):
                label[other] = groups
                stack.append(other)
        groups += 1
    return groups


def numerical_rank(singular_values):
    """The number of singular values at least :data:`RANK_RTOL` times the largest."""
    sv = np.asarray(singular_values, dtype=float)
    return int(np.sum(sv >= RANK_RTOL * sv.max())) if sv.size and sv.max() > 0 else 0


def effective_rank(singular_values):
    """:math:`\\exp(-\\sum_i p_i\\ln p_i)` with :math:`p_i = \\sigma_i/\\sum_l\\sigma_l` (Roy & Vetterli 2007)."""
    sv = np.asarray(singular_values, dtype=float)
    total = sv.sum()
    if total <= 0:
        return 0.0
    p = sv[sv > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))
