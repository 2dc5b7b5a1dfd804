"""The moment learner. The folders read as the pipeline, in the order a fit runs it:

- :mod:`~narrowrelu.learner.sources`: where rows come from (the :class:`~narrowrelu.learner.sources.Source`
  protocol; in-memory arrays and oracles; the held-out split; the projections a round keeps);
- :mod:`~narrowrelu.learner.passes`: the passes over a source (linear part, :math:`M_2`,
  products, projections, final regression);
- :mod:`~narrowrelu.learner.span`: the neurons' span, its update, the lift of directions;
- :mod:`~narrowrelu.learner.candidates`: a round's candidate directions, from named generators
  (Jennrich pairs and their clustering, the CP polish, the joint tensor fit);
- :mod:`~narrowrelu.learner.output`: the sparse output regression that chooses among them;
- :mod:`~narrowrelu.learner.rounds`: the round loop, :func:`~narrowrelu.learner.rounds.fit_moments`;
- :mod:`~narrowrelu.learner.refine`: the local least-squares refinement;
- :mod:`~narrowrelu.learner.estimator`: :class:`~narrowrelu.MomentReLURegressor`, the thin
  scikit-learn class; :mod:`~narrowrelu.learner.units`: what a fit returns, in the user's units.

Beside the pipeline: :mod:`~narrowrelu.learner.settings` (the research knobs and the rules
built on them), :mod:`~narrowrelu.learner.directions` (unit rows compared projectively, a leaf
module), :mod:`~narrowrelu.learner.dask` (the same stages on a dask cluster). The inputs'
standardisation is :mod:`narrowrelu.conditioning`; the math, docs/design/algorithm.md.
"""
