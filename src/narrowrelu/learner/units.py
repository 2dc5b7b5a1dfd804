"""What a moment fit returns, and its map from the standard units the stages run in to the
user's units and coordinates (:mod:`narrowrelu.conditioning`)."""

import warnings
from dataclasses import dataclass, replace

import numpy as np

from ..conditioning import NonGaussianInputWarning, non_gaussian_message


@dataclass(frozen=True)
class LearnerFit:
    """Everything a fit of :class:`~narrowrelu.MomentReLURegressor` learns (its ``_``
    attributes, without the trailing underscore): the final and raw networks, the :math:`k`
    used, the selected round's candidates and span estimate, the held-out MSE at selection, the
    rounds, the refinement's summary (``None`` without one), seconds per stage, passes made, and
    the neuron count's report (:mod:`~narrowrelu.learner.neuron_count`) and search for k."""

    network: object
    raw_network: object
    n_neurons: int
    candidates: np.ndarray
    subspace: np.ndarray
    validation_mse: float
    rounds: list
    refinement: dict
    timings: dict
    n_passes: int
    surplus: list = ()
    residual_structure: object = None
    underfit: bool = False
    k_search: list = ()


def warn_if_not_gaussian(X, whiten):
    """Warn (:class:`~narrowrelu.conditioning.NonGaussianInputWarning`) when the standardised
    inputs do not look like draws from :math:`N(0, I)`; called from an estimator's ``fit``."""
    message = non_gaussian_message(X, whitened=whiten)
    if message:
        warnings.warn(message, NonGaussianInputWarning, stacklevel=3)


def to_original_units(fit, data):
    """``fit`` (a :class:`LearnerFit` in standard units) in the units of the data that
    :class:`~narrowrelu.conditioning.Conditioning` ``data`` standardised.

    The networks become networks of the original inputs and targets; ``validation_mse`` and the
    refinement's ``train_mse`` and ``start_losses`` are in squared units of ``y``; ``candidates``
    and ``subspace`` are in the original coordinates. ``rounds`` stay in the standard units the
    rounds ran in.
    """
    raw = data.to_original(fit.raw_network)
    network = raw if fit.refinement is None else data.to_original(fit.network)
    refinement = fit.refinement
    with np.errstate(over="ignore"):  # an MSE beyond float64 in the user's units reads inf
        s2 = np.float64(data.y_scale) ** 2
        validation_mse = float(fit.validation_mse * s2)
        if refinement is not None:
            refinement = {**refinement, "train_mse": float(refinement["train_mse"] * s2),
                          "start_losses": {label: float(loss * s2) for label, loss in refinement["start_losses"].items()}}
    return replace(fit, network=network, raw_network=raw, validation_mse=validation_mse, refinement=refinement,
                   candidates=data.directions_to_original(fit.candidates),
                   subspace=data.subspace_to_original(fit.subspace))


def scaling_of(data):
    """The maps of ``data`` (a :class:`~narrowrelu.conditioning.Conditioning`) as the estimator
    reports them in ``scaling_``."""
    return {"y_shift": data.y_shift, "y_scale": data.y_scale, "x_scale": data.x_scale, "whitener": data.whitener}
