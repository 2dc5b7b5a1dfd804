"""The moment learner, stage by stage, in the order a fit runs them.

- :mod:`~narrowrelu.learner.sources`: replayable row blocks (in-memory data or an oracle);
- :mod:`~narrowrelu.learner.passes`: the passes over a source (linear part, :math:`M_2`,
  products, projections, final regression);
- :mod:`~narrowrelu.learner.subspace`: the neurons' span and its update, the lift of directions;
- :mod:`~narrowrelu.learner.decompose`, :mod:`~narrowrelu.learner.cluster`,
  :mod:`~narrowrelu.learner.candidates`: Jennrich candidates and their multiscale clustering;
- :mod:`~narrowrelu.learner.regression`, :mod:`~narrowrelu.learner.output_fit`: the sparse output fit;
- :mod:`~narrowrelu.learner.rounds`: the round loop, a plain function returning a :class:`MomentFit`;
- :mod:`~narrowrelu.learner.refine`: local least-squares refinement;
- :mod:`~narrowrelu.learner.estimator`: :class:`MomentReLURegressor`, the thin scikit-learn class.
"""
