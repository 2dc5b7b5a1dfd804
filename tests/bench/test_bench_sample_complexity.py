"""Tests of ``narrowrelu bench sample-complexity``: outputs, resume, argument errors, dask."""

import csv
import json
import os

import numpy as np
import pytest

from narrowrelu.bench.sample_complexity import sweep
from narrowrelu.bench.sample_complexity.methods import METHODS
from narrowrelu.bench.sample_complexity.summary import nstar_rows, per_n_rows
from narrowrelu.bench.sample_complexity.sweep import (
    CellStore,
    geometric_grid,
    record_key,
)
from narrowrelu.cli import main
from narrowrelu.metrics import monte_carlo_mse
from narrowrelu.teacher import Teacher

# GD fits are slower than the others at any size; the tests cover the machinery with the rest.
FAST_METHODS = [m for m in METHODS if not m.startswith("gd")]


def tiny_argv(out, *extra):
    return [
        "bench", "sample-complexity", "--families", "random", "orthonormal", "--k", "1", "2", "--d", "4",
        "--n-min", "200", "--n-max", "400", "--n-per-decade", "2", "--seeds", "2", "--methods", *FAST_METHODS,
        "--out", str(out), "--n-jobs", "1", "--no-progress", *extra,
    ]


def stored(out):
    return CellStore(str(out)).load()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    assert main(tiny_argv(out)) == 0
    return out


def test_tiny_sweep_writes_every_output(tiny_run, capsys):
    for name in ("cells.jsonl", "cells.csv", "per_n.csv", "nstar.csv", "results.json", "table.txt",
                 "success_rate.png", "nstar.png"):
        assert os.path.getsize(tiny_run / name) > 0, name
    with open(tiny_run / "success_rate.png", "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    results = json.loads((tiny_run / "results.json").read_text())
    # 2 families x 2 k x 2 n x 2 seeds x methods
    assert len(results["cells"]) == 16 * len(FAST_METHODS)
    meta = results["meta"]
    assert meta["command"].startswith("narrowrelu bench sample-complexity --families random orthonormal")
    assert meta["threads"]["blas_per_fit"] == 1
    assert {"numpy", "scikit-learn", "narrowrelu"} <= set(meta["versions"])
    assert meta["machine"]["platform"]
    with open(tiny_run / "cells.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(results["cells"])
    assert {"family", "k", "n", "seed", "method", "mse", "rel_mse", "parametric_rate", "fit_seconds"} <= set(rows[0])
    nstar = results["nstar"]
    assert {r["method"] for r in nstar} == set(FAST_METHODS)
    table = (tiny_run / "table.txt").read_text()
    assert "n*(k)" in table and "moment_refined" in table


def test_records_are_scored_against_the_clean_teacher(tiny_run):
    records = list(stored(tiny_run).values())
    for r in records:
        assert r["noise"] == 0.1
        assert np.isclose(r["sigma"], 0.1 * np.sqrt(r["var_f"]))
        assert r["error"] is None
        assert r["mse"] >= 0 and np.isclose(r["rel_mse"], r["mse"] / r["var_f"])
        p = r["k"] * (r["d"] + 1) + r["d"] + 1
        assert np.isclose(r["parametric_rate"], r["sigma"] ** 2 * p / r["n"])
        assert r["scoring"] == ("monte_carlo" if r["method"].startswith("mlp") else "exact")
    orth = [r for r in records if r["family"] == "orthonormal"]
    assert {(r["k"], r["d"]) for r in orth} == {(1, 1), (2, 2)}


def test_resume_computes_only_missing_cells(tiny_run, tmp_path, monkeypatch):
    out = tmp_path / "resume"
    out.mkdir()
    lines = (tiny_run / "cells.jsonl").read_text().splitlines()
    dropped = [json.loads(line) for line in lines[::5]]
    kept = [line for i, line in enumerate(lines) if i % 5]
    # a line cut short by a kill must be ignored, not crash the reader
    (out / "cells.jsonl").write_text("\n".join(kept) + "\n" + lines[0][: len(lines[0]) // 2])
    calls = []
    real = sweep.run_job

    def counting(job):
        calls.append(job)
        return real(job)

    monkeypatch.setattr(sweep, "run_job", counting)
    assert main(tiny_argv(out)) == 0
    computed = {key for job in calls for key in job.cell_keys()}
    assert computed == {record_key(r) for r in dropped}
    before, after = stored(tiny_run), stored(out)
    assert set(after) == set(before)
    for key, rec in after.items():
        assert rec["mse"] == pytest.approx(before[key]["mse"], rel=1e-9, abs=1e-15)
    calls.clear()
    assert main(tiny_argv(out)) == 0
    assert calls == []


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--k": ["0"]}, "argument --k: must be an integer >= 1"),
        ({"--k": ["5"]}, "--k values must be <= --d = 4"),
        ({"--n-min": ["500"], "--n-max": ["400"]}, "the n grid is empty"),
        ({"--n-min": ["1"]}, "argument --n-min: must be a finite number >= 10"),
        ({"--seeds": ["0"]}, "argument --seeds: must be an integer >= 1"),
        ({"--methods": ["sgd"]}, "invalid choice: 'sgd'"),
        ({"--families": ["spiral"]}, "invalid choice: 'spiral'"),
        ({"--k": []}, "expected at least one argument"),
        ({"--noise": ["-1"]}, "argument --noise: must be a finite number >= 0"),
        ({"--target": ["0"]}, "argument --target: must be a finite number > 0"),
        ({"--n-jobs": ["0"]}, "argument --n-jobs: must be an integer >= 1 or -1"),
        ({"--n-max-gd": ["5"]}, "argument --n-max-gd: must be a finite number >= 10"),
        ({"--n-max-gd": ["150"]}, "--n-max-gd 150 is below --n-min 200: mlp_k, mlp_4k, mlp_default would run no cell"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_line(tmp_path, capsys, change, message):
    argv = tiny_argv(tmp_path / "out")
    for option, values in change.items():
        if option not in argv:
            argv += [option, *values]
            continue
        i = argv.index(option)
        j = i + 1
        while j < len(argv) and not argv[j].startswith("--"):
            j += 1
        argv[i + 1:j] = values
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("narrowrelu") and " error: " in err[-1]
    assert message in err[-1]


def test_unwritable_out_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(SystemExit) as exc:
        main(tiny_argv(blocker / "sub"))
    assert exc.value.code == 2
    assert "is not writable" in capsys.readouterr().err.strip().splitlines()[-1]


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "sample-complexity", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--families", "--k", "--d", "--n-min", "--n-max", "--n-per-decade", "--seeds", "--noise",
                   "--target", "--n-max-gd", "--n-cap", "--methods", "--out", "--n-jobs", "--dask-scheduler",
                   "--no-progress", "--full"):
        assert option in text
    for method in METHODS:
        assert method in text
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    assert "sample-complexity" in capsys.readouterr().out


def test_geometric_grid():
    assert geometric_grid(1000, 10000, 2) == [1000, 3162, 10000]
    assert geometric_grid(500, 500, 3) == [500]
    grid = geometric_grid(1000, 30000, 3)
    assert grid[0] == 1000 and grid[-1] == 30000 and np.all(np.diff(np.log(grid)) > 0)


def test_nstar_is_smallest_n_with_90_percent():
    def rec(n, seed, rel):
        return {"family": "random", "k": 2, "method": "m", "n": n, "d": 5, "seed": seed, "mse": rel, "rel_mse": rel,
                "mse_over_rate": 1.0, "parametric_rate": 1e-3, "fit_seconds": 0.1, "error": None}

    records = [rec(100, s, 1.0) for s in range(10)]
    records += [rec(200, s, 1e-4 if s < 9 else 1.0) for s in range(10)]
    records += [rec(400, s, 1e-4) for s in range(10)]
    rows = per_n_rows(records, 1e-3)
    (row,) = nstar_rows(rows, ["m"])
    assert row["n_star"] == 200 and row["success_at_n_max"] == 1.0
    (never,) = nstar_rows(per_n_rows(records[:10], 1e-3), ["m"])
    assert never["n_star"] is None


def test_monte_carlo_scoring_matches_exact_for_a_network():
    teacher = Teacher.random(5, 2, random_state=0)
    other = Teacher.random(5, 2, random_state=1)
    from narrowrelu import population_mse

    estimate = monte_carlo_mse(other.evaluate_trusted, teacher, 100_000, 0)
    mean, stderr = estimate.mean, estimate.stderr
    assert abs(mean - population_mse(other, teacher)) < 5 * stderr


@pytest.mark.cluster
def test_local_cluster_gives_the_same_cells(tiny_run, tmp_path):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "dask"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        assert main(tiny_argv(out, "--dask-scheduler", cluster.scheduler_address)) == 0
    local, remote = stored(tiny_run), stored(out)
    assert set(remote) == set(local)
    for key, rec in remote.items():
        assert rec["mse"] == pytest.approx(local[key]["mse"], rel=1e-9, abs=1e-15)
    meta = json.loads((out / "results.json").read_text())["meta"]
    assert meta["threads"]["dask_scheduler"] == cluster.scheduler_address


def test_gd_methods_plug_in_and_score_exactly():
    from narrowrelu.bench.sample_complexity.sweep import Job, run_job

    for fitter, width in (("gd_k", 2), ("gd_2k", 4)):
        (rec,) = run_job(Job("random", 4, 2, 300, 0, 0.1, fitter, (fitter,)))
        assert rec["method"] == fitter and rec["width"] == width
        assert rec["scoring"] == "exact" and rec["error"] is None and np.isfinite(rec["mse"])


def test_mlp_methods_have_their_width_and_monte_carlo_score():
    from narrowrelu.bench.sample_complexity.methods import (
        MLP_MODELS,
        MONTE_CARLO_SAMPLES,
    )
    from narrowrelu.bench.sample_complexity.sweep import DATA_SEED_OFFSET, Job, run_job
    from narrowrelu.metrics import population_variance
    from narrowrelu.teacher import make_teacher

    teacher = make_teacher("random", 4, 2, 0)
    sigma = 0.1 * np.sqrt(population_variance(teacher))
    X, y = teacher.with_noise(sigma).sample(300, random_state=DATA_SEED_OFFSET)
    for method, width in (("mlp_k", 2), ("mlp_4k", 8), ("mlp_default", 100)):
        (rec,) = run_job(Job("random", 4, 2, 300, 0, 0.1, method, (method,)))
        assert rec["method"] == method and rec["width"] == width and rec["error"] is None
        assert rec["scoring"] == "monte_carlo" and 0 < rec["mse_stderr"] < rec["mse"]
        model = MLP_MODELS[method](2, 0).fit(X, y)
        # against the clean teacher, with the sweep's Monte Carlo draws
        expected = monte_carlo_mse(model, teacher, MONTE_CARLO_SAMPLES, np.random.default_rng([0, 0x5C0DE]))
        assert rec["mse"] == pytest.approx(expected.mean, rel=1e-10)
        assert rec["rel_mse"] == pytest.approx(expected.mean / population_variance(teacher), rel=1e-10)
        if method == "mlp_default":
            assert rec["converged"] == (model.n_iter_ < model.max_iter)


def test_mlp_fitter_records_convergence_warnings():
    from sklearn.neural_network import MLPRegressor

    from narrowrelu.bench.sample_complexity.methods import _fit_mlp

    teacher = Teacher.random(3, 1, random_state=0)
    X, y = teacher.sample(200, random_state=1)
    for max_iter, converged in ((2, False), (500, True)):
        fit = _fit_mlp(lambda k, seed, max_iter=max_iter: MLPRegressor(max_iter=max_iter, tol=1e-2, random_state=seed))
        (result,) = fit(("m",), teacher, X, y, 0).values()
        assert result["converged"] is converged and result["width"] == 100


def test_mlp_models_are_built_as_specified():
    from sklearn.neural_network import MLPRegressor

    from narrowrelu.bench.sample_complexity.methods import (
        MLP_MAX_ITER,
        MLP_MODELS,
        MLP_TOL,
    )

    def lbfgs(width):
        return MLPRegressor(hidden_layer_sizes=(width,), activation="relu", solver="lbfgs", max_iter=MLP_MAX_ITER,
                            tol=MLP_TOL, random_state=7).get_params()

    assert MLP_MODELS["mlp_k"](3, 7).get_params() == lbfgs(3)
    assert MLP_MODELS["mlp_4k"](3, 7).get_params() == lbfgs(12)
    assert MLP_MODELS["mlp_default"](3, 7).get_params() == MLPRegressor(random_state=7).get_params()
    assert {m for m in METHODS if m.startswith("mlp")} == set(MLP_MODELS)


def test_plots_order_families_as_declared():
    from narrowrelu.bench.sample_complexity.plots import _ordered_families
    from narrowrelu.teacher import FAMILIES

    rows = [{"family": f} for f in ("zzz", *reversed(FAMILIES))]
    assert _ordered_families(rows) == [*FAMILIES, "zzz"]
