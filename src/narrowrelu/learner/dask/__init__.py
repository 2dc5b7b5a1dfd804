"""The moment learner on a dask cluster: sources whose passes run where the blocks live
(:mod:`~narrowrelu.learner.dask.sources`) and the estimator's way onto them
(:mod:`~narrowrelu.learner.dask.fit`). The standardisation of dask arrays is
:mod:`narrowrelu.conditioning.dask_arrays`."""
