"""Does the fitted model explain the data? Low-order Hermite moments of the residual on held-out rows.

For :math:`x\\sim N(0, I_d)` and labels :math:`y = f(x) + \\xi` with noise :math:`\\xi` independent
of :math:`x`, the residual :math:`r = y - g(x)` of a model :math:`g` equal to :math:`f` is
uncorrelated with every Hermite polynomial of :math:`x`. With the orthonormal multivariate Hermite
polynomials :math:`h_\\alpha(x) = He_\\alpha(x)/\\sqrt{\\alpha!}` of degree :math:`|\\alpha| = m` and
:math:`\\hat c_\\alpha` the mean of :math:`r\\,h_\\alpha(x)` over :math:`n` held-out rows, the
:math:`\\sqrt n\\,\\hat c_\\alpha/\\sigma` are then asymptotically independent standard normals
(:math:`E[h_\\alpha h_\\beta] = \\delta_{\\alpha\\beta}` and :math:`r` independent of :math:`x`), so

.. math::

    S_m = \\frac{n}{\\hat\\sigma^2}\\sum_{|\\alpha| = m}\\hat c_\\alpha^2
        = \\frac{n\\,\\|\\hat T_m\\|_F^2}{m!\\,\\hat\\sigma^2},
    \\qquad \\hat T_m = \\frac1n\\sum_i r_i\\,He_m(x_i),\\quad \\hat\\sigma^2 = \\frac1n\\sum_i r_i^2,

is :math:`\\chi^2` with :math:`D_m` degrees of freedom, the number of multi-indices (tensor
entries up to symmetry). Computed without forming a :math:`d^m` array:

- order 1, :math:`E[r\\,x]` in all :math:`d` coordinates (:math:`D_1 = d`), and order 2,
  :math:`E[r(xx^T - I)]` in all coordinates, one weighted Gram of the held-out rows
  (:math:`D_2 = d(d+1)/2`), by :math:`S_m` above;
- orders 3 and 4 in the span :math:`Q` of the model's linear part and its heaviest neurons
  (:math:`q \\le` :data:`MAX_SPAN` dimensions, :math:`D_m = \\binom{q+m-1}{m}`, at most 56 and
  126), from the features :math:`h_\\alpha(Q^Tx)` of each row. Their products are heavy-tailed (a
  row with a large :math:`|Q^Tx|` moves many :math:`\\hat c_\\alpha` at once, and :math:`S_m` then
  exceeds its :math:`\\chi^2` tail several times too often at a few thousand rows), so they are
  studentised: :math:`W_m = n\\,\\hat c^T\\hat V^{-1}\\hat c` with
  :math:`\\hat V = \\frac1n\\sum_i r_i^2 h(z_i)h(z_i)^T`, referred to Hotelling's
  :math:`\\frac{D(n-1)}{n-D}F_{D, n-D}` (a row that dominates :math:`\\hat c` dominates
  :math:`\\hat V` along the same direction, and this also holds for noise of any law or
  spread as long as :math:`E[\\xi\\mid x] = 0`).

What a large statistic says. Every bias-free ReLU network :math:`b + w\\cdot x + \\sum\\lambda_i
\\mathrm{relu}(u_i\\cdot x)` has zero Hermite moments at odd orders :math:`\\ge 3` (relu's
coefficients vanish there), and so does the difference of two of them. Order-3 structure in the
residual therefore means a target outside the model class (biases inside the ReLUs, a smooth
non-ReLU function), whatever the number of neurons; even-order structure alone (orders 2, 4) is
what missing neurons leave. Orders 1 and 2 of a least-squares fit are near zero by construction
along the fitted directions; the rows tested were also fitted on, which only lowers the null
variance (the test is conservative there).

Rows: orders 1 and 2 are summed over every held-out row read, orders 3 and 4 over the first
:data:`HIGH_ORDER_ROWS` of them (of each block on a dask source, whose blocks are summed apart;
each statistic's ``n_rows`` says how many). Their features and the :math:`D\\times D` sums of
:math:`\\hat V` (:math:`D \\le 182` in all) were half the diagnostic's time at :math:`2\\cdot10^5`
held-out rows, d = 100. That many rows keep the power where it is needed: a structure of
:data:`MIN_SHARE` of :math:`\\mathrm{Var}(y)` at :math:`D = 126` reaches the significance level
in expectation as long as the residual's variance is below 0.8 of :math:`\\mathrm{Var}(y)`
(:math:`S_m \\approx D + n\\,E_m/\\hat\\sigma^2`). Order 2 in all :math:`d(d+1)/2` coordinates would
not keep it (at d = 100 only up to 0.14 of :math:`\\mathrm{Var}(y)`), so it reads every row.

Calibration: a statistic is *significant* when its upper tail probability is below
:data:`FALSE_ALARM` divided by the number of statistics tested (Bonferroni; a statistic needs
:data:`MIN_ROWS_PER_DOF` rows per degree of freedom to be tested). It is *material* when the
structure it measures, estimated without bias as :math:`E_m = \\sum_\\alpha\\hat c_\\alpha^2 -
D_m\\hat\\sigma^2/n` (the mean square of the residual that its order-:math:`m` Hermite part
explains), is at least
:data:`MIN_SHARE` of the variance of :math:`y` and of the residual. Noiseless fits whose residual is
rounding or optimisation error (far below the noise the tests assume) are thereby not flagged.
The warning needs both.
"""

import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2
from scipy.stats import f as f_dist

from ..moments._blas import weighted_gram


# family-wise probability that a fit whose model is right warns (Bonferroni over the statistics)
FALSE_ALARM = 1e-3
# orders 3 and 4 are tested in the span of the linear part and of at most this many directions in all
MAX_SPAN = 6
# a statistic is tested only with at least this many held-out rows per degree of freedom
MIN_ROWS_PER_DOF = 5
# a significant structure warns only if it explains at least this share of Var(y) and of the residual
MIN_SHARE = 1e-3
ORDERS = (1, 2, 3, 4)
# the orders tested in the span Q, with a studentised (Wald) statistic
HIGH_ORDERS = (3, 4)
# held-out rows read by ResidualChecks.outside_the_model, the check before neurons are added after the
# refinement
OUTSIDE_ROWS = 50_000
# held-out rows of which the order-3 and order-4 statistics are made (module docstring: rows)
HIGH_ORDER_ROWS = 50_000


class ModelMisfitWarning(UserWarning):
    """The residual of the fitted model keeps structure that a right model would have removed."""


@dataclass
class ResidualStatistic:
    """One order's test: ``statistic`` :math:`S_m`, degrees of freedom :math:`D_m`, the
    :math:`\\chi^2` tail probability ``p_value``, the equivalent one-sided normal score ``z``,
    ``share`` (the estimated :math:`E_m` over :math:`\\mathrm{Var}(y)`), the verdict flags and the held-out
    rows it was made of (``n_rows``: the first ``HIGH_ORDER_ROWS`` at orders 3 and 4)."""

    order: int
    statistic: float
    dof: int
    p_value: float
    z: float
    share: float
    significant: bool
    material: bool
    n_rows: int

    @property
    def flagged(self):
        return self.significant and self.material


def multi_indices(q, m):
    """The multi-indices of degree ``m`` in ``q`` variables, as exponent rows (``D_m`` of them)."""
    rows = []
    for coords in itertools.combinations_with_replacement(range(q), m):
        rows.append(np.bincount(np.array(coords, dtype=np.intp), minlength=q))
    return np.array(rows, dtype=np.intp).reshape(-1, q)


def hermite_features(Z, exponents):
    """:math:`h_\\alpha(z) = \\prod_j He_{\\alpha_j}(z_j)/\\sqrt{\\alpha_j!}` of every row of ``Z``, one
    column per row :math:`\\alpha` of ``exponents`` (orthonormal under :math:`N(0, I_q)`). Built a
    feature at a time in a feature-major array (contiguous rows of the transpose returned)."""
    top = int(exponents.max(initial=0))
    Zt = np.ascontiguousarray(Z.T)
    table = np.empty((top + 1,) + Zt.shape)
    table[0] = 1.0
    if top:
        table[1] = Zt
    for a in range(2, top + 1):
        table[a] = Zt * table[a - 1] - (a - 1) * table[a - 2]  # He_a = z He_{a-1} - (a-1) He_{a-2}
    for a in range(2, top + 1):
        table[a] /= math.sqrt(math.factorial(a))
    H = np.empty((exponents.shape[0], Z.shape[0]))
    for col, alpha in enumerate(exponents):
        factors = np.flatnonzero(alpha)
        if factors.size == 0:
            H[col] = 1.0
            continue
        H[col] = table[alpha[factors[0]], factors[0]]
        for j in factors[1:]:
            H[col] *= table[alpha[j], j]
    return H.T


class _ResidualSums:
    """Running sums over held-out rows for :func:`residual_diagnostic` (a ``fold`` accumulator):
    :math:`\\sum r`, :math:`\\sum r^2`, :math:`\\sum rx`, :math:`\\sum rxx^T` in all coordinates, and
    for orders 3 and 4 in the span :math:`Q`, :math:`\\sum r\\,h(z)` and :math:`\\sum r^2 h(z)h(z)^T` over
    the first ``HIGH_ORDER_ROWS`` of them (``n_high``)."""

    def __init__(self, network, Q, max_rows):
        self.network, self.Q = network, Q
        d, q = Q.shape
        self.max_rows = max_rows
        self.exponents = {m: multi_indices(q, m) for m in HIGH_ORDERS} if q else {}
        self.n = self.n_high = 0
        self.sr = self.srr = self.syy = self.sy = 0.0
        self.srx = np.zeros(d)
        self.srxx = np.zeros((d, d))
        self.srh = {m: np.zeros(e.shape[0]) for m, e in self.exponents.items()}
        self.srrhh = {m: np.zeros((e.shape[0], e.shape[0])) for m, e in self.exponents.items()}

    @property
    def full(self):
        return self.n >= self.max_rows

    def merge(self, other):
        for name in ("n", "n_high", "sr", "srr", "syy", "sy", "srx", "srxx"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for m in self.exponents:
            self.srh[m] = self.srh[m] + other.srh[m]
            self.srrhh[m] = self.srrhh[m] + other.srrhh[m]
        return self

    def add(self, X, y):
        """Add held-out rows ``X`` with labels ``y``."""
        if X.shape[0] == 0:
            return
        r = y - self.network.evaluate_trusted(X)
        self.n += X.shape[0]
        self.sr += r.sum()
        self.srr += r @ r
        self.sy += y.sum()
        self.syy += y @ y
        self.srx += r @ X
        self.srxx += weighted_gram(X, r)
        high = min(X.shape[0], HIGH_ORDER_ROWS - self.n_high)
        if self.exponents and high > 0:
            Z = X[:high] @ self.Q
            self.n_high += high
            for m, exponents in self.exponents.items():
                rH = hermite_features(Z, exponents) * r[:high, None]
                self.srh[m] += rH.sum(axis=0)
                self.srrhh[m] += rH.T @ rH


def _chunk(acc, X, y, held):
    room = acc.max_rows - acc.n
    if room <= 0:
        return
    rows = np.flatnonzero(held)[:room]
    if rows.size:
        acc.add(np.ascontiguousarray(X[rows]), np.asarray(y[rows], dtype=np.float64))


def diagnostic_span(network, max_span=MAX_SPAN):
    """Orthonormal columns spanning the network's linear part and its heaviest neurons (by
    :math:`|\\lambda_i|\\,\\|u_i\\|`), at most ``max_span`` of them."""
    U = network.hidden_weights
    order = np.argsort(-np.abs(network.output_weights) * np.linalg.norm(U, axis=1), kind="stable")
    M = np.vstack([network.linear_weights[None], U[order]])
    M = M[np.linalg.norm(M, axis=1) > 0][:max_span]
    if M.shape[0] == 0:
        return np.zeros((network.n_features, 0))
    left, s, _ = np.linalg.svd(M.T, full_matrices=False)
    return np.ascontiguousarray(left[:, s > 1e-8 * s[0]])


def _wald(c, V, n):
    """:math:`n\\,c^TV^{+}c` and its Hotelling tail probability (``F(D, n - D)`` after scaling)."""
    D = c.size
    evals, evecs = np.linalg.eigh(V)
    keep = evals > 1e-12 * max(evals[-1], 1e-300)
    proj = evecs[:, keep].T @ c
    W = float(n * np.sum(proj**2 / evals[keep]))
    p = float(f_dist.sf(W * (n - D) / (D * (n - 1)), D, n - D))
    return W, p


def _statistics(acc, var_y):
    """The :class:`ResidualStatistic` of every order testable with the rows summed."""
    n = acc.n
    d = acc.Q.shape[0]
    sigma2 = acc.srr / n
    squares = {1: float(acc.srx @ acc.srx) / n**2}
    T2 = acc.srxx / n - (acc.sr / n) * np.eye(d)
    squares[2] = float(np.sum(T2 * T2)) / 2.0
    dofs = {1: d, 2: d * (d + 1) // 2}
    rows = dict.fromkeys(ORDERS, n)
    for m, e in acc.exponents.items():
        rows[m] = acc.n_high
        squares[m] = float(acc.srh[m] @ acc.srh[m]) / rows[m] ** 2
        dofs[m] = e.shape[0]
    tested = [m for m in ORDERS if m in squares and rows[m] >= MIN_ROWS_PER_DOF * dofs[m]]
    level = FALSE_ALARM / max(len(tested), 1)
    out = []
    for m in tested:
        D = dofs[m]
        if m in acc.exponents:
            S, p = _wald(acc.srh[m] / rows[m], acc.srrhh[m] / rows[m], rows[m])
        else:
            S = n * squares[m] / sigma2 if sigma2 > 0 else 0.0
            p = float(chi2.sf(S, D))
        share = max(squares[m] - D * sigma2 / rows[m], 0.0) / var_y
        material = share >= MIN_SHARE and share >= MIN_SHARE * sigma2 / var_y
        out.append(ResidualStatistic(m, float(S), D, p, _normal_score(S, D), float(share), p < level, bool(material),
                                     int(rows[m])))
    return out, sigma2


def _normal_score(S, D):
    """The standard normal score of :math:`\\chi^2_D` at ``S`` by the Wilson–Hilferty cube root (no
    underflow of the tail probability far out)."""
    v = 2.0 / (9.0 * D)
    return float(((S / D) ** (1.0 / 3.0) - (1.0 - v)) / np.sqrt(v))


def residual_diagnostic(source, network, max_rows=None):
    """The residual diagnostic of ``network`` on the held-out rows of ``source`` (one fold; only
    held-out rows are read, at most ``max_rows`` of them).

    Returns
    -------
    dict
        ``statistics`` (a list of :class:`ResidualStatistic`), ``n_rows``, ``residual_share``
        (mean square of the residual over :math:`\\mathrm{Var}(y)` on those rows), ``verdict``
        (``"fits"``, ``"wrong model"``, ``"more neurons"``, ``"not converged"`` or ``"untested"``)
        and ``message`` (``None`` unless the verdict is a warning).
    """
    Q = diagnostic_span(network)
    acc = source.fold(_ResidualSums(network, Q, max_rows or np.iinfo(np.int64).max), _chunk)
    if acc.n < 2:
        return {"statistics": [], "n_rows": acc.n, "residual_share": float("nan"), "verdict": "untested",
                "message": None, "false_alarm": FALSE_ALARM}
    var_y = acc.syy / acc.n - (acc.sy / acc.n) ** 2
    var_y = var_y if var_y > 0 else 1.0
    stats, sigma2 = _statistics(acc, var_y)
    verdict, message = _verdict(stats, sigma2 / var_y, acc.n)
    return {"statistics": stats, "n_rows": acc.n, "residual_share": float(sigma2 / var_y), "verdict": verdict,
            "message": message, "false_alarm": FALSE_ALARM}


class ResidualChecks:
    """The residual diagnostics of one fit's ``source``: :meth:`outside_the_model` before neurons
    are grown back, and :meth:`final` of the fitted network."""

    def __init__(self, source):
        self.source = source
        self._checked = (None, None)

    def outside_the_model(self, network):
        """Whether the residual of ``network`` on at most ``OUTSIDE_ROWS`` held-out rows has
        odd-order structure (verdict ``"wrong model"`` of :func:`residual_diagnostic`): a target
        outside the bias-free model class whatever the number of neurons."""
        diagnostic = residual_diagnostic(self.source, network, OUTSIDE_ROWS)
        self._checked = (network, diagnostic)
        return diagnostic["verdict"] == "wrong model"

    def final(self, network):
        """:func:`residual_diagnostic` of ``network`` on every held-out row: the one
        :meth:`outside_the_model` made, when it was of this network and read every held-out row
        (the same rows in the same order, so the same sums)."""
        checked, diagnostic = self._checked
        if checked is network and diagnostic["n_rows"] == self.source.n_validation:
            return diagnostic
        return residual_diagnostic(self.source, network)


def _figure(s):
    return (f"order {s.order}: {100 * s.share:.3g}% of Var(y), {s.z:.1f} standard errors "
            f"(chi2 {s.statistic:.4g} on {s.dof} dof)")


def _verdict(stats, residual_share, n_rows):
    flagged = {s.order: s for s in stats if s.flagged}
    if not stats:
        return "untested", None
    if not flagged:
        return "fits", None
    head = (f"the residual of the fit (mean square {100 * residual_share:.3g}% of Var(y) on {n_rows} held-out rows) "
            "keeps Hermite structure far beyond its sampling error")
    if 3 in flagged:
        return "wrong model", (
            f"{head} at odd order ({_figure(flagged[3])}), which no ReLU network without biases has: the target is "
            "outside the model class b + w.x + sum lambda relu(u.x), likely biases inside the ReLUs (shifted units) "
            "or a smooth non-ReLU function; more neurons will not fix it")
    even = [flagged[m] for m in (2, 4) if m in flagged]
    if even:
        return "more neurons", (
            f"{head} at even order only ({'; '.join(_figure(s) for s in even)}), which is what missing neurons leave "
            "(odd orders, which a target outside the model would show, are clean): fit with more neurons "
            "(a larger n_neurons, or n_neurons=None with a larger max_auto_neurons), or more rows if the neurons "
            "are close")
    return "not converged", (
        f"{head} at order 1 ({_figure(flagged[1])}): the residual is correlated with x, so the fit is not a "
        "least-squares optimum of the data (a few labels far out, see any warning on y, or a refinement that did "
        "not converge: refine=True, a larger refine_max_iter)")


def warn_misfit(diagnostic, stacklevel=3):
    """Raise a :class:`ModelMisfitWarning` with the diagnostic's message, if it has one."""
    if diagnostic["message"]:
        warnings.warn(diagnostic["message"], ModelMisfitWarning, stacklevel=stacklevel)
