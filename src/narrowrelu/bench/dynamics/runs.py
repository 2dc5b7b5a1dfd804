"""One training run of ``narrowrelu bench dynamics``: a planted teacher, a student trained by
population GD (:meth:`narrowrelu.baseline.estimator.GDReLURegressor.fit_population`, the numba
kernel) with a log-spaced history, and what :mod:`.detect` and :mod:`.measures` read off it.

Teachers (:func:`planted_teacher`): :math:`k` neurons in :math:`d` dimensions with output weights
:math:`\\lambda_i = 2\\cdot 2^{-(i-1)}` (2, 1, 0.5, ...), directions :math:`e_1..e_k`
(``"orthonormal"``) or those of :meth:`narrowrelu.Teacher.random` (uniform on the sphere, not
orthogonal). Students have no intercept (the teacher has none) and train both layers from
:math:`W = s\\,(\\mathrm{randn}(d, m)/\\sqrt d)^T`, :math:`a = s\\,\\mathrm{randn}(m)/\\sqrt m`; the
random directions of a start depend on (seed, k, width, repetition), not on :math:`s`.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ...baseline.estimator import GDReLURegressor
from ...metrics import population_mse, population_variance
from ...teacher import Teacher
from .detect import find_plateaus
from .measures import (
    active_units,
    count_directions,
    effective_rank,
    learned_iterations,
    learned_order,
    numerical_rank,
    sigma_ratio_near,
)

FAMILIES = ("orthonormal", "random")


def teacher_weights(k):
    """:math:`\\lambda_i = 2\\cdot2^{-(i-1)}`, :math:`i = 1..k`."""
    return 2.0 * 0.5 ** np.arange(k)


def planted_teacher(family, k, d, seed):
    """The teacher of ``family`` with ``k`` neurons in ``d >= k`` dimensions (see the module docstring)."""
    if family == "orthonormal":
        directions = np.eye(k, d)
    elif family == "random":
        directions = Teacher.random(d, k, random_state=np.random.SeedSequence([seed, k, d])).hidden_weights
    else:
        raise ValueError(f"unknown teacher family {family!r}; choose from {', '.join(FAMILIES)}")
    return Teacher(directions, teacher_weights(k))


def _student(width, init_scale, seed, k, rep, step, max_iter, alpha=0.0, history=None):
    rng = np.random.default_rng(np.random.SeedSequence([seed, k, width, rep]))
    return GDReLURegressor(
        width, optimizer="gd", learning_rate=step, max_iter=max_iter, tol=0.0, init_scale=init_scale, alpha=alpha,
        fit_intercept=False, history_every=history, random_state=rng,
    )


def _fit(model, teacher):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol = 0: every run goes to max_iter
        start = time.process_time()
        model.fit_population(teacher)
    return time.process_time() - start


def dynamics_run(family, k, d, width, init_scale, seed, rep, step, max_iter):
    """Train from a start of scale ``init_scale`` for ``max_iter`` steps; return the summary record
    and the history (for the plots).

    The record holds the plateaus (:func:`.detect.find_plateaus` on the population loss at the
    checkpoints, escapes placed on the per-step loss), the escape iterations by saddle
    (:func:`escapes_by_saddle`), the iteration at which each teacher neuron was learned
    (:func:`.measures.learned_iterations`) and the order,
    :math:`\\sigma_1/\\sigma_2` of :math:`W` at the first escape, and the final excess MSE over
    :math:`\\mathrm{Var} f`.
    """
    teacher = planted_teacher(family, k, d, seed)
    model = _student(width, init_scale, seed, k, rep, step, max_iter, history="log")
    cpu = _fit(model, teacher)
    history = model.history_
    plateaus = find_plateaus(history["step"], history["data_loss"], dense_loss=history["loss"])
    learned = learned_iterations(history, teacher)
    before = [sum(t is not None and t <= p.end for t in learned) for p in plateaus]
    escapes = escapes_by_saddle(plateaus, before, k)
    record = {
        "family": family, "k": k, "d": d, "seed": seed, "width": width, "init_scale": init_scale, "rep": rep,
        "step": step, "n_iter": int(model.n_iter_),
        "final_loss": float(history["data_loss"][-1]),
        "final_excess": population_mse(model, teacher) / population_variance(teacher),
        "plateaus": [{"start": p.start, "end": p.end, "level": p.level, "escape": p.escape, "learned_before": n}
                     for p, n in zip(plateaus, before)],
        "escapes": escapes,
        "learned_iterations": learned,
        "order": learned_order(learned),
        "lambda_order": [int(i) for i in np.argsort(-np.abs(teacher.output_weights), kind="stable")],
        "sigma_ratio_escape1": sigma_ratio_near(history, escapes[0]) if escapes[0] is not None else None,
        "cpu_seconds": cpu,
    }
    return record, history


def escapes_by_saddle(plateaus, learned_before, k):
    """Escape :math:`j` (:math:`j = 1..k`) is the escape from the first plateau at whose end
    :math:`j - 1` teacher neurons are learned: the saddle with :math:`j - 1` neurons. ``None`` where
    the run has no such plateau or did not leave it; an index by saddle, not by count of plateaus,
    so that runs which skipped a plateau are compared saddle by saddle."""
    escapes = [None] * k
    for plateau, n in zip(plateaus, learned_before):
        if n < k and escapes[n] is None and plateau.escape is not None:
            escapes[n] = plateau.escape
    return escapes


def decay_run(family, k, d, width, alpha, init_scale, seed, step, max_iter):
    """Train with weight decay ``alpha`` from a start of scale ``init_scale``; return the record:
    active units and directions, numerical and effective rank of :math:`W`
    (:mod:`.measures`), excess population MSE over :math:`\\mathrm{Var} f` (exact)."""
    teacher = planted_teacher(family, k, d, seed)
    model = _student(width, init_scale, seed, k, 0, step, max_iter, alpha=alpha)
    cpu = _fit(model, teacher)
    W, a = model.hidden_weights_, model.output_weights_
    active = active_units(np.linalg.norm(W, axis=1), a, teacher)
    sv = np.linalg.svd(W, compute_uv=False)
    return {
        "family": family, "k": k, "d": d, "seed": seed, "width": width, "alpha": alpha, "init_scale": init_scale,
        "step": step, "n_iter": int(model.n_iter_), "objective": float(model.loss_),
        "active_units": int(active.sum()), "active_directions": count_directions(W, active),
        "numerical_rank": numerical_rank(sv), "effective_rank": effective_rank(sv),
        "singular_values": sv.tolist(),
        "excess_mse": population_mse(model, teacher) / population_variance(teacher),
        "gradient_norm": float(model.history_["gradient_norm"][-1]),
        "cpu_seconds": cpu,
    }
