"""What a moment fit returns, and its map from the standard units the stages run in to the
user's units and coordinates (:mod:`narrowrelu.conditioning`)."""

import warnings
from dataclasses import dataclass, replace

import numpy as np

from ..conditioning import NonGaussianInputWarning, non_gaussian_message
from ..conditioning.standard_units import Conditioning, LabelOutlierWarning, _scaled_moments, dominant_labels_message
from .sources.held_out import block_seed
from .sources.local import ScaledOracle, query_oracle

# rows of the pilot draw that sets the scale of an oracle's outputs (and is checked for outliers)
PILOT_ROWS = 4096
# the oracle's outputs are shifted by the pilot's mean when it is farther than this many standard
# deviations from zero (closer, the first pass takes it out without loss, and no shift keeps the values exact)
SHIFT_RATIO = 8.0
# the key of the pilot's seed below the stream's seed (no block of a pass has it)
PILOT_KEY = 2**32 - 1


@dataclass(frozen=True)
class LearnerFit:
    """Everything a fit of :class:`~narrowrelu.MomentReLURegressor` learns (its ``_``
    attributes, without the trailing underscore): the final and raw networks, the :math:`k`
    used, the selected round's candidates and span estimate, the held-out MSE at selection, the
    rounds, the refinement's summary (``None`` without one), seconds per stage, passes made, the
    neuron count's report (:mod:`~narrowrelu.learner.neuron_count`) and search for k, and the
    residual diagnostic (:mod:`~narrowrelu.learner.residual_diagnostic`, unitless)."""

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
    residual_diagnostic: dict = None
    surplus: list = ()
    residual_structure: object = None
    underfit: bool = False
    k_search: list = ()


def warn_if_not_gaussian(X, whiten):
    """Warn (:class:`~narrowrelu.conditioning.NonGaussianInputWarning`) when the standardised
    inputs do not look like draws from :math:`N(0, I)`; called from an estimator's ``fit``.
    Returns whether they do."""
    message = non_gaussian_message(X, whitened=whiten)
    if message:
        warnings.warn(message, NonGaussianInputWarning, stacklevel=3)
    return not message


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
                          "start_losses": {label: float(loss * s2)
                                           for label, loss in refinement["start_losses"].items()}}
    return replace(fit, network=network, raw_network=raw, validation_mse=validation_mse, refinement=refinement,
                   candidates=data.directions_to_original(fit.candidates),
                   subspace=data.subspace_to_original(fit.subspace))


def scaling_of(data):
    """The maps of ``data`` (a :class:`~narrowrelu.conditioning.Conditioning`) as the estimator
    reports them in ``scaling_`` (``x_mean``: the column means subtracted before whitening, ``None``
    when X was not centred)."""
    return {"y_shift": data.y_shift, "y_scale": data.y_scale, "x_scale": data.x_scale, "whitener": data.whitener,
            "x_mean": data.x_mean}


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
        warnings.warn(message + " (in a pilot draw of the oracle)", LabelOutlierWarning, stacklevel=3)
    mu, sd, top = _scaled_moments(y)
    spread = sd * top if sd * top > 0 else top
    exponent = int(np.clip(np.round(np.log2(spread)), -1000, 1000)) if spread > 0 and np.isfinite(spread) else 0
    scale = float(2.0**exponent)
    shift = float(mu * top) if abs(mu) > SHIFT_RATIO * sd else 0.0
    data = Conditioning(np.empty((0, n_features)), np.empty(0), shift, scale, 1.0)
    return (oracle if scale == 1.0 and shift == 0.0 else ScaledOracle(oracle, scale, shift)), data
