"""The memory a command's fits will need, checked against what the machine has free before anything
is allocated.

Each estimate is linear in the number of rows: :math:`8\\,n\\,(a\\,d + b\\,w + c)` bytes for ``n`` rows
of ``d`` features and a model of width ``w``, plus a fixed overhead. The coefficients were measured
as the peak resident memory of one fit (``resource.getrusage``) at n = 1e5 to 3e6, d = 20 and 50,
k = 4 and 12, and rounded up (docs: the estimate is within 2x above the measured peak), so that a
refused fit is one that could not have run, not one that barely would.
"""

import os

from ..learner.rounds import ORACLE_CACHE_BYTES

GIB = 2**30


def available_bytes():
    """The memory the system can give a new allocation without swapping (``MemAvailable`` of
    /proc/meminfo, else the free physical pages); ``None`` when neither is known."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def linear_bytes(n, d, width, per_feature, per_unit, per_row, overhead):
    """:math:`8\\,n\\,(\\text{per\\_feature}\\cdot d + \\text{per\\_unit}\\cdot w + \\text{per\\_row})
    + \\text{overhead}`."""
    return int(8 * n * (per_feature * d + per_unit * width + per_row) + overhead)


def moment_fit_bytes(n, d, k):
    """Peak memory of drawing ``n`` rows and fitting :class:`~narrowrelu.MomentReLURegressor`
    at ``k`` neurons on them (the data, the standardised copy, the projection cache)."""
    return linear_bytes(n, d, k, 1.5, 4, 8, ORACLE_CACHE_BYTES)


def format_bytes(n_bytes):
    """``n_bytes`` with three significant figures, in TB, GB or MB (binary units)."""
    if n_bytes >= 2**40:
        return f"{n_bytes / 2**40:.3g} TB"
    if n_bytes >= GIB:
        return f"{n_bytes / GIB:.3g} GB"
    return f"{n_bytes / 2**20:.3g} MB"


def shortfall(needed, available=None):
    """Why ``needed`` bytes cannot be allocated (``None`` when they can, or when the free
    memory is unknown): ``"needs about X, Y available"``."""
    available = available_bytes() if available is None else available
    if available is None or needed <= available:
        return None
    return f"needs about {format_bytes(needed)} of memory, {format_bytes(available)} available"
