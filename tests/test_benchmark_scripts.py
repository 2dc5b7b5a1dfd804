"""Smoke test of every script in benchmarks/: each answers ``--help`` with its description, and runs
at a tiny size in a subprocess, exits 0 and prints the line its report is built around.

A new script must be added to ``TINY`` (the first test fails otherwise). Runs above about 4 s of
CPU are marked slow; their ``--help`` still runs in the default set.
"""

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import narrowrelu

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
BENCHMARKS = ROOT / "benchmarks"
SCRIPTS = sorted(path.name for path in BENCHMARKS.glob("*.py"))
SRC = str(Path(narrowrelu.__file__).resolve().parents[1])
slow = pytest.mark.slow

#: Per script: a tiny command line, a text its output must hold, and whether the run is slow.
TINY = {
    "auto_k.py": (["--table", "under", "--families", "random", "--d", "5", "--k", "2", "--noise", "0.1", "--n", "3000",
                   "--seeds", "1"], "under-specification reported", True),
    "biased_fits.py": (["--d", "4", "--k", "1", "--n", "2000", "--seeds", "0"], "moment vs mlp_4k", False),
    "bench_contraction.py": (["--n", "2000", "--d", "5", "--repeats", "1"], "ratio to X.T @ X", False),
    "bench_gauss_newton.py": (["--quick", "--seeds", "1"], "vs LM", True),
    "bench_population_gd.py": (["--k", "2", "--restarts", "2", "--max-iter", "100"], "population-GD restarts", True),
    "diagnostic_rates.py": (["--null-only", "--fits", "2", "--n", "3000"], "false alarms", True),
    "gaussianity_rates.py": (["--quick", "--n-max", "1e3"], "false alarms", False),
    "hostile_probes.py": (["--only", "cli demo"], "0 silent wrong results, 0 tracebacks, 0 hangs", False),
    "linear_part.py": (["--d", "5", "--k", "2", "--n", "3000", "--norms", "0", "30"], "excess/rate", False),
    "linear_shrinkage_risk.py": (["--d", "5", "--k", "2", "--n", "3000", "--scales", "0", "16", "--seeds", "2"],
                                 "in standard errors: lowest", False),
    "model_fingerprint.py": (["--compare", "{a}", "{b}"], "2 arrays; 0 differ", False),
    "off_model_fits.py": (["--d", "5", "--k", "2", "--n", "3000"], "uniform x", False),
    "oracle_memory.py": (["--n", "2e4", "--d", "5", "--k", "2"], "relative population MSE: raw", False),
    "polish_effect.py": (["--d", "5", "--k", "2", "--n", "3000", "--seeds", "1"], "worst seed, default", False),
    "raw_error_anatomy.py": (["--d", "5", "--k", "2", "--n", "3000"], "true directions, weights refitted", False),
    "refine_methods.py": (["--n", "2000", "--d", "5", "--seeds", "1"], "lbfgs", True),
    "small_n_race.py": (["--families", "random", "--d", "5", "--k", "2", "--n", "3000", "--seeds", "0",
                         "--repeats", "2"],
                        "met (error <=", True),
    "whiten_correlated.py": (["--n", "3000", "--seeds", "1"], "correlated, whiten=True", True),
}

HELP_DRIVER = """
import contextlib, io, runpy, sys
for path in sys.argv[1:]:
    sys.argv = [path, "--help"]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(path, run_name="__main__")
        code = None
    except SystemExit as exc:
        code = exc.code
    print(f"=== {path} exit={code}")
    print(out.getvalue())
"""


def run(argv, cwd):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_every_script_has_a_tiny_run():
    assert set(TINY) == set(SCRIPTS)


def test_every_script_answers_help_with_its_description(tmp_path):
    done = run(["-c", HELP_DRIVER, *[str(BENCHMARKS / name) for name in SCRIPTS]], tmp_path)
    assert done.returncode == 0, done.stderr
    sections = dict(part.split("\n", 1) for part in done.stdout.split("=== ")[1:])
    for name in SCRIPTS:
        path = str(BENCHMARKS / name)
        assert f"{path} exit=0" in sections, f"{name} --help did not exit 0: {list(sections)}"
        text = " ".join(sections[f"{path} exit=0"].split())
        first_line = " ".join(docstring(BENCHMARKS / name).splitlines()[0].split())
        assert text.startswith("usage:") and first_line in text


def docstring(path):
    return ast.get_docstring(ast.parse(path.read_text()))


@pytest.mark.parametrize("name", [pytest.param(n, marks=slow) if TINY[n][2] else n for n in sorted(TINY)])
def test_script_runs_at_a_tiny_size(name, tmp_path):
    argv, expected, _ = TINY[name]
    if name == "model_fingerprint.py":
        for name_ in ("a.npz", "b.npz"):
            np.savez(tmp_path / name_, U=np.eye(2), w=np.zeros(2))
        argv = [a.format(a=tmp_path / "a.npz", b=tmp_path / "b.npz") for a in argv]
    done = run([str(BENCHMARKS / name), *argv], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expected in done.stdout
    assert "Traceback" not in done.stderr


def test_whiten_correlated_with_a_mean_runs_at_a_tiny_size(tmp_path):
    # the --mean table (x ~ N(mu, Sigma), whiten=True, hidden_biases=True): noiseless, the fit is exact
    argv = ["--mean", "1", "--noise", "0", "--d", "5", "--k", "2", "--n", "3000", "--seeds", "1"]
    done = run([str(BENCHMARKS / "whiten_correlated.py"), *argv], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    header, row = done.stdout.splitlines()[1:3]
    assert "whiten=True, hidden_biases=True" in header
    assert float(row.split()[3]) <= 1e-6


def _auto_k_script():
    spec = importlib.util.spec_from_file_location("auto_k_script", BENCHMARKS / "auto_k.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Predictor:
    def __init__(self, network):
        self.predict = network


def test_attainable_z_is_the_paired_z_on_m_fresh_rows():
    from narrowrelu import ReLUNetwork
    from narrowrelu.teacher import Teacher

    auto_k = _auto_k_script()
    teacher = Teacher.random(n_features=5, n_neurons=2, random_state=0)
    missing = ReLUNetwork(teacher.hidden_weights[:1], teacher.output_weights[:1], teacher.linear_weights,
                          teacher.intercept)
    exact, smaller = _Predictor(teacher), _Predictor(missing)
    z = auto_k.attainable_z(teacher, 0.1, smaller, exact, 100, seed=3, rows=20_000)
    # the same fresh rows for every m: z grows as sqrt(m)
    assert z > 0
    assert auto_k.attainable_z(teacher, 0.1, smaller, exact, 400, seed=3, rows=20_000) == pytest.approx(2 * z)
    assert auto_k.attainable_z(teacher, 0.1, exact, smaller, 100, seed=3, rows=20_000) == pytest.approx(-z)
    assert auto_k.attainable_z(teacher, 0.1, exact, exact, 100, seed=3, rows=20_000) == 0.0


def test_threshold_bound_counts_the_fits_kept_and_the_misses_mended():
    line = _auto_k_script().threshold_bound(2, 5, [None, 2.2, -0.5], [3.5, 0.7], thresholds=(3.0, 2.0, 0.5, 0.0))
    # t = 3: three kept, one mended; t = 2: 2.2 now overshoots; t = 0.5: 0.7 mended; t = 0: -0.5 still kept
    assert line.endswith("3: 4, 2: 3, 0.5: 4, 0: 4")
