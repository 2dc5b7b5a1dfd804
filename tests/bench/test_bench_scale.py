"""Tests of ``narrowrelu bench scale``: a tiny run on an in-process cluster, and argument errors."""

import json

import pytest

from narrowrelu.bench.scale import HEADER, format_row
from narrowrelu.cli import main

distributed = pytest.importorskip("distributed")


@pytest.mark.cluster
def test_tiny_run_on_a_running_scheduler_writes_every_field(tmp_path, capsys):
    out = tmp_path / "scale.json"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        status = main(["bench", "scale", "--n", "4000", "8000", "--d", "5", "--k", "2", "--chunk-size", "2000",
                       "--scheduler", cluster.scheduler_address, "--json", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert HEADER in printed
    records = json.loads(out.read_text())["records"]
    assert [r["n"] for r in records] == [4000, 8000]
    for r in records:
        assert r["workers"] == 1 and len(r["peak_worker_mb"]) == 1 and r["peak_worker_mb"][0] > 0
        assert r["passes"] >= 4 and r["seconds"] > 0
        assert r["relative_mse"] < 1e-2
        assert format_row(r) in printed


@pytest.mark.parametrize("argv", [["--k", "0"], ["--k", "6", "--d", "5"], ["--n", "10"], ["--workers", "0"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "scale", *argv])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err
