"""Candidate directions of a round, from the projected Hermite tensors of the residual.

A round's candidates come from the generators named by the settings field
``candidate_generators`` (:class:`~narrowrelu.learner.settings.LearnerSettings`), run in that
order; each is registered in :data:`GENERATORS` and reads and extends one
:class:`RoundCandidates`:

- ``"jennrich"`` (:mod:`~narrowrelu.learner.candidates.jennrich`,
  :mod:`~narrowrelu.learner.candidates.cluster`): Jennrich pairs of random contractions, merged
  by multiscale clustering into cluster centres with their support;
- ``"cp_polish"`` (:mod:`~narrowrelu.learner.candidates.cp_polish`): the rank-:math:`k` CP
  decomposition of the order-4 tensor (else the lowest order) by alternating least squares;
- ``"tensor_fit"`` (:mod:`~narrowrelu.learner.candidates.tensor_fit`): the joint weighted
  least-squares fit of the tensors of every order, the order-2 one included.

A polishing generator starts from the previous polisher's directions when there are any, else
from :func:`~narrowrelu.learner.candidates.cp_polish.polish_starts` (the current directions,
completed by the best-supported centres, then random ones), drawn once per round.

To add a generator: a function ``(candidates, rng) -> RoundCandidates`` in a module of this
package, an entry in :data:`GENERATORS`, and a test that names it in ``candidate_generators``.
"""

from dataclasses import dataclass, replace

import numpy as np

from ..directions import unit_rows
from .cluster import multiscale_cluster_centres
from .cp_polish import cp_polish, polish_starts
from .jennrich import jennrich_candidates
from .tensor_fit import fit_hermite_tensors


@dataclass(frozen=True)
class RoundCandidates:
    """What the generators of a round read and produce, in the tensors' :math:`k` coordinates.

    Attributes
    ----------
    tensors : dict
        ``{m: T_m}``: the projected Hermite tensors of the residual of orders :math:`m \\ge 4`.
    second : ndarray of shape (k, k) or None
        The projected order-2 tensor (read by ``"tensor_fit"``).
    current : ndarray of shape (r, k)
        The current model's directions inside the span (unit rows).
    n_pairs, scales, min_support :
        Jennrich pairs, clustering ladder and the least cluster size.
    centres : ndarray of shape (c, k)
        Cluster centres (unit rows), by decreasing support; ``support`` their sizes;
        ``n_cloud`` the size of the clustered cloud.
    polished : ndarray of shape (q, k)
        The last polisher's directions (the tensor fit's :math:`v_l` are not normalised: their
        norms estimate each neuron's share inside the span).
    starts : ndarray of shape (k, k) or None
        The polishers' starts, once drawn.
    """

    tensors: dict
    second: np.ndarray
    current: np.ndarray
    n_pairs: int
    scales: tuple
    min_support: int
    centres: np.ndarray = None
    support: np.ndarray = None
    n_cloud: int = 0
    polished: np.ndarray = None
    starts: np.ndarray = None

    @property
    def k(self):
        return next(iter(self.tensors.values())).shape[0]

    def polish_from(self, rng):
        """``(self, starts)``: the previous polisher's directions when there are any, else the
        round's starts (drawn from ``rng`` on first use)."""
        if self.polished.shape[0]:
            return self, self.polished
        state = self if self.starts is not None else replace(
            self, starts=polish_starts(self.current, self.centres, self.k, rng))
        return state, state.starts


def jennrich_generator(state, rng):
    """Jennrich candidates from random contraction pairs, clustered at every scale."""
    cloud = jennrich_candidates([state.tensors[m] for m in sorted(state.tensors)], state.n_pairs, rng)
    centres, support = multiscale_cluster_centres(cloud, state.scales, state.min_support)
    return replace(state, centres=unit_rows(centres), support=support, n_cloud=cloud.shape[0])


def cp_polish_generator(state, rng):
    """The CP polish of the order-4 tensor (else the lowest order) from the polishers' starts."""
    state, starts = state.polish_from(rng)
    order = 4 if 4 in state.tensors else min(state.tensors)
    return replace(state, polished=cp_polish(state.tensors[order], starts))


def tensor_fit_generator(state, rng):
    """The joint weighted fit of the tensors of every order, order 2 included."""
    state, starts = state.polish_from(rng)
    even = {m: T for m, T in state.tensors.items() if m % 2 == 0}
    polished, _ = fit_hermite_tensors({2: state.second, **even}, starts)
    return replace(state, polished=polished)


GENERATORS = {"jennrich": jennrich_generator, "cp_polish": cp_polish_generator, "tensor_fit": tensor_fit_generator}


def round_candidates(tensors, second, generators, n_pairs, scales, min_support, rng, current=None):
    """Run the named ``generators`` of :data:`GENERATORS` in order on a round's tensors.

    Returns the :class:`RoundCandidates` they filled: the cluster centres as unit rows in the
    tensors' ``k`` coordinates (lift with :math:`c = Pv`), their support, the size of the cloud,
    and the polished directions (empty when no polisher ran)."""
    k = next(iter(tensors.values())).shape[0]
    state = RoundCandidates(tensors, second, np.empty((0, k)) if current is None else current, n_pairs, scales,
                            min_support, centres=np.empty((0, k)), support=np.empty(0, dtype=int),
                            polished=np.empty((0, k)))
    for name in generators:
        state = GENERATORS[name](state, rng)
    return state


__all__ = ["GENERATORS", "RoundCandidates", "round_candidates"]
