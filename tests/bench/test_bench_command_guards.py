"""Tests of the command guards of issue 23: memory checked before allocating (demo, sweep cells),
absurd seed and fit counts refused, the --out lock, the package version of each cell, and the small
ones (per-n title, slopes that cannot be estimated, visible success-rate lines, random_state errors);
and of the sample-complexity presets (quick default, --full)."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import narrowrelu
import narrowrelu.bench._memory as memory
from narrowrelu import GDReLURegressor, MomentReLURegressor, Teacher, monte_carlo_mse
from narrowrelu.bench.sample_complexity import plots
from narrowrelu.bench.sample_complexity.lock import LOCK_FILE, DirectoryLocked, SweepLock
from narrowrelu.bench.sample_complexity.methods import FIT_MEMORY, METHODS
from narrowrelu.bench.sample_complexity.options import FULL, QUICK, apply_preset, resolve_n_jobs
from narrowrelu.bench.sample_complexity.slopes import flat_label, slope_rows
from narrowrelu.bench.sample_complexity.summary import format_per_n_table, mixed_versions_note
from narrowrelu.bench.sample_complexity.sweep import CellStore, Job, run_job
from narrowrelu.cli import build_parser, main
from narrowrelu.teacher import BIAS_FREE_FAMILIES


def sweep_argv(out, *extra):
    return ["bench", "sample-complexity", "--families", "random", "--k", "1", "--d", "3", "--n-min", "200",
            "--n-max", "200", "--seeds", "1", "--methods", "moment_refined", "--n-jobs", "1", "--no-progress",
            "--out", str(out), *extra]


def exit_2_line(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("narrowrelu") and " error: " in err[-1] and "Traceback" not in "\n".join(err)
    return err[-1]


def with_available(monkeypatch, n_bytes):
    monkeypatch.setattr(memory, "available_bytes", lambda: n_bytes)


# --- memory -------------------------------------------------------------------------------------------


def test_memory_estimates_grow_with_rows_features_and_width():
    for fitter, estimate in FIT_MEMORY.items():
        assert estimate(2_000_000, 20, 4) - estimate(1_000_000, 20, 4) >= 8 * 1_000_000 * 20  # at least X itself
        assert estimate(1_000_000, 40, 4) > estimate(1_000_000, 20, 4)
    assert FIT_MEMORY["gd_2k"](10**6, 20, 4) > FIT_MEMORY["gd_k"](10**6, 20, 4)
    assert memory.format_bytes(3 * 2**30) == "3 GB" and memory.format_bytes(5 * 2**40) == "5 TB"
    assert memory.shortfall(10, available=100) is None
    assert memory.shortfall(3 * 2**30, available=2**30) == "needs about 3 GB of memory, 1 GB available"


def test_demo_refuses_a_fit_larger_than_the_free_memory(monkeypatch, capsys):
    with_available(monkeypatch, 2**30)
    line = exit_2_line(capsys, ["demo", "--n", "1e7"])
    need = memory.moment_fit_bytes(10**7, 20, 4)
    assert f"--n 10000000: the fit of 10000000 rows of 20 features needs about {memory.format_bytes(need)}" in line
    assert "1 GB available" in line


def test_sweep_with_no_cell_in_memory_exits_2_before_any_fit(monkeypatch, capsys, tmp_path):
    with_available(monkeypatch, 100 * 2**20)
    line = exit_2_line(capsys, sweep_argv(tmp_path))
    assert "no fit of this sweep fits in memory: the moment fit at n=200, d=3 needs about" in line
    assert "100 MB available" in line
    assert not (tmp_path / "cells.jsonl").exists()


def test_sweep_records_a_cell_too_large_as_failed_and_goes_on(monkeypatch, capsys, tmp_path):
    small, large = FIT_MEMORY["moment"](200, 3, 1), FIT_MEMORY["moment"](2000, 3, 1)
    with_available(monkeypatch, (small + large) // 2)
    assert main(sweep_argv(tmp_path, "--n-max", "2000", "--n-per-decade", "1")) == 0
    err = capsys.readouterr().err
    assert "note: 1 of 2 fits need more memory than the" in err and "recorded as failed, not run" in err
    cells = {key[3]: rec for key, rec in CellStore(str(tmp_path)).load().items()}
    assert cells[200]["error"] is None and np.isfinite(cells[200]["mse"])
    assert cells[2000]["error"].startswith("MemoryError: not run: the moment fit at n=2000, d=3 needs about")
    assert cells[2000]["mse"] == float("inf") and "moment_refined random d=3 k=1 n=2000" in err


def test_a_memory_error_while_drawing_the_data_is_recorded(monkeypatch):
    def refuse(self, n_samples, random_state=None):
        raise MemoryError("Unable to allocate")

    monkeypatch.setattr(Teacher, "sample", refuse)
    (record,) = run_job(Job("random", 3, 1, 500, 0, 0.1, "moment", ("moment_refined",)))
    assert record["error"].startswith("MemoryError: drawing 500 rows of 3 features (")
    assert record["error"].endswith(" failed: Unable to allocate")
    assert record["mse"] == float("inf") and record["version"] == narrowrelu.__version__


@pytest.mark.slow
@pytest.mark.parametrize("fitter", ["moment", "gd_2k", "mlp_k"])
def test_memory_estimate_bounds_the_measured_peak(fitter, tmp_path):
    """The estimate is above the peak resident memory of one job (measured in a fresh process),
    and not more than 4 times above it."""
    code = (
        "import resource, json, sys\n"
        "from narrowrelu.bench.sample_complexity.sweep import Job, run_job\n"
        "from narrowrelu.bench.sample_complexity.methods import fitters_for\n"
        f"job = Job('random', 20, 4, 300000, 0, 0.1, {fitter!r}, tuple(fitters_for(['moment_refined', 'gd_2k', "
        f"'mlp_k'])[{fitter!r}]))\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "run_job(job)\n"
        "print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    peak = json.loads(done.stdout.strip().splitlines()[-1])
    estimate = FIT_MEMORY[fitter](300000, 20, 4)
    assert peak < estimate < 4 * peak + 300 * 2**20


# --- seeds and sweep size -------------------------------------------------------------------------------


def test_absurd_seed_counts_are_refused_at_once(capsys, tmp_path):
    start = time.perf_counter()
    line = exit_2_line(capsys, sweep_argv(tmp_path, "--seeds", "100000000"))
    assert time.perf_counter() - start < 5
    assert "argument --seeds: must be at most 10000 (n* is a share of seeds" in line and "'100000000'" in line


def test_sweeps_of_more_than_a_million_fits_are_refused(capsys, tmp_path):
    line = exit_2_line(capsys, sweep_argv(tmp_path, "--n-max", "1e6", "--n-per-decade", "1000", "--seeds", "1000"))
    assert "this sweep would run 3.7e+06 fits, more than the 1e+06" in line


# --- the --out lock -------------------------------------------------------------------------------------


def write_lock(directory, pid, host=None):
    (directory / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                                   "started": "2024-01-01T00:00:00"}))


def test_lock_is_held_for_the_block_and_refuses_a_second_holder(tmp_path):
    with SweepLock(str(tmp_path)) as lock:
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid() == lock.record["pid"]
        with pytest.raises(DirectoryLocked, match=f"in use by another sweep \\(pid {os.getpid()}, started"):
            SweepLock(str(tmp_path)).__enter__()
    assert not (tmp_path / LOCK_FILE).exists()


def test_sweep_refuses_an_out_locked_by_a_running_process(capsys, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_lock(tmp_path, holder.pid)
        line = exit_2_line(capsys, sweep_argv(tmp_path))
    finally:
        holder.kill()
        holder.wait()
    assert f"is in use by another sweep (pid {holder.pid}, started 2024-01-01T00:00:00)" in line
    assert (tmp_path / LOCK_FILE).exists() and not (tmp_path / "cells.jsonl").exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(capsys, tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_lock(tmp_path, gone.pid)
    assert main(sweep_argv(tmp_path)) == 0
    assert len(CellStore(str(tmp_path)).load()) == 1 and not (tmp_path / LOCK_FILE).exists()


def test_a_lock_from_another_host_or_unreadable_is_refused_until_old(tmp_path):
    write_lock(tmp_path, 1, host="elsewhere.example")
    with pytest.raises(DirectoryLocked, match="pid 1 on host elsewhere.example"):
        SweepLock(str(tmp_path)).__enter__()
    (tmp_path / LOCK_FILE).write_text("garbage")
    with pytest.raises(DirectoryLocked, match="cannot be read"):
        SweepLock(str(tmp_path)).__enter__()
    old = time.time() - 3600
    os.utime(tmp_path / LOCK_FILE, (old, old))
    with SweepLock(str(tmp_path)):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()


# --- versions ---------------------------------------------------------------------------------------


def test_cells_record_the_version_and_a_mixed_directory_is_named(capsys, tmp_path):
    assert main(sweep_argv(tmp_path)) == 0
    capsys.readouterr()
    (record,) = CellStore(str(tmp_path)).load().values()
    assert record["version"] == narrowrelu.__version__
    assert "version" in (tmp_path / "cells.csv").read_text().splitlines()[0].split(",")
    record["version"] = "0.0.1"
    (tmp_path / "cells.jsonl").write_text(json.dumps(record) + "\n")
    assert main(sweep_argv(tmp_path, "--n-max", "400", "--n-per-decade", "3")) == 0
    err = capsys.readouterr().err
    assert f"mixes cells of narrowrelu versions (0.0.1: 1 cells, {narrowrelu.__version__}: 1 cells)" in err


def test_version_note_counts_unrecorded_cells():
    note = mixed_versions_note([{"version": "0.1.0"}, {}, {"version": ""}], "DIR")
    assert note.startswith("note: DIR mixes cells of narrowrelu versions (0.1.0: 1 cells, unrecorded: 2 cells)")
    assert mixed_versions_note([{"version": "0.1.0"}] * 3, "DIR") is None


# --- the small ones ---------------------------------------------------------------------------------------


def test_per_n_table_has_a_title_line():
    row = {"family": "random", "d": 3, "k": 1, "method": "gd_k", "n": 100, "successes": 1, "seeds": 2,
           "median_rel_mse": 1e-3, "median_mse": 2e-3, "median_mse_over_rate": 1.5, "median_fit_seconds": 0.1}
    lines = format_per_n_table([row], 1e-3).splitlines()
    assert lines[0].startswith("per n: seeds reaching excess MSE <= 0.001 Var f ('ok')")
    assert lines[1].split()[:3] == ["family", "d", "k"] and lines[3].split()[-5] == "1/2"


def test_a_flat_nstar_gives_no_slope():
    rows = [{"family": "random", "d": 5, "k": k, "method": "gd_k", "status": "reached", "n_star": 3162,
             "n_min": 1000, "n_max": 10000} for k in (2, 4)]
    (row,) = slope_rows(rows, ["gd_k"])
    assert row["slope"] is None and row["prefactor"] is None and row["points"] == 2
    assert row["slope_label"] == flat_label(3162)
    assert flat_label(3162) == "— (n* = 3162 at every k used: the grid does not resolve a slope)"
    rows[1]["n_star"] = 10000
    (row,) = slope_rows(rows, ["gd_k"])
    assert row["slope"] == pytest.approx(np.log(10000 / 3162) / np.log(2), rel=1e-12)


def test_coincident_success_rate_lines_are_shifted_apart(monkeypatch):
    methods = ["moment_refined", "gd_2k", "mlp_k"]
    rows = [{"family": "random", "k": 1, "d": 3, "method": m, "n": n, "success_rate": 0.5}
            for m in methods for n in (100, 1000)]
    figures = []
    monkeypatch.setattr(plots, "_save", lambda plt, fig, path: figures.append(fig) or path)
    plots.plot_success(rows, 1e-3, os.devnull, methods)
    lines = {line.get_label(): line.get_xydata() for ax in figures[0].get_axes() for line in ax.get_lines()
             if line.get_label() in methods}
    ys = [lines[m][0, 1] for m in methods]
    np.testing.assert_allclose(ys, [0.5 - plots.RATE_SPREAD, 0.5, 0.5 + plots.RATE_SPREAD], rtol=1e-12)
    xs = [lines[m][:, 0] for m in methods]
    np.testing.assert_allclose(xs[0], np.array([100, 1000]) / plots.K_OFFSET, rtol=1e-12)
    assert len({tuple(x) for x in xs}) == 3


BAD_STATES = [-1, np.int64(-3), 1.5, "seed", True]


@pytest.mark.parametrize("bad", BAD_STATES, ids=repr)
@pytest.mark.parametrize("entry", [
    lambda r: Teacher.random(5, 2, random_state=r),
    lambda r: Teacher.close_pair(5, random_state=r),
    lambda r: Teacher.clusters(6, 2, random_state=r),
    lambda r: Teacher.random(5, 2).sample(10, random_state=r),
    lambda r: list(Teacher.random(5, 2).sample_chunks(10, random_state=r)),
    lambda r: monte_carlo_mse(Teacher.random(5, 2), Teacher.random(5, 2), 100, random_state=r),
    lambda r: MomentReLURegressor(n_neurons=1, random_state=r).fit(*Teacher.random(3, 1).sample(200, 0)),
    lambda r: MomentReLURegressor(n_neurons=1, random_state=r).fit_oracle(Teacher.random(3, 1), 1000),
    lambda r: GDReLURegressor(n_neurons=1, random_state=r).fit(*Teacher.random(3, 1).sample(200, 0)),
    lambda r: GDReLURegressor(n_neurons=1, random_state=r).fit_population(Teacher.random(3, 1)),
], ids=["Teacher.random", "close_pair", "clusters", "sample", "sample_chunks", "monte_carlo_mse",
        "Moment.fit", "Moment.fit_oracle", "GD.fit", "GD.fit_population"])
def test_every_random_state_entry_point_names_the_parameter(entry, bad):
    with pytest.raises(ValueError, match="random_state must be None, a non-negative int"):
        entry(bad)


# --- presets ------------------------------------------------------------------------------------------


def parsed(*argv):
    return apply_preset(build_parser().parse_args(["bench", "sample-complexity", *argv]))


def test_quick_default_and_full_preset():
    quick = parsed()
    assert (quick.families, quick.k, quick.seeds, quick.methods) == (QUICK["families"], [1, 2, 4], 2,
                                                                     ["moment_refined", "gd_2k", "mlp_k"])
    assert quick.n_jobs == -1 and (quick.n_min, quick.n_max, quick.n_per_decade) == (1000.0, 10000.0, 2)
    full = parsed("--full")
    assert (full.families, full.seeds, full.methods) == (list(BIAS_FREE_FAMILIES), 3, list(METHODS)) == (
        FULL["families"], FULL["seeds"], FULL["methods"])
    mixed = parsed("--full", "--families", "random", "--seeds", "5")
    assert (mixed.families, mixed.seeds, mixed.methods) == (["random"], 5, list(METHODS))


def test_every_core_by_default_never_more_workers_than_fits():
    assert resolve_n_jobs(-1, 1000) == (os.cpu_count() or 1)
    assert resolve_n_jobs(-1, 1) == 1 and resolve_n_jobs(4, 2) == 2 and resolve_n_jobs(1, 50) == 1


def test_help_names_the_default_refinement_and_the_presets(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "sample-complexity", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Levenberg" not in text and "streamed Gauss-Newton" in text
    assert "--full" in text and "(default: random; with --full: random orthonormal close_pair clusters)" in text
