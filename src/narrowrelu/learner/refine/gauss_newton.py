"""Matrix-free Gauss–Newton refinement of a ReLU network at the cost of a few passes.

Minimises :math:`L(\\theta) = \\sum_i (f_\\theta(x_i) - y_i)^2` over all rows of a source, for
:math:`f(x) = b + w\\cdot x + \\sum_j\\lambda_j\\mathrm{relu}(u_j\\cdot x)`, starting from a
:math:`\\sqrt n`-consistent network (the raw moment solution). Each pass over the data costs
:math:`O(nkd)` and never forms the Jacobian :math:`J` (see :mod:`narrowrelu.learner.refine._kernels`):

* a *gradient pass* gives :math:`L` and :math:`g = J^Tr` at the current point;
* a *product pass* gives :math:`J^TJv` for one direction :math:`v` (used by conjugate gradients);
  where the rows are in memory it reads the neurons' projections :math:`u_j\\cdot x_i` that the
  gradient pass at the same point kept (two ``(n, k)`` buffers of the source, at most
  ``PROJECTION_BUFFER_BYTES``), :math:`k + 1` dot products per row instead of :math:`2k + 1`.

The normal equations :math:`J^TJ\\delta = -g` are solved with the closed-form Gaussian Fisher
matrix :math:`F = E[\\nabla f\\nabla f^T]` (:mod:`narrowrelu.learner.refine.fisher`), for which
:math:`J^TJ/n = F + O_P(1/\\sqrt n)`:

* ``method="fisher"``: Fisher scoring, :math:`\\delta = -(nF)^{-1}g`: one gradient pass per
  iteration. From a :math:`\\sqrt n`-consistent start one step is Le Cam's efficient one-step
  estimator and a second step removes the start's higher-order error; on noiseless data it
  converges linearly, by the factor :math:`\\|I - (nF)^{-1}J^TJ\\|` per step.
* ``method="cg"``: inexact Gauss–Newton, conjugate gradients on the data's :math:`J^TJ`
  preconditioned by :math:`nF` (a product pass per CG iteration).
* ``method="auto"`` (default): Fisher scoring while it contracts fast enough, conjugate
  gradients once the predicted decrease shrinks by less than ``auto_switch`` per step at two
  steps in a row (few rows per parameter, where :math:`J^TJ/n` is far from :math:`F`; the
  early steps from a distant start are slow for nonlinearity, which CG does not cure, hence
  the two steps).

Gauge: relu is positively homogeneous, so :math:`(u_j, \\lambda_j)\\to(cu_j, \\lambda_j/c)` leaves
:math:`f` unchanged; :math:`J^TJ` and :math:`F` are singular along :math:`\\delta u_j = u_j`,
:math:`\\delta\\lambda_j = -\\lambda_j`. The preconditioner adds the rank-one terms of those ``k``
directions (after a Jacobi scaling of :math:`F`) plus a tiny relative ridge, so steps carry no
gauge component and (near-)duplicate or dead neurons do not break the Cholesky factorisation
(an eigen-decomposition with a pseudo-inverse is the fallback).

Safeguards: a step that does not lower :math:`L` (or gives a non-finite loss) is halved, the
gradient pass at the trial point giving its loss; when no halving helps the best iterate is
returned with ``converged=True``. Parameters are never non-finite.

Stopping: with :math:`\\hat\\sigma^2 = L/(n-p)`, the efficient estimator's excess sum of squares
is :math:`\\approx\\hat\\sigma^2p`; the step's predicted decrease :math:`-g^T\\delta` (the decrease of
the Gauss–Newton model, :math:`\\approx n\\,\\|\\theta-\\hat\\theta\\|_F^2`) is what the step can
still gain. Stop when it is at most ``noise_tol`` :math:`\\hat\\sigma^2p` (the remaining excess is
then below ``noise_tol`` times the parametric rate), when it or the realised decrease is at most
``rtol`` :math:`L` (noiseless data at rounding level), or after ``max_iter`` iterations.

Why ``noise_tol = 1e-2`` (measured, raw moment start, noise 0.1 std f, 4 seeds each at
n = 2e5, d = 100, k = 5 and n = 5e4, d = 200, k = 3): the predicted decrease in units of
:math:`\\hat\\sigma^2p` is about 2 at the start, 0.015-0.05 after one Fisher step, 0.001-0.02
after two, and then plateaus at 3e-4 to 3e-3 (the empirical loss is only piecewise smooth, so
Fisher scoring does not settle below that), while further steps move the excess risk by at most
about 0.01 of the rate, up or down. A threshold of 1e-3 would therefore often run to
``max_iter`` for nothing; 1e-2 stops after 2-3 gradient passes, leaving at most about 1% of the
rate, well below the sampling spread of the excess itself (relative sd about
:math:`\\sqrt{2/p}`, 6% at p = 606). On fewer rows per parameter the stopping point matters more:
on the small-n race's 36 fits (d = 20, n = 10⁴, 50-160 rows per parameter) ``noise_tol = 1e-3``
moved the errors by a median 0 but up to 14% of themselves either way, for 1.4 times the time
(docs/results/recovery.md): near a minimum the loss is flat to second order, the population
error moves to first order. ``rtol = 1e-14`` relative to :math:`n\\,\\mathrm{Var}f_\\theta`
stops noiseless fits at a relative population MSE of about 1e-14 (before reaching the rounding
floor near 1e-31, where progress stalls); noiseless fits take 3-7 iterations.

Abandoning (``abandon_above``): a start or a split try that is refined only to be compared with
a best loss :math:`L^*` found before is given up once :math:`L - 4\\,(-g^T\\delta) > L^*` after its
first step: the Gauss–Newton model predicts a remaining decrease of :math:`-g^T\\delta/2` to its
local minimum, so the try ends above :math:`L^*` unless the model is off by more than a factor 8.

Sums over row blocks are added in block order with BLAS pinned to one thread, so the result
does not depend on ``n_jobs``. Kept or recomputed, the projections give the same iterates to
rounding (the two kernels may round a product's last bit apart: at d = 50 the refined parameters
of the two differ by about 1e-16 relative).
"""

from dataclasses import dataclass

import numpy as np

from ..._parallel import one_blas_thread, ordered_map
from ..._validation import check_data, check_positive_int
from ...metrics import population_inner_product, population_variance
from ...network import ReLUNetwork, as_relu_network, unpack_parameters
from ..sources import ArraySource
from ._kernels import (gauss_newton_product_block, gauss_newton_product_block_cached, gradient_block,
                       gradient_block_projections)
from .result import RefinementResult
from .fisher import FisherPreconditioner

DEFAULT_BLOCK_ROWS = 4096
DEFAULT_CHUNK_SIZE = 65_536
# a try is abandoned when its loss minus this many predicted decreases is above the best loss
ABANDON_FACTOR = 4.0
ABANDONED = "abandoned: above the best loss"
# the projections u_j . x_i of the current point and of a trial point are kept for the product
# passes when the rows are in memory and the two buffers, 2 n k float64, take at most this many bytes
PROJECTION_BUFFER_BYTES = 2**28


@dataclass
class GaussNewtonResult(RefinementResult):
    """:class:`narrowrelu.learner.refine.result.RefinementResult` plus pass counts and the step diagnostics."""

    n_gradient_passes: int = 0
    n_product_passes: int = 0
    # per iteration: the predicted decrease of the sum of squares, divided by sigma_hat^2 p
    predicted_decreases: list = None
    stop_reason: str = ""

    @property
    def n_passes(self):
        return self.n_gradient_passes + self.n_product_passes


def _to_vector(G, s, k):
    """Kernel output layout -> parameter order (u_1..u_k, lambda, w, b)."""
    return np.concatenate([G[:k].ravel(), s[:k], G[k], s[k: k + 1]])


class _GradientSums:
    """Running sums of a gradient or product pass (an accumulator for ``source.fold``)."""

    def __init__(self, k, d):
        self.G = np.zeros((k + 1, d))
        self.s = np.zeros(k + 2)
        self.rows = 0

    def add(self, G, s, rows):
        self.G += G
        self.s += s
        self.rows += rows

    def merge(self, other):
        self.add(other.G, other.s, other.rows)
        return self


class _Passes:
    """Gradient and Gauss–Newton product passes over a source, summed in block order.

    With ``buffers`` (two arrays of shape ``(n, k)``, the rows in memory), a gradient pass also
    keeps each row's projections :math:`u_j\\cdot x_i` in one of them: that of the current point,
    or with ``trial`` the other, which :meth:`accept` makes current; the product passes then read
    the current point's instead of recomputing them."""

    def __init__(self, source, k, d, block_rows, n_jobs, buffers=None):
        self.source, self.k, self.d = source, k, d
        self.block_rows, self.n_jobs = block_rows, n_jobs
        self.n_gradient = 0
        self.n_product = 0
        self.buffers = buffers
        self.current = 0

    def _sum(self, fill):
        """The sums over every block of rows of one pass, added in block order, of what
        ``fill(X, y, start, G, s)`` adds into zeroed buffers ``G`` (k+1, d) and ``s`` (k+2) for the
        block of rows ``start, start + 1, ...`` of the source."""
        k, d, block_rows, n_jobs = self.k, self.d, self.block_rows, self.n_jobs
        offset = [0]

        def block(item):
            X, y, start = item
            G, s = np.zeros((k + 1, d)), np.zeros(k + 2)
            fill(X, y, start, G, s)
            return G, s, X.shape[0]

        def chunk(acc, X, y, _):
            X = np.ascontiguousarray(X, dtype=np.float64)
            y = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
            m, first = X.shape[0], offset[0]
            offset[0] += m
            blocks = ((X[s:min(s + block_rows, m)], y[s:min(s + block_rows, m)], first + s)
                      for s in range(0, m, block_rows))
            for bG, bs, rows in ordered_map(block, blocks, n_jobs):
                acc.add(bG, bs, rows)

        acc = self.source.fold(_GradientSums(self.k, self.d), chunk)
        return acc.G, acc.s, acc.rows

    def gradient(self, theta, trial=False):
        """``(L, g, n)``: the sum of squared residuals, :math:`J^Tr` and the row count; the
        projections kept (with buffers) are the current point's, or with ``trial`` a trial point's."""
        k, d = self.k, self.d
        U, lam, w, b = unpack_parameters(theta, k, d)
        W = np.ascontiguousarray(np.vstack([U, w[None, :]]))
        lam = np.ascontiguousarray(lam)
        b = float(b)
        if self.buffers is None:
            G, s, rows = self._sum(lambda X, y, start, G, s: gradient_block(X, y, W, lam, b, G, s))
        else:
            Zu = self.buffers[1 - self.current if trial else self.current]
            G, s, rows = self._sum(lambda X, y, start, G, s: gradient_block_projections(
                X, y, W, lam, b, G, s, Zu[start:start + X.shape[0]]))
        self.n_gradient += 1
        return float(s[k + 1]), _to_vector(G, s, k), rows

    def accept(self):
        """The trial point of the last gradient pass becomes the current point."""
        self.current = 1 - self.current

    def product(self, theta, v):
        """``(J^TJv, ||Jv||^2)`` at the current point ``theta``."""
        k, d = self.k, self.d
        U, lam, _, _ = unpack_parameters(theta, k, d)
        vU, vlam, vw, vb = unpack_parameters(v, k, d)
        lam = np.ascontiguousarray(lam)
        vlam = np.ascontiguousarray(vlam)
        vb = float(vb)
        if self.buffers is None:
            P = np.ascontiguousarray(np.vstack([U, vU, vw[None, :]]))
            G, s, _ = self._sum(lambda X, y, start, G, s: gauss_newton_product_block(X, P, lam, vlam, vb, G, s))
        else:
            Q = np.ascontiguousarray(np.vstack([vU, vw[None, :]]))
            Zu = self.buffers[self.current]
            G, s, _ = self._sum(lambda X, y, start, G, s: gauss_newton_product_block_cached(
                X, Zu[start:start + X.shape[0]], Q, lam, vlam, vb, G, s))
        self.n_product += 1
        return _to_vector(G, s, k), float(s[k + 1])


def _projection_buffers(source, k):
    """Two ``(n, k)`` buffers for :class:`_Passes`, reused from the source, when its rows are in
    memory and they take at most ``PROJECTION_BUFFER_BYTES``; else ``None``."""
    if k == 0 or source.rows_in_memory() is None:
        return None
    if 2 * source.n_samples * k * np.dtype(np.float64).itemsize > PROJECTION_BUFFER_BYTES:
        return None
    return source.row_buffers(k, 2)


def _pcg(passes, theta, g, M, n, max_iter, tol):
    """Conjugate gradients on :math:`J^TJ\\delta = -g` preconditioned by :math:`nF`, from zero.

    Stops when the preconditioned residual norm has dropped by ``tol``, or after ``max_iter``
    product passes. Returns the last finite iterate (the Fisher step scaled optimally after one
    iteration)."""
    x = np.zeros_like(g)
    r = -g
    z = M.solve(r) / n
    p = z.copy()
    rz = r @ z
    rz0 = rz
    for _ in range(max_iter):
        Hp, pHp = passes.product(theta, p)
        pHp = p @ Hp
        if not (np.isfinite(pHp) and pHp > 0):
            break
        alpha = rz / pHp
        x_new = x + alpha * p
        if not np.all(np.isfinite(x_new)):
            break
        x = x_new
        r = r - alpha * Hp
        z = M.solve(r) / n
        rz_new = r @ z
        if not np.isfinite(rz_new) or rz_new <= tol * tol * rz0:
            break
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x


def gauss_newton(
    network,
    source,
    *,
    max_iter=30,
    method="auto",
    noise_tol=1e-2,
    rtol=1e-14,
    cg_max_iter=10,
    cg_tol=1e-3,
    auto_switch=0.3,
    max_halvings=20,
    ridge=1e-10,
    n_jobs=1,
    block_rows=DEFAULT_BLOCK_ROWS,
    abandon_above=None,
):
    """Refine ``network`` on all rows of ``source`` (held-out masks are ignored).

    Parameters
    ----------
    network : ReLUNetwork (or anything with ``relu_network()``)
        The start, e.g. the raw moment solution.
    source : ArraySource, OracleSource or any replayable source
        ``chunks()`` yields ``(X_block, y_block, held_out)``; each iteration replays it.
    max_iter : int, default=30
        Maximum number of outer (Gauss–Newton) iterations.
    method : {"auto", "fisher", "cg"}, default="auto"
        How the normal equations are solved (module docstring).
    noise_tol : float, default=1e-2
        Stop when the predicted decrease of the sum of squares is at most
        ``noise_tol * sigma_hat^2 * p``: the step could lower the excess risk by at most
        ``noise_tol`` times the parametric rate :math:`\\sigma^2p/n`.
    rtol : float, default=1e-14
        Stop when the predicted or the realised decrease is at most ``rtol`` times the loss.
    cg_max_iter : int, default=10
        Product passes per outer iteration when conjugate gradients are used.
    cg_tol : float, default=1e-3
        Relative reduction of the preconditioned residual norm that ends conjugate gradients.
    auto_switch : float, default=0.3
        ``method="auto"`` switches from Fisher scoring to conjugate gradients when the
        predicted decrease shrinks by less than this factor per step at two steps in a row.
    max_halvings : int, default=20
        Step halvings (each a gradient pass) before giving up on an iteration.
    ridge : float, default=1e-10
        Ridge added to the Jacobi-scaled Fisher matrix (unit diagonal).
    n_jobs : int, default=1
        Threads over row blocks; the result is bit-identical for every value.
    block_rows : int, default=4096
        Rows per kernel call.
    abandon_above : float or None, default=None
        A mean squared residual to beat: after the first step, stop (``stop_reason`` =
        ``ABANDONED``, ``converged=False``) once the loss minus ``ABANDON_FACTOR`` predicted
        decreases is above it (module docstring).

    Returns
    -------
    GaussNewtonResult
        A :class:`narrowrelu.learner.refine.result.RefinementResult`: ``network``, ``loss`` (final mean squared
        residual), ``n_iter``, ``converged``, ``losses`` (mean loss of each accepted iterate,
        start first), plus pass counts, the predicted decreases (in units of
        :math:`\\hat\\sigma^2p`) and ``stop_reason``.
    """
    network = as_relu_network(network)
    if method not in ("auto", "fisher", "cg"):
        raise ValueError(f"method must be 'auto', 'fisher' or 'cg', got {method!r}")
    max_iter = check_positive_int(max_iter, "max_iter", minimum=0)
    n_jobs = check_positive_int(n_jobs, "n_jobs")
    block_rows = check_positive_int(block_rows, "block_rows")
    k, d = network.n_neurons, network.n_features
    if source.n_features != d:
        raise ValueError(f"the source has {source.n_features} features, the network {d}")
    p = k * d + k + d + 1
    with one_blas_thread():
        return _solve(
            network, source, k, d, p, max_iter, method, noise_tol, rtol, cg_max_iter, cg_tol,
            auto_switch, max_halvings, ridge, n_jobs, block_rows, abandon_above,
        )


def _solve(network, source, k, d, p, max_iter, method, noise_tol, rtol, cg_max_iter, cg_tol,
           auto_switch, max_halvings, ridge, n_jobs, block_rows, abandon_above):
    passes = _Passes(source, k, d, block_rows, n_jobs, _projection_buffers(source, k))
    theta = network.to_vector()
    loss, g, n = passes.gradient(theta)
    losses = [loss / max(n, 1)]
    predicted = []
    use_cg = method == "cg"
    converged = False
    reason = "max_iter"
    it = 0

    def result(theta, loss):
        U, lam, w, b = unpack_parameters(theta, k, d)
        return GaussNewtonResult(
            ReLUNetwork(U, lam, w, b), float(loss / max(n, 1)), it, converged, losses,
            passes.n_gradient, passes.n_product, predicted, reason,
        )

    if not np.isfinite(loss) or not np.all(np.isfinite(g)):
        reason = "non-finite loss at the start"
        return result(theta, loss)

    previous_pred = None
    slow_steps = 0
    for it in range(1, max_iter + 1):
        if loss == 0.0:
            converged, reason = True, "zero loss"
            it -= 1
            break
        M = FisherPreconditioner(theta, k, d, ridge)
        if use_cg:
            delta = _pcg(passes, theta, g, M, n, cg_max_iter, cg_tol)
        else:
            delta = -M.solve(g) / n
        if not np.all(np.isfinite(delta)):
            delta = -g * (1e-3 / max(np.linalg.norm(g), 1e-300))  # a tiny gradient step
        pred = float(-(g @ delta))
        sigma2p = loss / max(n - p, 1) * p
        predicted.append(pred / sigma2p if sigma2p > 0 else np.inf)
        if pred <= noise_tol * sigma2p:
            converged, reason = True, "predicted decrease below the noise level"
            it -= 1
            break
        scale = n * _variance_scale(theta, k, d)
        if pred <= rtol * scale:
            converged, reason = True, "predicted decrease below rtol"
            it -= 1
            break
        if abandon_above is not None and it > 1 and loss - ABANDON_FACTOR * pred > abandon_above * n:
            reason = ABANDONED
            it -= 1
            break
        if method == "auto" and not use_cg and previous_pred is not None:
            slow_steps = slow_steps + 1 if pred > auto_switch * previous_pred else 0
            if slow_steps >= 2:
                # Fisher scoring contracts too slowly here (F is too far from J^TJ / n in the
                # directions that matter): conjugate gradients on J^TJ from now on, this step too
                use_cg = True
                delta_cg = _pcg(passes, theta, g, M, n, cg_max_iter, cg_tol)
                if np.all(np.isfinite(delta_cg)):
                    delta = delta_cg
        previous_pred = pred
        accepted = False
        for _ in range(max_halvings + 1):
            trial = theta + delta
            if np.all(np.isfinite(trial)):
                t_loss, t_g, _ = passes.gradient(trial, trial=True)
                if np.isfinite(t_loss) and t_loss < loss and np.all(np.isfinite(t_g)):
                    accepted = True
                    break
            delta = 0.5 * delta
        if not accepted:
            converged, reason = True, "no decrease along the step"
            break
        decrease = loss - t_loss
        theta, loss, g = trial, t_loss, t_g
        passes.accept()
        losses.append(loss / n)
        if decrease <= rtol * scale:
            converged, reason = True, "relative decrease below rtol"
            break
    return result(theta, loss)


def _variance_scale(theta, k, d):
    """:math:`\\mathrm{Var} f_\\theta` for Gaussian inputs (closed form), or :math:`E f_\\theta^2` for a
    constant network: the scale of the relative tolerance ``rtol``."""
    U, lam, w, b = unpack_parameters(theta, k, d)
    net = ReLUNetwork(U, lam, w, b)
    v = population_variance(net)
    if not v > 0:
        v = population_inner_product(net, net)
    return max(v, 1e-300)


def gauss_newton_arrays(network, X, y, *, chunk_size=DEFAULT_CHUNK_SIZE, **kwargs):
    """:func:`gauss_newton` on in-memory data (all rows used); ``kwargs`` go to it."""
    X, y = check_data(X, y)
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    source = ArraySource(X, y, np.zeros(X.shape[0], dtype=bool), chunk_size)
    return gauss_newton(network, source, **kwargs)
