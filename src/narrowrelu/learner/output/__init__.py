"""The output regression of a round: Gram statistics of the candidate features from the
projections a pass kept (:mod:`~narrowrelu.learner.output.gram_from_cache`), and the sparse
choice of :math:`k` directions with their output weights on them
(:mod:`~narrowrelu.learner.output.sparse_regression`)."""
