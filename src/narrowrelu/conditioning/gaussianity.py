"""The diagnostic that the inputs look like draws from :math:`N(0, I_d)`, which the method assumes.

On an evenly strided subsample of :math:`m` rows (at most :data:`MAX_ROWS`, fewer at large
:math:`d` to bound the :math:`md^2` cost) it computes, every one as a :math:`z`-score that is
standard normal for a true :math:`N(0, I)` sample:

- column means in the column's own units, :math:`z = \\sqrt m\\,\\bar x_j/s_j`;
- column variances, :math:`z = (s_j^2 - 1)/\\sqrt{2/m}`;
- correlations of column pairs, :math:`z = \\sqrt m\\,\\hat c_{ij}/(s_is_j)`;
- skewness and excess kurtosis per column (D'Agostino's and Anscombe–Glynn's tests,
  :func:`scipy.stats.skewtest`, :func:`scipy.stats.kurtosistest`, computed from the moments at hand:
  :func:`skewness_z`, :func:`kurtosis_z`).

A warning is raised when the largest :math:`|z|` of the :math:`N = 4d + d(d-1)/2` tests exceeds
the Bonferroni bound at family-wise level :data:`FALSE_ALARM` (5.08 at :math:`d = 20`), so a
Gaussian sample of any size almost never warns (measured in ``docs/guide/reliability.md``). The message
tells non-Gaussian data (skewness, kurtosis: nothing fixes that, no scaler makes data Gaussian)
from Gaussian data of another covariance (``whiten=True`` learns it exactly) and from a
non-zero mean (``whiten=True, hidden_biases=True`` centres it and learns the biases it implies).
Constant columns are named as such and left out of the tests, and rows repeated exactly (which
i.i.d. Gaussian draws never are) are reported and counted once, so that copies do not pass for a
shifted mean.
"""


import numpy as np
from scipy.stats import norm

from .._kernels import central_moment_sums
from .._parallel import one_blas_thread

# family-wise probability that a true N(0, I) sample warns
FALSE_ALARM = 1e-4
# rows of the subsample at most, and the budget of m * d^2 products for the covariances
MAX_ROWS = 50_000
MIN_ROWS = 5_000
COVARIANCE_BUDGET = 2e8


class NonGaussianInputWarning(UserWarning):
    """The inputs do not look like draws from N(0, I), which the method assumes."""


def z_threshold(n_features, alpha=FALSE_ALARM):
    """The Bonferroni bound on the largest :math:`|z|` of the diagnostic's tests."""
    d = n_features
    n_tests = 4 * d + d * (d - 1) // 2
    return float(norm.isf(alpha / (2.0 * n_tests)))


def subsample_rows(n, d):
    """How many rows the diagnostic reads for data of shape ``(n, d)``."""
    return int(min(n, MAX_ROWS, max(MIN_ROWS, COVARIANCE_BUDGET // max(d * d, 1))))


def _distinct_rows(S):
    """Indices of the first occurrence of every distinct row of ``S``, in row order. Equal rows
    have equal projections on a fixed vector: when no two projections are equal, every row is
    distinct and the rows themselves are not sorted (the sort of the rows as bytes took 40 % of
    the diagnostic at 10⁴ × 20)."""
    if S.shape[0] < 2:
        return np.arange(S.shape[0])
    keys = S @ np.sqrt(np.arange(2.0, S.shape[1] + 2.0))
    if np.unique(keys).size == S.shape[0]:
        return np.arange(S.shape[0])
    rows = np.ascontiguousarray(S).view(np.dtype((np.void, S.dtype.itemsize * S.shape[1])))[:, 0]
    _, first = np.unique(rows, return_index=True)
    return np.sort(first)


def gaussianity_scores(X):
    """The largest :math:`|z|` of each group of tests on a strided subsample of ``X``.

    Constant columns are set apart (named under ``"constant"``) and repeated rows removed
    (counted under ``"duplicates"``) before the tests, which then run on the distinct rows and
    the other columns. Every :math:`z` is in the column's own units: a column mean is divided by
    the column's standard deviation and a covariance by both deviations (a correlation), so an
    unequal scale shows in the variance test alone.

    Returns
    -------
    scores : dict
        ``group -> (|z|, column or (i, j), statistic)`` for the groups ``"mean"``,
        ``"variance"``, ``"covariance"`` (the statistic a correlation), ``"skewness"``,
        ``"kurtosis"`` (the last two need 20 rows, and the covariance two columns);
        ``"constant" -> [(column, value), ...]`` when some column is constant and
        ``"duplicates" -> (repeated rows, rows read)`` when some row of the subsample repeats.
    """
    n, d = X.shape
    m = subsample_rows(n, d)
    S = np.ascontiguousarray(X[:: max(1, n // m)][:m])  # contiguous: BLAS for S.T @ S (strided, numpy loops)
    scores = {}
    constant = np.ptp(S, axis=0) == 0 if S.shape[0] else np.zeros(d, dtype=bool)
    if constant.any():
        scores["constant"] = [(int(j), float(S[0, j])) for j in np.flatnonzero(constant)]
    first = _distinct_rows(S)
    if first.size < S.shape[0]:
        scores["duplicates"] = (int(S.shape[0] - first.size), int(S.shape[0]))
        S = np.ascontiguousarray(S[first])
    columns = np.flatnonzero(~constant)
    if columns.size == 0 or S.shape[0] < 2:
        return scores
    S = S if columns.size == S.shape[1] else np.ascontiguousarray(S[:, columns])
    m, d = S.shape
    mean = S.mean(axis=0)
    with one_blas_thread():  # a small product: threads only wait on a busy machine
        C = (S.T @ S) / m - np.outer(mean, mean)
    var = np.maximum(np.diag(C).copy(), 1e-300)
    sd = np.sqrt(var)

    def worst(group, z, stat, index=None):
        j = int(np.argmax(np.abs(z)))
        where = columns[j] if index is None else tuple(int(columns[i]) for i in index[j])
        scores[group] = (float(abs(z[j])), where if index is not None else int(where), float(stat[j]))

    worst("mean", np.sqrt(m) * mean / sd, mean)
    worst("variance", (var - 1.0) / np.sqrt(2.0 / m), var)
    if d > 1:
        iu = np.triu_indices(d, 1)
        corr = (C / np.outer(sd, sd))[iu]
        worst("covariance", np.sqrt(m) * corr, corr, list(zip(*iu)))
    if m >= 20:
        cubes, fourths = np.empty(d), np.empty(d)
        central_moment_sums(S, mean, cubes, fourths)
        skew = cubes / m / var**1.5
        kurt = fourths / m / var**2 - 3.0
        with np.errstate(all="ignore"):
            worst("skewness", np.nan_to_num(skewness_z(skew, m), nan=0.0), skew)
            worst("kurtosis", np.nan_to_num(kurtosis_z(kurt + 3.0, m), nan=0.0), kurt)
    return scores


def skewness_z(b, n):
    """D'Agostino's normal score of the sample skewness ``b`` = :math:`m_3/m_2^{3/2}` of ``n`` draws
    (the statistic of :func:`scipy.stats.skewtest`, from the moments already at hand)."""
    y = b * np.sqrt((n + 1) * (n + 3) / (6.0 * (n - 2)))
    beta2 = 3.0 * (n * n + 27 * n - 70) * (n + 1) * (n + 3) / ((n - 2.0) * (n + 5) * (n + 7) * (n + 9))
    w2 = -1.0 + np.sqrt(2.0 * (beta2 - 1.0))
    delta = 1.0 / np.sqrt(0.5 * np.log(w2))
    alpha = np.sqrt(2.0 / (w2 - 1.0))
    y = np.where(y == 0, 1.0, y)
    return delta * np.log(y / alpha + np.sqrt((y / alpha) ** 2 + 1.0))


def kurtosis_z(b2, n):
    """Anscombe and Glynn's normal score of the sample kurtosis ``b2`` = :math:`m_4/m_2^2` of ``n``
    draws (the statistic of :func:`scipy.stats.kurtosistest`)."""
    expected = 3.0 * (n - 1) / (n + 1)
    variance = 24.0 * n * (n - 2) * (n - 3) / ((n + 1) * (n + 1.0) * (n + 3) * (n + 5))
    x = (b2 - expected) / np.sqrt(variance)
    root_beta1 = (6.0 * (n * n - 5 * n + 2) / ((n + 7) * (n + 9))
                  * np.sqrt(6.0 * (n + 3) * (n + 5) / (n * (n - 2) * (n - 3))))
    A = 6.0 + 8.0 / root_beta1 * (2.0 / root_beta1 + np.sqrt(1.0 + 4.0 / root_beta1**2))
    denom = 1.0 + x * np.sqrt(2.0 / (A - 4.0))
    term2 = np.sign(denom) * np.where(denom == 0.0, np.nan, np.abs((1.0 - 2.0 / A) / denom) ** (1.0 / 3.0))
    return (1.0 - 2.0 / (9.0 * A) - term2) / np.sqrt(2.0 / (9.0 * A))


def _constant_message(constant):
    shown = ", ".join(f"{j} (every value {v:.6g})" for j, v in constant[:5])
    more = f" and {len(constant) - 5} more" if len(constant) > 5 else ""
    return (f"column{'s' if len(constant) > 1 else ''} {shown}{more} of X {'are' if len(constant) > 1 else 'is'} "
            "constant, which no draw of N(0, 1) is: drop such columns (they carry nothing a network of Gaussian "
            "inputs uses, and whiten=True would refuse their singular covariance)")


def _duplicates_message(duplicates):
    repeated, rows = duplicates
    return (f"{repeated} of {rows} rows read repeat an earlier row exactly, which independent draws from N(0, I) "
            "never do: the fit counts every copy as a new draw, so its accuracy is that of the distinct rows and "
            "its noise estimates are too small; drop the copies (the tests below ran on the distinct rows)")


def _shape_messages(failed, whitened):
    if "skewness" in failed or "kurtosis" in failed:
        g = max(("skewness", "kurtosis"), key=lambda k: failed.get(k, (0,))[0])
        z, j, stat = failed[g]
        what = "excess kurtosis" if g == "kurtosis" else "skewness"
        return [
            f"column {j} has {what} {stat:.3g} ({z:.1f} standard errors from a Gaussian's 0). The method "
            "needs Gaussian x; no scaler or whitening makes non-Gaussian data Gaussian (StandardScaler only "
            "matches means and variances), so expect a poor fit"]
    out = []
    parts = []
    for g in ("variance", "covariance"):
        if g in failed:
            z, where, stat = failed[g]
            label = f"correlation {stat:.3g} between columns {where[0]} and {where[1]}" if g == "covariance" \
                else f"variance {stat:.3g} in column {where}"
            parts.append(f"{label} ({z:.1f} standard errors from N(0, I))")
    if parts:
        advice = (" even after whitening (the covariance estimate is unstable; use more rows)" if whitened else
                  ": they look Gaussian but correlated or of unequal scales; fit with whiten=True, which learns "
                  "x ~ N(0, Sigma) exactly")
        out.append(f"{'; '.join(parts)}{advice}")
    if "mean" in failed:
        z, j, stat = failed["mean"]
        out.append(
            f"column {j} has mean {stat:.3g} ({z:.1f} of its standard errors from 0). The moments need centred "
            "inputs, and once x is centred a unit relu(u.x) becomes relu(u.(x - mu)), a bias inside the ReLU: "
            "fit with whiten=True, hidden_biases=True, which centres and whitens X and learns x ~ N(mu, Sigma) "
            "exactly (centring X yourself, as a scaler does, changes the function a bias-free network must "
            "express, so expect a poor fit without hidden biases)")
    return out


def non_gaussian_message(X, whitened=False):
    """The warning for inputs ``X`` (as the fit sees them), or ``None`` when they pass.

    Its parts, in order: constant columns, repeated rows, then the tests of the other columns on
    the distinct rows: a non-Gaussian shape (skewness, kurtosis: nothing fixes it), else unequal
    variances or correlations (``whiten=True`` fixes them), and a shifted mean."""
    scores = gaussianity_scores(X)
    n_tested = X.shape[1] - len(scores.get("constant", ()))
    bound = z_threshold(max(n_tested, 1))
    failed = {g: s for g, s in scores.items() if g not in ("constant", "duplicates") and s[0] > bound}
    parts = []
    if "constant" in scores:
        parts.append(_constant_message(scores["constant"]))
    if "duplicates" in scores:
        parts.append(_duplicates_message(scores["duplicates"]))
    parts += _shape_messages(failed, whitened)
    if not parts:
        return None
    return "the method assumes x ~ N(0, I) and the inputs do not look like it: " + "; ".join(parts)
