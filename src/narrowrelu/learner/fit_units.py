"""What :class:`~narrowrelu.learner.estimator.MomentReLURegressor` does around a fit on data: the
Gaussianity diagnostic, and the fit in standard units (:mod:`narrowrelu.conditioning`) with every
learned attribute mapped back to the user's units and coordinates."""

import os
import warnings

import numpy as np

from .._params import Integer, Options
from ..conditioning import Conditioning, LabelOutlierWarning, _scaled_moments, condition, dominant_labels_message
from .gaussianity import NonGaussianInputWarning, non_gaussian_message
from .sources import ScaledOracle, query_oracle
from .split import block_seed

# rows of the pilot draw that sets the scale of an oracle's outputs (and is checked for outliers)
PILOT_ROWS = 4096
# the oracle's outputs are shifted by the pilot's mean when it is farther than this many standard
# deviations from zero (closer, the first pass takes it out without loss, and no shift keeps the values exact)
SHIFT_RATIO = 8.0
# the key of the pilot's seed below the stream's seed (no block of a pass has it)
PILOT_KEY = 2**32 - 1

# n_jobs: a thread count, or -1 for every core
N_JOBS_CONSTRAINT = (Integer(1), Options(-1))


def resolve_n_jobs(n_jobs):
    """``-1`` -> every core; any other value as it is."""
    return (os.cpu_count() or 1) if n_jobs == -1 else n_jobs


def fit_in_standard_units(estimator, X, y, fit_data, conditioner=condition):
    """Standardise ``(X, y)`` (whitening ``X`` when ``estimator.whiten``), warn when the inputs
    do not look Gaussian, run ``fit_data(X', y')`` and map the fitted attributes back.

    ``network_`` and ``raw_network_`` become networks of the original inputs and targets;
    ``validation_mse_`` and ``refinement_["train_mse"]``, ``["start_losses"]`` are in squared units of ``y``;
    ``candidates_`` and ``subspace_`` are in the original coordinates. ``rounds_`` stays in the
    standard units the rounds ran in; ``scaling_`` records the maps (``y_shift``, ``y_scale``,
    ``x_scale``, ``whitener``). ``conditioner`` computes the maps
    (:func:`~narrowrelu.learner.dask_conditioning.condition_dask` for dask arrays).
    """
    data = conditioner(X, y, whiten=estimator.whiten)
    message = non_gaussian_message(data.X, whitened=estimator.whiten)
    if message:
        warnings.warn(message, NonGaussianInputWarning, stacklevel=3)
    fit_data(data.X, data.y)
    return map_to_original(estimator, data)


def map_to_original(estimator, data):
    """Map the attributes of a fit in the standard units of ``data`` (a
    :class:`~narrowrelu.conditioning.Conditioning`) back to the user's units and coordinates."""
    estimator.raw_network_ = data.to_original(estimator.raw_network_)
    estimator.network_ = (estimator.raw_network_ if estimator.refinement_ is None
                          else data.to_original(estimator.network_))
    with np.errstate(over="ignore"):  # an MSE beyond float64 in the user's units reads inf
        s2 = np.float64(data.y_scale) ** 2
        estimator.validation_mse_ = float(estimator.validation_mse_ * s2)
        if estimator.refinement_ is not None:
            estimator.refinement_["train_mse"] = float(estimator.refinement_["train_mse"] * s2)
            losses = estimator.refinement_["start_losses"]
            estimator.refinement_["start_losses"] = {label: float(loss * s2) for label, loss in losses.items()}
    estimator.candidates_ = data.directions_to_original(estimator.candidates_)
    estimator.subspace_ = data.subspace_to_original(estimator.subspace_)
    estimator.scaling_ = {"y_shift": data.y_shift, "y_scale": data.y_scale, "x_scale": data.x_scale,
                          "whitener": data.whitener}
    return estimator


def oracle_in_standard_units(oracle, n_samples, n_features, chunk_size, seed):
    """The oracle divided by a power of two near the standard deviation of its outputs, and the
    :class:`~narrowrelu.conditioning.Conditioning` that maps a fit back.

    The scale comes from a pilot draw of at most :data:`PILOT_ROWS` (and ``chunk_size``) Gaussian
    rows (from a child of ``seed`` that no pass uses), whose outputs are also checked (shape,
    complex, non-finite, extreme values: ``ValueError``; a handful of dominating values:
    :class:`~narrowrelu.conditioning.LabelOutlierWarning`). A power of two divides exactly, so an
    oracle whose outputs are already of unit scale is queried as it is, and ``fit_oracle(c * f)``
    is ``c * fit_oracle(f)`` for every power of two ``c``. The outputs are also shifted by the
    pilot's mean when it is more than :data:`SHIFT_RATIO` standard deviations from zero (an
    offset that would swamp the moments' precision); a smaller mean is left to the intercept.
    """
    m = int(min(n_samples, PILOT_ROWS, chunk_size))
    X = np.random.default_rng(block_seed(seed, PILOT_KEY)).standard_normal((m, n_features))
    y = query_oracle(oracle, X)
    message = dominant_labels_message(y, "the oracle's output")
    if message:
        warnings.warn(message + " (in a pilot draw of the oracle)", LabelOutlierWarning, stacklevel=4)
    mu, sd, top = _scaled_moments(y)
    spread = sd * top if sd * top > 0 else top
    exponent = int(np.clip(np.round(np.log2(spread)), -1000, 1000)) if spread > 0 and np.isfinite(spread) else 0
    scale = float(2.0**exponent)
    shift = float(mu * top) if abs(mu) > SHIFT_RATIO * sd else 0.0
    data = Conditioning(np.empty((0, n_features)), np.empty(0), shift, scale, 1.0)
    return (oracle if scale == 1.0 and shift == 0.0 else ScaledOracle(oracle, scale, shift)), data
