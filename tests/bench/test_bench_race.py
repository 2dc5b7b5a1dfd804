"""Tests of ``narrowrelu bench race``: the table, the JSON records, the time budget and the
argument checks (tiny sizes; not speed)."""

import json
import math
import os

import pytest

from narrowrelu.bench import race
from narrowrelu.bench.race import contestants
from narrowrelu.bench.race.contestants import run_in_child
from narrowrelu.cli import main

TINY = ["--sizes", "3000:5:2", "--max-peer-seconds", "60"]
FIELDS = {"n", "d", "k", "p", "seed", "noise", "sigma", "rate", "method", "status", "timed_out", "seconds",
          "reference_seconds", "ratio", "excess", "excess_stderr", "excess_over_rate", "reached", "budget_seconds"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("race") / "race.json"
    status = main(["bench", "race", *TINY, "--json", str(path)])
    with open(path) as fh:
        return status, json.load(fh)


def test_end_to_end_table_and_summary(tmp_path, capsys):
    path = tmp_path / "race.json"
    assert main(["bench", "race", "--sizes", "3000:5:2", "2000:4:1", "--max-peer-seconds", "60",
                 "--json", str(path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for method in race.METHODS:
        assert sum(line.startswith(method + " ") for line in lines) == 2, method
    assert "x XtX" in out and "/rate" in out
    # one summary line per size
    assert any(line.startswith("n=3e+03 d=5 k=2: ") for line in lines)
    assert any(line.startswith("n=2e+03 d=4 k=1: ") for line in lines)
    records = json.loads(path.read_text())["records"]
    assert [(r["n"], r["method"]) for r in records] == [(n, m) for n in (3000, 2000) for m in race.METHODS]


def test_json_has_a_record_per_method_with_the_fields(tiny_run):
    status, result = tiny_run
    assert status == 0
    records = result["records"]
    assert [r["method"] for r in records] == list(race.METHODS)
    for r in records:
        assert FIELDS <= set(r), FIELDS - set(r)
        assert r["status"] == "ok" and not r["timed_out"]
        assert r["p"] == r["k"] * (r["d"] + 1) + r["d"] + 1
        assert r["rate"] == pytest.approx(r["sigma"] ** 2 * r["p"] / r["n"])
        assert r["ratio"] == pytest.approx(r["seconds"] / r["reference_seconds"])
        assert r["excess_over_rate"] == pytest.approx(r["excess"] / r["rate"])
        assert r["reached"] == (r["excess"] <= race.RATE_FACTOR * r["rate"])
        if r["method"].startswith("mlp"):
            assert r["excess_stderr"] > 0 and r["mse_kind"].startswith("monte carlo")
        else:
            assert r["excess_stderr"] is None and r["mse_kind"] == "exact"
    moment = records[0]
    assert math.isfinite(moment["excess"]) and moment["excess"] >= 0
    assert math.isfinite(moment["raw_excess"]) and moment["refine_seconds"] >= 0
    (summary,) = result["summary"]
    assert (summary["n"], summary["d"], summary["k"]) == (3000, 5, 2)


def test_a_peer_over_budget_is_reported_timed_out(tmp_path, capsys):
    path = tmp_path / "race.json"
    status = main(["bench", "race", "--sizes", "3000:5:2", "--methods", "moment", "mlp_default",
                   "--max-peer-seconds", "0.01", "--json", str(path)])
    assert status == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("mlp_default"))
    assert "> 0.01" in row and "timed out after 0.01 s" in row
    assert "no peer reached 1.2x the rate" in out and "timed out: mlp_default" in out
    moment, peer = json.loads(path.read_text())["records"]
    assert peer["timed_out"] and peer["status"] == "timed out"
    assert peer["seconds"] is None and peer["excess"] is None and peer["budget_seconds"] == 0.01
    assert math.isfinite(moment["excess"])


def test_repeats_keep_each_methods_fastest_run_and_stop_at_a_failure(monkeypatch):
    """``race_size(..., repeats=r)``: r runs of each method, the record of the fastest; a run that
    does not end "ok" is the record at once (stubbed runs: seconds 3, 1, 2 in turn)."""
    runs = []

    def fake_run(method, *args, **kwargs):
        runs.append(method)
        seconds = (3.0, 1.0, 2.0)[(len(runs) - 1) % 3]
        return {"seconds": seconds, "excess": seconds, "excess_stderr": None, "mse_kind": "exact",
                "raw_excess": 0.0, "refine_seconds": 0.0, "rounds": 1, "k_chosen": 2}

    monkeypatch.setattr(contestants, "fit_and_score", lambda method, *a, **k: fake_run(method))
    monkeypatch.setattr(contestants, "run_in_child", lambda method, *a, **k: ("ok", fake_run(method)))
    monkeypatch.setattr(contestants, "_warm_up", lambda *a, **k: None)
    records = contestants.race_size(2000, 4, 2, 0, 0.1, ("moment", "mlp_4k"), 60, repeats=3)
    assert runs == ["moment"] * 3 + ["mlp_4k"] * 3
    assert [(r["method"], r["seconds"], r["excess"], r["repeats"]) for r in records] == [
        ("moment", 1.0, 1.0, 3), ("mlp_4k", 1.0, 1.0, 3)]

    runs.clear()
    def timed_out(method, *args, **kwargs):
        runs.append(method)
        return "timed out", None

    monkeypatch.setattr(contestants, "run_in_child", timed_out)
    records = contestants.race_size(2000, 4, 2, 0, 0.1, ("mlp_4k",), 60, repeats=3)
    assert runs == ["mlp_4k"] and records[0]["timed_out"]


def test_run_in_child_kills_a_slow_child():
    from narrowrelu.teacher import Teacher

    teacher = Teacher.random(5, 2, random_state=0)
    X, y = teacher.sample(3000, random_state=1)
    status, payload = run_in_child("mlp_default", X, y, teacher, 0, None, 1000, budget=0.01)
    assert (status, payload) == ("timed out", None)
    status, payload = run_in_child("gd_k", X, y, teacher, 0, 5, 1000, budget=60)
    assert status == "ok" and payload["n_iter"] <= 5 and math.isfinite(payload["excess"])


def test_summary_picks_the_fastest_peer_reaching_the_rate():
    def rec(method, seconds, reached, status="ok"):
        return {"n": 10, "d": 2, "k": 1, "method": method, "seconds": seconds, "reached": reached,
                "status": status, "timed_out": status == "timed out"}

    rows = race.summarise([rec("moment", 1.0, True), rec("gd_k", 2.0, False), rec("gd_2k", 8.0, True),
                           rec("mlp_4k", 5.0, True), rec("mlp_default", None, False, "timed out")])
    (s,) = rows
    assert s["fastest_peer"] == "mlp_4k" and s["speedup"] == pytest.approx(5.0) and s["goal_met"]
    assert s["timed_out"] == ["mlp_default"]
    assert "speed-up 5.0x" in race.format_summary(rows)
    (s,) = race.summarise([rec("moment", 1.0, True), rec("gd_k", 2.0, False)])
    assert s["fastest_peer"] is None and s["speedup"] is None
    assert "no peer reached 1.2x the rate" in race.format_summary([s])


def test_parse_size():
    assert race.parse_size("1e6:100:5") == (1_000_000, 100, 5)
    assert race.parse_size("5e4:200:3") == (50_000, 200, 3)
    for bad in ("1e6:100", "x:1:1", "1e6:100:5:1", "1.5:2:1", "10:2:3", "10:0:0"):
        with pytest.raises(ValueError):
            race.parse_size(bad)


@pytest.mark.parametrize(
    "argv",
    [
        ["--sizes", "3000:5"],
        ["--sizes", "abc:5:2"],
        ["--sizes", "3000:5:6"],
        ["--noise", "0"],
        ["--noise", "-0.1"],
        ["--max-peer-seconds", "0"],
        ["--max-peer-seconds", "-5"],
        ["--methods", "moment", "sgd"],
        ["--max-iter", "0"],
        ["--json", "{missing}/race.json"],
        ["--json", "{file}/race.json"],
    ],
)
def test_bad_arguments_exit_2(argv, tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    argv = [a.replace("{missing}", str(tmp_path / "no_such_dir")).replace("{file}", str(tmp_path / "a_file"))
            for a in argv]
    with pytest.raises(SystemExit) as exc:
        main(["bench", "race", "--sizes", "3000:5:2", *argv] if argv[0] != "--sizes" else ["bench", "race", *argv])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing was computed
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and captured.err.rstrip().splitlines()[-1] == errors[0]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_json_directory_exits_2_before_computing(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(SystemExit) as exc:
            main(["bench", "race", "--sizes", "3000:5:2", "--json", str(locked / "race.json")])
    finally:
        locked.chmod(0o700)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "not writable" in captured.err
    assert not (locked / "race.json").exists()
