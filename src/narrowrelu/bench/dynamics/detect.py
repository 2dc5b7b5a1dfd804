"""Plateaus and escapes of a loss curve :math:`L(t)`, sampled at increasing iterations :math:`t \\ge 1`.

Definitions (the constants are this module's defaults):

- the *log-slope* between consecutive samples is
  :math:`s_i = -\\dfrac{\\ln L(t_{i+1}) - \\ln L(t_i)}{\\ln t_{i+1} - \\ln t_i}`, the relative loss
  decrease per unit of :math:`\\ln t`;
- the curve is read up to its first sample with :math:`L \\le` ``floor`` :math:`\\cdot L(t_0)`
  (converged: no plateau below that level);
- a *flat run* is a maximal run of consecutive intervals with :math:`s_i \\le` ``slope_tol``
  (:data:`SLOPE_TOL`); it becomes a *plateau* when it spans a factor of at least ``min_span``
  (:data:`MIN_SPAN`) in iterations, :math:`t_{\\mathrm{end}}/t_{\\mathrm{start}}`;
- the *level* of a plateau is the loss at its last sample;
- plateau :math:`j` *escapes* at the first iteration after its end at which
  :math:`L \\le` ``drop`` :math:`\\cdot\\,\\mathrm{level}_j` (:data:`DROP`); when the next plateau
  starts before that, the two are one plateau (merged, the level then read at the later end).

A plateau with no escape is one the run ended on (a stationary point it did not leave, or the
iteration cap). With a dense per-iteration loss (``dense_loss[t]`` = :math:`L(t)`) the escape
iterations are exact; from the samples alone they are the first sample past the level.
"""

from dataclasses import dataclass

import numpy as np

#: Largest log-slope :math:`-d\ln L/d\ln t` of a flat interval.
SLOPE_TOL = 0.25
#: Smallest ratio of last to first iteration of a plateau.
MIN_SPAN = 1.3
#: An escape is the loss falling below this fraction of the plateau's level.
DROP = 0.5
#: The curve is read until the loss falls below this fraction of its first value.
FLOOR = 1e-10


@dataclass(frozen=True)
class Plateau:
    """A plateau of a loss curve: first and last iteration, level, and escape iteration (``None``
    when the loss never fell below ``drop * level``)."""

    start: int
    end: int
    level: float
    escape: int | None


def log_slopes(steps, loss):
    """:math:`s_i = -\\Delta\\ln L/\\Delta\\ln t` between consecutive samples (``steps`` >= 1, increasing)."""
    t = np.asarray(steps, dtype=float)
    value = np.asarray(loss, dtype=float)
    return -np.diff(np.log(value)) / np.diff(np.log(t))


def find_plateaus(steps, loss, *, dense_loss=None, slope_tol=SLOPE_TOL, min_span=MIN_SPAN, drop=DROP, floor=FLOOR):
    """The plateaus of the curve ``loss`` sampled at ``steps`` (see the module docstring).

    Parameters
    ----------
    steps : array-like of int
        Increasing iterations; samples at iteration 0 are ignored (the log axis starts at 1).
    loss : array-like of float
        Non-negative loss at those iterations.
    dense_loss : array-like of float, optional
        The loss at every iteration (``dense_loss[t]`` at iteration ``t``), to place escapes exactly.
    slope_tol, min_span, drop, floor : float
        The thresholds of the definitions.

    Returns
    -------
    plateaus : list of Plateau
        In order of time.
    """
    steps = np.asarray(steps, dtype=np.int64)
    loss = np.asarray(loss, dtype=float)
    if steps.shape != loss.shape or steps.ndim != 1:
        raise ValueError(f"steps and loss must be 1-d of the same length, got shapes {steps.shape} and {loss.shape}")
    if np.any(np.diff(steps) <= 0):
        raise ValueError("steps must be strictly increasing")
    if not (0 < drop < 1 and slope_tol >= 0 and min_span >= 1 and 0 <= floor < 1):
        raise ValueError(f"need 0 < drop < 1, slope_tol >= 0, min_span >= 1, 0 <= floor < 1; got drop={drop}, "
                         f"slope_tol={slope_tol}, min_span={min_span}, floor={floor}")
    keep = steps >= 1
    steps, loss = steps[keep], loss[keep]
    if steps.size < 2 or not loss[0] > 0:
        return []
    low = np.flatnonzero(loss <= floor * loss[0])
    if low.size:
        steps, loss = steps[:low[0] + 1], loss[:low[0] + 1]
    flat = log_slopes(steps, loss) <= slope_tol
    runs = []
    i = 0
    while i < flat.size:
        if not flat[i]:
            i += 1
            continue
        j = i
        while j + 1 < flat.size and flat[j + 1]:
            j += 1
        if steps[j + 1] >= min_span * steps[i]:
            runs.append([i, j + 1])  # sample indices of the plateau's first and last points
        i = j + 1
    merged = []
    for first, last in runs:
        if merged:
            prev_last = merged[-1][1]
            fell = loss[prev_last + 1:first + 1] <= drop * loss[prev_last]
            if not fell.any():
                merged[-1][1] = last
                continue
        merged.append([first, last])
    dense = None if dense_loss is None else np.asarray(dense_loss, dtype=float)
    plateaus = []
    for first, last in merged:
        level = float(loss[last])
        plateaus.append(Plateau(int(steps[first]), int(steps[last]), level,
                                _escape(steps, loss, last, drop * level, dense)))
    return plateaus


def _escape(steps, loss, last, threshold, dense):
    if dense is not None:
        after = np.flatnonzero(dense[steps[last] + 1:] <= threshold)
        return int(steps[last] + 1 + after[0]) if after.size else None
    after = np.flatnonzero(loss[last + 1:] <= threshold)
    return int(steps[last + 1 + after[0]]) if after.size else None
