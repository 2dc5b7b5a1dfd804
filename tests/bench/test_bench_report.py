"""Tests of ``narrowrelu bench report``: the tables of a stored sweep and the comparison of two,
on synthetic sweep directories whose figures are known, and on the sweeps stored in docs/results."""

import csv
import json
import math
from pathlib import Path

import pytest

from narrowrelu.bench.report.compare import largest_drop, verdict
from narrowrelu.bench.report.stored import load_sweep
from narrowrelu.bench.report.tables import TABLES, markdown
from narrowrelu.bench.sample_complexity.slopes import NOT_ENOUGH
from narrowrelu.cli import main

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
RESULTS = ROOT / "docs" / "results"
GRID = [100, 200, 400, 800]
PER_N_COLUMNS = ["family", "k", "method", "n", "d", "seeds", "successes", "success_rate", "median_rel_mse",
                 "median_mse", "median_mse_over_rate", "parametric_rate", "median_fit_seconds", "errors"]


def write_sweep(directory, successes, methods, seeds=2, cells=(), extra_meta=None):
    """A sweep directory: ``successes[(method, k)]`` is the success count at each n of GRID."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "per_n.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, PER_N_COLUMNS)
        writer.writeheader()
        for (method, k), counts in successes.items():
            for n, ok in zip(GRID, counts):
                writer.writerow({"family": "random", "k": k, "method": method, "n": n, "d": 5, "seeds": seeds,
                                 "successes": ok, "success_rate": ok / seeds, "median_rel_mse": 1e-3 * 100 / n,
                                 "median_mse": 2e-3 * 100 / n, "median_mse_over_rate": 1.5, "parametric_rate": 1e-4,
                                 "median_fit_seconds": 0.25, "errors": 0})
    meta = {"command": "narrowrelu bench sample-complexity --methods " + " ".join(methods) + " --out x",
            "target": 0.001, "n_grid": GRID, **(extra_meta or {})}
    (directory / "meta.json").write_text(json.dumps(meta))
    if cells:
        with open(directory / "cells.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, ["family", "k", "n", "seed", "method", "mse_over_rate", "version"])
            writer.writeheader()
            writer.writerows(cells)
    return directory


# moment_refined: n* = 200, 400, 800 at k = 1, 2, 4 (slope exactly 1); gd_2k: n* = 200 at k = 1, 2
# (flat: no slope) and not reached at k = 4
SUCCESSES = {("moment_refined", 1): [0, 2, 2, 2], ("moment_refined", 2): [0, 0, 2, 2],
             ("moment_refined", 4): [0, 0, 0, 2], ("gd_2k", 1): [1, 2, 2, 2], ("gd_2k", 2): [0, 2, 2, 2],
             ("gd_2k", 4): [0, 0, 1, 1]}
CELLS = [{"family": "random", "k": 4, "n": 800, "seed": s, "method": "moment_refined", "mse_over_rate": r,
          "version": v} for s, r, v in ((0, 1.25, "0.1.0"), (1, 0.75, "0.2.0"))]


@pytest.fixture
def synthetic(tmp_path):
    return write_sweep(tmp_path / "sweep", SUCCESSES, ["moment_refined", "gd_2k"], cells=CELLS)


def report(capsys, *argv):
    assert main(["bench", "report", *map(str, argv)]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_tables_of_a_synthetic_sweep(synthetic, capsys):
    out, err = report(capsys, synthetic)
    assert "| family | d | k | moment_refined | gd_2k |" in out
    for line in ("| random | 5 | 1 | 200 | 200 |", "| random | 5 | 2 | 400 | 200 |",
                 "| random | 5 | 4 | 800 | > 800 |"):
        assert line in out
    assert "| random | 5 | moment_refined | 1.00 | 3 | 1 2 4 |  |" in out
    assert ("| random | 5 | gd_2k | — (n* = 200 at every k used: the grid does not resolve a slope) | 2 | 1 2 | "
            "k = 4: not reached by n = 800 |") in out
    assert "excess MSE / parametric rate at n = 800, per seed" in out
    assert "| random | 4 | moment_refined | 1.25 0.75 | 1.25 |" in out
    assert out.count("\nper n: ") == 1
    assert "| random | 5 | 4 | gd_2k | 400 | 1/2 | 2.50e-04 | 5.00e-04 | 1.50 | 0.25 |" in out
    assert "mixes cells of narrowrelu versions (0.1.0: 1 cells, 0.2.0: 1 cells)" in err


def test_chosen_tables_only_and_no_version_note_for_one_version(tmp_path, capsys):
    cells = [{**c, "version": "0.1.0"} for c in CELLS]
    directory = write_sweep(tmp_path / "one", SUCCESSES, ["gd_2k", "moment_refined"], cells=cells)
    out, err = report(capsys, directory, "--tables", "slopes")
    assert out.startswith("slope of log n*") and "n*(k)" not in out and "per n" not in out
    assert out.index("| gd_2k |") < out.index("| moment_refined |")  # the command's method order
    assert "mixes" not in err


def test_slope_is_the_least_squares_slope_and_none_when_not_estimable(tmp_path):
    successes = {("moment_refined", 1): [0, 2, 2, 2], ("moment_refined", 2): [0, 0, 0, 2],
                 ("moment_refined", 3): [0, 0, 2, 2], ("gd_2k", 1): [2, 2, 2, 2], ("gd_2k", 2): [0, 2, 2, 2],
                 ("gd_2k", 3): [0, 0, 0, 0]}
    sweep = load_sweep(str(write_sweep(tmp_path / "s", successes, ["moment_refined", "gd_2k"])))
    slopes = {r["method"]: r for r in sweep.slopes}
    x, y = [math.log(k) for k in (1, 2, 3)], [math.log(n) for n in (200, 800, 400)]
    mx, my = sum(x) / 3, sum(y) / 3
    expected = sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)
    assert slopes["moment_refined"]["slope"] == pytest.approx(expected, rel=1e-12)
    assert slopes["gd_2k"]["slope"] is None and slopes["gd_2k"]["slope_label"] == NOT_ENOUGH


def test_comparison_of_two_synthetic_sweeps(tmp_path, capsys):
    before = write_sweep(tmp_path / "before", {("moment_refined", 1): [0, 0, 2, 2], ("moment_refined", 2): [0, 0, 2, 2],
                                               ("moment_refined", 4): [0, 0, 0, 0]}, ["moment_refined"])
    after = write_sweep(tmp_path / "after", {("moment_refined", 1): [0, 2, 2, 2], ("moment_refined", 2): [2, 0, 2, 2],
                                             ("moment_refined", 4): [0, 0, 0, 2]}, ["moment_refined"])
    reference = write_sweep(tmp_path / "ref", {("gd_2k", 1): [0, 0, 0, 2], ("gd_2k", 2): [2, 2, 2, 2]}, ["gd_2k"])
    out, _ = report(capsys, after, "--before", before, "--reference", reference)
    assert "| random | 1 | 400 | 200 | 800 | better | 0→0 0→2 2→2 2→2 |" in out
    assert "| random | 2 | 400 | 100 | 100 | tie | 0→2 0→0 2→2 2→2 |" in out
    assert "| random | 4 | — | 800 | — | n/a | 0→0 0→0 0→0 0→2 |" in out
    assert "better: 1, tie: 1, n/a: 1" in out
    assert "largest fall of the success count as n grows (moment_refined, now): 2 seed(s)" in out
    assert "  random k=2: falls by 2: [2, 0, 2, 2]" in out


def test_markdown_table_and_table_names():
    assert markdown(["a", "b"], [[1, "x"], [2.5, ""]]) == "| a | b |\n|---|---|\n| 1 | x |\n| 2.5 |  |"
    assert list(TABLES) == ["nstar", "slopes", "excess", "per-n"]


def test_verdict_and_largest_drop():
    assert [verdict(1, 2), verdict(2, 2), verdict(3, 2), verdict(1, None)] == ["better", "tie", "worse", "n/a"]
    assert verdict(math.inf, math.inf) == "tie" and verdict(5, math.inf) == "better"
    assert largest_drop([0, 3, 1, 3, 2]) == 2 and largest_drop([0, 1, 2]) == 0


@pytest.mark.parametrize("name", ["d20", "d20_fit", "d50"])
def test_stored_sweeps_read_back_to_their_stored_nstar_and_slopes(name):
    directory = RESULTS / name
    sweep = load_sweep(str(directory))
    with open(directory / "nstar.csv") as fh:
        stored = {(r["family"], int(r["k"]), r["method"]): r for r in csv.DictReader(fh)}
    assert len(sweep.nstar) == len(stored)
    for r in sweep.nstar:
        old = stored[(r["family"], r["k"], r["method"])]
        reached = r["n_star"] if r["status"] != "not reached" else None
        assert reached == (int(old["n_star"]) if old["n_star"] else None)
        if "n_star_label" in old:
            assert r["n_star_label"] == old["n_star_label"]
    if (directory / "slopes.csv").exists():
        with open(directory / "slopes.csv") as fh:
            old_slopes = {(r["family"], r["method"]): r for r in csv.DictReader(fh)}
        for r in sweep.slopes:
            old = old_slopes[(r["family"], r["method"])]
            if old["slope"] and float(old["slope"]) != 0.0:
                assert r["slope"] == pytest.approx(float(old["slope"]), rel=1e-12)
            else:  # a flat n* (stored as slope 0.00) or too few points: no slope now
                assert r["slope"] is None and r["slope_label"].startswith("—")
            assert (r["ks_used"], r["ks_excluded"]) == (old["ks_used"], old["ks_excluded"])


def test_report_of_docs_results_d50_prints_the_readme_figures(capsys):
    out, _ = report(capsys, RESULTS / "d50", "--tables", "nstar", "slopes", "excess")
    for line in ("| random | 50 | 16 | 94868 | 30000 | 30000 | > 30000 | > 94868 |",
                 "| random | 50 | moment_refined | 0.63 | 4 | 4 8 12 16 |  |",
                 "| close_pair | 50 | gd_2k | 0.74 | 4 | 4 8 12 16 |  |",
                 "| clusters | 8 | moment_raw | 19.48 176.17 4.25 | 176.17 |"):
        assert line in out


def test_comparison_of_stored_sweeps_matches_docs_results(capsys):
    out, _ = report(capsys, RESULTS / "d20_polish", "--before", RESULTS / "d20_gn", "--reference", RESULTS / "d20")
    assert "| random | 7 | 15195 | 3898 | 3898 | tie | 0→0 2→4 3→5 4→5 5→5 5→5 |" in out
    assert "better: 20, tie: 7" in out
    assert "largest fall of the success count as n grows (moment_refined, now): 0 seed(s)" in out


@pytest.mark.parametrize("argv, message", [
    (["{tmp}/missing"], "no such directory"),
    (["{tmp}"], "no per_n.csv"),
    ([str(RESULTS / "d20_fit"), "--before", str(RESULTS / "d20_polish")],
     "has no gd_2k cells (it has moment_raw, moment_refined); pass --reference REF"),
    ([str(RESULTS / "d20_fit"), "--before", str(RESULTS / "d20_polish"), "--method", "mlp_k"], "has no mlp_k cells"),
])
def test_bad_directories_exit_2_with_one_line(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "report", *[a.format(tmp=tmp_path) for a in argv]])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("narrowrelu bench report: error:") and message in err[-1]
