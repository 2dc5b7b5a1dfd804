"""Measuring tools of the performance suite: best-of timings, thread settings, result records,
peak memory, planted data and exact scores."""

import resource
import time

import numpy as np

from ...network import n_parameters


# ------------------------------------------------------------------ measuring
def best_time(fn, repeats):
    """Best wall time of ``repeats`` calls of ``fn``."""
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def set_threads(n):
    """Numba's thread count (BLAS is set by the caller with threadpoolctl)."""
    import numba

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def record(name, seconds=None, ratio=None, target=None, ok=None, note="", **extra):
    """One result row. ``ok`` is derived from ``ratio <= target`` unless given."""
    if ok is None and target is not None and ratio is not None:
        ok = bool(ratio <= target)
    return {"name": name, "seconds": seconds, "ratio": ratio, "target": target, "ok": ok, "note": note, **extra}


def peak_rss_mb():
    """Peak resident set size of this process in MB: ``VmHWM`` of ``/proc/self/status`` (the
    high-water mark of this process's own address space) when available, else ``ru_maxrss``.

    ``ru_maxrss`` alone can be inherited: Linux carries the pre-``exec`` high-water mark of the
    address space a child was spawned from (the parent's, with ``vfork``) into the child's."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def planted_data(n, d, k, seed, noise=0.0):
    """A random teacher and ``n`` samples, labels with noise of standard deviation
    ``noise * std f``; returns ``(teacher, X, y, sigma)``."""
    from ...metrics import population_variance
    from ...teacher import Teacher

    teacher = Teacher.random(d, k, random_state=seed)
    sigma = noise * float(np.sqrt(population_variance(teacher)))
    X, y = teacher.with_noise(sigma).sample(n, random_state=seed + 1)
    return teacher, X, y, sigma


def _direction(d, seed):
    g = np.random.default_rng(seed).standard_normal(d)
    return g / np.linalg.norm(g)


def _network_arrays(net):
    return (net.hidden_weights, net.output_weights, net.linear_weights, np.atleast_1d(net.intercept))


def same_network(a, b):
    """Bit-identical networks (every weight array ``np.array_equal``)."""
    return all(np.array_equal(u, v) for u, v in zip(_network_arrays(a), _network_arrays(b)))


def relative_mse(network, teacher):
    from ...metrics import population_mse, population_variance

    return float(population_mse(network, teacher) / population_variance(teacher))


def excess_over_rate(network, teacher, sigma, n):
    """Population MSE against the teacher over the parametric rate :math:`\\sigma^2p/n`,
    :math:`p = k(d+1)+d+1` (``nan`` without noise)."""
    from ...metrics import population_mse

    d, k = teacher.n_features, teacher.n_neurons
    rate = sigma**2 * n_parameters(k, d) / n
    return float(population_mse(network, teacher) / rate) if rate > 0 else float("nan")
