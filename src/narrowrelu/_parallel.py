"""Ordered parallel map over threads: results come back in input order, so sums built from them do not depend on the thread count."""

from concurrent.futures import ThreadPoolExecutor


def ordered_map(fn, items, n_jobs):
    """``map(fn, items)`` with results in input order, at most ``2 * n_jobs`` in flight."""
    if n_jobs == 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        pending = []
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * n_jobs:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()
