"""``moment_auto``, the call without k, in ``narrowrelu bench sample-complexity`` and ``bench race``."""

import numpy as np
import pytest

from narrowrelu.bench import race
from narrowrelu.bench.sample_complexity.methods import METHODS
from narrowrelu.bench.sample_complexity.sweep import Job, run_job


def test_moment_auto_is_a_sweep_method_scored_exactly_with_the_k_it_chose():
    assert METHODS["moment_auto"].fitter == "moment_auto" and not METHODS["moment_auto"].capped
    (rec,) = run_job(Job("random", 5, 2, 3000, 0, 0.1, "moment_auto", ("moment_auto",)))
    assert rec["method"] == "moment_auto" and rec["error"] is None
    assert rec["scoring"] == "exact" and np.isfinite(rec["mse"])
    assert rec["width"] == 2  # the teacher's k, found without being told


def test_race_summary_reports_the_auto_call_against_the_fastest_peer():
    def rec(method, seconds, reached, **extra):
        return {"n": 10, "d": 2, "k": 1, "method": method, "seconds": seconds, "reached": reached,
                "status": "ok", "timed_out": False, **extra}

    rows = race.summarise([rec("moment", 1.0, True), rec("moment_auto", 2.0, True, k_chosen=1),
                           rec("mlp_4k", 5.0, True)])
    (s,) = rows
    assert s["fastest_peer"] == "mlp_4k"
    assert s["auto_seconds"] == 2.0 and s["auto_k"] == 1 and s["auto_speedup"] == pytest.approx(2.5)
    assert "moment_auto 2.00 s, k = 1, speed-up 2.5x" in race.format_summary(rows)
