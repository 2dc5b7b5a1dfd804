"""Tests of the sample-complexity sweep's n cap for the GD and MLP methods, its n* labels,
the n*(k) slopes and the figures."""

import csv
import json

import numpy as np
import pytest

from narrowrelu.bench.sample_complexity.methods import METHODS, method_caps
from narrowrelu.bench.sample_complexity.plots import (
    K_OFFSET,
    k_offsets,
    method_style,
    write_plots,
)
from narrowrelu.bench.sample_complexity.slopes import (
    NOT_ENOUGH,
    fit_slope,
    format_slope_table,
    slope_rows,
)
from narrowrelu.bench.sample_complexity.summary import (
    family_dimension,
    format_nstar_table,
    nstar_rows,
    per_n_rows,
)
from narrowrelu.bench.sample_complexity.sweep import plan_jobs
from narrowrelu.cli import main


def records(family, d, method, k, grid, n_star, seeds=2):
    """Records of one (family, k, method) on ``grid`` that succeed exactly at n >= ``n_star``."""
    return [
        {"family": family, "k": k, "d": d, "method": method, "n": n, "seed": seed, "mse": rel, "rel_mse": rel,
         "mse_over_rate": 1.0, "parametric_rate": 1e-3, "fit_seconds": 0.1, "error": None}
        for n in grid for seed in range(seeds) for rel in [1e-4 if n >= n_star else 1e-2]
    ]


def cells(jobs):
    return {key for job in jobs for key in job.cell_keys()}


def test_cap_removes_exactly_the_capped_cells_above_it():
    methods = ["moment_raw", "moment_refined", "gd_k", "mlp_4k", "mlp_default"]
    args = (["random", "orthonormal"], [1, 2], 3, [100, 200, 400], 2, 0.1, methods)
    full = cells(plan_jobs(*args))
    removed = {key for key in full if key[3] > 250 and METHODS[key[-1]].capped}
    assert len(removed) == 2 * 2 * 1 * 2 * 3  # families x k x n above the cap x seeds x capped methods
    assert cells(plan_jobs(*args, n_max_gd=250)) == full - removed
    assert cells(plan_jobs(*args, n_max_gd=200)) == full - removed  # the cap itself is run
    assert cells(plan_jobs(*args, n_max_gd=400)) == full
    capped_jobs = plan_jobs(*args, n_max_gd=150)
    assert {key[-1] for key in cells(capped_jobs) if key[3] > 100} == {"moment_raw", "moment_refined"}
    assert all(job.methods for job in capped_jobs)


def test_a_method_cap_overrides_the_gd_cap_for_that_method_only():
    methods = ["moment_refined", "gd_k", "mlp_4k"]
    caps = method_caps(methods, 400, {"mlp_4k": 100, "moment_refined": 200})
    assert caps == {"moment_refined": 200, "gd_k": 400, "mlp_4k": 100}
    args = (["random"], [1], 3, [100, 200, 400], 1, 0.1, methods)
    kept = cells(plan_jobs(*args, caps=caps))
    assert {(key[3], key[-1]) for key in kept} == {(100, "moment_refined"), (200, "moment_refined"), (100, "gd_k"),
                                                   (200, "gd_k"), (400, "gd_k"), (100, "mlp_4k")}
    assert method_caps(methods) == {"moment_refined": None, "gd_k": None, "mlp_4k": None}


def _tiny_sweep(out, *cap):
    """A one-teacher sweep over n = 200, 400 of moment_refined and mlp_k with the cap options ``cap``."""
    return ["bench", "sample-complexity", "--families", "random", "--k", "1", "--d", "3", "--n-min", "200",
            "--n-max", "400", "--n-per-decade", "2", "--seeds", "1", "--target", "1e-9", "--methods", "moment_refined",
            "mlp_k", *cap, "--n-jobs", "1", "--out", str(out), "--no-progress"]


def test_cli_n_cap_is_parsed_checked_and_recorded(tmp_path, capsys):
    out = tmp_path / "percap"
    argv = _tiny_sweep(out, "--n-cap", "moment_refined=300")
    assert main(argv) == 0
    capsys.readouterr()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["command"].endswith("--n-cap moment_refined=300") and meta["n_caps"] == {"moment_refined": 300}
    assert sorted((c["method"], c["n"]) for c in json.loads((out / "results.json").read_text())["cells"]) == [
        ("mlp_k", 200), ("mlp_k", 400), ("moment_refined", 200)]
    with pytest.raises(SystemExit):
        main(argv[:-5] + ["--n-cap", "nope=3", "--out", str(out), "--no-progress"])
    assert "expected METHOD=N" in capsys.readouterr().err


def test_nstar_labels_floor_and_unreached_with_each_methods_own_largest_n():
    grid = [100, 1000, 10000]
    recs = (records("random", 5, "moment_refined", 2, grid, 20000) + records("random", 5, "gd_k", 2, grid[:2], 20000)
            + records("random", 5, "mlp_k", 2, grid[:2], 50) + records("random", 5, "moment_raw", 2, grid, 1000))
    rows = nstar_rows(per_n_rows(recs, 1e-3), ["moment_raw", "moment_refined", "gd_k", "mlp_k"],
                      {"gd_k": 1000, "mlp_k": 1000})
    by = {r["method"]: r for r in rows}
    assert (by["moment_raw"]["status"], by["moment_raw"]["n_star_label"], by["moment_raw"]["n_star"]) == \
        ("reached", "1000", 1000)
    assert (by["moment_refined"]["status"], by["moment_refined"]["n_star_label"]) == ("not reached", "> 10000")
    assert (by["gd_k"]["status"], by["gd_k"]["n_star_label"], by["gd_k"]["n_max"]) == ("not reached", "> 1000", 1000)
    assert (by["mlp_k"]["status"], by["mlp_k"]["n_star_label"], by["mlp_k"]["n_star"]) == ("floor", "<= 100", 100)
    assert by["gd_k"]["n_cap"] == 1000 and by["moment_refined"]["n_cap"] is None
    table = format_nstar_table(rows, 1e-3)
    (gd_line,) = [line for line in table.splitlines() if " gd_k " in line]
    assert "> 1000" in gd_line and "> 10000" not in gd_line
    assert "cap 1000 (--n-max-gd, --n-cap): gd_k, mlp_k ran no n above 1000" in table


def test_cli_cap_reaches_nstar_csv_meta_and_command(tmp_path, capsys):
    out = tmp_path / "capped"
    argv = _tiny_sweep(out, "--n-max-gd", "300")
    assert main(argv) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert sorted((c["method"], c["n"]) for c in results["cells"]) == [("mlp_k", 200), ("moment_refined", 200),
                                                                       ("moment_refined", 400)]
    with open(out / "nstar.csv") as fh:
        nstar = {r["method"]: r for r in csv.DictReader(fh)}
    assert nstar["mlp_k"]["n_star_label"] == "> 200" and nstar["mlp_k"]["n_cap"] == "300.0"
    assert nstar["moment_refined"]["n_star_label"] == "> 400" and nstar["moment_refined"]["n_cap"] == ""
    meta = json.loads((out / "meta.json").read_text())
    assert meta == results["meta"]
    assert meta["n_max_gd"] == 300 and meta["capped_methods"] == ["mlp_k"]
    assert meta["command"].endswith("--n-max-gd 300")
    assert "> 200" in printed and "cap 300 (--n-max-gd, --n-cap): mlp_k ran no n above 300" in printed
    assert printed.rstrip().splitlines()[-1].startswith("random")  # the slope table comes last
    assert (out / "slopes.csv").read_text().count(NOT_ENOUGH) == 2


def slope_case():
    """n* = 100 k^2 on a grid holding those values, with k = 1 at the floor (true n* 100 below
    the grid's 300) and k = 8 unreached (true n* 6400 above its 5000)."""
    grid = sorted({300, 5000} | {100 * k**2 for k in range(2, 7)})
    recs = [r for k in (1, 2, 3, 4, 5, 6, 8) for r in records("random", 20, "moment_refined", k, grid, 100 * k**2)]
    recs += records("random", 20, "gd_k", 3, grid, 900) + records("random", 20, "gd_k", 4, grid, 10**6)
    return nstar_rows(per_n_rows(recs, 1e-3), ["moment_refined", "gd_k"])


def test_slope_of_quadratic_nstar_is_two_without_floor_and_unreached_points():
    nstar = slope_case()
    by_k = {r["k"]: r for r in nstar if r["method"] == "moment_refined"}
    assert (by_k[1]["status"], by_k[8]["status"]) == ("floor", "not reached")
    refined, gd = slope_rows(nstar, ["moment_refined", "gd_k"])
    assert abs(refined["slope"] - 2) < 1e-9
    assert refined["prefactor"] == pytest.approx(100, rel=1e-9)
    assert refined["points"] == 5 and refined["ks_used"] == "2 3 4 5 6"
    assert refined["ks_excluded"] == "k = 1: n* <= 300, the smallest n; k = 8: not reached by n = 5000"
    every = [r for r in nstar if r["method"] == "moment_refined"]
    with_bounds = fit_slope([r["k"] for r in every], [r["n_star"] or r["n_max"] for r in every])[0]
    assert abs(with_bounds - 2) > 0.05  # the exclusion matters on this case
    assert gd["slope"] is None and gd["points"] == 1 and gd["slope_label"] == NOT_ENOUGH
    table = format_slope_table([refined, gd])
    assert "2.00" in table and NOT_ENOUGH in table and "k = 4: not reached by n = 5000" in table


def test_slope_is_exact_for_any_power():
    ks = np.array([1, 2, 3, 5, 8])
    slope, intercept = fit_slope(ks, 37.0 * ks**1.37)
    assert slope == pytest.approx(1.37, abs=1e-12) and np.exp(intercept) == pytest.approx(37.0, rel=1e-12)


def test_family_dimension_names_d_or_k():
    assert family_dimension([{"d": 20, "k": 1}, {"d": 20, "k": 4}]) == "20"
    assert family_dimension([{"d": 1, "k": 1}, {"d": 4, "k": 4}]) == "k"
    assert family_dimension([{"d": 3, "k": 3}]) == "3"


def test_methods_keep_apart_in_the_nstar_figure():
    styles = [method_style(m, list(METHODS)) for m in METHODS]
    assert len({s["marker"] for s in styles}) == len(METHODS)
    assert len({str(s["ls"]) for s in styles}) == len(METHODS)
    assert len({s["color"] for s in styles}) == len(METHODS)
    offsets = list(k_offsets(list(METHODS)).values())
    assert len(set(offsets)) == len(METHODS) and min(offsets) >= 1 / K_OFFSET - 1e-12
    assert max(offsets) <= K_OFFSET + 1e-12 and k_offsets(["m"]) == {"m": 1.0}


def test_plots_write_pngs_with_floor_unreached_and_capped_cells(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from narrowrelu.bench.sample_complexity import plots

    methods = ["moment_refined", "gd_k", "mlp_default"]
    grid = [100, 300, 1000, 3000]
    recs = []
    for family, dims in (("random", dict.fromkeys(range(1, 5), 20)), ("orthonormal", {k: k for k in range(1, 5)})):
        for k, d in dims.items():
            recs += records(family, d, "moment_refined", k, grid, 100 * k**3)  # floor at k = 1, unreached at 4
            recs += records(family, d, "gd_k", k, grid[:2], 10**6)  # capped at 300, never reached
            recs += records(family, d, "mlp_default", k, grid[:2], 50)  # always at the floor
    rows = per_n_rows(recs, 1e-3)
    nstar = nstar_rows(rows, methods, {"gd_k": 300, "mlp_default": 300})
    assert {r["status"] for r in nstar} == {"reached", "floor", "not reached"}
    slopes = slope_rows(nstar, methods)
    figures = []

    def keep(plt, fig, path):
        figures.append(fig)
        fig.savefig(path, dpi=40)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    paths = write_plots(str(tmp_path), rows, nstar, slopes, 1e-3, methods)
    for path in paths:
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    success, headline = figures
    titles = [ax.get_title() for ax in success.get_axes()]
    assert "random, d = 20, k = 4" in titles and "orthonormal, d = 4, k = 4" in titles
    assert len(titles) == 8  # one panel per (family, k), none blank
    assert [ax.get_title() for ax in headline.get_axes()] == ["random (d = 20)", "orthonormal (d = k)"]
    legend = [t.get_text() for t in headline.get_axes()[0].get_legend().get_texts()]
    slope = np.log(3000 / 1000) / np.log(3 / 2)
    assert legend == [f"moment_refined: slope {slope:.2f} (2 points)", f"gd_k: {NOT_ENOUGH}",
                      f"mlp_default: {NOT_ENOUGH}"]
    assert "excluded" in headline.get_suptitle()
