"""The check that the inputs look like draws from :math:`N(0, I_d)`, which the method assumes.

The first pass (:func:`narrowrelu.learner.passes.linear_stage`) records the column means and
variances of a strided subsample of the rows; a mean or a variance off by more than a fixed
margin plus five standard errors raises a :class:`NonGaussianInputWarning`.
"""

import numpy as np


class NonGaussianInputWarning(UserWarning):
    """The inputs do not look like draws from N(0, I), which the method assumes."""


def non_gaussian_message(linear):
    """The warning for the statistics ``linear`` (a ``LinearStatistics``), or ``None`` when the
    inputs pass: largest column :math:`|\\mathrm{mean}|` within :math:`0.2 + 5/\\sqrt n`, largest
    :math:`|\\mathrm{variance} - 1|` within :math:`0.3 + 5\\sqrt{2/n}`."""
    n = max(linear.n_checked, 1)
    mean_off = np.max(np.abs(linear.x_mean))
    var_off = np.max(np.abs(linear.x_var - 1.0))
    if mean_off > 0.2 + 5.0 / np.sqrt(n) or var_off > 0.3 + 5.0 * np.sqrt(2.0 / n):
        return (
            f"the inputs do not look standard Gaussian (largest column |mean| {mean_off:.3g}, largest "
            f"|variance - 1| {var_off:.3g}); the method assumes x ~ N(0, I): standardise or whiten X first"
        )
    return None
