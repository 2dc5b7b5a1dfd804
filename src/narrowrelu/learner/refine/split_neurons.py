"""Out of a merged-neuron minimum: move a wasted neuron by splitting a loaded one.

Two teacher neurons :math:`u_a, u_b` a small angle apart can be fitted by one model neuron near
their bisector carrying both weights, while another model neuron is wasted: left with a small
weight, or doubling a neighbour (two model neurons at cosine above :data:`DUPLICATE_COSINE`
sharing one teacher neuron's weight). That is a local minimum of the training loss: no descent
step splits the merged neuron, and the wasted one is far from where it is needed. It is what lost the
fits of the ``clusters`` family whose success fell as :math:`n` grew (``narrowrelu bench
diagnose``: right moment start, refinement in the wrong basin).

The residual :math:`r = y - g(x)` of such a model keeps
:math:`\\lambda_au_au_a^T + \\lambda_bu_bu_b^T - \\lambda_mu_mu_m^T` in its second Hermite moment
:math:`E[r(xx^T - I)]`, whose top eigenvector orthogonal to the merged neuron :math:`u_m` points
along :math:`u_a - u_b`. A split start frees the wasted neuron (drops it, or merges the
doubled pair into one neuron with their summed weight) and replaces a loaded neuron
:math:`(\\lambda_j, u_j)` by :math:`\\lambda_j/2` at :math:`\\|u_j\\|(\\cos\\theta\\,\\hat u_j\\pm
\\sin\\theta\\,e_j)` (the same function to first order), then refines it. The split model is kept
only if its training loss is lower; splits repeat while they help.
"""

import numpy as np

from ...hermite import relu_hermite_coefficient
from ...metrics import relu_kernel
from ...moments.model import network_hermite_contraction
from ...network import ReLUNetwork, n_parameters
from ..directions import unit_rows
from ..passes import block_rows, second_moment_pass

# a neuron is wasted when its contribution |lambda| ||u|| is below this share of the median of the others'
WASTED_SHARE = 0.35
# or when it and another neuron point the same way to within this cosine (pairs of the
# ``clusters`` family are at about 0.8; a ``close_pair`` fitted right is at 0.99 but of opposite signs)
DUPLICATE_COSINE = 0.95
# and their merge (free_neuron) keeps their joint function to within this share of its squared
# Gaussian norm: a cancelling pair (a ``close_pair`` fitted right) merges to about nothing, share 1
DUPLICATE_MERGE_LOSS = 0.25
# on fewer rows than this per parameter any pair above DUPLICATE_COSINE is freed: there the split
# tries from a resolved pair act as restarts that can end in a lower minimum (clusters, d = 50,
# k = 16 at 30 rows per parameter, noise 0.3: 1.27 against 1.88 times the rate without them)
RESOLVED_PAIR_ROWS_PER_PARAMETER = 100
# after the growth the grown model has just been refined from the best of several screened births
# and splits, and its resolved pairs are freed only below this many rows per parameter: from 50 to
# 100 those restarts ended at the grown model's error or above it on the nine close pairs of the
# small-n race (d = 20, n = 1e4, k = 4-8; 200-960 passes each against 85-155 without them),
# while at 30 they still lower it (close pair d = 20, k = 4, n = 3 150: 1.33 -> 1.05 times the rate)
GROWN_RESOLVED_PAIR_ROWS_PER_PARAMETER = 50
# the half-angle between the two halves of a split neuron (radians)
SPLIT_ANGLE = 0.1
# a split is kept when it lowers the training loss by more than this fraction
SPLIT_GAIN = 1e-6


def contributions(network):
    """:math:`|\\lambda_i|\\,\\|u_i\\|`, each neuron's scale."""
    return np.abs(network.output_weights) * np.linalg.norm(network.hidden_weights, axis=1)


def wasted_neuron(network):
    """The index of the neuron of smallest contribution when it is below ``WASTED_SHARE`` of the
    median of the others', else ``None`` (and ``None`` with fewer than two neurons)."""
    c = contributions(network)
    if c.size < 2:
        return None
    i = int(np.argmin(c))
    others = np.delete(c, i)
    return i if c[i] < WASTED_SHARE * np.median(others) else None


def doubled_pair(network, resolved=False):
    """The two neurons of largest cosine when it exceeds ``DUPLICATE_COSINE`` and their merge
    loses at most ``DUPLICATE_MERGE_LOSS`` of their function (:func:`merge_loss`: one neuron
    twice, not a resolved pair of opposite weights; with ``resolved``, whatever it loses), else
    ``None``."""
    U = network.hidden_weights
    if U.shape[0] < 2:
        return None
    Un = unit_rows(U)
    C = Un @ Un.T
    np.fill_diagonal(C, -np.inf)
    a, b = np.unravel_index(int(np.argmax(C)), C.shape)
    pair = (int(min(a, b)), int(max(a, b)))
    if not C[a, b] > DUPLICATE_COSINE or (not resolved and merge_loss(network, pair) > DUPLICATE_MERGE_LOSS):
        return None
    return pair


def merged_pair(network, pair):
    """The neuron that replaces ``pair``: direction the contribution-weighted mean of theirs, output
    weight :math:`\\lambda_a\\|u_a\\| + \\lambda_b\\|u_b\\|` at unit norm."""
    U, lam = network.hidden_weights[list(pair)], network.output_weights[list(pair)]
    norms = np.linalg.norm(U, axis=1)
    u = ((np.abs(lam) * norms)[:, None] * U / norms[:, None]).sum(axis=0)
    return u / np.linalg.norm(u), float(lam @ norms)


def merge_loss(network, pair):
    """:math:`\\|g - h\\|^2/\\|g\\|^2` in :math:`L^2(N(0, I))`, :math:`g` the two neurons of ``pair``
    together and :math:`h` their merge (:func:`merged_pair`), exact (the ReLU kernel)."""
    u, weight = merged_pair(network, pair)
    V = np.vstack([network.hidden_weights[list(pair)], u])
    c = np.append(network.output_weights[list(pair)], -weight)
    K = relu_kernel(V, V)
    whole = float(c[:2] @ K[:2, :2] @ c[:2])
    return float(c @ K @ c) / whole if whole > 0 else 0.0


def free_neuron(network, n_rows=None, resolved_rows_per_parameter=RESOLVED_PAIR_ROWS_PER_PARAMETER):
    """``network`` with one neuron fewer and nearly the same function: without its wasted neuron,
    or with a doubled pair merged (direction the contribution-weighted mean, output weight
    :math:`\\lambda_a\\|u_a\\| + \\lambda_b\\|u_b\\|` at unit norm); ``None`` when no neuron is wasted.
    On ``n_rows`` below ``resolved_rows_per_parameter`` per parameter, a resolved pair
    (:func:`doubled_pair` with ``resolved``) is merged too."""
    U, lam = network.hidden_weights, network.output_weights
    wasted = wasted_neuron(network)
    if wasted is not None:
        keep = np.arange(U.shape[0]) != wasted
        return ReLUNetwork(U[keep], lam[keep], network.linear_weights, network.intercept)
    few_rows = n_rows is not None and n_rows < resolved_rows_per_parameter * n_parameters(
        network.n_neurons, network.n_features)
    pair = doubled_pair(network, resolved=few_rows)
    if pair is None:
        return None
    u, merged_weight = merged_pair(network, pair)
    keep = [i for i in range(U.shape[0]) if i not in pair]
    return ReLUNetwork(np.vstack([U[keep], u]), np.concatenate([lam[keep], [merged_weight]]),
                       network.linear_weights, network.intercept)


def target_second_moment(network, source, n_jobs):
    """:math:`E[y(xx^T - I)]` on the training rows (one pass, ``network`` as control variate)."""
    return second_moment_pass(source, network, block_rows(network.n_features), n_jobs)


def residual_second_moment(network, M2y):
    """:math:`E[r(xx^T - I)]` of the residual :math:`r = y - g(x)`, from the target's ``M2y``
    and the network's exact moment."""
    return M2y - network_hermite_contraction(network, np.zeros((1, network.n_features)), 2)[0]


def split_start(network, j, M2r, angle=SPLIT_ANGLE):
    """``network`` with neuron ``j`` split along the top eigenvector (largest
    :math:`|\\text{eigenvalue}|`) of ``M2r`` orthogonal to :math:`u_j`: one neuron more."""
    U, lam = network.hidden_weights, network.output_weights
    norm = np.linalg.norm(U[j])
    u = U[j] / norm
    Q = np.eye(U.shape[1]) - np.outer(u, u)
    vals, vecs = np.linalg.eigh(Q @ M2r @ Q)
    e = vecs[:, int(np.argmax(np.abs(vals)))]
    e = e - (e @ u) * u
    e /= np.linalg.norm(e)
    halves = norm * np.array([np.cos(angle) * u + np.sin(angle) * e, np.cos(angle) * u - np.sin(angle) * e])
    keep = [i for i in range(U.shape[0]) if i != j]
    return ReLUNetwork(np.vstack([U[keep], halves]), np.concatenate([lam[keep], [lam[j] / 2, lam[j] / 2]]),
                       network.linear_weights, network.intercept)


def birth_starts(network, M2r):
    """``network`` with one neuron more where the residual needs it: along :math:`\\pm e`, the top
    eigenvector (largest :math:`|\\mu|`) of the residual's second moment ``M2r``, with output
    weight :math:`\\mu/a_2` (a neuron :math:`\\lambda\\,\\mathrm{relu}(e\\cdot x)` adds
    :math:`a_2\\lambda ee^T` to it). Two starts, one per sign of :math:`e`."""
    vals, vecs = np.linalg.eigh(M2r)
    top = int(np.argmax(np.abs(vals)))
    weight = vals[top] / relu_hermite_coefficient(2)
    return [ReLUNetwork(np.vstack([network.hidden_weights, sign * vecs[:, top]]),
                        np.concatenate([network.output_weights, [weight]]), network.linear_weights, network.intercept)
            for sign in (1.0, -1.0)]


def refine_with_splits(refine, result, source, n_jobs=1, screened=False,
                       resolved_rows_per_parameter=RESOLVED_PAIR_ROWS_PER_PARAMETER):
    """From the refined ``result``, while the model has a wasted neuron: free it, then from each
    split of another neuron (:func:`split_start`) and from each birth of a new one where the
    freed model's residual is largest (:func:`birth_starts`, for a pair the model has not
    found at all), refine (``refine(network)``; with ``screened``, ``refine(network, level)``,
    which may give up a start that will not end below the loss ``level`` to beat), and keep the
    best if it lowers the training loss.

    No gain is too small: a split that gains little changes the model, and the next round's
    starts (a birth, above all) differ. A noise-level threshold (a gain of :math:`\\hat\\sigma^2(d+1)`)
    was tried: the ``close_pair`` teachers of the d = 20 sweep at k = 5-7 then lost a neuron that
    the second round's birth finds. A resolved pair is freed below ``resolved_rows_per_parameter``
    rows per parameter (:func:`free_neuron`). Returns the best result and how many starts were
    tried and kept."""
    tried = kept = 0
    for _ in range(result.network.n_neurons):
        freed = free_neuron(result.network, source.n_samples, resolved_rows_per_parameter)
        if freed is None:
            break
        M2y = target_second_moment(result.network, source, n_jobs)
        M2r = residual_second_moment(result.network, M2y)
        starts = [split_start(freed, int(j), M2r) for j in np.argsort(-contributions(freed), kind="stable")]
        starts += birth_starts(freed, residual_second_moment(freed, M2y))
        tried += len(starts)
        best = best_try(refine if screened else (lambda start, _: refine(start)), starts, result.loss)
        if best is None or not best.loss < result.loss * (1 - SPLIT_GAIN):
            break
        result, kept = best, kept + 1
    return result, {"split_tries": tried, "splits": kept}


def best_try(refine_try, starts, level):
    """The lowest-loss result of ``refine_try(start, level)`` over ``starts`` (``None`` without
    any), each try told the loss to beat: ``level``, or the best earlier try's when lower, so it
    may give up once it cannot end below it; the earlier start on ties."""
    best = None
    for start in starts:
        candidate = refine_try(start, level if best is None else min(level, best.loss))
        if best is None or candidate.loss < best.loss:
            best = candidate
    return best
