"""What a fit of :math:`n` rows, :math:`d` features and :math:`k` neurons asks for, said before any pass.

Two warnings (:class:`FitWorkloadWarning`), raised by
:class:`~narrowrelu.learner.estimator.MomentReLURegressor` before it reads the data:

- the rows cannot support the neurons: fewer than :data:`ROWS_PER_PARAMETER` rows per parameter
  of the model, :math:`p = k(d+1) + d + 1`. Below :math:`p` rows the least-squares fit is not even
  determined; the order-4 moments need far more (the sweeps of ``docs/results/`` reach
  :math:`10^{-3}\\mathrm{Var} f` at tens to hundreds of rows per parameter);
- the fit will be long: :func:`estimated_seconds` above :data:`LONG_FIT_SECONDS`.

The estimate is a cost model with two terms, measured on the project's 2-core machine
(``python benchmarks/diagnostic_rates.py --workload`` prints it beside measured times): the
passes, about :data:`PASS_SECONDS` :math:`\\cdot\\, n d (d + 10k)` seconds in all (the
:math:`d^2` term is the order-2 moment, the :math:`dk` terms the thin products and projections),
and the candidate stage, about :data:`CANDIDATE_SECONDS` :math:`\\cdot\\, k^4` seconds per round
(the :math:`k^4` projected tensor, its CP polish and joint fit), for :data:`EXPECTED_ROUNDS`
rounds. It is a rough guide (a factor of a few either way), enough to
tell a fit of seconds from one of minutes.
"""

import warnings

from ..network import n_parameters

# below this many rows per parameter the fit is said to be unsupported
ROWS_PER_PARAMETER = 10
# seconds per n * d * (d + 10 k) for all the passes of a default fit (measured at 3dfc3a6, one
# thread: d = 50, k = 3, n = 2e5 in 0.9 s and d = 100, k = 4, n = 1e5 in 1.0 s, 0.7-1.1e-9 per unit;
# d = 100, k = 5, n = 1e6 in 3.4 s, 2.3e-10: the rounds and the refinement take fewer passes on
# more rows per parameter. 4e-9 at 87b37fc, before the rounds handed over to the refinement)
PASS_SECONDS = 1e-9
# seconds per k^4 per round of the candidate stage (default fits at d = 30, n = 2000, at 3dfc3a6:
# k = 10 in 1.4 s, 15 in 10.2 s, 20 in 7.2 s, 1.4-6.7e-5 per k^4 per round for 3 rounds; 1.1e-4 at
# 87b37fc, whose fits took 25 s at k = 15 and 84 s at k = 20), and d = k = 30 with 100 rows 189 s
# (2 rounds) at 87b37fc
CANDIDATE_SECONDS = 5e-5
EXPECTED_ROUNDS = 3
# a fit estimated to take longer warns before it starts (the estimate was 0.75 to 3.3 times the
# measured time of the fits above, so a fit of a minute or more is announced)
LONG_FIT_SECONDS = 30.0


# said of a told k the fit may search up to from below (it ends sooner where it stops below k)
BELOW = ("; less where the data show at most half as many neurons: n_neurons is then searched up to from "
         "those, and the search stops where a neuron more fits no better")


class FitWorkloadWarning(UserWarning):
    """The fit asked for is under-determined by its rows, or will take minutes."""


def estimated_seconds(n, d, neuron_counts):
    """The cost model of the module docstring, summed over the :math:`k` tried."""
    passes = sum(PASS_SECONDS * n * d * (d + 10 * k) for k in neuron_counts)
    candidates = sum(EXPECTED_ROUNDS * CANDIDATE_SECONDS * k**4 for k in neuron_counts)
    return passes + candidates


def workload_messages(n, d, neuron_counts, searched_below=False):
    """The warnings for a fit of ``n`` rows and ``d`` features trying each ``k`` of
    ``neuron_counts`` (several with ``n_neurons=None``: the first, smallest, is the one checked
    against the rows, and the estimate counts every one, an upper bound as the search stops early).
    ``searched_below``: the told ``k`` may be searched up to from the neurons the data show (a
    refined fit without biases, ``search_below_told``), so its time is an upper bound too."""
    out = []
    k = min(neuron_counts)
    p = n_parameters(k, d)
    if n < ROWS_PER_PARAMETER * p:
        out.append(
            f"{n} rows cannot support {k} neuron{'s' if k > 1 else ''} on {d} features: the model has p = {p} "
            f"parameters, {n / p:.2g} rows per parameter, and the fit needs well over {ROWS_PER_PARAMETER} (its "
            f"order-4 moments, hundreds): expect a poor fit; use fewer neurons or more rows")
    seconds = estimated_seconds(n, d, neuron_counts)
    if seconds > LONG_FIT_SECONDS:
        top = max(neuron_counts)
        out.append(
            f"this fit may take {'up to ' if len(neuron_counts) > 1 or searched_below else ''}about "
            f"{f'{seconds:.0f} seconds' if seconds < 90 else f'{seconds / 60:.0f} minutes'} "
            f"(a rough estimate: the candidate stage grows like k^4, k = {top}, and the passes like n d (d + 10k), "
            f"n = {n}, d = {d}{BELOW if searched_below else ''}); verbose=True shows the progress")
    return out


def warn_workload(n, d, neuron_counts, searched_below=False, stacklevel=4):
    """Raise each of :func:`workload_messages` as a :class:`FitWorkloadWarning`."""
    for message in workload_messages(n, d, neuron_counts, searched_below):
        warnings.warn(message, FitWorkloadWarning, stacklevel=stacklevel)
