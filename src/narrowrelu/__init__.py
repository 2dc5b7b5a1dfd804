"""narrowrelu: learn narrow one-hidden-layer ReLU networks from Gaussian data by the method of
moments (Chen, Dou, Goel, Klivans, Meka, COLT 2023), and compare with gradient descent."""

from .baseline.estimator import GDReLURegressor
from .conditioning import NonGaussianInputWarning
from .hermite import hermite_e, relu_hermite_coefficient
from .learner.estimator import MomentReLURegressor
from .learner.refine.surplus import NeuronCountWarning
from .learner.settings import LearnerSettings
from .metrics import (
    MonteCarloEstimate,
    monte_carlo_mse,
    population_inner_product,
    population_mse,
    population_variance,
)
from .moments.contraction import (
    HermiteContractionAccumulator,
    hermite_moment_contraction,
    linear_moments,
    second_moment,
)
from .moments.projected import projected_hermite_tensor
from .network import ReLUNetwork
from .teacher import Teacher

__version__ = "0.1.0"

__all__ = [
    "GDReLURegressor",
    "HermiteContractionAccumulator",
    "LearnerSettings",
    "MomentReLURegressor",
    "MonteCarloEstimate",
    "NeuronCountWarning",
    "NonGaussianInputWarning",
    "ReLUNetwork",
    "Teacher",
    "hermite_e",
    "hermite_moment_contraction",
    "linear_moments",
    "monte_carlo_mse",
    "population_inner_product",
    "population_mse",
    "population_variance",
    "projected_hermite_tensor",
    "relu_hermite_coefficient",
    "second_moment",
]
