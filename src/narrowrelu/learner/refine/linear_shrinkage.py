r"""The linear part of the refined network shrunk towards zero (positive-part James–Stein).

Near the least-squares fit :math:`\hat\theta` of :math:`n` rows with Gaussian inputs and
label noise of variance :math:`\sigma^2`, :math:`\hat\theta\approx N(\theta, \sigma^2(nF)^{-1})`
(:math:`F` the Gaussian Fisher matrix, :mod:`~narrowrelu.learner.refine.fisher`), and the
population excess MSE of any nearby network :math:`\theta'` is
:math:`(\theta'-\theta)^TF(\theta'-\theta)` to second order. Split :math:`\theta = (\eta, w)`,
:math:`w` the linear part. Moving :math:`w` by :math:`\Delta w` and the rest by
:math:`\Delta\eta = -F_{\eta\eta}^+F_{\eta w}\Delta w` (what the other parameters take up of
the change: the least-squares correction of the Gauss–Newton model) leaves the first term of

.. math::

    (\theta'-\theta)^TF(\theta'-\theta)
      = \|\delta_\eta + F_{\eta\eta}^+F_{\eta w}\delta_w\|^2_{F_{\eta\eta}} + \delta_w^TS\,\delta_w,
    \qquad S = F_{ww} - F_{w\eta}F_{\eta\eta}^+F_{\eta w} = \big([F^+]_{ww}\big)^{-1},

unchanged, and :math:`\hat w\approx N(w, \sigma^2(nS)^{-1})`. The estimate of a Gaussian mean in
:math:`d\ge 3` dimensions under the loss :math:`\delta_w^TS\delta_w` is improved for every
:math:`w` by the positive-part James–Stein estimator (Stein 1956; James and Stein 1961;
Baranchik 1964; with the variance estimated on :math:`\nu` degrees of freedom, Lehmann and
Casella, *Theory of Point Estimation*, §5.5):

.. math::

    \tilde w = \Big(1 - \frac{(d-2)\,\nu}{(\nu+2)\,T}\Big)_+\hat w,\qquad
    T = \frac{n\,\hat w^TS\hat w}{\hat\sigma^2},\quad \hat\sigma^2 = \frac{\mathrm{RSS}}{\nu},
    \quad \nu = n - p.

:math:`T` is the Wald statistic of :math:`w = 0`, about :math:`\chi^2_d` there. Where :math:`w = 0`
(a network without a skip connection, every planted teacher of the benchmarks) the excess of
the :math:`w` block drops from about :math:`d\sigma^2/n` to below :math:`2\sigma^2/n`: at
:math:`d = 20`, :math:`k = 2` (:math:`p = 63`) the refined excess falls to about 0.7 of the
parametric rate :math:`\sigma^2p/n`; where :math:`w` is far from zero (:math:`T\gg d`) the factor
is close to 1 and the fit is the least-squares one. Neither a least-squares fit of the model
nor any unbiased estimate reaches below the rate: this is the one shrinkage whose risk is
never above theirs, to the order of the Gaussian approximation (a well-specified model,
noise independent of :math:`x`).

The Fisher system is solved with the gauge fixed (:class:`~narrowrelu.learner.refine.fisher.FisherPreconditioner`):
its gauge directions have no :math:`w` part, so its :math:`w` block is that of :math:`F^+`. The step
moves :math:`f` by :math:`(1-c)^2\hat w^TS\hat w` to second order; one that moves it by more than
``QUADRATIC_MODEL_SLACK`` times that is refused (a near-antiparallel pair of neurons makes any
linear part between them: :math:`w` is then nearly unidentified, and the neurons would absorb it
at first order only).
"""

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from ...metrics import population_mse, population_variance
from ...network import ReLUNetwork, n_parameters, unpack_parameters
from .fisher import FisherPreconditioner

# the ridge of the Fisher system, relative to its unit diagonal (as Gauss-Newton's)
RIDGE = 1e-10
# eigenvalues of an information matrix below this share of its largest are its null space (the gauge)
PINV_RCOND = 1e-10
# the step is kept when it moves f by at most this multiple of its second-order prediction
QUADRATIC_MODEL_SLACK = 2.0
# plus this share of Var f (rounding)
ROUNDING = 1e-12
# James-Stein needs at least this many linear weights
MIN_FEATURES = 3


def shrink_linear_part(network, mean_squared_residual, n_samples, information=None):
    r"""``network`` (a least-squares fit on ``n_samples`` rows with training MSE
    ``mean_squared_residual``) with its linear part shrunk by the positive-part James–Stein
    factor and the other parameters corrected (module docstring), after the neurons are turned
    (:func:`turn_neurons`) so that the linear part is as small as the function allows.

    ``information`` (``None``: the closed-form Gaussian Fisher matrix) is a function giving, for
    a network, the information matrix of its parameters in the layout of
    ``to_vector(biased=network.has_biases)``: the fit's :math:`J^TJ/n` on its rows, for a
    network with hidden biases (whose Gaussian Fisher matrix has no closed form here; without
    ``information`` such a network is left as it is).

    Returns
    -------
    network : ReLUNetwork
        The shrunk network (``network`` itself when nothing is shrunk or turned).
    report : dict
        ``factor`` (the James–Stein factor applied to :math:`w`, 1 when none), ``statistic``
        (the Wald statistic :math:`T` of :math:`w = 0`, NaN when not computed), ``turned`` (the
        neurons turned) and ``skipped`` (why no shrinkage was tried, else ``""``).
    """
    k, d = network.n_neurons, network.n_features
    biased = network.has_biases
    nu = n_samples - n_parameters(k, d, biased)
    given = network

    def unchanged(why, statistic=float("nan")):
        return given, {"factor": 1.0, "statistic": float(statistic), "turned": [], "skipped": why}

    if biased and information is None:
        return unchanged("the network has hidden biases and no information matrix was given")
    if d < MIN_FEATURES:
        return unchanged(f"fewer than {MIN_FEATURES} features")
    if nu <= 0:
        return unchanged("no more rows than parameters")
    if not (np.isfinite(mean_squared_residual) and mean_squared_residual > 0):
        return unchanged("no residual to estimate the noise from")
    sigma2 = mean_squared_residual * n_samples / nu
    network, turned, wald = turn_neurons(network, n_samples, sigma2, information)
    if wald is None:
        return unchanged("the linear part's information block is singular")
    statistic, columns, z = wald
    threshold = (d - 2) * nu / (nu + 2.0)
    factor = max(0.0, 1.0 - threshold / statistic) if statistic > 0 else 0.0
    report = {"factor": float(factor), "statistic": float(statistic), "turned": turned, "skipped": ""}
    if factor == 1.0:
        return network, report
    theta = network.to_vector(biased=biased)
    w_index = _linear_slice(k, d)
    w = theta[w_index].copy()
    theta += (factor - 1.0) * (columns @ z)
    theta[w_index] = factor * w
    shrunk = ReLUNetwork(*unpack_parameters(theta, k, d, biased=biased))
    # the step moves f by (1 - c)^2 w'Sw to second order; where it moves it by more, the
    # information is near-singular in w (a near-antiparallel pair makes any linear part: the
    # neurons would absorb w at first order only) and the step leaves the quadratic model
    predicted = (1.0 - factor) ** 2 * statistic * sigma2 / n_samples
    moved = population_mse(shrunk, network)
    if not moved <= QUADRATIC_MODEL_SLACK * predicted + ROUNDING * population_variance(network):
        return unchanged(f"the step would move f by {moved:.3g}, {moved / max(predicted, 1e-300):.3g} times its "
                         "second-order prediction (a near-redundant pair of neurons)", statistic)
    return shrunk, report


def turn_neurons(network, n_samples, sigma2, information=None):
    r"""The same function with the neurons turned that make the Wald statistic of :math:`w = 0`
    smallest, greedily one at a time: as :math:`\mathrm{relu}(t) = \mathrm{relu}(-t) + t`,

    .. math::

        \lambda\,\mathrm{relu}(u\cdot x + \beta) + w\cdot x + b = \lambda\,\mathrm{relu}(-u\cdot x - \beta)
          + (w + \lambda u)\cdot x + b + \lambda\beta,

    and a least-squares fit can end in either form (a neuron fitted as its mirror, the linear
    part making up the difference); only the form with the smaller linear part lets the
    shrinkage act. A turn is tried where it shortens :math:`w` and kept where it lowers the
    statistic. Returns the network, the neurons turned, and ``(T, columns, z)`` of
    :func:`wald_statistic` at it (``None`` when its information block is singular)."""
    turned = []
    wald = wald_statistic(network, n_samples, sigma2, information)
    while wald is not None:
        U, lam, w = network.hidden_weights, network.output_weights, network.linear_weights
        beta = network.hidden_biases
        best = None
        for j in range(network.n_neurons):
            if j in turned or not np.linalg.norm(w + lam[j] * U[j]) < np.linalg.norm(w):
                continue
            V, flipped = U.copy(), beta.copy()
            V[j], flipped[j] = -U[j], -beta[j]
            candidate = ReLUNetwork(V, lam, w + lam[j] * U[j], network.intercept + lam[j] * beta[j], flipped)
            candidate_wald = wald_statistic(candidate, n_samples, sigma2, information)
            if candidate_wald is not None and candidate_wald[0] < (wald if best is None else best[2])[0]:
                best = (j, candidate, candidate_wald)
        if best is None:
            break
        turned.append(best[0])
        network, wald = best[1], best[2]
    return network, turned, wald


def wald_statistic(network, n_samples, sigma2, information=None):
    r""":math:`T = n\,\hat w^TS\hat w/\hat\sigma^2` with the columns of the inverse information
    for the linear part (shape ``(p, d)``; their :math:`w` rows are :math:`[F^+]_{ww} = S^{-1}`)
    and :math:`z = S\hat w`, as ``(T, columns, z)``; ``None`` when :math:`S^{-1}` is singular.
    Without ``information`` the columns are :math:`\tilde F^{-1}E_w`, of the gauge-fixed
    closed-form Fisher system; with it, those of the pseudo-inverse of ``information(network)``
    (:func:`shrink_linear_part`), whose only null directions are the gauge's."""
    k, d = network.n_neurons, network.n_features
    biased = network.has_biases
    theta = network.to_vector(biased=biased)
    w_index = _linear_slice(k, d)
    if information is None:
        E = np.zeros((theta.size, d))
        E[w_index] = np.eye(d)
        columns = FisherPreconditioner(theta, k, d, RIDGE).solve(E)
    else:
        columns = np.linalg.pinv(information(network), rcond=PINV_RCOND, hermitian=True)[:, w_index]
    if not np.all(np.isfinite(columns)):
        return None
    block = columns[w_index]
    try:
        z = cho_solve(cho_factor(0.5 * (block + block.T)), theta[w_index])
    except (LinAlgError, ValueError):
        return None
    return n_samples * float(theta[w_index] @ z) / sigma2, columns, z


def _linear_slice(k, d):
    return slice(k * d + k, k * d + k + d)
