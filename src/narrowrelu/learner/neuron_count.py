"""What a fit says about its number of neurons: the neurons kept, the surplus removed, a neuron
still missing, and a search for k stopped by its limit (``NeuronCountWarning`` for each)."""

import warnings
from dataclasses import dataclass

from .refine.surplus import NeuronCountWarning
from .rounds import AUTO_K_FITTED, AUTO_K_Z
from .settings import auto_neuron_limit


@dataclass
class NeuronCountReport:
    """``n_neurons`` kept, ``surplus`` (one line per neuron merged or removed), ``structure``
    (the final residual's test or ``None``) and ``underfit`` (a neuron missing with every
    neuron allowed in use)."""

    n_neurons: int
    surplus: list
    structure: object
    underfit: bool


def neuron_count_report(network, refinement, asked, max_auto_neurons, limit_reached, n_features, n_samples,
                        k_search=(), stacklevel=5):
    """The :class:`NeuronCountReport` of a fitted ``network`` asked for ``asked`` neurons
    (``None``: searched, up to ``max_auto_neurons``), issuing a ``NeuronCountWarning`` when
    it keeps fewer than asked (the surplus merged or removed, or never fitted: a search below
    ``asked``, ``k_search``, stopped where one more neuron fitted the held-out rows no better),
    when the search stopped at its limit while still improving (``limit_reached``), or when the
    residual shows a neuron missing."""
    summary = refinement or {}
    kept = network.n_neurons
    surplus = list(summary.get("surplus", []))
    structure = summary.get("residual")
    if asked is not None and kept < asked:
        surplus = (_not_searched(k_search, asked) + surplus)[-(asked - kept):]
        warnings.warn(f"n_neurons = {asked}: {asked - kept} neuron(s) were surplus and the model keeps {kept} "
                      f"({'; '.join(surplus)}); see surplus_", NeuronCountWarning, stacklevel=stacklevel)
    largest = auto_neuron_limit(n_features, n_samples, max_auto_neurons)
    if limit_reached:
        by_cap = max_auto_neurons is not None and max_auto_neurons <= auto_neuron_limit(n_features, n_samples)
        named = (f"max_auto_neurons = {max_auto_neurons}" if by_cap else
                 f"the limit of {largest} neurons (n_features = {n_features}, and n_samples >= 10 p)")
        warnings.warn(f"the search for k stopped at {named} while each added neuron still fitted the held-out rows "
                      "significantly better", NeuronCountWarning, stacklevel=stacklevel)
    limit = asked if asked is not None else largest
    underfit = bool(structure is not None and structure.significant and kept >= limit)
    if underfit:
        name = "n_neurons" if asked is not None else "the search's limit k"
        warnings.warn(f"{name} = {limit}: the residual still carries the structure of a missing neuron (top "
                      f"eigenvalue of its second moment {structure.eigenvalue:.3g}, noise level {structure.edge:.3g}); "
                      "more neurons would fit better", NeuronCountWarning, stacklevel=stacklevel)
    return NeuronCountReport(kept, surplus, structure, underfit)


def _not_searched(k_search, asked):
    """One line per neuron of ``asked`` that a search below it did not fit: the k it kept, and why
    it stopped there."""
    if not k_search or k_search[-1]["k"] >= asked:
        return []
    last = k_search[-1]
    if last["z"] is None or last["z"] > AUTO_K_Z:
        kept = last["k"]
        why = f"it fits the held-out rows to within {AUTO_K_FITTED:g} of Var(y)"
    else:
        kept = last["k"] - 1
        why = (f"k = {last['k']} fitted the held-out rows no better (paired z = {last['z']:.2f}, at most "
               f"{AUTO_K_Z:g})")
    return [f"not fitted: the search for k below n_neurons stopped at k = {kept}: {why}"] * (asked - kept)
