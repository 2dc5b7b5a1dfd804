"""The diagnostic that the inputs look like draws from :math:`N(0, I_d)`, which the method assumes.

On an evenly strided subsample of :math:`m` rows (at most :data:`MAX_ROWS`, fewer at large
:math:`d` to bound the :math:`md^2` cost) it computes, every one as a :math:`z`-score that is
standard normal for a true :math:`N(0, I)` sample:

- column means, :math:`z = \\sqrt m\\,\\bar x_j`;
- column variances, :math:`z = (s_j^2 - 1)/\\sqrt{2/m}`;
- covariances of column pairs, :math:`z = \\sqrt m\\,\\hat c_{ij}`;
- skewness and excess kurtosis per column (D'Agostino's and Anscombe–Glynn's tests,
  :func:`scipy.stats.skewtest`, :func:`scipy.stats.kurtosistest`).

A warning is raised when the largest :math:`|z|` of the :math:`N = 4d + d(d-1)/2` tests exceeds
the Bonferroni bound at family-wise level :data:`FALSE_ALARM` (about 5.3 at :math:`d = 20`), so a
Gaussian sample of any size almost never warns (measured in ``docs/reliability.md``). The message
tells non-Gaussian data (skewness, kurtosis: nothing fixes that, no scaler makes data Gaussian)
from Gaussian data of another covariance (``whiten=True`` learns it exactly) and from a
non-zero mean (which the model class has no bias for).
"""

import numpy as np
from scipy.stats import kurtosistest, norm, skewtest

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


def gaussianity_scores(X):
    """The largest :math:`|z|` of each group of tests on a strided subsample of ``X``.

    Returns
    -------
    scores : dict
        ``group -> (|z|, column or (i, j), statistic)`` for the groups ``"mean"``,
        ``"variance"``, ``"covariance"``, ``"skewness"``, ``"kurtosis"`` (the last two need 20
        rows, and the covariance two columns).
    """
    n, d = X.shape
    m = subsample_rows(n, d)
    S = np.ascontiguousarray(X[:: max(1, n // m)][:m])  # contiguous: BLAS for S.T @ S (strided, numpy loops)
    m = S.shape[0]
    mean = S.mean(axis=0)
    C = (S.T @ S) / m - np.outer(mean, mean)
    var = np.diag(C).copy()
    scores = {}

    def worst(group, z, stat, index=None):
        j = int(np.argmax(np.abs(z)))
        where = j if index is None else index[j]
        scores[group] = (float(abs(z[j])), where, float(stat[j]))

    worst("mean", np.sqrt(m) * mean, mean)
    worst("variance", (var - 1.0) / np.sqrt(2.0 / m), var)
    if d > 1:
        iu = np.triu_indices(d, 1)
        off = C[iu]
        worst("covariance", np.sqrt(m) * off, off, list(zip(*iu)))
    if m >= 20:
        centred = S - mean
        s2 = np.maximum(var, 1e-300)
        sq = centred * centred  # products, not **3 and **4 (numpy's pow is ~20x slower)
        skew = (sq * centred).mean(axis=0) / s2**1.5
        kurt = (sq * sq).mean(axis=0) / s2**2 - 3.0
        with np.errstate(all="ignore"):
            worst("skewness", np.nan_to_num(skewtest(S, axis=0).statistic, nan=0.0), skew)
            worst("kurtosis", np.nan_to_num(kurtosistest(S, axis=0).statistic, nan=0.0), kurt)
    return scores


def non_gaussian_message(X, whitened=False):
    """The warning for inputs ``X`` (as the fit sees them), or ``None`` when they pass."""
    scores = gaussianity_scores(X)
    bound = z_threshold(X.shape[1])
    failed = {g: s for g, s in scores.items() if s[0] > bound}
    if not failed:
        return None
    head = "the method assumes x ~ N(0, I) and the inputs do not look like it"
    if "skewness" in failed or "kurtosis" in failed:
        g = max(("skewness", "kurtosis"), key=lambda k: failed.get(k, (0,))[0])
        z, j, stat = failed[g]
        what = "excess kurtosis" if g == "kurtosis" else "skewness"
        return (
            f"{head}: column {j} has {what} {stat:.3g} ({z:.1f} standard errors from a Gaussian's 0). The method "
            "needs Gaussian x; no scaler or whitening makes non-Gaussian data Gaussian (StandardScaler only "
            "matches means and variances), so expect a poor fit"
        )
    if "mean" in failed:
        z, j, stat = failed["mean"]
        return (
            f"{head}: column {j} has mean {stat:.3g} ({z:.1f} standard errors from 0). The model "
            "b + w.x + sum lambda relu(u.x) has no bias inside the ReLU, so the method needs centred inputs; "
            "centring X (as a scaler does) changes the function the network must express, so expect a poor fit"
        )
    parts = []
    for g in ("covariance", "variance"):
        if g in failed:
            z, where, stat = failed[g]
            label = f"covariance {stat:.3g} between columns {where[0]} and {where[1]}" if g == "covariance" \
                else f"variance {stat:.3g} in column {where}"
            parts.append(f"{label} ({z:.1f} standard errors from N(0, I))")
    advice = (" even after whitening (the covariance estimate is unstable; use more rows)" if whitened else
              ": they look Gaussian but correlated or of unequal variances; fit with whiten=True, which learns "
              "x ~ N(0, Sigma) exactly")
    return f"{head}: {'; '.join(parts)}{advice}"
