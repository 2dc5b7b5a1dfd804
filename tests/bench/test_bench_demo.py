"""``narrowrelu demo`` (narrowrelu.bench.demo): plants a teacher, fits, prints exact MSEs."""

import re

import pytest

from narrowrelu.bench.demo import add_parser, run
from narrowrelu.cli import main


def test_demo_prints_small_errors(capsys):
    assert main(["demo", "--d", "5", "--k", "2", "--n", "8000", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "teacher: random, d=5, k=2; n=8000" in out
    relative = [float(v) for v in re.findall(r"relative ([0-9.e+-]+)\)", out)]
    assert len(relative) == 2 and relative[1] < 1e-8  # raw, then refined
    assert callable(add_parser) and callable(run)


@pytest.mark.parametrize("argv", [["--k", "3", "--d", "2"], ["--k", "0"], ["--n", "0"]])
def test_demo_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", *argv])
    assert exc.value.code == 2
    assert capsys.readouterr().err
