"""``narrowrelu bench safran-shamir`` (narrowrelu.bench.safran_shamir): the Wilson interval, the
shipped anchors and the command's JSON output and argument checks."""

import json

import pytest

from narrowrelu.bench.safran_shamir import load_anchors, wilson_interval
from narrowrelu.cli import main


def test_wilson_interval_known_value():
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0


def test_anchors_ship_with_the_package():
    anchors = load_anchors()
    assert anchors[(10, 10)]["runs"] > 0
    assert all(0 <= a["bad_runs"] <= a["runs"] for a in anchors.values())


def test_safran_shamir_cli_writes_json(tmp_path, capsys):
    path = tmp_path / "ss.json"
    status = main(["bench", "safran-shamir", "--k", "3", "--extra-width", "0", "1", "--runs", "4",
                   "--max-iter", "20000", "--json", str(path)])
    assert status == 0
    records = json.loads(path.read_text())
    assert [(r["k"], r["width"]) for r in records] == [(3, 3), (3, 4)]
    for r in records:
        assert {"k", "width", "runs", "failures", "rate", "anchor_rate", "ci_low", "ci_high"} <= set(r)
        assert r["runs"] == 4 and 0 <= r["failures"] <= 4
        assert r["ci_low"] <= r["rate"] <= r["ci_high"]
    assert "failed/runs" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--k", "0"], "argument --k: must be an integer >= 1"),
        (["--runs", "0"], "argument --runs: must be an integer >= 1"),
        (["--max-iter", "0"], "argument --max-iter: must be an integer >= 1"),
        (["--k", "2", "--extra-width", "-2"], "--extra-width offsets"),
        (["--n-jobs", "0"], "argument --n-jobs: must be an integer >= 1"),
    ],
)
def test_safran_shamir_cli_bad_arguments_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "safran-shamir", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
