"""Input checks shared by every public entry point.

Each helper returns a cleaned copy (float64, C-contiguous) or raises a ``ValueError`` whose
message names the argument and the problem. Kernels downstream trust what these return.
"""

import numbers

import numpy as np


def as_generator(random_state, name="random_state"):
    """Turn ``None``, a non-negative int, a ``SeedSequence``, a ``RandomState`` or a ``Generator``
    into a ``Generator``; anything else (a negative int, a float, a bool) raises a ``ValueError``
    naming ``name``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    seed = isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool) and random_state >= 0
    if random_state is None or seed or isinstance(random_state, np.random.SeedSequence):
        return np.random.default_rng(random_state)
    raise ValueError(
        f"{name} must be None, a non-negative int (a seed), a SeedSequence, a RandomState or a numpy Generator; "
        f"got {random_state!r}"
    )


def check_finite_array(a, name, ndim=None, shape=None):
    """Return ``a`` as a float64 C-contiguous copy-if-needed array after checking it.

    Raises ``ValueError`` naming ``name`` when ``a`` is not numeric, has the wrong number of
    dimensions or shape, or holds NaN or infinity.
    """
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if shape is not None:
        for axis, (got, want) in enumerate(zip(arr.shape, shape)):
            if want is not None and got != want:
                raise ValueError(
                    f"{name} has shape {arr.shape}, expected {tuple('*' if s is None else s for s in shape)} "
                    f"(axis {axis} is {got}, must be {want})"
                )
    # a sum is finite when every term is (one read, no temporary); only a non-finite sum, which
    # overflow of finite values can also cause, needs the element-wise check
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr.sum()
    if not np.isfinite(total) and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or infinity)")
    return arr if arr.ndim == 0 else np.ascontiguousarray(arr)


def check_data(X, y=None, n_features=None):
    """Check a design matrix (and target) and return float64 C-contiguous versions."""
    X = check_finite_array(X, "X", ndim=2)
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, expected {n_features}")
    if y is None:
        return X
    y = check_finite_array(y, "y", ndim=1)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} entries")
    return X, y


def check_unit_directions(G, name="directions"):
    """Return the rows of ``G`` scaled to unit norm; refuse zero-norm rows."""
    G = check_finite_array(G, name, ndim=2)
    norms = np.linalg.norm(G, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"{name} has zero-norm row(s) {np.flatnonzero(norms == 0).tolist()}; "
                         "a unit direction is required")
    return G / norms[:, None]


def check_positive_int(value, name, minimum=1):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_count(value, name, minimum=1):
    """Like :func:`check_positive_int`, also accepting an integral float (``1e7``) for a count."""
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        value = int(value)
    return check_positive_int(value, name, minimum)
