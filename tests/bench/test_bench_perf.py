"""Tests of ``narrowrelu bench perf``: the JSON records, the table and the exit status (not speed)."""

import json
import re

import numpy as np
import pytest

from narrowrelu.bench import perf
from narrowrelu.bench.perf.measure import record, same_network
from narrowrelu.bench.perf.sections import AUTO_OVER_TOLD_TARGET, compile_section, warm_up
from narrowrelu.cli import main
from narrowrelu.network import ReLUNetwork

TINY = ["--n", "3000", "--d", "6", "--k", "2", "--n2", "2000", "--d2", "8", "--k2", "1", "--seeds", "2",
        "--oracle-n", "4000", "--oracle-d", "5", "--oracle-k", "2", "--compile-n", "2000", "--repeats", "1",
        "--chunk-size", "1024"]


@pytest.fixture(scope="module")
def tiny_records(tmp_path_factory):
    path = tmp_path_factory.mktemp("perf") / "perf.json"
    # plain runs report and exit 0 whatever the ratios (tiny sizes miss the speed targets)
    assert main(["bench", "perf", *TINY, "--skip", "compile", "--json", str(path)]) == 0
    with open(path) as fh:
        return json.load(fh)


def test_records_have_the_schema(tiny_records):
    assert isinstance(tiny_records, list) and tiny_records
    for r in tiny_records:
        assert {"name", "seconds", "ratio", "target", "ok"} <= set(r)
        assert isinstance(r["name"], str)
        assert r["seconds"] is None or r["seconds"] >= 0
        if r["target"] is not None and r["ok"] is not None and "peak_rss_mb" not in r:
            assert r["ok"] == (r["ratio"] <= r["target"])


def test_every_section_but_the_skipped_one_is_there(tiny_records):
    names = {r["name"] for r in tiny_records}
    expected = {"reference.XtX", "contraction.order4", "oracle.peak_rss", "oracle.throughput", "threads2.contraction",
                "threads2.fit"}
    for prefix in ("fit", "fit2"):
        expected |= {f"{prefix}.{s}" for s in perf.STAGES}
        expected |= {f"{prefix}.{s}" for s in ("default_total", "moment_stages", "refinement", "raw_excess",
                                                "refined_excess", "raw_rel_mse", "auto_total", "auto_over_told",
                                                "auto_refined_excess")}
    assert expected <= names
    assert not any(n.startswith("compile.") for n in names)


def test_targets_and_memory_record(tiny_records):
    by_name = {r["name"]: r for r in tiny_records}
    assert by_name["contraction.order4"]["target"] == perf.CONTRACTION_TARGET
    assert by_name["fit.default_total"]["target"] == perf.FIT_TARGET
    assert by_name["fit2.default_total"]["target"] == perf.FIT2_TARGET
    assert by_name["fit.refined_excess"]["target"] == perf.EXCESS_TARGET
    # the default path is what is timed: the refinement ran, on every row
    assert by_name["fit.refinement"]["seconds"] > 0 and "on all 3000 rows" in by_name["fit.refinement"]["note"]
    parts = ("moment_stages", "refinement", "other")
    assert sum(by_name[f"fit.{p}"]["seconds"] for p in parts) == pytest.approx(by_name["fit.default_total"]["seconds"])
    assert by_name["fit.raw_rel_mse"]["target"] == perf.RAW_MSE_TARGET
    # the call without k is timed too, and set against the call told k on the same data
    auto = by_name["fit.auto_total"]
    assert auto["seconds"] > 0 and auto["ratio"] > 0 and re.search(r"k chosen \d+, \d+$", auto["note"])
    assert by_name["fit.auto_over_told"]["target"] == AUTO_OVER_TOLD_TARGET
    assert by_name["fit.auto_over_told"]["ratio"] > 0
    mem = by_name["oracle.peak_rss"]
    assert mem["target"] == perf.ORACLE_RSS_TARGET_MB
    assert 0 < mem["peak_rss_mb"] < 100_000
    assert mem["ok"] == (mem["peak_rss_mb"] < mem["target"])
    thr = by_name["oracle.throughput"]
    assert thr["passes"] == int(thr["passes"]) and thr["passes"] >= 5  # linear + 4 in round 1, at least
    # results with two threads are bit-identical to one thread
    assert by_name["threads2.contraction"]["ok"] is True
    assert by_name["threads2.fit"]["ok"] is True


def test_the_warm_up_fits_come_before_the_timed_ones(monkeypatch):
    calls = []
    monkeypatch.setattr(perf, "warm_up",
                        lambda seed, noise: calls.append("warm_up") or record("warm_up.fits", 0.1, None))
    monkeypatch.setattr(perf, "fit_section", lambda size, *a: calls.append(size) or ([], None))
    rows = perf.run_suite(n=500, d=4, k=1, n2=400, d2=3, k2=1, seeds=(0,), repeats=1,
                          skip=("oracle", "threads", "compile", "contraction"))
    assert calls[0] == "warm_up" and len(calls) == 3
    assert "warm_up.fits" in [r["name"] for r in rows]


def test_warm_up_fits_both_calls_untimed():
    row = warm_up(0, 0.1)
    assert row["name"] == "warm_up.fits" and row["seconds"] > 0 and row["ratio"] is None


def _fake_rows(ok):
    return [
        record("reference.XtX", 1.0, 1.0),
        record("contraction.order4", 1.1, 1.1, 1.2),
        record("fit.total", 5.0, 5.0 if ok else 9.0, 8.0),
        record("oracle.peak_rss", 3.0, 0.5, 1024.0, ok=ok, peak_rss_mb=500.0 if ok else 2000.0),
    ]


@pytest.mark.parametrize("ok", [True, False])
@pytest.mark.parametrize("check", [True, False])
def test_exit_status_fails_only_with_check_and_a_miss(monkeypatch, capsys, ok, check):
    monkeypatch.setattr(perf, "run_suite", lambda **kw: _fake_rows(ok))
    status = main(["bench", "perf", *(["--check"] if check else [])])
    err = capsys.readouterr().err
    assert status == (1 if check and not ok else 0)
    if not ok:
        assert "fit.total: ratio 9, target <= 8" in err
        assert "oracle.peak_rss: peak RSS 2000 MB, target < 1024 MB" in err
        assert "contraction.order4" not in err
    else:
        assert "miss" not in err


def test_table_lists_every_record():
    table = perf.format_table(_fake_rows(False))
    lines = table.splitlines()
    assert lines[0].split()[:5] == ["stage", "seconds", "ratio", "target", "ok"]
    assert [line.split()[0] for line in lines[1:]] == [r["name"] for r in _fake_rows(False)]
    assert "NO" in lines[3] and "yes" in lines[2]


def test_bad_arguments_are_refused():
    with pytest.raises(SystemExit):
        main(["bench", "perf", "--skip", "nosuchsection"])
    with pytest.raises(SystemExit):
        main(["bench", "perf", "--d", "3", "--k", "4"])


def test_same_network_is_bitwise():
    a = ReLUNetwork(np.eye(2), np.array([1.0, -1.0]), np.zeros(2), 0.5)
    b = ReLUNetwork(np.eye(2), np.array([1.0, -1.0]), np.zeros(2), 0.5)
    c = ReLUNetwork(np.eye(2), np.array([1.0, -1.0 + 1e-16 * 4]), np.zeros(2), 0.5)
    assert same_network(a, b)
    assert not same_network(a, c)


def test_compile_section_runs_in_fresh_processes():
    rows = compile_section(500, 4, 1, 0, ref=1.0)
    names = [r["name"] for r in rows]
    assert names == ["compile.cold.import", "compile.cold.first_fit", "compile.warm.import",
                     "compile.warm.first_fit", "compile.cold_cost"]
    assert all(r["seconds"] is not None for r in rows)
