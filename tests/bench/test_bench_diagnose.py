"""``narrowrelu bench diagnose``: the stage charged with a lost fit, and the command."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from narrowrelu import ReLUNetwork, Teacher
from narrowrelu.bench.diagnose import diagnose_fit, projective_distance_to_nearest, resolution
from narrowrelu.cli import main


@pytest.fixture(scope="module")
def teacher():
    return Teacher.random(n_features=6, n_neurons=3, random_state=0)


def fake_fit(teacher, subspace, candidates, raw_rows, refined):
    """An object with the attributes diagnose_fit reads, from chosen stage outputs."""
    U = teacher.hidden_weights
    raw = ReLUNetwork(raw_rows, np.ones(raw_rows.shape[0]))
    return SimpleNamespace(subspace_=np.linalg.qr(subspace)[0], candidates_=candidates, raw_network_=raw,
                           network_=refined, rounds_=[None], relu_network=lambda: refined, n_features=U.shape[1])


def test_resolution_is_half_the_gap_capped():
    close = Teacher.close_pair(10, 0.99, 2, random_state=0)
    T = close.hidden_weights / np.linalg.norm(close.hidden_weights, axis=1)[:, None]
    np.testing.assert_allclose(resolution(T), 0.005, rtol=1e-9)
    assert np.all(resolution(np.eye(3)) == 0.05)


def test_projective_distance_ignores_sign():
    T = np.eye(2)
    dist, match = projective_distance_to_nearest(T, np.array([[-3.0, 0.0], [0.0, 0.5]]))
    np.testing.assert_allclose(dist, 0.0, atol=1e-15)
    assert match.tolist() == [0, 1]


def test_each_stage_is_charged(teacher):
    U = teacher.hidden_weights
    d = U.shape[1]
    rng = np.random.default_rng(1)
    wrong = ReLUNetwork(rng.standard_normal((3, d)), np.ones(3))
    off = np.linalg.qr(np.column_stack([U.T, rng.standard_normal((d, d))]))[0][:, 3:]  # orthogonal to the span
    cases = {
        "ok": fake_fit(teacher, U.T, U, U, teacher),
        "refinement": fake_fit(teacher, U.T, U, U, wrong),
        "selection": fake_fit(teacher, U.T, U, np.vstack([U[:2], off[:, 0]]), wrong),
        "clustering": fake_fit(teacher, U.T, U, np.vstack([U[0] + U[1], off[:, 0], off[:, 1]]), wrong),
        "candidates": fake_fit(teacher, U.T, off.T[:3], off.T[:3], wrong),
        "span": fake_fit(teacher, off[:, :3], off.T[:3], off.T[:3], wrong),
    }
    for stage, model in cases.items():
        assert diagnose_fit(model, teacher)["stage"] == stage, stage


def test_command_runs_and_writes_json(tmp_path, capsys):
    path = tmp_path / "diag.json"
    status = main(["bench", "diagnose", "--families", "random", "--k", "2", "--d", "5", "--n", "3000",
                   "--seeds", "2", "--json", str(path)])
    assert status == 0
    out = capsys.readouterr().out
    assert "stages charged:" in out and out.count("random") == 2
    records = json.loads(path.read_text())
    assert len(records) == 2 and all(r["stage"] in ("ok", "span", "candidates", "clustering", "selection", "refinement")
                                     for r in records)


@pytest.mark.parametrize("argv", [["--k", "0"], ["--n", "nan"], ["--n", "5"], ["--noise", "inf"], ["--target", "0"],
                                  ["--d", "1"], ["--json", "/no/such/dir/x.json"]])
def test_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "diagnose", *argv])
    assert exc.value.code == 2
