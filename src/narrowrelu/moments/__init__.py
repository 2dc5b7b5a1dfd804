"""Moment statistics of :math:`(x, y)` that never form a :math:`d^m` array.

- :mod:`~narrowrelu.moments.contraction`: streaming contractions
  :math:`E[y\\,He_m(x)](g,\\dots,g,\\cdot,\\cdot)` as weighted Gram matrices, :math:`M_2`, :math:`E[yx]`;
- :mod:`~narrowrelu.moments.products`: thin products :math:`M_2P`, :math:`C_jP` without the :math:`d\\times d` matrices;
- :mod:`~narrowrelu.moments.projected`: full :math:`k^m` Hermite tensors of projected data;
- :mod:`~narrowrelu.moments.model`: the same moments of a known network, exactly (control variates);
- :mod:`~narrowrelu.moments.thin`: thin products :math:`XS`, :math:`X^TW` by numba kernels;
- ``_kernels`` (numba) and ``_blas`` (weighted Gram matrices by symmetric rank updates) do the arithmetic.
"""
