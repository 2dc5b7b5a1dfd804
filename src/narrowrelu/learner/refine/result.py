"""What every refinement method returns."""

from dataclasses import dataclass, field

from ...network import ReLUNetwork


@dataclass
class RefinementResult:
    """A refined network, its final training MSE ``loss``, the iterations made, whether the
    method converged, and the training loss after each iteration."""

    network: ReLUNetwork
    loss: float
    n_iter: int
    converged: bool
    losses: list = field(default_factory=list)
