"""Exact Gaussian scoring of ReLU networks, and its Monte Carlo check.

For :math:`x \\sim N(0, I_d)` and :math:`\\theta` the angle between :math:`u` and :math:`v`
(Cho & Saul 2009; Tian 2017):

.. math::

    E[\\mathrm{relu}(u\\cdot x)\\,\\mathrm{relu}(v\\cdot x)]
        = \\frac{\\|u\\|\\|v\\|}{2\\pi}\\big(\\sin\\theta + (\\pi-\\theta)\\cos\\theta\\big),\\qquad
    E[\\mathrm{relu}(u\\cdot x)] = \\frac{\\|u\\|}{\\sqrt{2\\pi}},\\qquad
    E[\\mathrm{relu}(u\\cdot x)\\,(v\\cdot x)] = \\frac{u\\cdot v}{2}.

Every network :math:`b + w\\cdot x + \\sum_i \\lambda_i \\mathrm{relu}(u_i\\cdot x)` is linear in
these features, so the mean squared difference of two networks is a closed-form quadratic. Networks
with hidden biases, :math:`\\mathrm{relu}(u_i\\cdot x + \\beta_i)`, are scored the same way with the
kernels of :mod:`narrowrelu.biased_kernel` (the bivariate normal CDF); networks without biases go
through the formulas above, unchanged.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from ._validation import as_generator, check_positive_int
from .biased_kernel import biased_relu_mean, kernel_from_parts, split_rows, standardised_biases
from .network import ReLUNetwork, as_relu_network

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def relu_angles(U, V):
    """Angles between the rows of ``U`` and ``V``, accurate for nearly parallel and nearly
    opposite rows.

    Uses :math:`\\theta = 2\\,\\mathrm{atan2}(\\|\\hat u-\\hat v\\|, \\|\\hat u+\\hat v\\|)`, which keeps
    full relative precision where :math:`\\arccos(\\hat u\\cdot\\hat v)` loses half the digits.
    Zero rows get angle :math:`\\pi/2` (their kernel terms vanish anyway).
    :func:`unit_row_angles` is the faster form for rows already normalised.
    """
    Uh = _unit_rows(U)
    Vh = _unit_rows(V)
    diff = np.linalg.norm(Uh[:, None, :] - Vh[None, :, :], axis=2)
    summ = np.linalg.norm(Uh[:, None, :] + Vh[None, :, :], axis=2)
    theta = 2.0 * np.arctan2(diff, summ)
    zero = (np.linalg.norm(U, axis=1)[:, None] == 0) | (np.linalg.norm(V, axis=1)[None, :] == 0)
    theta[zero] = np.pi / 2
    return theta


def _unit_rows(U):
    norms = np.linalg.norm(U, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    return U / safe[:, None]


def relu_kernel(U, V):
    """Matrix :math:`K_{ij} = E[\\mathrm{relu}(u_i\\cdot x)\\,\\mathrm{relu}(v_j\\cdot x)]` for Gaussian ``x``."""
    U = np.asarray(U, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    theta = relu_angles(U, V)
    scale = np.linalg.norm(U, axis=1)[:, None] * np.linalg.norm(V, axis=1)[None, :]
    return scale * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2.0 * np.pi)


def population_inner_product(a, b):
    """Exact :math:`E_{x\\sim N(0,I)}[a(x)\\,b(x)]` for two ReLU networks (or objects exporting one).

    Computed on each network divided by its largest amplitude (:math:`|b|`, :math:`|w_j|`,
    :math:`|\\lambda_i|\\|u_i\\|`), so weights up to float64's limits neither overflow nor give NaN;
    a result beyond float64's range raises ``ValueError``."""
    a = as_relu_network(a)
    b = as_relu_network(b)
    _check_same_dimension(a, b)
    biased = a.has_biases or b.has_biases
    (sa, *ta), (sb, *tb) = _normalised_terms(a, biased), _normalised_terms(b, biased)
    return _rescaled(_unit_inner_product(ta, tb), sa + sb, "population_inner_product")


def _normalised_terms(net, biased=False):
    """``log S`` and the network divided by :math:`S` as ``(b, w, amplitudes, unit rows, biases)``,
    with amplitudes :math:`\\lambda_i\\|u_i\\|` and :math:`S` the largest of :math:`|b|, |w_j|, |\\lambda_i|\\|u_i\\|`.

    With ``biased``, each neuron is :math:`\\lambda_i r_i\\,\\mathrm{relu}(\\hat u_i\\cdot x + \\hat\\beta_i)` with
    :math:`r_i = \\|(u_i, \\beta_i)\\|` and :math:`\\|(\\hat u_i, \\hat\\beta_i)\\| = 1`: the amplitudes are
    :math:`\\lambda_i r_i` and ``biases`` are the :math:`\\hat\\beta_i`; without it ``biases`` is ``None``."""
    U = np.column_stack([net.hidden_weights, net.hidden_biases]) if biased else net.hidden_weights
    top = np.max(np.abs(U), axis=1, initial=0.0) if U.size else np.zeros(0)
    safe = np.where(top > 0, top, 1.0)
    rel = np.linalg.norm(U / safe[:, None], axis=1) if U.size else np.zeros(0)
    lam = net.output_weights
    with np.errstate(divide="ignore"):
        log_amp = np.where((top > 0) & (lam != 0),
                           np.log(np.abs(lam)) + np.log(safe) + np.log(np.maximum(rel, 1e-300)), -np.inf)
        logs = [np.log(abs(net.intercept)), np.log(np.max(np.abs(net.linear_weights), initial=0.0)),
                np.max(log_amp, initial=-np.inf)]
    log_s = max(logs)
    if not np.isfinite(log_s):
        return (0.0, 0.0, np.zeros_like(net.linear_weights), np.zeros(0), np.zeros((0, net.n_features)),
                np.zeros(0) if biased else None)
    amp = np.sign(lam) * np.exp(log_amp - log_s)
    unit = U / (safe * np.where(rel > 0, rel, 1.0))[:, None]
    if biased:
        unit, unit_biases = unit[:, :-1], unit[:, -1]
    else:
        unit_biases = None
    return log_s, net.intercept / np.exp(log_s), net.linear_weights / np.exp(log_s), amp, unit, unit_biases


def _unit_inner_product(ta, tb):
    ba, wa, la, Ua, ca = ta
    bb, wb, lb, Ub, cb = tb
    if ca is not None or cb is not None:
        return _biased_unit_inner_product(ta, tb)
    total = ba * bb + wa @ wb + ba * lb.sum() * _INV_SQRT_2PI + bb * la.sum() * _INV_SQRT_2PI
    total += 0.5 * (la @ (Ua @ wb)) + 0.5 * (lb @ (Ub @ wa))
    if la.size and lb.size:
        total += la @ relu_kernel(Ua, Ub) @ lb
    return float(total)


def _biased_unit_inner_product(ta, tb):
    """:math:`E[a(x)b(x)]` of normalised terms with biases, from :math:`E[\\mathrm{relu}(u\\cdot x+\\beta)]`,
    :math:`E[\\mathrm{relu}(u\\cdot x+\\beta)\\,x] = \\Phi(\\beta/\\|u\\|)u` and the kernel of
    :mod:`narrowrelu.biased_kernel`."""
    (ba, wa, la, Ua, ca), (bb, wb, lb, Ub, cb) = ta, tb
    ca = np.zeros(la.shape) if ca is None else ca
    cb = np.zeros(lb.shape) if cb is None else cb
    na, Ha, flat_a = split_rows(Ua, ca)
    nb, Hb, flat_b = split_rows(Ub, cb)
    mean_a, mean_b = biased_relu_mean(na, ca, flat_a), biased_relu_mean(nb, cb, flat_b)
    slope_a = np.where(flat_a, 0.0, ndtr(standardised_biases(na, ca, flat_a)))
    slope_b = np.where(flat_b, 0.0, ndtr(standardised_biases(nb, cb, flat_b)))
    total = ba * bb + wa @ wb + ba * (lb @ mean_b) + bb * (la @ mean_a)
    total += (la * slope_a) @ (Ua @ wb) + (lb * slope_b) @ (Ub @ wa)
    if la.size and lb.size:
        total += la @ kernel_from_parts(na, Ha, ca, flat_a, nb, Hb, cb, flat_b) @ lb
    return float(total)


def _rescaled(value, log_scale, what):
    """``value * exp(log_scale)``, or ``ValueError`` when that overflows float64."""
    if value == 0.0:
        return 0.0
    log_result = np.log(abs(value)) + log_scale
    if log_result > np.log(np.finfo(float).max):
        raise ValueError(f"{what}: the result, about 1e{log_result / np.log(10):.0f}, overflows float64; "
                         "the networks' weights are too large to score")
    return float(value * np.exp(log_scale))


def difference_network(a, b):
    """The network :math:`a - b` (neurons of both, output weights of ``b`` negated)."""
    a = as_relu_network(a)
    b = as_relu_network(b)
    _check_same_dimension(a, b)
    with np.errstate(over="ignore"):
        return ReLUNetwork(
            np.vstack([a.hidden_weights, b.hidden_weights]),
            np.concatenate([a.output_weights, -b.output_weights]),
            a.linear_weights - b.linear_weights,
            a.intercept - b.intercept,
            np.concatenate([a.hidden_biases, b.hidden_biases]) if a.has_biases or b.has_biases else None,
        )


def population_mean(net):
    """Exact :math:`E[f(x)] = b + \\sum_i \\lambda_i\\|u_i\\|/\\sqrt{2\\pi}`; with biases
    :math:`b + \\sum_i\\lambda_i(\\|u_i\\|\\varphi(h_i) + \\beta_i\\Phi(h_i))`, :math:`h_i = \\beta_i/\\|u_i\\|`."""
    net = as_relu_network(net)
    log_s, *terms = _normalised_terms(net, net.has_biases)
    return _rescaled(_unit_mean(terms), log_s, "population_mean")


def _unit_mean(terms):
    b, _, amp, unit, biases = terms
    if biases is None:
        return float(b + amp.sum() * _INV_SQRT_2PI)
    return float(b + amp @ biased_relu_mean(np.linalg.norm(unit, axis=1), biases))


def population_variance(net):
    """Exact :math:`\\mathrm{Var}\\,f(x)` for Gaussian ``x`` (``ValueError`` when it overflows float64)."""
    net = as_relu_network(net)
    log_s, *terms = _normalised_terms(net, net.has_biases)
    var = max(_unit_inner_product(terms, terms) - _unit_mean(terms) ** 2, 0.0)
    return _rescaled(var, 2 * log_s, "population_variance")


def population_mse(a, b):
    """Exact population mean squared difference of two networks.

    .. math::

        \\mathrm{MSE}(a, b) = E_{x\\sim N(0, I_d)}\\big[(a(x) - b(x))^2\\big]

    computed in closed form from the kernels in the module docstring (and, for networks with hidden
    biases, those of :mod:`narrowrelu.biased_kernel`): no sampling.

    Parameters
    ----------
    a, b : ReLUNetwork, Teacher or fitted estimator
        Anything with a ``relu_network()`` method (see :func:`narrowrelu.network.as_relu_network`),
        of the same input dimension.

    Returns
    -------
    mse : float
        Non-negative; zero for equal networks; symmetric in ``a`` and ``b``.

    Examples
    --------
    >>> from narrowrelu import Teacher, population_mse
    >>> t = Teacher.random(n_features=5, n_neurons=2, random_state=0)
    >>> population_mse(t, t)
    0.0
    """
    a, b = as_relu_network(a), as_relu_network(b)
    _check_same_dimension(a, b)
    try:
        diff = difference_network(a, b)
    except ValueError:
        raise ValueError("population_mse: the difference of the two networks overflows float64") from None
    log_s, *terms = _normalised_terms(diff, diff.has_biases)
    return _rescaled(max(_unit_inner_product(terms, terms), 0.0), 2 * log_s, "population_mse")


@dataclass(frozen=True)
class MonteCarloEstimate:
    """A Monte Carlo mean with its standard error."""

    mean: float
    stderr: float
    n_samples: int


def monte_carlo_mse(a, b, n_samples=100_000, random_state=None, chunk_size=65_536):
    """Monte Carlo estimate of :math:`E[(a(x)-b(x))^2]` with its standard error.

    Draws ``x ~ N(0, I_d)`` in chunks (bounded memory). ``b`` is a network (or exports one);
    ``a`` is a network too, or any model with a ``predict(X)`` method (scikit-learn's
    ``MLPRegressor``, say), or a function ``a(X) -> y``. The estimate is the sample mean of the
    squared difference, and the standard error is the sample standard deviation over
    :math:`\\sqrt{n}`.
    """
    n_samples = check_positive_int(n_samples, "n_samples", minimum=2)
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    b = as_relu_network(b)
    predict = _predictor(a)
    if not callable(getattr(a, "predict", None)) and not _is_network(a) and not callable(a):
        raise TypeError(f"{type(a).__name__} is neither a network, a model with predict(X), nor a function")
    if _is_network(a):
        _check_same_dimension(as_relu_network(a), b)
    rng = as_generator(random_state)
    total = 0.0
    total_sq = 0.0
    for start in range(0, n_samples, chunk_size):
        m = min(chunk_size, n_samples - start)
        X = rng.standard_normal((m, b.n_features))
        sq = (predict(X) - b.evaluate_trusted(X)) ** 2
        total += sq.sum()
        total_sq += (sq**2).sum()
    mean = total / n_samples
    var = max(total_sq / n_samples - mean**2, 0.0) * n_samples / (n_samples - 1)
    return MonteCarloEstimate(float(mean), float(np.sqrt(var / n_samples)), n_samples)


def _is_network(obj):
    return isinstance(obj, ReLUNetwork) or callable(getattr(obj, "relu_network", None))


def _predictor(obj):
    """The function :math:`X \\mapsto` predictions of a network, a model with ``predict`` or a function."""
    if _is_network(obj):
        return as_relu_network(obj).evaluate_trusted
    predict = getattr(obj, "predict", None)
    return predict if callable(predict) else obj


def _check_same_dimension(a, b):
    if a.n_features != b.n_features:
        raise ValueError(f"networks have different input dimensions: {a.n_features} and {b.n_features}")


def teacher_neuron_distances(hidden_weights, output_weights, teacher_hidden, teacher_output):
    """For each teacher neuron, the distance to the nearest student neuron.

    A neuron :math:`a\\,\\mathrm{relu}(w\\cdot x) = \\mathrm{sign}(a)\\,\\mathrm{relu}(|a|w\\cdot x)`
    is the signed vector :math:`|a|w`. Two neurons of the same sign are at distance
    :math:`\\||\\lambda|u - |a|w\\|`; of opposite signs at :math:`\\||\\lambda|u\\| + \\||a|w\\|`
    (through the origin). With all output weights 1 this is :math:`\\min_j\\|u_i - w_j\\|`.

    Returns
    -------
    distances : ndarray of shape (k,)
    """
    S = np.abs(output_weights)[:, None] * hidden_weights
    T = np.abs(teacher_output)[:, None] * teacher_hidden
    same = np.sign(teacher_output)[:, None] == np.sign(output_weights)[None, :]
    direct = np.linalg.norm(T[:, None, :] - S[None, :, :], axis=2)
    through = np.linalg.norm(T, axis=1)[:, None] + np.linalg.norm(S, axis=1)[None, :]
    return np.min(np.where(same, direct, through), axis=1)


def matched_cosine(network, teacher):
    """The smallest, over teacher neurons, of the largest :math:`|\\cos|` with a learned neuron."""
    U = network.hidden_weights
    if U.shape[0] == 0:
        return 0.0
    Uh = U / np.linalg.norm(U, axis=1)[:, None]
    T = teacher.hidden_weights / np.linalg.norm(teacher.hidden_weights, axis=1)[:, None]
    return float(np.min(np.max(np.abs(T @ Uh.T), axis=1)))


def unit_row_angles(A_hat, B_hat):
    """Angles between unit rows, :math:`\\theta = 2\\arcsin(\\|\\hat a-\\hat b\\|/2)`.

    The quantity of :func:`relu_angles` on rows already normalised, from one difference tensor
    instead of two (most of the cost of the population gradient of the GD baseline). Accurate
    for nearly parallel rows, where :math:`\\arccos(\\hat a\\cdot\\hat b)` loses half the digits;
    near :math:`\\pi` the arcsine keeps about half of them, which the gradient does not need.
    """
    diff = A_hat[:, None, :] - B_hat[None, :, :]
    half_chord = 0.5 * np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    return 2.0 * np.arcsin(np.minimum(half_chord, 1.0))
