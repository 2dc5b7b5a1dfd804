"""Ordered parallel map (narrowrelu._parallel): results in input order whatever the thread count
and the completion order, with a bounded number of tasks in flight."""

import threading
import time

import pytest

from narrowrelu._parallel import ordered_map


@pytest.mark.parametrize("n_jobs", [1, 2, 3])
def test_results_come_back_in_input_order(n_jobs):
    def slow_first(i):
        time.sleep(0.002 * (10 - i))  # early items finish last
        return i * i

    assert list(ordered_map(slow_first, range(10), n_jobs)) == [i * i for i in range(10)]
    assert list(ordered_map(slow_first, [], n_jobs)) == []


def test_at_most_two_tasks_per_thread_in_flight():
    lock = threading.Lock()
    started = []
    consumed = 0

    def work(i):
        with lock:
            started.append(i)
        return i

    for i, result in enumerate(ordered_map(work, range(20), 2)):
        assert result == i
        consumed += 1
        time.sleep(0.001)
        with lock:
            # submitted before result i was handed over: at most i + 1 + 2 * n_jobs items
            assert len(started) <= consumed + 4
    assert consumed == 20
