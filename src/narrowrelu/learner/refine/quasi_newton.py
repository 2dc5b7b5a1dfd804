"""L-BFGS refinement on rows held in memory: the loss and gradient of
:mod:`~narrowrelu.learner.refine.normal_equations`, minimised by scipy's L-BFGS-B (offered for
comparison with the Gauss–Newton methods)."""

from scipy.optimize import minimize

from ...network import ReLUNetwork, unpack_parameters
from .normal_equations import loss_and_normal_equations
from .result import RefinementResult


def lbfgs(network, X, y, max_iter=500, tol=1e-12, n_jobs=1):
    """Refine ``network`` on ``(X, y)`` by L-BFGS (scipy) on the same loss and gradient."""
    k, d = network.n_neurons, network.n_features
    n = X.shape[0]
    losses = []

    def fun(theta):
        loss, grad, _ = loss_and_normal_equations(theta, X, y, k, with_hessian=False, n_jobs=n_jobs)
        losses.append(loss)
        return loss / n, 2.0 * grad / n

    res = minimize(fun, network.to_vector(), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-14})
    U, lam, w, b = unpack_parameters(res.x, k, d)
    return RefinementResult(ReLUNetwork(U, lam, w, b), float(res.fun), int(res.nit), bool(res.success), losses)

