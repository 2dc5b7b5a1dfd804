"""The estimator's way onto dask: checking dask arrays, the source of
``fit_oracle(..., backend="dask")``, and predictions on dask arrays. dask is an optional extra
(``pip install "narrowrelu[dask]"``); this module imports it only when a dask input or
``backend="dask"`` asks for it.

See :mod:`narrowrelu.learner.dask.sources` for how a pass runs on a cluster and
docs/guide/distributed.md for the set-up.
"""

import numpy as np

from .sources import DaskOracleSource

EXTRA = "pip install 'narrowrelu[dask]'"


def is_dask_collection(obj):
    """Whether ``obj`` is a dask collection (checked without importing dask)."""
    return callable(getattr(obj, "__dask_graph__", None))


def require_dask(what):
    """``dask.array``, or an ``ImportError`` naming the optional extra."""
    try:
        import dask.array as da
    except ImportError as exc:
        raise ImportError(f"{what} needs dask, an optional extra of narrowrelu: {EXTRA}") from exc
    return da


def check_dask_data(X, y):
    """``(X, y)`` as float64 dask arrays with the same row chunks, all of ``X``'s columns in one
    chunk (rechunked if not); ``y`` may be a NumPy array (then sent to the workers once)."""
    da = require_dask("fitting on dask arrays")
    import dask

    if not isinstance(X, da.Array):
        hint = " (convert a dask DataFrame with .to_dask_array(lengths=True))" if hasattr(X, "to_dask_array") else ""
        raise ValueError(f"X must be a dask array when y or X is a dask collection, got {type(X).__name__}{hint}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-dimensional (n_samples, n_features), got shape {X.shape}")
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError("X has unknown chunk sizes: call X.compute_chunk_sizes() first")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"X must hold real numbers, got dtype {X.dtype}")
    X = X.astype(np.float64)  # as a NumPy fit converts X (the standardisation's sums need float64)
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    if is_dask_collection(y):
        if not isinstance(y, da.Array):
            raise ValueError(f"y must be a dask or NumPy array, got {type(y).__name__}")
    else:
        y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X of shape {X.shape}, got {y.shape}")
    if isinstance(y, da.Array):
        if any(np.isnan(c) for c in y.chunks[0]):
            raise ValueError("y has unknown chunk sizes: call y.compute_chunk_sizes() first")
        y = y.rechunk((X.chunks[0],)).astype(np.float64)
    else:
        (y,) = dask.persist(da.from_array(y, chunks=(X.chunks[0],)))
    return X, y


def dask_oracle_source(oracle, n_samples, n_features, chunk_size, n_validation, seed, refine_seed):
    """The source of ``fit_oracle(..., backend="dask")``:
    :class:`~narrowrelu.learner.dask.sources.DaskOracleSource`, or an ``ImportError`` naming the
    optional extra."""
    require_dask('fit_oracle(..., backend="dask")')
    return DaskOracleSource(oracle, n_samples, n_features, chunk_size, n_validation, seed, refine_seed)


def _predict_block(X, network):
    return network.evaluate_trusted(np.ascontiguousarray(X, dtype=np.float64))


def predict_dask(network, X):
    """``network``'s predictions on the dask array ``X``, as a lazy dask array (one task per block)."""
    da = require_dask("predicting on a dask array")
    if not isinstance(X, da.Array) or X.ndim != 2 or X.shape[1] != network.n_features:
        raise ValueError(f"X must be a dask array of shape (n_samples, {network.n_features}), "
                         f"got {getattr(X, 'shape', X)}")
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    return X.map_blocks(_predict_block, network, drop_axis=1, dtype=np.float64)
