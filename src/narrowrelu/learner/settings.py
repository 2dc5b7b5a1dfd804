"""The settings of a moment fit: the research knobs a user rarely tunes, and the rules that
turn the estimator's parameters into what each stage reads.

:class:`LearnerSettings` holds the knobs (``MomentReLURegressor(settings=...)`` takes one, or a
dict of some of its fields); :class:`MomentSettings` is what :func:`~narrowrelu.learner.rounds.fit_moments`
reads, the knobs joined with the estimator's own parameters. Also here: when a sample counts as
large (:func:`large_sample`), and which rows the refinement uses (:func:`refinement_rows`).
"""

from dataclasses import dataclass, fields

from .._params import Boolean, Integer, Options, Real, Sequence, check_parameters
from ..network import n_parameters
from .candidates import GENERATORS

REFINE_METHODS = ("gn", "lm", "lbfgs")
K_SEARCHES = ("growth", "paired_test")
# a sample is large beyond this many rows per parameter: refine_starts="auto" refines one start,
# and the moment rounds hand over to the refinement early
LARGE_SAMPLE_ROWS_PER_PARAMETER = 500
# rows of a fresh draw (oracle mode) or brought into memory (dask) for the dense refinements,
# unless refine_max_samples says otherwise
DENSE_REFINE_ROWS = 200_000
# a round is kept if it lowers the held-out MSE by more than this fraction; under label noise the
# held-out MSE is mostly noise, so the excess error a round removes is a small fraction of it
ROUND_IMPROVEMENT = 1e-5
# the same for the rounds of a k that a search for k started from the model of k - 1
WIDENED_ROUND_IMPROVEMENT = 1e-4
# a model without a spare neuron hands over to the refinement at a gain of handoff p/n from this
# many rows per parameter (MomentSettings.settled_improvement); below, that gain is above 0.5 % and
# its rounds, stopped there, left a random teacher at 13 rows per parameter (d = 20, k = 6,
# n = 1 974) a worse start, from which the search kept a seventh neuron
SETTLED_ROWS_PER_PARAMETER = 50
# with n_neurons=None, k is at most such that n_samples >= AUTO_ROWS_PER_PARAMETER p(k)
AUTO_ROWS_PER_PARAMETER = 10


@dataclass(frozen=True)
class LearnerSettings:
    """The research knobs of :class:`~narrowrelu.MomentReLURegressor`, each read by one stage.

    Parameters
    ----------
    tensor_orders : tuple of int, default=(4,)
        Orders of the projected Hermite tensors used for candidates (4, and 6 for extra views; 3
        is added with ``hidden_biases=True``, where it carries the units that order 4 is blind to).
    n_contraction_pairs : int, default=64
        Random pairs of contractions (Jennrich), each a source of up to :math:`k` candidates.
    candidate_generators : tuple of str, default=("jennrich", "cp_polish", "tensor_fit")
        The candidate generators of a round, run in order
        (:data:`narrowrelu.learner.candidates.GENERATORS`): Jennrich pairs and their clustering,
        the CP polish of the order-4 tensor (alternating least squares), the joint weighted fit of the
        tensors of orders 2 and 4.
    n_subspace_directions : int, default=2
        Random order-4 contractions :math:`C_j` whose products :math:`C_jP` are stacked with
        :math:`M_2P` for the next estimate of the span, per round.
    scales : tuple of float, default=(0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
        The ladder of projective distances :math:`1-|\\cos|` at which candidates are clustered.
    min_support : float, default=0.2
        A cluster needs at least this fraction of ``n_contraction_pairs`` members.
    max_rounds : int, default=8
        Rounds of iterative discovery on the residual. Rounds stop earlier when a round lowers
        the held-out error by less than a fraction 1e-5 of it (1e-4 for a k that a search started
        from the model of k - 1; with a refinement to follow, by less than :math:`0.25\\,p/n` of
        it where :math:`n > 500p`, and from :math:`n \\ge 50p` where the model has no spare
        neuron or the k was started from k - 1: :meth:`MomentSettings.round_gain_needed`), or once
        it is below ``tol``.
    refine_method : {"gn", "lm", "lbfgs"}, default="gn"
        ``"gn"``: matrix-free Gauss–Newton streamed over the data like the moment passes;
        ``"lm"``: dense Levenberg–Marquardt, :math:`O(np^2)` per iteration (small :math:`p`);
        ``"lbfgs"``: L-BFGS. See :mod:`narrowrelu.learner.refine`.
    refine_max_iter : int, default=100
        Outer iterations of the refinement at most.
    refine_max_samples : int or None, default=None
        Rows used by the refinement (:func:`refinement_rows`).
    refine_starts : {1, 2, "auto"}, default="auto"
        Starts of the refinement: the selected moment solution, and (with 2) also the first
        round's model; the refined network with the lower training loss is kept. ``"auto"``: 2
        up to :math:`n = 500p` rows, else 1.
    shrink_linear_part : bool, default=True
        Shrink the refined network's linear part :math:`w` towards zero by the positive-part
        James–Stein factor (:mod:`narrowrelu.learner.refine.linear_shrinkage`): a lower excess risk
        than the least-squares fit's whatever :math:`w`, and far lower where :math:`w = 0`.
        ``False`` keeps the least-squares fit (its gradient zero on the training rows).
    k_search : {"growth", "paired_test"}, default="growth"
        How ``n_neurons=None`` finds :math:`k` beyond the :math:`k_0` neurons :math:`M_2` shows
        (bias-free fits of Gaussian inputs with ``refine=True``; elsewhere the paired test runs).
        ``"growth"``: the moment fit of :math:`k_0`, then the refinement adds neurons one at a
        time while one added lowers the training sum of squares by more than a neuron fitted to
        noise would (:func:`~narrowrelu.learner.refine.surplus.grow_neurons`). ``"paired_test"``:
        a moment fit of each :math:`k = k_0, k_0 + 1, \\dots` kept while the paired test on the
        held-out rows says it fits better (:mod:`narrowrelu.learner.rounds`), then the same growth.
    """

    tensor_orders: tuple = (4,)
    n_contraction_pairs: int = 64
    candidate_generators: tuple = ("jennrich", "cp_polish", "tensor_fit")
    n_subspace_directions: int = 2
    scales: tuple = (0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
    min_support: float = 0.2
    max_rounds: int = 8
    refine_method: str = "gn"
    refine_max_iter: int = 100
    refine_max_samples: int = None
    refine_starts: object = "auto"
    shrink_linear_part: bool = True
    k_search: str = "growth"

    _parameter_constraints = {
        "tensor_orders": Sequence(Options(3, 4, 6), unique=True),
        "n_contraction_pairs": Integer(1),
        "candidate_generators": Sequence(Options(*GENERATORS), unique=True),
        "n_subspace_directions": Integer(1),
        "scales": Sequence(Real(0, 1, closed="neither")),
        "min_support": Real(0, 1, closed="right"),
        "max_rounds": Integer(1),
        "refine_method": Options(*REFINE_METHODS),
        "refine_max_iter": Integer(1),
        "refine_max_samples": (Integer(1), Options(None)),
        "refine_starts": Options(1, 2, "auto"),
        "shrink_linear_part": Boolean(),
        "k_search": Options(*K_SEARCHES),
    }

    @classmethod
    def from_parameter(cls, value):
        """The settings a ``settings=`` parameter asks for: ``None`` (the defaults), a
        :class:`LearnerSettings`, or a dict of some of its fields; checked, with a
        ``ValueError`` naming an unknown or invalid field."""
        if value is None:
            value = cls()
        elif isinstance(value, dict):
            names = [f.name for f in fields(cls)]
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise ValueError(f"settings has unknown field(s) {', '.join(map(repr, unknown))}; "
                                 f"the fields are {', '.join(names)}")
            value = cls(**value)
        elif not isinstance(value, cls):
            raise ValueError(f"settings must be None, a dict or a LearnerSettings, got {type(value).__name__}")
        check_parameters(value, prefix="settings.")
        return value


@dataclass(frozen=True)
class MomentSettings:
    """What :func:`~narrowrelu.learner.rounds.fit_moments` reads: the knobs of
    :class:`LearnerSettings` its stages use, with the estimator's ``n_neurons``,
    ``max_auto_neurons``, ``tol`` and ``n_jobs``, and ``handoff`` (see :meth:`round_improvement`)."""

    n_neurons: int = None
    tensor_orders: tuple = (4,)
    n_contraction_pairs: int = 64
    n_subspace_directions: int = 2
    scales: tuple = (0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
    min_support: float = 0.2
    max_rounds: int = 8
    tol: float = 1e-6
    max_auto_neurons: int = None
    n_jobs: int = 1
    handoff: float = 0.0
    # n_neurons=None: the hand-over applies at a k only beyond this many rows per parameter
    handoff_rows_per_parameter: float = 0.0
    candidate_generators: tuple = ("jennrich", "cp_polish", "tensor_fit")
    # rounds stop at a model with surplus neurons (merge_surplus acts on it): the refinement
    # that follows merges and prunes them, where further rounds would fit them to noise
    surplus_handoff: bool = False
    # n_neurons=None: the search starts at the neurons the residual's M2 shows (visible_neurons),
    # else at k = 1 (the biased learner, whose surplus neurons nothing prunes yet, and inputs that
    # fail the Gaussianity check, whose M2 shows more eigenvalues than neurons)
    search_from_visible: bool = True
    # a told n_neurons far above the neurons M2 shows is searched up to, as n_neurons=None searches
    # (learner.rounds, TOLD_SEARCH_*): rounds at a surplus k fit its spare neurons to the others'
    # error and cost k^4 per tensor
    search_below_told: bool = False
    # a refinement with its growth follows (refine=True, bias-free, Gaussian inputs): the search
    # tries k + 1 only while the residual of k shows a neuron missing (learner.rounds); the growth
    # tries one more neuron after the refinement in any case
    growth_follows: bool = False
    # n_neurons=None with growth_follows and search_from_visible: "growth" fits only the first k
    # (the neurons M2 shows) and leaves the rest to the growth; "paired_test" searches on
    k_search: str = "growth"

    @classmethod
    def from_knobs(cls, knobs, **own):
        """The knobs of ``knobs`` (a :class:`LearnerSettings`) that the rounds read, with ``own``."""
        shared = {f.name: getattr(knobs, f.name) for f in fields(cls) if hasattr(knobs, f.name)}
        shared.update(tensor_orders=tuple(knobs.tensor_orders), scales=tuple(knobs.scales),
                      candidate_generators=tuple(knobs.candidate_generators))
        return cls(**shared, **own)

    def round_improvement(self, k, n_features, n_train, n_samples=None, rows_k=None):
        """The relative fall of the held-out MSE a round must bring to be kept.

        ``ROUND_IMPROVEMENT`` when the raw solution is the result. When a refinement follows
        (``handoff > 0``) it only needs a start in the right basin: from a :math:`\\sqrt n`-consistent
        one, Gauss–Newton reaches the efficient estimate, whose excess MSE is
        :math:`\\sigma^2p/n`. Under noise the held-out MSE is about :math:`\\sigma^2`, so a round that
        lowers it by less than ``handoff`` :math:`\\cdot p/n` of itself changes the start by less
        than ``handoff`` times the rate, which the refinement removes anyway: rounds stop there.
        With ``handoff_rows_per_parameter`` (a search for :math:`k`), only where ``n_samples``
        exceeds that many rows per parameter of ``rows_k`` neurons (default ``k``; the search
        passes :math:`k-1` for a :math:`k` started from the model of :math:`k-1`: that model
        was fitted on a large sample, and the rounds of :math:`k` only add a neuron to it). Below
        that many rows, the rounds of such a :math:`k` stop at a gain of
        ``WIDENED_ROUND_IMPROVEMENT``: a neuron that they find gains more than that in each round
        (0.02 % at least, and 0.7–5 % once it shows, on a cluster that took six rounds), while a
        spare neuron's rounds gain 10⁻⁵–10⁻⁴ each to no end."""
        p = n_parameters(k, n_features)
        rows_p = p if rows_k is None else n_parameters(rows_k, n_features)
        if n_samples is not None and n_samples <= self.handoff_rows_per_parameter * rows_p:
            return ROUND_IMPROVEMENT if rows_k is None or rows_k == k else WIDENED_ROUND_IMPROVEMENT
        return max(ROUND_IMPROVEMENT, self.handoff * p / max(n_train, 1))

    def settled_improvement(self, k, n_features, n_train, n_samples):
        """The relative fall of the held-out MSE a round must bring to be kept when the model it
        improves on has no spare neuron (none wasted, no two doubling one: the refinement's
        :func:`~narrowrelu.learner.refine.split_neurons.free_neuron` finds none), from
        ``SETTLED_ROWS_PER_PARAMETER`` rows per parameter up: ``handoff`` :math:`\\cdot p/n` (0
        without a refinement to follow, or on fewer rows). Such a model is in the basin of its
        least-squares fit, which the refinement reaches in a few passes, while a round on few rows
        per parameter costs as much as on many and gains only what the moments' noise allows. A
        model with a spare neuron keeps :meth:`round_improvement`: rounds are what resolve a close
        pair or a cluster that it merged (0.2-0.4 % per round for two rounds, then 6-7 %, on a
        close pair at 95 rows per parameter)."""
        p = n_parameters(k, n_features)
        if n_samples < SETTLED_ROWS_PER_PARAMETER * p:
            return 0.0
        return self.handoff * p / max(n_train, 1)

    def round_gain_needed(self, k, n_features, n_train, n_samples, widened=False, spare=True):
        """The relative fall of the held-out MSE the next round of :math:`k` must bring to be
        kept: :meth:`round_improvement` (of ``rows_k`` :math:`= k - 1` for a ``widened`` :math:`k`,
        one a search started from the model of :math:`k - 1`), raised to
        :meth:`settled_improvement` where the model has no ``spare`` neuron, and for a ``widened``
        :math:`k` whatever its model: the rounds of a :math:`k + 1` that the data do not support
        gained 1-3·10⁻⁴ each for six rounds (random, d = 20, k = 6, n = 44 100: 1.2 s against
        0.33 s for the fit told k), and a neuron they miss is tried again after the refinement,
        split out of a neuron that merged it where a birth comes out weak
        (:func:`~narrowrelu.learner.refine.refine_moment_solution`)."""
        gain = self.round_improvement(k, n_features, n_train, n_samples, k - 1 if widened else k)
        if spare and not widened:
            return gain
        return max(gain, self.settled_improvement(k, n_features, n_train, n_samples))

    def neuron_counts(self, n_features, n_samples=None):
        """The values of :math:`k` tried: ``n_neurons`` (``1 .. n_neurons`` with
        ``search_below_told``), or ``1 ..`` :func:`auto_neuron_limit`."""
        if self.n_neurons is not None:
            return list(range(1, self.n_neurons + 1)) if self.search_below_told else [self.n_neurons]
        return list(range(1, auto_neuron_limit(n_features, n_samples, self.max_auto_neurons) + 1))

    def max_passes(self, n_features=None, n_samples=None):
        """Passes at most: the linear one, :math:`M_2` (each twice where the linear part is refitted
        by least squares), one in the first round and two in each
        later one for every :math:`k` tried (and one held-out pass per :math:`k` after the first
        with ``n_neurons=None``), and a final regression."""
        per_k = 2 * self.max_rounds - 1
        if self.n_neurons is not None and not self.search_below_told:
            return 5 + per_k
        return 5 + (per_k + 1) * len(self.neuron_counts(n_features or 1, n_samples))


def auto_neuron_limit(n_features, n_samples=None, max_auto_neurons=None):
    """The largest :math:`k` that ``n_neurons=None`` tries: at most :math:`d`, at most
    ``max_auto_neurons`` when given, and at most the :math:`k` whose :math:`p = k(d+1)+d+1` fits
    ``AUTO_ROWS_PER_PARAMETER`` times in ``n_samples`` (at least 1)."""
    limit = n_features if max_auto_neurons is None else min(n_features, max_auto_neurons)
    if n_samples is not None:
        by_rows = (n_samples // AUTO_ROWS_PER_PARAMETER - n_features - 1) // (n_features + 1)
        limit = min(limit, max(1, int(by_rows)))
    return max(1, limit)


def large_sample(n_rows, n_neurons, n_features):
    """Whether ``n_rows`` exceed ``LARGE_SAMPLE_ROWS_PER_PARAMETER`` per parameter,
    :math:`p = k(d+1)+d+1`."""
    return n_rows > LARGE_SAMPLE_ROWS_PER_PARAMETER * n_parameters(n_neurons, n_features)


def refinement_rows(method, n_rows, max_samples, in_memory):
    """The rows the refinement uses: ``None`` for every row of the fit's own source (the default
    when ``"gn"`` streams over it, or when the rows are in memory), else a count ``m``, taken by
    ``source.head(m, into_memory=method != "gn")``: ``min(n_rows, max_samples)`` when
    ``max_samples`` is set, else at most ``DENSE_REFINE_ROWS`` (a dense method on rows that are
    not in this process: generated by an oracle, or on a dask cluster)."""
    if max_samples is None and (method == "gn" or in_memory):
        return None
    return min(n_rows, max_samples or DENSE_REFINE_ROWS)
