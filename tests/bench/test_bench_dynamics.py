"""``narrowrelu bench dynamics`` (narrowrelu.bench.dynamics): plateau and escape detection on
synthetic loss curves with known plateaus, the measures read off a student, the first escape's
slope against the growth rate at the origin, and the command at its CI size."""

import json

import numpy as np
import pytest
from scipy.special import expit

from narrowrelu import ReLUNetwork, Teacher
from narrowrelu.bench.dynamics.detect import DROP, Plateau, find_plateaus, log_slopes
from narrowrelu.bench.dynamics.measures import (
    count_directions,
    effective_rank,
    growth_rate,
    largest_growth_rate,
    learned_iterations,
    learned_order,
    numerical_rank,
    predicted_first_escape_slope,
)
from narrowrelu.bench.dynamics.plots import write_plots
from narrowrelu.bench.dynamics.report import line_fit
from narrowrelu.bench.dynamics.runs import dynamics_run, escapes_by_saddle, planted_teacher
from narrowrelu.cli import main
from narrowrelu.metrics import population_inner_product


def staircase(t, levels, drops, width=0.03):
    """A loss falling from ``levels[j]`` to ``levels[j+1]`` around iteration ``drops[j]`` (a logistic
    step in ln t of the given width), then decaying like exp(-t/2000) after the last level."""
    log_loss = np.full(t.shape, np.log(levels[0]))
    for j, at in enumerate(drops):
        step = expit((np.log(t) - np.log(at)) / width)
        log_loss += step * (np.log(levels[j + 1]) - np.log(levels[j]))
    return np.exp(log_loss)


def test_detector_finds_known_plateaus_and_exact_escapes():
    t = np.arange(0, 20_001, dtype=float)
    t[0] = 1.0
    dense = staircase(t, [2.0, 0.2, 0.02], [100.0, 1000.0])
    dense[0] = dense[1]
    steps = np.unique(np.round(np.logspace(0, np.log10(20_000), 160)).astype(int))
    plateaus = find_plateaus(steps, dense[steps], dense_loss=dense)
    assert len(plateaus) == 3
    assert [p.level for p in plateaus] == pytest.approx([2.0, 0.2, 0.02], rel=0.02)
    assert plateaus[0].start == 1 and 70 <= plateaus[0].end <= 100
    assert 100 < plateaus[1].start < 200 and 700 <= plateaus[1].end <= 1000
    for p in plateaus[:2]:
        expected = p.end + 1 + int(np.flatnonzero(dense[p.end + 1:] <= DROP * p.level)[0])
        assert p.escape == expected
        assert dense[p.escape] <= DROP * p.level < dense[p.escape - 1]
    assert plateaus[2].escape is None  # the curve ends on it


def test_detector_escapes_from_samples_alone_are_the_first_sample_below():
    steps = np.unique(np.round(np.logspace(0, 4, 120)).astype(int))
    loss = staircase(steps.astype(float), [1.0, 0.1], [300.0])
    (first, second) = find_plateaus(steps, loss)
    assert first.escape == steps[np.flatnonzero((loss <= 0.5 * first.level) & (steps > first.end))[0]]
    assert second.escape is None


def test_detector_rejects_short_runs_merges_blips_and_ignores_power_laws():
    steps = np.unique(np.round(np.logspace(0, 5, 300)).astype(int))
    np.testing.assert_allclose(log_slopes(steps, 1.0 / steps), 1.0)
    assert find_plateaus(steps, 1.0 / steps) == []  # log-slope 1 everywhere
    decay = np.exp(-steps / 50.0)  # log-slope t/50: flat until t = 12.5, then ever steeper
    (only,) = find_plateaus(steps, decay)
    assert only.start == 1 and 10 <= only.end <= 13
    assert only.escape == steps[np.flatnonzero(decay <= 0.5 * only.level)[0]]
    # a dip by 20 % (less than DROP) between two flat stretches: one plateau, read at the later end
    blip = staircase(steps.astype(float), [1.0, 0.8, 0.05], [100.0, 5000.0], width=0.02)
    plateaus = find_plateaus(steps, blip)
    assert len(plateaus) == 2 and plateaus[0].level == pytest.approx(0.8, rel=0.02) and plateaus[0].end > 1000
    # a flat stretch spanning less than MIN_SPAN (a factor 1.3 in iterations) is no plateau
    short = staircase(steps.astype(float), [1.0, 0.1, 0.001], [100.0, 110.0], width=0.005)
    assert [round(p.level, 3) for p in find_plateaus(steps, short)] == [1.0, 0.001]


def test_detector_checks_its_input():
    with pytest.raises(ValueError, match="strictly increasing"):
        find_plateaus([1, 3, 2], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="same length"):
        find_plateaus([1, 2, 3], [1.0, 1.0])
    with pytest.raises(ValueError, match="0 < drop < 1"):
        find_plateaus([1, 2, 3], [1.0, 1.0, 1.0], drop=1.5)


def test_growth_rate_is_the_correlation_with_a_unit_relu_and_largest_is_a_maximum():
    teacher = Teacher.random(4, 3, random_state=0)
    rng = np.random.default_rng(1)
    directions = rng.standard_normal((200, 4))
    rates = [growth_rate(teacher, v) for v in directions]
    for v, g in zip(directions[:3], rates):
        unit = ReLUNetwork(v[None, :] / np.linalg.norm(v), [1.0])
        assert g == pytest.approx(population_inner_product(teacher, unit), rel=1e-12)
    best, v = largest_growth_rate(teacher)
    assert best >= max(np.abs(rates)) - 1e-9 and np.linalg.norm(v) == pytest.approx(1.0)
    # e_1..e_3 with lambda = 2, 1, 0.5: the maximiser mixes in the weaker neurons
    best, v = largest_growth_rate(planted_teacher("orthonormal", 3, 3, 0))
    assert v[0] > 0.9 and v[1] > 0.2 and best > growth_rate(planted_teacher("orthonormal", 3, 3, 0), [1, 0, 0])


def test_first_escape_grows_like_log_inverse_init_at_the_predicted_rate():
    teacher = planted_teacher("orthonormal", 2, 2, 0)
    inits = [1e-3, 1e-5, 1e-7]
    escapes = [dynamics_run("orthonormal", 2, 2, 2, s, 0, 0, 0.1, 600)[0]["escapes"][0] for s in inits]
    slope = line_fit(np.log(1 / np.array(inits)), escapes)[0]
    assert slope == pytest.approx(predicted_first_escape_slope(teacher, 0.1), rel=0.05)


def test_run_record_learns_in_the_order_of_the_output_weights():
    record, history = dynamics_run("orthonormal", 2, 4, 8, 1e-4, 0, 0, 0.1, 3000)
    assert record["order"] == record["lambda_order"] == [0, 1]
    assert record["final_excess"] < 1e-4
    assert record["escapes"][0] < record["learned_iterations"][1]
    assert record["sigma_ratio_escape1"] > 10
    assert history["teacher_cosine"].shape == (history["step"].size, 8)


def test_learned_iterations_from_a_handmade_history():
    teacher = Teacher(np.eye(2), [2.0, 1.0])
    history = {
        "step": np.array([0, 10, 20, 30]),
        "output_weights": np.array([[0.1, 0.1], [1.2, 0.1], [1.2, 0.1], [1.2, 0.8]]),
        "unit_norms": np.array([[0.1, 0.1], [1.0, 0.1], [1.0, 0.1], [1.0, 0.9]]),
        "teacher_cosine": np.array([[0.5, 0.5], [0.95, 0.5], [0.95, 0.8], [0.99, 0.95]]),
        "nearest_teacher": np.array([[0, 1], [0, 1], [0, 1], [0, 1]]),
    }
    assert learned_iterations(history, teacher) == [10, 30]
    assert learned_order([30, None, 10]) == [2, 0]


def test_escapes_are_indexed_by_saddle():
    plateaus = [Plateau(1, 50, 2.0, 60), Plateau(500, 800, 0.05, 900), Plateau(2000, 3000, 0.001, None)]
    assert escapes_by_saddle(plateaus, [0, 2, 3], 4) == [60, None, 900, None]


def test_rank_and_direction_counts():
    assert effective_rank([2.0, 2.0, 2.0]) == pytest.approx(3.0)
    assert effective_rank([1.0, 0.0]) == pytest.approx(1.0)
    assert numerical_rank([1.0, 0.5, 1e-4]) == 2
    W = np.array([[1.0, 0.0], [2.0, 0.001], [0.0, 1.0], [-1.0, 0.0]])
    assert count_directions(W, np.array([True, True, True, True])) == 3
    assert count_directions(W, np.array([True, True, False, False])) == 1


def test_line_fit_recovers_a_line():
    slope, se, intercept, r2, n = line_fit([1.0, 2.0, 3.0, 4.0], [3.0, 5.0, 7.0, 9.0])
    assert (slope, intercept, r2, n) == pytest.approx((2.0, 1.0, 1.0, 4)) and se == pytest.approx(0.0, abs=1e-12)


def test_cli_tiny_writes_tables_figures_and_json(tmp_path, capsys):
    status = main(["bench", "dynamics", "--tiny", "--out", str(tmp_path)])
    assert status == 0
    out = capsys.readouterr().out
    for heading in ("escapes by saddle", "slope (iter per ln(1/s))", "exponent", "active units", "eff. rank"):
        assert heading in out
    for name in ("loss", "singular_values", "sigma_ratio", "cosines", "escape_times", "weight_decay"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    data = json.loads((tmp_path / "dynamics.json").read_text())
    assert len(data["runs"]) == 1 * 2 * 3 * 1 and len(data["weight_decay"]) == 2
    assert all(r["escapes"][0] is not None for r in data["runs"])
    assert [f["escape"] for f in data["escape_fits"]][:1] == [1]
    assert {"active_units", "active_directions", "numerical_rank", "effective_rank", "excess_mse"} <= set(
        data["weight_decay"][0])


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--teachers", "ring:3"], "argument --teachers: must be FAMILY:K"),
        (["--teachers", "random:0"], "argument --teachers: must be FAMILY:K"),
        (["--init-scales", "0"], "argument --init-scales: must be a number in (0, 1]"),
        (["--init-scales", "2"], "argument --init-scales: must be a number in (0, 1]"),
        (["--init-scales", "1e-2", "1e-2"], "--init-scales has repeated values"),
        (["--repeats", "0"], "argument --repeats: must be an integer >= 1"),
        (["--step", "-0.1"], "argument --step: must be a number in (0, 1]"),
        (["--alphas", "-1"], "argument --alphas: must be a finite number > 0"),
        (["--teachers", "orthonormal:3", "--d", "2"], "--d 2 is smaller than a teacher's k (3)"),
        (["--width-factors", "0"], "argument --width-factors: must be an integer >= 1"),
    ],
)
def test_cli_bad_arguments_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "dynamics", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_plots_need_runs(tmp_path):
    assert write_plots(str(tmp_path), [], [], []) == [] and not list(tmp_path.iterdir())


def test_cli_out_must_be_a_directory(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(SystemExit):
        main(["bench", "dynamics", "--tiny", "--out", str(target)])
    assert "exists and is not a directory" in capsys.readouterr().err
