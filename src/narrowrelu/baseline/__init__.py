"""The gradient-descent baseline: exact Gaussian population loss
(:mod:`~narrowrelu.baseline.population_loss`), objectives over one flat parameter vector
(:mod:`~narrowrelu.baseline.objectives`), solvers (:mod:`~narrowrelu.baseline.solvers`), numba
kernels (``_kernels``) and :class:`GDReLURegressor` (:mod:`~narrowrelu.baseline.estimator`).
"""
