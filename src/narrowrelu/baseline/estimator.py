"""Gradient-descent baseline: a ReLU student trained by GD, L-BFGS or Adam.

The student is :math:`g(x) = b + \\sum_{j\\le m} a_j\\,\\mathrm{relu}(w_j\\cdot x)`, trained either
on the empirical loss of a sample,

.. math::

    L_n(W, a, b) = \\frac{1}{2n}\\sum_{i=1}^n (g(x_i) - y_i)^2 + \\frac\\alpha2(\\|W\\|_F^2 + \\|a\\|^2),

or on the exact population loss against a known teacher :math:`f`,
:math:`L(W, a, b) = \\tfrac12E_{x\\sim N(0,I_d)}[(g(x)-f(x))^2] + \\frac\\alpha2(\\|W\\|_F^2+\\|a\\|^2)`
(closed form and gradient in :mod:`narrowrelu.baseline.population_loss`). The :math:`\\|a\\|^2` term is
present only when the output weights are trained.

Parameters are handled as one flat vector :math:`\\theta = (\\mathrm{vec}\\,W, a, b)`, or
:math:`(\\mathrm{vec}\\,W, a, c,
        b)` with hidden biases :math:`c` (:math:`g(x) = b + \\sum_j a_j\\mathrm{relu}(w_j\\cdot x + c_j)`);
a mask keeps the untrained parts (fixed output weights, no intercept) at their initial values.
"""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from .._parallel import one_blas_thread
from .._params import Boolean, Integer, Options, RandomState, Real, check_parameters
from .._validation import as_generator, check_positive_int
from ..conditioning import check_numeric, condition
from ..network import ReLUNetwork, pack_parameters, unpack_parameters
from .objectives import (
    EmpiricalObjective,
    PopulationObjective,
    decay_vector,
    trained_mask,
    xavier_init,
)
from .history import rescale_history
from .population_loss import teacher_terms
from .solvers import (
    Diverged,
    MiniBatches,
    TrainingHistory,
    first_order_descent,
    lbfgs_descent,
    population_gradient_descent,
)

OPTIMIZERS = ("gd", "lbfgs", "adam")
DEFAULT_LEARNING_RATES = {"gd": 0.1, "adam": 0.01, "lbfgs": None}


class GDReLURegressor(RegressorMixin, BaseEstimator):
    """A one-hidden-layer ReLU network :math:`g(x) = b + \\sum_{j\\le m} a_j\\mathrm{relu}(w_j\\cdot x)`
    trained by gradient descent, L-BFGS or Adam: the baseline for the moment learner.

    :meth:`fit` minimises the empirical loss
    :math:`\\frac1{2n}\\sum_i(g(x_i)-y_i)^2 + \\frac\\alpha2(\\|W\\|_F^2+\\|a\\|^2)`;
    :meth:`fit_population` minimises the exact population loss
    :math:`\\tfrac12E_{x\\sim N(0,I_d)}[(g(x)-f(x))^2]` (plus the same decay) against a known
    teacher :math:`f`, drawing no samples (closed form in :mod:`narrowrelu.baseline.population_loss`).

    :meth:`fit` runs on standardised data (:mod:`narrowrelu.conditioning`: :math:`y` centred and
    divided by its standard deviation, :math:`X` by its root mean square when that is not 1) with
    the decay carried over exactly, and maps the network back, so ``fit(X, c*y)`` is
    ``c * fit(X, y)``; ``learning_rate`` and ``tol`` apply to the standardised problem. A run whose
    loss or parameters become non-finite raises ``ValueError`` ("diverged").

    Parameters
    ----------
    n_neurons : int, default=8
        Width :math:`m` of the student.
    optimizer : {"gd", "lbfgs", "adam"}, default="lbfgs"
        Full-batch (or mini-batch, with ``batch_size``) gradient descent with a fixed step,
        L-BFGS (full batch only), or Adam.
    learning_rate : float or None, default=None
        Step of "gd" and "adam"; ``None`` means 0.1 for "gd" and 0.01 for "adam" (resolved in
        ``learning_rate_``). Unused by "lbfgs".
    max_iter : int, default=1000
        Most steps (iterations of L-BFGS).
    tol : float, default=1e-6
        Stop once the gradient norm over the trained parameters is at most ``tol`` (for
        "lbfgs", its largest component: scipy's ``gtol``; L-BFGS also stops once the relative
        decrease per iteration falls to :math:`10^{-15}`). With mini-batches the full gradient
        is checked once per pass over the data.
    batch_size : int or None, default=None
        Rows per step for "gd" and "adam" in :meth:`fit`; ``None`` is full batch. Ignored by
        :meth:`fit_population`.
    init_scale : float, default=1.0
        Scale of the initialisation: the hidden rows start at :math:`(\\mathrm{randn}(d, m)/\\sqrt d)^T`
        times this (Xavier) and, when trained, the output weights at :math:`\\mathrm{randn}(m)/\\sqrt m`
        times this. Small values give the saddle-to-saddle regime of GD (with fixed output
        weights only :math:`W` is scaled, and GD leaves the origin without a plateau).
    alpha : float, default=0.0
        Weight decay :math:`\\alpha`.
    train_output_weights : bool, default=True
        Train :math:`a` (initialised :math:`\\mathrm{randn}(m)/\\sqrt m` times ``init_scale``); ``False``
        fixes every :math:`a_j = 1` (the Safran–Shamir setting).
    fit_intercept : bool, default=True
        Learn :math:`b` (initialised at the target's mean); ``False`` fixes :math:`b = 0`.
    n_restarts : int, default=1
        Independent initialisations; the best is kept: by the loss on ``validation_fraction``
        held-out rows in :meth:`fit` (each restart then trains on the other rows), by the exact
        loss in :meth:`fit_population`.
    validation_fraction : float, default=0.2
        Share of rows held out when ``n_restarts > 1`` in :meth:`fit`.
    hidden_biases : bool, default=False
        Learn a bias :math:`c_j` inside each ReLU, :math:`g(x) = b + \\sum_j a_j\\mathrm{relu}(w_j\\cdot x + c_j)`
        (initialised at 0, no weight decay). :meth:`fit_population` then trains on the exact loss with
        biases (:mod:`narrowrelu.baseline.biased_population_loss`), by L-BFGS, or GD and Adam steps on
        the NumPy gradient. Without it, a teacher with biases is still fitted exactly by a bias-free
        student.
    history_every : int, "log" or None, default=None
        Checkpoints of ``history_``: every this many steps (iterations of L-BFGS), at log-spaced
        steps (``"log"``: about 40 a decade, every step up to 17, see
        :mod:`narrowrelu.baseline.history`), or (``None``) only at the start and the end. The
        iterates do not depend on it; a checkpoint costs an SVD of :math:`W` (and, outside
        population GD and full-batch GD/Adam, one evaluation of the objective).
    random_state : int, Generator or None, default=None
        Drives initialisations, the held-out split and mini-batch order.

    Attributes
    ----------
    hidden_weights_ : ndarray of shape (n_neurons, n_features)
        The trained hidden weights :math:`w_j` (rows), in the inputs' units.
    output_weights_ : ndarray of shape (n_neurons,)
        The output weights :math:`a_j` (the initial ones when not trained).
    intercept_ : float
        The intercept :math:`b` (0 when ``fit_intercept=False``).
    hidden_biases_ : ndarray of shape (n_neurons,)
        The biases :math:`c_j` (zero when ``hidden_biases=False``).
    n_iter_ : int
        Steps taken by the kept restart.
    loss_ : float
        Final training objective of the kept restart (population objective in
        :meth:`fit_population`).
    converged_ : bool
        Whether the kept restart met ``tol``.
    learning_rate_ : float or None
        The step size used (``learning_rate`` resolved; ``None`` for L-BFGS).
    history_ : dict
        Of the kept restart: ``"loss"`` (objective per step, then at the final point) and, at the
        checkpoints ``"step"``, the objective, data loss, gradient norm, unit norms, output
        weights, singular values of :math:`W` and (in :meth:`fit_population`) cosines and
        distances to the teacher's neurons; keys and shapes in
        :meth:`narrowrelu.baseline.history.TrainingHistory.as_dict`. Losses, norms and weights are
        in the units of ``X`` and ``y``; gradient norms in those of the standardised problem.
    restart_losses_ : ndarray of shape (n_restarts,)
        The selection loss of each restart.
    n_features_in_ : int
        Number of input features seen in ``fit`` (the teacher's in ``fit_population``).

    See Also
    --------
    narrowrelu.MomentReLURegressor : the method-of-moments learner this baseline is compared with.
    narrowrelu.baseline.population_loss.population_loss_gradient : the exact objective of ``fit_population``.

    References
    ----------
    .. [1] I. Safran, O. Shamir. Spurious local minima are common in two-layer ReLU neural
       networks. ICML 2018.

    Examples
    --------
    >>> from narrowrelu import Teacher, population_mse
    >>> from narrowrelu.baseline.estimator import GDReLURegressor
    >>> teacher = Teacher.orthonormal(3)
    >>> model = GDReLURegressor(n_neurons=3, optimizer="gd", max_iter=20000, tol=1e-9,
    ...                         train_output_weights=False, fit_intercept=False, random_state=0)
    >>> population_mse(model.fit_population(teacher), teacher) < 1e-10
    True
    """

    _parameter_constraints = {
        "n_neurons": Integer(1),
        "optimizer": Options(*OPTIMIZERS),
        "learning_rate": (Real(0, None, closed="neither"), Options(None)),
        "max_iter": Integer(1),
        "tol": Real(0, None),
        "batch_size": (Integer(1), Options(None)),
        "init_scale": Real(0, None, closed="neither"),
        "alpha": Real(0, None),
        "train_output_weights": Boolean(),
        "fit_intercept": Boolean(),
        "n_restarts": Integer(1),
        "validation_fraction": Real(0, 1, closed="neither"),
        "hidden_biases": Boolean(),
        "history_every": (Integer(1), Options("log", None)),
        "random_state": RandomState(),
    }

    def __init__(
        self,
        n_neurons=8,
        *,
        optimizer="lbfgs",
        learning_rate=None,
        max_iter=1000,
        tol=1e-6,
        batch_size=None,
        init_scale=1.0,
        alpha=0.0,
        train_output_weights=True,
        fit_intercept=True,
        n_restarts=1,
        validation_fraction=0.2,
        hidden_biases=False,
        history_every=None,
        random_state=None,
    ):
        self.n_neurons = n_neurons
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.init_scale = init_scale
        self.alpha = alpha
        self.train_output_weights = train_output_weights
        self.fit_intercept = fit_intercept
        self.n_restarts = n_restarts
        self.validation_fraction = validation_fraction
        self.hidden_biases = hidden_biases
        self.history_every = history_every
        self.random_state = random_state

    # ----------------------------------------------------------------- public
    def fit(self, X, y):
        """Train on the empirical squared loss of ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            Targets.

        Returns
        -------
        self
        """
        check_numeric(y, "y")
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, order="C")
        self._check_params(X.shape[1], empirical=True)
        data = condition(X, y, center_y=self.fit_intercept, allow_constant=True)
        self._fit_standard(data.X, data.y, self._standard_decay(X.shape[1], data))
        return self._to_original_units(data)

    def _fit_standard(self, X, y, decay):
        rng = as_generator(self.random_state)
        n = X.shape[0]
        if self.n_restarts > 1:
            if n < 2:
                raise ValueError(f"n_restarts = {self.n_restarts} needs held-out rows: at least 2 samples, got {n}")
            n_val = int(min(max(1, round(self.validation_fraction * n)), n - 1))
            order = rng.permutation(n)
            train, held = order[n_val:], order[:n_val]
        else:
            train = held = np.arange(n)
        biased = self.hidden_biases
        objective = EmpiricalObjective(X[train], y[train], self.n_neurons, decay, biased)
        held_out = EmpiricalObjective(X[held], y[held], self.n_neurons, np.zeros_like(objective.decay), biased)
        batches = self.batch_size is not None and self.optimizer != "lbfgs"
        mean_target = float(np.mean(y[train]))

        def run(theta, history):
            mb = MiniBatches(len(train), min(self.batch_size, len(train)), rng) if batches else None
            return self._run(theta, objective, history, mb)

        return self._fit_restarts(
            X.shape[1], rng, mean_target, run, held_out.data_loss, None, objective.decay, biased
        )

    def fit_population(self, teacher, n_features=None):
        """Train on the exact population loss against ``teacher``; no samples are drawn.

        Parameters
        ----------
        teacher : Teacher, ReLUNetwork or fitted estimator
            The target :math:`f` (with any linear part and intercept).
        n_features : int, optional
            The expected input dimension; a teacher of another dimension is refused.

        Returns
        -------
        self
        """
        if teacher is None:
            raise ValueError("fit_population needs a teacher (a ReLUNetwork or Teacher), got None")
        if n_features is not None:
            n_features = check_positive_int(n_features, "n_features")
        terms = teacher_terms(teacher, n_features)
        d = terms.n_features
        self._check_params(d, empirical=False)
        self.n_features_in_ = d
        rng = as_generator(self.random_state)
        biased = self.hidden_biases or terms.has_biases
        objective = PopulationObjective(terms, self.n_neurons, self._decay(d, biased), biased)

        def run(theta, history):
            return self._run(theta, objective, history, None)

        return self._fit_restarts(
            d, rng, terms.intercept + terms.relu_mean, run, objective.data_loss, terms, objective.decay, biased
        )

    def predict(self, X):
        """Evaluate :math:`g` on the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "hidden_weights_")
        X = validate_data(self, X, dtype=np.float64, reset=False, order="C")
        pre = X @ self.hidden_weights_.T
        if self.hidden_biases:
            pre += self.hidden_biases_
        return np.maximum(pre, 0.0) @ self.output_weights_ + self.intercept_

    def relu_network(self):
        """The fitted student as a :class:`narrowrelu.ReLUNetwork` (no linear part)."""
        check_is_fitted(self, "hidden_weights_")
        return ReLUNetwork(self.hidden_weights_, self.output_weights_, None, self.intercept_, self.hidden_biases_)

    # ----------------------------------------------------------------- internals
    def _check_params(self, n_features, empirical):
        check_parameters(self)
        if empirical and self.batch_size is not None and self.optimizer == "lbfgs":
            raise ValueError("batch_size is used by optimizer 'gd' and 'adam' only; set batch_size=None for 'lbfgs'")
        self.learning_rate_ = (
            DEFAULT_LEARNING_RATES[self.optimizer] if self.learning_rate is None or self.optimizer == "lbfgs"
            else float(self.learning_rate)
        )

    def _decay(self, n_features, biased=False):
        return decay_vector(self.n_neurons, n_features, self.alpha, self.train_output_weights, biased)

    def _standard_decay(self, n_features, data):
        """The decay that makes the standardised objective the original one over ``y_scale**2``:
        :math:`W = W'/s_x` (times :math:`s_y` with fixed output weights), :math:`a = s_y a'`."""
        decay = self._decay(n_features, self.hidden_biases)
        if self.alpha == 0:
            return decay
        hidden = self.n_neurons * n_features
        y_factor = data.y_scale if self.train_output_weights else 1.0
        with np.errstate(over="ignore", divide="ignore"):
            decay[:hidden] = self.alpha / data.x_scale / data.x_scale / y_factor / y_factor
        if not np.all(np.isfinite(decay)):
            raise ValueError(f"alpha = {self.alpha:g} on the hidden weights overflows float64 once X and y are "
                             "standardised (their scales are extreme): rescale X and y towards 1")
        return decay

    def _to_original_units(self, data):
        """Map the network fitted on standardised data (:mod:`narrowrelu.conditioning`) back."""
        with np.errstate(over="ignore"):  # losses beyond float64 in the user's units read inf
            s2 = np.float64(data.y_scale) ** 2
        net = data.to_original(self.relu_network())
        scale = 1.0 if self.train_output_weights else data.y_scale
        self.hidden_weights_ = net.hidden_weights.copy() * scale
        self.hidden_biases_ = net.hidden_biases.copy() * scale
        self.output_weights_ = net.output_weights.copy() / scale
        self.intercept_ = net.intercept
        if not np.all(np.isfinite(self.hidden_weights_)):
            raise ValueError("the fitted hidden weights overflow float64 in the units of X and y: rescale them")
        self.loss_ *= s2
        self.restart_losses_ = self.restart_losses_ * s2
        self.history_ = rescale_history(self.history_, s2, scale / data.x_scale, data.y_scale / scale)
        return self

    def _initial_theta(self, n_features, rng, mean_target, biased=False):
        m = self.n_neurons
        W = xavier_init(n_features, m, rng, self.init_scale)
        a = rng.standard_normal(m) / np.sqrt(m) * self.init_scale if self.train_output_weights else np.ones(m)
        b = mean_target if self.fit_intercept else 0.0
        return pack_parameters(W, a, None, b, np.zeros(m) if biased else None)

    def _run(self, theta, objective, history, batches):
        mask = trained_mask(self.n_neurons, objective.d, self.train_output_weights, self.fit_intercept,
                            objective.biased, self.hidden_biases)
        if self.optimizer == "lbfgs":
            return lbfgs_descent(theta, objective, mask, self.max_iter, self.tol, history)
        if self.optimizer == "gd" and isinstance(objective, PopulationObjective) and not objective.biased:
            return population_gradient_descent(
                theta, objective, mask, self.learning_rate_, self.max_iter, self.tol, history
            )
        return first_order_descent(
            theta, objective, mask, self.optimizer, self.learning_rate_, self.max_iter, self.tol, history, batches
        )

    def _fit_restarts(self, n_features, rng, mean_target, run, selection_loss, terms, decay, biased=False):
        best = None
        losses = []
        # a diverging run overflows on its way to the clear error below: no numpy warnings for it
        with one_blas_thread(), np.errstate(over="ignore", invalid="ignore"):
            for _ in range(self.n_restarts):
                history = TrainingHistory(self.n_neurons, n_features, self.history_every, terms, decay)
                try:
                    result = run(self._initial_theta(n_features, rng, mean_target, biased), history)
                except Diverged as exc:
                    raise ValueError(
                        f"{self.optimizer} diverged: the loss or the parameters became infinite or NaN at step "
                        f"{exc.step}; lower learning_rate (now {self.learning_rate_}) or use optimizer='lbfgs'"
                    ) from None
                losses.append(selection_loss(result.theta))
                if best is None or losses[-1] < losses[best[0]]:
                    best = (len(losses) - 1, result)
        result = best[1]
        W, a, _, b = unpack_parameters(result.theta, self.n_neurons, n_features, linear=False)
        if biased:
            *_, c = unpack_parameters(result.theta, self.n_neurons, n_features, linear=False, biased=True)
            self.hidden_biases_ = c.copy()
        else:
            self.hidden_biases_ = np.zeros(self.n_neurons)
        self.hidden_weights_ = W.copy()
        self.output_weights_ = a.copy()
        self.intercept_ = b
        self.n_iter_ = result.n_iter
        self.loss_ = float(result.objective)
        self.converged_ = bool(result.converged)
        self.history_ = result.history.as_dict()
        self.restart_losses_ = np.asarray(losses)
        if not self.converged_:
            warnings.warn(
                f"{self.optimizer} stopped after {result.n_iter} steps (max_iter = {self.max_iter}) "
                f"without reaching tol = {self.tol:g}; final gradient norm {result.grad_norm:.3g}"
                + (f" ({result.message})" if result.message else ""),
                ConvergenceWarning,
                stacklevel=3,
            )
        return self
