"""What :class:`~narrowrelu.learner.estimator.MomentReLURegressor` does around a fit on data: the
Gaussianity diagnostic, and the fit in standard units (:mod:`narrowrelu.conditioning`) with every
learned attribute mapped back to the user's units and coordinates."""

import os
import warnings

import numpy as np

from .._params import Integer, Options
from ..conditioning import condition
from .gaussianity import NonGaussianInputWarning, non_gaussian_message

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
