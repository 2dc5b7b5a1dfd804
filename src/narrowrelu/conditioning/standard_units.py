"""Scale-safe fitting: both estimators fit on standardised data and map the network back.

The model class :math:`b + w\\cdot x + \\sum_i\\lambda_i\\mathrm{relu}(u_i\\cdot x)` is closed under
:math:`y \\mapsto c_0 + c\\,y` (every :math:`c > 0`), under :math:`x \\mapsto x/s` (ReLU is
positively homogeneous) and under :math:`x \\mapsto Wx` for any invertible :math:`W` (the neurons
become :math:`W^Tu_i`). So the estimators fit on

.. math::

    y' = (y - m_y)/s_y, \\qquad x' = W x / s_x,

and return :math:`f(x) = m_y + s_y f'(Wx/s_x)`, a network of the same class. :math:`m_y, s_y`
are the mean and standard deviation of :math:`y` (computed without overflow); :math:`s_x` is the
root mean square of :math:`X` (its non-constant columns), used only when it differs from 1 by
more than six standard errors of its estimate under :math:`N(0, I)` (so standard Gaussian data
are fitted as given);
:math:`W = \\hat\\Sigma^{-1/2}` with ``whiten=True`` (second moment about zero; a mean
significantly away from zero is refused, see :func:`condition`). Hence ``fit(X, c*y)`` is
``c * fit(X, y)`` up to rounding, for any :math:`c` float64 holds, and likewise for ``X``.

A model with hidden biases, :math:`\\mathrm{relu}(u_i\\cdot x + \\beta_i)`, is also closed under
the shift :math:`x \\mapsto x - \\mu`: with ``whiten=True, center_x=True`` the fit sees
:math:`x' = A(x - \\hat\\mu)`, :math:`A = W/s_x`, :math:`W` from the covariance of the centred
rows, and a unit :math:`\\mathrm{relu}(u'\\cdot x' + \\beta')` is
:math:`\\mathrm{relu}((A^Tu')\\cdot x + \\beta' - (A^Tu')\\cdot\\hat\\mu)` in the original
coordinates (:meth:`Conditioning.to_original`). So :math:`x \\sim N(\\mu, \\Sigma)` is learned
exactly: a bias-free network of :math:`x` is a biased one of :math:`x' \\sim N(0, I)`.

Values that cannot be standardised are refused with a ``ValueError`` naming the input: a
constant ``y``, entries more than :data:`OUTLIER_FACTOR` robust standard deviations from the
median (a corrupted value, not a draw from a ReLU network of Gaussian inputs), and results that
overflow float64 when mapped back.
"""

import numbers
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from .._kernels import column_extremes
from ..network import ReLUNetwork

# an entry farther than this many robust standard deviations from its column's median is refused
OUTLIER_FACTOR = 1e8
# a handful of labels dominate the squared loss when at most DOMINANT_ROWS rows, each beyond
# DOMINANT_SDS robust standard deviations from the median, hold DOMINANT_SHARE of sum (y - median)^2
# (measured: Student t noise with 5 degrees of freedom, Laplace noise: their top 10 rows stay below
# 20 robust SDs or 25 % up to n = 1e6; benchmarks/diagnostic_rates.py)
DOMINANT_ROWS = 10
DOMINANT_SDS = 20.0
DOMINANT_SHARE = 0.25
# rows read to estimate medians and robust scales (and for the Gaussianity diagnostic)
SUBSAMPLE_ROWS = 20_000
# and at most about this many entries of X for the columns' quartiles: they only set the scale of
# a refusal at OUTLIER_FACTOR = 1e8 robust SDs, which 250 rows give to about 10 % (the quartiles
# of 10 000 rows of 20 columns took 5.7 ms, 7 % of a fit told k = 2 at n = 10^4; of 25 000 rows
# of 200 columns 0.12 s, 2.5 X^TX of a fit at n = 5e4, d = 200)
QUARTILE_ENTRIES = 50_000
# and at least this many rows whatever d (the quartiles of a few rows can be equal, a zero scale
# that would refuse nothing)
QUARTILE_MIN_ROWS = 200
# rows read for the root mean square of X (its standard error is sqrt(1 / (2 m d)))
RMS_ROWS = 200_000
# with the largest |x| within [1 / SAFE_SQUARE, SAFE_SQUARE], sums of squares neither overflow nor
# underflow
SAFE_SQUARE = 1e100
# standard errors by which the mean square of X must differ from 1 before X is rescaled
RESCALE_STDERRS = 6.0
# family-wise false-alarm rate of the whiten=True test of a zero mean
MEAN_TEST_ALPHA = 1e-6
# whitening refuses a second moment whose condition number exceeds this
MAX_CONDITION = 1e12


def check_numeric(a, name):
    """Refuse strings, bytes, complex numbers and non-numeric objects in ``a`` (before any
    conversion turns ``"1.5"`` into a number): ``ValueError`` naming ``name`` and the dtype."""
    if a is None:
        return  # the estimator's own check says that y is required
    arr = np.asarray(a) if not hasattr(a, "dtype") else a
    kind = getattr(arr, "dtype", np.dtype(object)).kind
    if kind in "biuf":
        return
    if kind == "O":
        flat = np.asarray(arr, dtype=object).ravel()
        bad = [v for v in flat[:1000] if not isinstance(v, numbers.Real) or isinstance(v, bool)]
        if not bad:
            return
        raise ValueError(f"{name} must be numeric; it holds {type(bad[0]).__name__} values such as {bad[0]!r}")
    what = ("complex numbers: Complex data not supported" if kind == "c"
            else "strings" if kind in "USa" else f"dtype {arr.dtype}")
    raise ValueError(f"{name} must be real numbers, got {what} (dtype {arr.dtype})")


def _subsample(A, rows=SUBSAMPLE_ROWS):
    """Evenly strided rows of ``A`` (no random draw: the fit's random stream is untouched)."""
    step = max(1, A.shape[0] // rows)
    return A[::step]


class LabelOutlierWarning(UserWarning):
    """A handful of labels hold most of the squared loss: a least-squares fit follows them."""


def _robust_scale(sub):
    """Median and robust standard deviation (IQR / 1.349, else 1.2533 times the mean absolute
    deviation from the median when over half the values tie) of the 1-d ``sub``."""
    q25, med, q75 = np.percentile(sub, [25, 50, 75])
    robust = (q75 - q25) / 1.349
    if not robust > 0:
        robust = 1.2533 * float(np.mean(np.abs(sub - med)))
    return float(med), float(robust)


def dominant_labels(y):
    """The labels that dominate the squared loss: at most :data:`DOMINANT_ROWS` rows beyond
    :data:`DOMINANT_SDS` robust standard deviations from the median that together hold at least
    :data:`DOMINANT_SHARE` of :math:`\\sum_i (y_i - \\mathrm{med})^2`.

    Returns
    -------
    dict or None
        ``rows``, ``values``, ``robust_sds`` (each row's distance from the median in robust
        standard deviations), ``share``, ``median`` and ``robust_sd``; ``None`` when no handful
        of rows dominates.
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.size < 2:
        return None
    med, robust = _robust_scale(_subsample(y))
    if not robust > 0:
        return None
    dev = np.abs(y - med)
    r = min(DOMINANT_ROWS, y.size)
    top = np.argpartition(dev, y.size - r)[y.size - r:]
    top = top[np.argsort(-dev[top], kind="stable")]
    with np.errstate(over="ignore"):
        z = dev[top] / robust
    top, z = top[z > DOMINANT_SDS], z[z > DOMINANT_SDS]
    if top.size == 0:
        return None
    unit = dev[top[0]]
    share = float(np.sum((dev[top] / unit) ** 2) / np.sum((dev / unit) ** 2))
    if share < DOMINANT_SHARE:
        return None
    return {"rows": top.tolist(), "values": y[top].tolist(), "robust_sds": z.tolist(), "share": share,
            "median": med, "robust_sd": robust}


def dominant_labels_message(y, name="y"):
    """The warning for :func:`dominant_labels`, or ``None``."""
    found = dominant_labels(y)
    if found is None:
        return None
    rows = ", ".join(f"row {i} ({v:.4g}, {z:.3g} robust SDs)" for i, v, z in
                     zip(found["rows"], found["values"], found["robust_sds"]))
    count = len(found["rows"])
    return (f"{count} label{'s' if count > 1 else ''} of {name} hold{'' if count > 1 else 's'} "
            f"{100 * found['share']:.3g}% of its squared "
            f"deviations from the median {found['median']:.4g} (robust SD {found['robust_sd']:.3g}): {rows}. "
            "A least-squares fit follows them; if they are corrupted labels, remove or fix them")


def _safe_max_abs(A, axis=None):
    return np.max(np.abs(A), axis=axis, initial=0.0)


def check_outliers(A, name):
    """Refuse entries farther than :data:`OUTLIER_FACTOR` robust standard deviations (IQR/1.349 of
    a strided subsample of at most ``SUBSAMPLE_ROWS`` rows and about ``QUARTILE_ENTRIES`` entries)
    from their column's median. Returns :math:`\\max|a|` (from the column extremes
    it reads anyway, one pass, no temporary of the data's size)."""
    A2 = A.reshape(A.shape[0], -1)
    top, bottom = np.full(A2.shape[1], -np.inf), np.full(A2.shape[1], np.inf)
    column_extremes(np.ascontiguousarray(A2, dtype=np.float64), top, bottom)

    def locate(j, median):
        i = int(np.argmax(np.abs(A2[:, j] - median)))
        return i, A2[i, j]

    return refuse_outliers(_subsample(A2, quartile_rows(A2.shape[1])), top, bottom, name, locate,
                           one_column=A.ndim == 1)


def quartile_rows(d):
    """Rows of a :math:`d`-column array whose quartiles :func:`check_outliers` reads: at most
    ``SUBSAMPLE_ROWS``, about ``QUARTILE_ENTRIES`` entries, and at least ``QUARTILE_MIN_ROWS``."""
    return min(SUBSAMPLE_ROWS, max(QUARTILE_ENTRIES // d, QUARTILE_MIN_ROWS))


def refuse_outliers(sub, top, bottom, name, locate, one_column=False):
    """The test of :func:`check_outliers` from a subsample ``sub`` (2-d) and the column maxima
    ``top`` and minima ``bottom``; ``locate(j, median) -> (row, value)`` finds the farthest entry
    of column ``j`` for the message. Returns :math:`\\max|a|`."""
    q25, med, q75 = np.percentile(sub, [25, 50, 75], axis=0)
    robust = (q75 - q25) / 1.349
    with np.errstate(over="ignore", invalid="ignore"):
        far = np.maximum(top - med, med - bottom)
        ratio = np.where(robust > 0, far / np.where(robust > 0, robust, 1.0), 0.0)
    if np.any(ratio > OUTLIER_FACTOR):
        j = int(np.argmax(ratio))
        i, value = locate(j, med[j])
        where = f"row {i}" if one_column else f"row {i}, column {j}"
        raise ValueError(
            f"{name} has an extreme value {value:.3g} at {where}, more than {OUTLIER_FACTOR:g} robust standard "
            f"deviations ({robust[j]:.3g}) from the median {med[j]:.3g}: a corrupted entry, not data of a ReLU "
            "network of Gaussian inputs; remove or fix it"
        )
    return float(max(np.max(top, initial=0.0), -np.min(bottom, initial=0.0), 0.0))


def _scaled_moments(a):
    """Mean and standard deviation of ``a`` without overflow (computed on ``a / max|a|``)."""
    top = _safe_max_abs(a)
    if top == 0:
        return 0.0, 0.0, top
    u = a / top
    mu = float(u.mean())
    sd = float(np.sqrt(np.mean((u - mu) ** 2)))
    return mu, sd, top


@dataclass
class Conditioning:
    """The standardised data and the affine maps back. ``X``, ``y`` are what the fit sees;
    a network :math:`f'` fitted on them is :func:`to_original` ``(f')`` in the user's units."""

    X: np.ndarray
    y: np.ndarray
    y_shift: float
    y_scale: float
    x_scale: float
    whitener: np.ndarray = None  # symmetric W: x' = W (x - x_mean) / x_scale
    x_mean: np.ndarray = None  # the column means subtracted (original units); None: not centred

    def input_map(self):
        """The matrix :math:`A` with :math:`x' = A(x - \\hat\\mu)` (:math:`\\hat\\mu` = ``x_mean``, or 0)."""
        d = self.X.shape[1]
        W = np.eye(d) if self.whitener is None else self.whitener
        return W / self.x_scale

    def to_original(self, net):
        """The network :math:`m_y + s_y f'(A(x - \\hat\\mu))` in the original units; ``ValueError`` if it
        overflows.

        With :math:`x' = A(x - \\hat\\mu)`, :math:`u'\\cdot x' + \\beta' = (A^Tu')\\cdot x + \\beta' -
        (A^Tu')\\cdot\\hat\\mu` and :math:`w'\\cdot x' = (A^Tw')\\cdot x - (A^Tw')\\cdot\\hat\\mu`: hidden rows
        :math:`A^Tu'`, biases :math:`\\beta' - (A^Tu')\\cdot\\hat\\mu`, linear part :math:`s_yA^Tw'` and
        intercept :math:`m_y + s_y(b' - (A^Tw')\\cdot\\hat\\mu)`.
        """
        A = self.input_map()
        with np.errstate(over="ignore", invalid="ignore"):
            U = net.hidden_weights @ A
            lam = self.y_scale * net.output_weights
            w = self.y_scale * (net.linear_weights @ A)
            b = self.y_shift + self.y_scale * net.intercept
            beta = net.hidden_biases if net.has_biases else None
            if self.x_mean is not None:
                beta = (np.zeros(net.n_neurons) if beta is None else beta) - U @ self.x_mean
                b = self.y_shift + self.y_scale * (net.intercept - (net.linear_weights @ A) @ self.x_mean)
        bad = [n for n, v in (("hidden weights", U), ("output weights", lam), ("linear weights", w), ("intercept", b),
                              ("hidden biases", 0.0 if beta is None else beta))
               if not np.all(np.isfinite(v))]
        if bad:
            raise ValueError(
                f"the fitted network's {', '.join(bad)} overflow float64 in the units of X and y (X scale "
                f"{self.x_scale:.3g}, y scale {self.y_scale:.3g}): rescale X or y towards 1 and fit again"
            )
        return ReLUNetwork(U, lam, w, b, beta)

    def directions_to_original(self, C):
        """Unit rows ``C`` (directions in the fit's coordinates) as unit rows in the original ones."""
        if self.whitener is None or C.size == 0:
            return C
        D = C @ self.whitener
        return D / np.linalg.norm(D, axis=1, keepdims=True)

    def subspace_to_original(self, P):
        """Orthonormal columns spanning the fit-coordinate span ``P`` mapped to the original one."""
        if self.whitener is None or P.size == 0:
            return P
        return np.linalg.qr(self.whitener @ P)[0]


def condition(X, y, *, center_y=True, whiten=False, center_x=False, allow_constant=False):
    """Check and standardise ``(X, y)`` (float64 arrays already validated finite).

    Parameters
    ----------
    center_y : bool, default=True
        Subtract the mean of ``y`` (only when the model has a free intercept).
    whiten : bool, default=False
        Fit on :math:`\\hat\\Sigma^{-1/2}x` with :math:`\\hat\\Sigma = \\frac1n\\sum_i x_ix_i^T`.
        Without ``center_x``, a mean significantly away from zero (largest :math:`|z|` of a column
        mean above a Bonferroni bound at family-wise level 1e-6) is refused: a network of centred
        inputs has a bias inside each ReLU, which a model without hidden biases cannot express.
    center_x : bool, default=False
        With ``whiten``, fit on :math:`x' = \\hat\\Sigma^{-1/2}(x - \\hat\\mu)` instead, :math:`\\hat\\mu`
        the column means and :math:`\\hat\\Sigma` the covariance of the centred rows (for a model
        with hidden biases, which absorb the mean; ``x_mean`` of the result holds :math:`\\hat\\mu`).
        Ignored without ``whiten``: X is then never centred.
    allow_constant : bool, default=False
        Accept a constant ``y`` and an all-zero ``X`` (left unscaled) instead of refusing them.

    Returns
    -------
    Conditioning
    """
    check_outliers(y, "y")
    message = dominant_labels_message(y)
    if message:
        warnings.warn(message, LabelOutlierWarning, stacklevel=3)
    x_top = check_outliers(X, "X")
    mu, sd, top = _scaled_moments(y)
    if (sd == 0 or sd * top == 0) and allow_constant:
        shift = float(np.mean(y)) if center_y else 0.0
        return Conditioning(X, np.ascontiguousarray(y - shift), shift, 1.0, 1.0)
    if sd == 0 or sd * top == 0:
        raise ValueError(f"y is constant (every value is {float(y[0])!r} to float64 precision): "
                         "there is nothing to learn")
    y_shift = mu * top if center_y else 0.0
    y_scale = float(sd * top) if center_y else float(top * np.sqrt(np.mean((y / top) ** 2)))
    if not np.isfinite(y_scale):
        raise ValueError("the spread of y overflows float64: rescale y towards 1")
    yc = (y / top - (mu if center_y else 0.0)) / (y_scale / top)
    n, d = X.shape
    if x_top == 0 and allow_constant:
        return Conditioning(X, np.ascontiguousarray(yc), float(y_shift), y_scale, 1.0)
    if x_top == 0:
        raise ValueError("X is all zeros: there is nothing to learn from")
    sub = _subsample(X, RMS_ROWS)
    varying = np.ptp(sub, axis=0) > 0
    if varying.any() and not varying.all():
        sub = sub[:, varying]  # a constant column (of ones, of zeros) says nothing of the others' scale
    if 1.0 / SAFE_SQUARE <= x_top <= SAFE_SQUARE:
        rms = np.sqrt(np.einsum("ij,ij->", sub, sub) / sub.size)  # one read, no temporary
    else:
        rms = x_top * np.sqrt(np.mean((sub / x_top) ** 2))
    x_scale = x_scale_from_rms(rms, sub.size, x_top)
    Xs = X / x_scale if x_scale != 1.0 else X
    whitener = x_mean = None
    if whiten and center_x:
        mean = Xs.mean(axis=0)
        Xs = Xs - mean
        whitener = whitener_from_moments(mean, (Xs.T @ Xs) / n, n, centred=True)
        x_mean = mean * x_scale
        Xs = np.ascontiguousarray(Xs @ whitener)
    elif whiten:
        whitener = _whitener(Xs)
        Xs = np.ascontiguousarray(Xs @ whitener)
    elif x_scale != 1.0:
        Xs = np.ascontiguousarray(Xs)
    return Conditioning(Xs, np.ascontiguousarray(yc), float(y_shift), y_scale, x_scale, whitener, x_mean)


def x_scale_from_rms(rms, size, x_top):
    """The scale :math:`s_x`: the root mean square ``rms`` of ``size`` entries when it differs from
    1 by more than :data:`RESCALE_STDERRS` standard errors (:math:`\\sqrt{1/(2\\,\\text{size})}`
    under N(0, I)), else 1; ``ValueError`` when it is 0 or beyond float64."""
    if rms == 0 or not np.isfinite(rms):
        raise ValueError(f"X's scale ({x_top:.3g} at most) is beyond float64's range for a fit")
    return float(rms) if abs(rms - 1.0) > RESCALE_STDERRS * np.sqrt(0.5 / size) else 1.0


def mean_z_threshold(n_tests, alpha=MEAN_TEST_ALPHA):
    """Bonferroni bound on the largest of ``n_tests`` standard normal :math:`|z|` at level ``alpha``."""
    return float(norm.isf(alpha / (2.0 * max(n_tests, 1))))


def _whitener(X):
    return whitener_from_moments(X.mean(axis=0), (X.T @ X) / X.shape[0], X.shape[0])


def whitener_from_moments(mean, M, n, centred=False):
    """:math:`W = M^{-1/2}` from the column means and the second moment :math:`M = \\frac1n X^TX`
    of ``n`` rows; ``ValueError`` for a mean significantly away from zero or a singular ``M``.
    With ``centred``, ``M`` is the covariance about ``mean`` and the mean is not tested."""
    d = M.shape[0]
    if not centred:
        sd = np.sqrt(np.maximum(np.diag(M) - mean**2, 0.0))
        z = np.abs(mean) / np.maximum(sd, 1e-300) * np.sqrt(n)
        if np.max(z) > mean_z_threshold(d):
            j = int(np.argmax(z))
            raise ValueError(
                f"whiten=True: column {j} of X has mean {mean[j]:.3g} ({z[j]:.1f} standard errors from 0). "
                "Without hidden biases, whitening handles x ~ N(0, Sigma) only: once x is centred, each hidden "
                "unit becomes relu(u.(x - mu)), a bias inside the ReLU that b + w.x + sum lambda relu(u.x) cannot "
                "express. Pass hidden_biases=True to learn inputs with a mean (X is then centred and whitened, and "
                "the network mapped back to X's coordinates), or centre X yourself (and predict on centred "
                "inputs) if the offset is not part of the data's meaning"
            )
    evals, V = np.linalg.eigh(M)
    if evals[0] <= evals[-1] / MAX_CONDITION:
        raise ValueError(
            f"whiten=True: the covariance of X is singular or nearly so (eigenvalues {evals[0]:.3g} to "
            f"{evals[-1]:.3g}): some column is a linear combination of others; drop it"
        )
    return (V / np.sqrt(evals)) @ V.T
