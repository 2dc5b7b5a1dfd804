"""Output weights: regression of y on [1, L^T x, |c_j·x|] with sparse selection of the directions.

With even-order moments blind to the sign of a neuron, the learner fits the sign-free model

.. math::

    g(x) = b + \\beta\\cdot L^Tx + \\sum_{j\\in S}\\mu_j\\,|c_j\\cdot x|,

choosing the set :math:`S` of candidate directions greedily (forward selection by training
residual, the size by held-out error, then single swaps while the training residual falls).
All of it runs on the Gram matrices :math:`F^TF`, :math:`F^Ty`, :math:`y^Ty` of the feature matrix
:math:`F = [1, L^Tx, |c_1\\cdot x|, \\dots]`, which are sums over rows and so stream. The linear
part lives in the span of the orthonormal columns :math:`L` (the learner's estimate of the
neurons' span and the direction of :math:`E[yx]`, which hold the linear part of any network of
the model class).
Since :math:`|t| = 2\\,\\mathrm{relu}(t) - t`, the model is exactly a ReLU network
(:func:`sign_free_to_relu_network`).
"""

import itertools
from dataclasses import dataclass

import numpy as np

from ...network import ReLUNetwork


@dataclass
class GramStatistics:
    """Running :math:`F^TF`, :math:`F^Ty`, :math:`y^Ty` and the row count."""

    gram: np.ndarray
    moment: np.ndarray
    yy: float = 0.0
    n: int = 0

    @classmethod
    def empty(cls, n_columns):
        return cls(np.zeros((n_columns, n_columns)), np.zeros(n_columns))

    def add_rows(self, F, y):
        """Add the rows of the feature matrix ``F`` with targets ``y``."""
        self.gram += F.T @ F
        self.moment += F.T @ y
        self.yy += float(y @ y)
        self.n += F.shape[0]
        return self

    def add_rows_with_intercept(self, G, y):
        """Add the rows of :math:`F = [1, G]` without forming it."""
        s = G.sum(axis=0)
        self.gram[0, 0] += G.shape[0]
        self.gram[0, 1:] += s
        self.gram[1:, 0] += s
        self.gram[1:, 1:] += G.T @ G
        self.moment[0] += y.sum()
        self.moment[1:] += G.T @ y
        self.yy += float(y @ y)
        self.n += G.shape[0]
        return self

    def merge(self, other):
        """Add ``other``'s sums in place."""
        self.gram += other.gram
        self.moment += other.moment
        self.yy += other.yy
        self.n += other.n
        return self

    def __add__(self, other):
        return GramStatistics(self.gram + other.gram, self.moment + other.moment, self.yy + other.yy, self.n + other.n)


@dataclass
class SparseFit:
    """A fitted sign-free model: intercept, linear part, and weights of the selected directions."""

    selected: np.ndarray
    intercept: float
    linear: np.ndarray
    weights: np.ndarray
    validation_mse: float


class SparseDirectionRegression:
    """Subset regressions on the base columns (the constant and the linear part) plus a subset of candidate columns.

    The base columns are profiled out once (Schur complement), so each subset costs a solve
    of its own size only.
    """

    def __init__(self, train, validation, n_base):
        self.train = train
        self.validation = validation
        self.n_base = n_base
        G, m = train.gram, train.moment
        B = slice(0, n_base)
        scale = np.mean(np.diag(G)) if G.size else 1.0
        self._ridge = 1e-12 * scale
        self._GBB = G[B, B] + self._ridge * np.eye(n_base)
        self._GBB_inv_GBS = np.linalg.solve(self._GBB, G[B, n_base:])
        self._GBB_inv_mB = np.linalg.solve(self._GBB, m[B])
        schur = G[n_base:, n_base:] - G[n_base:, B] @ self._GBB_inv_GBS
        self._schur_ridged = schur + self._ridge * np.eye(schur.shape[0])
        self._schur_moment = m[n_base:] - G[n_base:, B] @ self._GBB_inv_mB
        self._base_rss = train.yy - m[B] @ self._GBB_inv_mB

    @property
    def n_candidates(self):
        return self._schur_ridged.shape[0]

    def coefficients(self, subset):
        subset = np.asarray(subset, dtype=int)
        if subset.size:
            mu = np.linalg.solve(self._schur_ridged[np.ix_(subset, subset)], self._schur_moment[subset])
            base = self._GBB_inv_mB - self._GBB_inv_GBS[:, subset] @ mu
        else:
            mu = np.empty(0)
            base = self._GBB_inv_mB
        return base, mu

    def train_rss(self, subset):
        subset = np.asarray(subset, dtype=int)
        if not subset.size:
            return self._base_rss
        b = self._schur_moment[subset]
        return self._base_rss - b @ np.linalg.solve(self._schur_ridged[np.ix_(subset, subset)], b)

    def train_rss_adding_each(self, subset):
        """:math:`\\mathrm{RSS}(S\\cup\\{j\\})` for every candidate :math:`j` at once (``RSS(S)`` where
        :math:`j\\in S`).

        With :math:`A` the ridged Schur complement and :math:`b` its moment, adding :math:`j` to
        :math:`S` lowers the sum of squares by :math:`r_j^2/\\delta_j`, where
        :math:`r_j = b_j - A_{jS}A_{SS}^{-1}b_S` and :math:`\\delta_j = A_{jj} - A_{jS}A_{SS}^{-1}A_{Sj}`:
        one solve of size :math:`|S|` for all :math:`j`, not one per :math:`j`.
        """
        A, b = self._schur_ridged, self._schur_moment
        diagonal = np.diag(A)
        if not subset:
            return self._base_rss - b**2 / diagonal
        S = np.asarray(subset, dtype=int)
        solved = np.linalg.solve(A[np.ix_(S, S)], np.column_stack([A[S], b[S]]))
        W, wb = solved[:, :-1], solved[:, -1]
        rss = self._base_rss - b[S] @ wb
        residual_moment = b - A[:, S] @ wb
        pivot = np.maximum(diagonal - np.einsum("sj,sj->j", A[S], W), self._ridge)
        out = rss - residual_moment**2 / pivot
        out[S] = rss
        return out

    def validation_mse(self, subset):
        base, mu = self.coefficients(subset)
        cols = np.concatenate([np.arange(self.n_base), self.n_base + np.asarray(subset, dtype=int)])
        beta = np.concatenate([base, mu])
        G, m = self.validation.gram[np.ix_(cols, cols)], self.validation.moment[cols]
        sse = self.validation.yy - 2.0 * beta @ m + beta @ G @ beta
        return max(sse, 0.0) / max(self.validation.n, 1)

    def select(self, max_terms, max_swap_sweeps=5, starts=(), size=None):
        """Forward selection up to ``max_terms``, size by held-out error (or ``size`` terms when
        given), then swaps; and swaps from each subset of ``starts`` (for example a coherent set
        of directions found together, which single swaps from the forward path may not reach:
        two coupled directions each look worse alone).

        Returns the :class:`SparseFit` of smallest held-out error among these (the forward
        path's on ties).
        """
        max_terms = min(max_terms, self.n_candidates)
        path = [[]]
        current = []
        for _ in range(max_terms):
            rss = self.train_rss_adding_each(current)
            rss[current] = np.inf
            current = current + [int(np.argmin(rss))]
            path.append(current)
        scores = [self.validation_mse(s) for s in path]
        best_size = int(np.argmin(scores)) if size is None else min(size, len(path) - 1)
        fits = [self.fit_subset(self._swap(list(path[best_size]), max_swap_sweeps))]
        for start in starts:
            start = list(dict.fromkeys(int(j) for j in start))[:max_terms]
            if start:
                fits.append(self.fit_subset(self._swap(start, max_swap_sweeps)))
        return min(fits, key=lambda fit: fit.validation_mse)

    def _swap(self, subset, max_sweeps):
        if not subset:
            return subset
        rss = self.train_rss(subset)
        for _ in range(max_sweeps):
            improved = False
            for pos in range(len(subset)):
                others = subset[:pos] + subset[pos + 1:]
                trial_rss = self.train_rss_adding_each(others)
                for j in np.flatnonzero(trial_rss < rss * (1 - 1e-9)):
                    if j not in subset and trial_rss[j] < rss * (1 - 1e-9):
                        subset, rss, improved = others[:pos] + [int(j)] + others[pos:], trial_rss[j], True
            if not improved:
                break
        return subset

    def fit_subset(self, subset):
        """The :class:`SparseFit` of the candidate columns ``subset``."""
        base, mu = self.coefficients(subset)
        return SparseFit(
            selected=np.asarray(subset, dtype=int),
            intercept=float(base[0]),
            linear=base[1:],
            weights=mu,
            validation_mse=self.validation_mse(subset),
        )


def sign_free_to_relu_network(intercept, linear, directions, weights):
    """The ReLU network equal to :math:`b + \\beta\\cdot x + \\sum_j\\mu_j|c_j\\cdot x|`.

    Uses :math:`\\mu|c\\cdot x| = 2\\mu\\,\\mathrm{relu}(s\\,c\\cdot x) - \\mu s\\,c\\cdot x` for either sign
    :math:`s`; the signs are chosen to make the remaining linear part
    :math:`\\beta - \\sum_j\\mu_js_jc_j` shortest (exhaustively for up to 12 neurons, greedily beyond).
    """
    directions = np.asarray(directions, dtype=np.float64).reshape(-1, np.size(linear))
    weights = np.asarray(weights, dtype=np.float64)
    contributions = weights[:, None] * directions
    signs = _shortest_signs(np.asarray(linear, dtype=np.float64), contributions)
    remaining = linear - signs @ contributions
    return ReLUNetwork(signs[:, None] * directions, 2.0 * weights, remaining, intercept)


def _shortest_signs(target, contributions):
    k = contributions.shape[0]
    if k == 0:
        return np.empty(0)
    if k <= 12:
        all_signs = np.array(list(itertools.product([1.0, -1.0], repeat=k)))
        lengths = np.linalg.norm(target[None, :] - all_signs @ contributions, axis=1)
        return all_signs[int(np.argmin(lengths))]
    signs = np.ones(k)
    for j in range(k):
        for s in (1.0, -1.0):
            trial = signs.copy()
            trial[j] = s
            if np.linalg.norm(target - trial @ contributions) < np.linalg.norm(target - signs @ contributions):
                signs = trial
    return signs
