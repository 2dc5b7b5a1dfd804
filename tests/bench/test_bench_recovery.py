import json

import pytest

from narrowrelu.bench.recovery import loglog_slope
from narrowrelu.teacher import make_teacher
from narrowrelu.metrics import matched_cosine
from narrowrelu.cli import main


@pytest.mark.slow
def test_reduced_recovery_run_meets_the_refined_target(tmp_path, capsys):
    out = tmp_path / "recovery.json"
    status = main(["bench", "recovery", "--families", "random", "close_pair", "--k", "2", "4", "--d", "10",
                   "--n", "2e4", "--seeds", "3", "--json", str(out)])
    assert status == 0
    table = capsys.readouterr().out
    assert "random" in table and "close_pair" in table
    result = json.loads(out.read_text())
    assert len(result["records"]) == 2 * 2 * 3
    for record in result["records"]:
        assert record["refined_rel_mse"] <= 1e-3
        assert record["refined_cosine"] > 0.99
    for row in result["summary"]:
        assert row["refined_ok"] == row["seeds"]


def test_loglog_slope_and_matched_cosine():
    assert loglog_slope([1e4, 1e5, 1e6], [1e-2, 1e-3, 1e-4]) == pytest.approx(-1.0)
    teacher = make_teacher("random", 6, 3, 0)
    assert matched_cosine(teacher, teacher) == pytest.approx(1.0)
    assert matched_cosine(make_teacher("orthonormal", 6, 3, 0), make_teacher("orthonormal", 6, 3, 0)) == 1.0


@pytest.mark.parametrize("argv", [["--k", "0"], ["--k", "30", "--d", "20"], ["--families", "nope"], ["--seeds", "0"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "recovery", *argv])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err
