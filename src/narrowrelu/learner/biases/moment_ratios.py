r"""Hidden biases from the Hermite moments of orders 2 and 3 along the directions found.

For a unit direction :math:`u_j` and :math:`t\sim N(0,1)`, :math:`\mathrm{relu}(t+\beta)` has the
Hermite coefficients :math:`c_m(\beta) = E[\mathrm{relu}(t+\beta)He_m(t)] = \varphi(\beta)He_{m-2}(-\beta)`
for :math:`m\ge2` (:func:`narrowrelu.hermite.biased_relu_hermite_coefficient`), and two unit
directions at cosine :math:`\rho` give :math:`E[g(u\cdot x)He_m(v\cdot x)] = \rho^m E[g(t)He_m(t)]`.
So, for :math:`y = b + w\cdot x + \sum_j\lambda_j\mathrm{relu}(u_j\cdot x+\beta_j)` + noise,

.. math::

    a_{m,i} = E[y\,He_m(u_i\cdot x)] = \sum_j (u_i\cdot u_j)^m\,\mu_{m,j},\qquad
    \mu_{m,j} = \lambda_j c_m(\beta_j),

a :math:`k\times k` linear system per order with matrix :math:`G^{\circ m}` (the Gram matrix of the
directions raised entrywise to the power :math:`m`). With :math:`c_2 = \varphi(\beta)` and
:math:`c_3 = -\beta\varphi(\beta)`,

.. math::

    \beta_j = -\mu_{3,j}/\mu_{2,j}.

:math:`c_2` never vanishes, so no bias is blind to this ratio (unlike the order-4 weight
:math:`c_4 = (\beta^2-1)\varphi(\beta)`, zero at :math:`|\beta| = 1`). The sign of a direction
is free: :math:`(u, \beta)` and :math:`(-u, -\beta)` differ by the affine function
:math:`u\cdot x+\beta`, which the linear part and the intercept absorb, and the ratio follows
the sign of :math:`u` (:math:`He_3` is odd). One pass over the rows gives every :math:`a_m`.
"""

import numpy as np

from ...moments.thin import thin_projection

# biases beyond this many standard deviations of u.x leave a unit active (or inactive) on fewer
# than 3e-5 of the rows: affine, or dead, on any sample the learner sees
BIAS_LIMIT = 4.0


class ProjectedHermiteSums:
    """Running sums over rows of :math:`r_iHe_m(z_{ij})` and :math:`He_m(z_{ij})` for :math:`m = 2, 3`
    and each column of the projections :math:`Z = XU^T`, and of :math:`r_i` (an accumulator for
    ``source.fold``)."""

    def __init__(self, k):
        self.weighted = np.zeros((2, k))
        self.plain = np.zeros((2, k))
        self.total = 0.0
        self.n = 0

    def add(self, Z, r):
        Z2 = Z * Z
        for m, H in enumerate((Z2 - 1.0, Z * (Z2 - 3.0))):
            self.weighted[m] += r @ H
            self.plain[m] += H.sum(axis=0)
        self.total += float(r.sum())
        self.n += Z.shape[0]
        return self

    def merge(self, other):
        self.weighted += other.weighted
        self.plain += other.plain
        self.total += other.total
        self.n += other.n
        return self


def projected_hermite_pass(source, directions, model=None, progress=None, train_only=False):
    """:math:`a_m = \\frac1n\\sum_i (r_i - \\bar r)He_m(u_j\\cdot x_i)` for :math:`m = 2, 3` over every
    row (held-out rows included) of ``source``, ``directions`` unit rows :math:`u_j`, with
    :math:`r = y - g(x)` for the network ``model`` :math:`g` (``None``: :math:`r = y`). An affine
    :math:`g` (no neurons) has no Hermite moment of order 2 or more, so :math:`E[a_m]` does not
    depend on it (up to the :math:`O(1/n)` of centring), while removing the model's linear part
    and mean removes their share of the variance; with neurons, :math:`a_m` are the moments of
    the model's residual. ``train_only``: the training rows only. Returns an array of shape
    ``(2, k)``."""
    Ut = np.ascontiguousarray(directions)

    def chunk(sums, X, y, held):
        if train_only:
            X, y = X[~held], y[~held]
        r = y if model is None else y - model.evaluate_trusted(np.ascontiguousarray(X, dtype=float))
        sums.add(thin_projection(X, Ut), r)

    sums = source.fold(ProjectedHermiteSums(directions.shape[0]), chunk, progress)
    n = max(sums.n, 1)
    return (sums.weighted - sums.total / n * sums.plain) / n


def ratio_biases(weights):
    """:math:`-\\mu_3/\\mu_2` per column of ``weights`` :math:`(\\mu_2, \\mu_3)`, clipped to
    :math:`\\pm` ``BIAS_LIMIT``; 0 where :math:`\\mu_2` is 0 (a unit that carries no weight)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(weights[0] != 0.0, -weights[1] / weights[0], 0.0)
    return np.clip(np.nan_to_num(h), -BIAS_LIMIT, BIAS_LIMIT)


def biases_from_moments(directions, moments):
    """:math:`\\beta_j = -\\mu_{3,j}/\\mu_{2,j}`, with :math:`G^{\\circ m}\\mu_m = a_m`, for unit rows
    ``directions`` and ``moments`` :math:`(a_2, a_3)` (:func:`projected_hermite_pass`), clipped to
    :math:`\\pm` ``BIAS_LIMIT``; 0 where :math:`\\mu_2` is 0 (a unit that carries no weight).

    Returns
    -------
    biases : ndarray of shape (k,)
    weights : ndarray of shape (2, k)
        :math:`\\mu_2, \\mu_3` (least-squares solutions when :math:`G^{\\circ m}` is singular:
        two directions that coincide)."""
    G = directions @ directions.T
    mu = np.array([np.linalg.lstsq(G**m, a, rcond=1e-12)[0] for m, a in zip((2, 3), moments)])
    return ratio_biases(mu), mu
