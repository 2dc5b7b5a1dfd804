"""The training history of the GD baseline: the objective at every step, and at checkpoints (every
so many steps, or at log-spaced steps) the state of the student.

At a checkpoint after step :math:`t` the history records the objective :math:`L_\\alpha(\\theta_t)`,
the data loss :math:`L(\\theta_t) = L_\\alpha(\\theta_t) - \\tfrac12\\sum_p\\alpha_p\\theta_p^2` (population
loss :math:`\\tfrac12E[(g-f)^2]` in ``fit_population``, training loss in ``fit``), the norm of
:math:`\\nabla L_\\alpha` over the trained parameters, each hidden unit's norm :math:`\\|w_j\\|` and
output weight :math:`a_j`, the singular values of :math:`W`, and with a known teacher the cosine of
each unit to its nearest teacher neuron, :math:`\\max_i \\cos(w_j, u_i)`, with the index of that
neuron, and :func:`~narrowrelu.metrics.teacher_neuron_distances`.

Log-spaced checkpoints are the steps :math:`\\lceil 10^{i/P}\\rceil`, :math:`i = 0, 1, \\ldots`
(:math:`P` = :data:`LOG_POINTS_PER_DECADE`), and step 0: every step up to :math:`P/\\ln 10`, then
about :math:`P` a decade, so a run of :math:`T` steps has :math:`O(P\\log_{10}T)` checkpoints.
"""

import math

import numpy as np

from ..metrics import teacher_neuron_distances
from ..network import unpack_parameters

#: Checkpoints per decade of steps with ``every="log"``.
LOG_POINTS_PER_DECADE = 40


def log_spaced_steps(last, points_per_decade=LOG_POINTS_PER_DECADE):
    """The log-spaced checkpoint steps up to ``last``: 0 and the distinct :math:`\\lceil10^{i/P}\\rceil \\le`
    ``last``, increasing."""
    steps = [0]
    i = 0
    while True:
        step = math.ceil(10.0 ** (i / points_per_decade) - 1e-9)
        if step > last:
            return np.asarray(steps, dtype=np.int64)
        if step > steps[-1]:
            steps.append(step)
        i += 1


class TrainingHistory:
    """Objective per step and the student's state at checkpoints.

    Parameters
    ----------
    n_neurons, n_features : int
        Shape of :math:`W`.
    every : int, "log" or None
        Checkpoints every ``every`` steps, at log-spaced steps (:func:`log_spaced_steps`), or
        (``None``) only at the start and the end.
    terms : TeacherTerms, optional
        The teacher, for the cosines and distances to its neurons.
    decay : ndarray, optional
        Per-entry weight decay :math:`\\alpha_p` of the flat parameters, to split the objective into
        data loss and penalty (zero when omitted).
    """

    def __init__(self, n_neurons, n_features, every, terms=None, decay=None):
        self.m, self.d = n_neurons, n_features
        self.every = every
        self.terms = terms
        self.decay = decay
        self.loss = []
        self.steps = []
        self.objective = []
        self.gradient_norm = []
        self.data_loss = []
        self.unit_norms = []
        self.output_weights = []
        self.singular_values = []
        self.teacher_distance = []
        self.teacher_cosine = []
        self.nearest_teacher = []
        if terms is not None:
            norms = np.linalg.norm(terms.hidden_weights, axis=1)
            self._teacher_hat = terms.hidden_weights / np.where(norms > 0, norms, 1.0)[:, None]

    def next_due(self, step):
        """The first checkpoint step after ``step``, or ``None`` (only the end is recorded)."""
        if self.every is None:
            return None
        if self.every == "log":
            i = math.floor(LOG_POINTS_PER_DECADE * math.log10(step + 1))
            while True:
                candidate = math.ceil(10.0 ** (i / LOG_POINTS_PER_DECADE) - 1e-9)
                if candidate > step:
                    return candidate
                i += 1
        return (step // self.every + 1) * self.every

    def due(self, step):
        """Whether ``step`` is a checkpoint step."""
        return step > 0 and self.next_due(step - 1) == step

    def checkpoint(self, step, theta, objective, gradient_norm):
        """Record the state at ``step`` (once per step): ``theta`` with its objective and gradient norm."""
        if self.steps and self.steps[-1] == step:
            return
        W, a, _, _ = unpack_parameters(theta, self.m, self.d, linear=False)
        unit_norms = np.linalg.norm(W, axis=1)
        penalty = 0.0 if self.decay is None else 0.5 * float(self.decay @ (theta * theta))
        self.steps.append(int(step))
        self.objective.append(float(objective))
        self.data_loss.append(float(objective) - penalty)
        self.gradient_norm.append(float(gradient_norm))
        self.unit_norms.append(unit_norms)
        self.output_weights.append(a.copy())
        self.singular_values.append(np.linalg.svd(W, compute_uv=False))
        if self.terms is not None:
            cosines = (W / np.where(unit_norms > 0, unit_norms, 1.0)[:, None]) @ self._teacher_hat.T
            self.teacher_cosine.append(cosines.max(axis=1))
            self.nearest_teacher.append(cosines.argmax(axis=1))
            self.teacher_distance.append(
                teacher_neuron_distances(W, a, self.terms.hidden_weights, self.terms.output_weights)
            )

    def as_dict(self):
        """The history as arrays: ``"loss"`` (objective per step, then at the final point), and
        at the checkpoints ``"step"``, ``"objective"``, ``"data_loss"``, ``"gradient_norm"``,
        ``"unit_norms"`` and ``"output_weights"`` (shape (checkpoints, m)), ``"singular_values"``
        (shape (checkpoints, min(m, d))), and with a teacher (``None`` otherwise)
        ``"teacher_cosine"`` and ``"nearest_teacher"`` (shape (checkpoints, m)) and
        ``"teacher_distance"`` (shape (checkpoints, k))."""
        teacher = self.terms is not None
        return {
            "loss": np.asarray(self.loss, dtype=float),
            "step": np.asarray(self.steps, dtype=int),
            "objective": np.asarray(self.objective, dtype=float),
            "data_loss": np.asarray(self.data_loss, dtype=float),
            "gradient_norm": np.asarray(self.gradient_norm, dtype=float),
            "unit_norms": np.asarray(self.unit_norms, dtype=float).reshape(-1, self.m),
            "output_weights": np.asarray(self.output_weights, dtype=float).reshape(-1, self.m),
            "singular_values": np.asarray(self.singular_values, dtype=float).reshape(-1, min(self.m, self.d)),
            "teacher_distance": np.asarray(self.teacher_distance) if teacher else None,
            "teacher_cosine": np.asarray(self.teacher_cosine) if teacher else None,
            "nearest_teacher": np.asarray(self.nearest_teacher, dtype=int) if teacher else None,
        }


def rescale_history(history, loss_factor, hidden_factor, output_factor):
    """A copy of ``history`` (as from :meth:`TrainingHistory.as_dict`) with losses times
    ``loss_factor``, singular values and unit norms times ``hidden_factor`` and output weights
    times ``output_factor``: the map of a fit in standardised units back to the data's."""
    out = dict(history)
    for key in ("loss", "objective", "data_loss"):
        out[key] = history[key] * loss_factor
    for key in ("singular_values", "unit_norms"):
        out[key] = history[key] * hidden_factor
    out["output_weights"] = history["output_weights"] * output_factor
    return out
