"""What both estimators do to their inputs before a fit, and the checks that go with it.

- :mod:`~narrowrelu.conditioning.standard_units`: standardise :math:`(X, y)` (and whiten
  :math:`X`), refuse values that cannot be standardised, warn when a handful of labels dominate
  the squared loss, map the fitted network back;
- :mod:`~narrowrelu.conditioning.dask_arrays`: the same maps computed on dask arrays, block by
  block on the workers;
- :mod:`~narrowrelu.conditioning.gaussianity`: the diagnostic that warns when the inputs do not
  look like draws from :math:`N(0, I)`.
"""

from .gaussianity import NonGaussianInputWarning, non_gaussian_message
from .standard_units import Conditioning, LabelOutlierWarning, check_numeric, condition, dominant_labels

__all__ = ["Conditioning", "LabelOutlierWarning", "NonGaussianInputWarning", "check_numeric", "condition",
           "dominant_labels", "non_gaussian_message"]
