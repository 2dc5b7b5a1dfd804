"""What a fit says about its number of neurons: the neurons kept, the surplus removed, a neuron
still missing, and a search for k stopped by its limit (``NeuronCountWarning`` for each)."""

import warnings
from dataclasses import dataclass

from .refine.surplus import NeuronCountWarning, merge_surplus
from .rounds import STILL_IMPROVING
from .settings import auto_neuron_limit


@dataclass
class NeuronCountReport:
    """``n_neurons`` kept, ``surplus`` (one line per neuron merged or removed), ``structure``
    (the final residual's test or ``None``) and ``underfit`` (that test finds a neuron missing,
    unless the residual lies outside the model class)."""

    n_neurons: int
    surplus: list
    structure: object
    underfit: bool


def neuron_count_report(network, refinement, asked, max_auto_neurons, limit_reached, n_features, n_samples,
                        search_stop=None, stacklevel=5, limit_why=STILL_IMPROVING, raw=False):
    """The :class:`NeuronCountReport` of a fitted ``network`` asked for ``asked`` neurons
    (``None``: searched, up to ``max_auto_neurons``), issuing a ``NeuronCountWarning`` when
    it keeps fewer than asked (the surplus merged or removed, or never fitted: a search below
    ``asked`` stopped at ``search_stop["k"]`` for ``search_stop["why"]``,
    :class:`~narrowrelu.learner.rounds.MomentFit`),
    when the search stopped at its limit while still improving, or started there with more neurons
    visible (``limit_reached``, ``limit_why`` saying which), or when the
    residual shows a neuron missing: with every neuron allowed in use, or below that limit where
    no neuron the growth tried passed its test (the refinement's ``growth_skipped`` set, a
    residual outside the model class, is left to the ``ModelMisfitWarning``). With ``raw`` (a raw
    moment solution, ``refine=False``, which nothing prunes), also when its neurons include some
    that :func:`merge_surplus` would merge or drop: they are kept, and the warning says so."""
    summary = refinement or {}
    kept = network.n_neurons
    surplus = list(summary.get("surplus", []))
    structure = summary.get("residual")
    if asked is not None and kept < asked:
        surplus = (_not_searched(search_stop, asked) + surplus)[-(asked - kept):]
        warnings.warn(f"n_neurons = {asked}: {asked - kept} neuron(s) were surplus and the model keeps {kept} "
                      f"({'; '.join(_grouped(surplus))}); see surplus_", NeuronCountWarning, stacklevel=stacklevel)
    if raw:
        unmerged = merge_surplus(network)[1]
        if unmerged:
            name = f"n_neurons = {asked}" if asked is not None else f"the k chosen, {kept},"
            warnings.warn(f"{name}: the raw fit keeps {len(unmerged)} neuron(s) that look surplus, as refine=False "
                          f"asks; refine=True would have {'; '.join(_grouped(unmerged))}", NeuronCountWarning,
                          stacklevel=stacklevel)
    largest = auto_neuron_limit(n_features, n_samples, max_auto_neurons)
    if limit_reached:
        by_cap = max_auto_neurons is not None and max_auto_neurons <= auto_neuron_limit(n_features, n_samples)
        named = (f"max_auto_neurons = {max_auto_neurons}" if by_cap else
                 f"the limit of {largest} neurons (n_features = {n_features}, and n_samples >= 10 p)")
        warnings.warn(f"the search for k stopped at {named} while {limit_why}", NeuronCountWarning,
                      stacklevel=stacklevel)
    limit = asked if asked is not None else largest
    # a residual with odd-order structure (growth_skipped) is outside the model: ModelMisfitWarning says so
    missing = bool(structure is not None and structure.significant and not summary.get("growth_skipped"))
    figures = (f"top eigenvalue of its second moment {structure.eigenvalue:.3g}, noise level {structure.edge:.3g}"
               if missing else "")
    if missing and kept >= limit:
        name = "n_neurons" if asked is not None else "the search's limit k"
        warnings.warn(f"{name} = {limit}: the residual still carries the structure of a missing neuron ({figures}); "
                      "more neurons would fit better", NeuronCountWarning, stacklevel=stacklevel)
    elif missing:
        name = f"n_neurons = {asked}" if asked is not None else "n_neurons=None"
        warnings.warn(f"{name}: the fit keeps {kept} neurons and its residual still carries the structure of a missing "
                      f"neuron ({figures}), but no neuron added after the refinement lowered the sum of squares by "
                      "more than the BIC penalty on these rows; more rows (or a told n_neurons) would fit it",
                      NeuronCountWarning, stacklevel=stacklevel)
    return NeuronCountReport(kept, surplus, structure, missing)


def _grouped(lines):
    """``lines`` once each, in the order they first come, a line that several neurons share
    prefixed by their number ("3 neurons: ...")."""
    counts = {}
    for line in lines:
        counts[line] = counts.get(line, 0) + 1
    return [line if count == 1 else f"{count} neurons: {line}" for line, count in counts.items()]


def _not_searched(search_stop, asked):
    """One line per neuron of ``asked`` that a search below it did not fit: the k it kept, and why
    it stopped there."""
    if not search_stop or search_stop["k"] >= asked:
        return []
    line = f"not fitted: the search for k below n_neurons stopped at k = {search_stop['k']}: {search_stop['why']}"
    return [line] * (asked - search_stop["k"])
