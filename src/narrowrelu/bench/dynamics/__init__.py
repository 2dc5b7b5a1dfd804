"""``narrowrelu bench dynamics``: training dynamics of GD on the exact population loss.

A planted teacher :math:`f(x) = \\sum_{i\\le k}\\lambda_i\\mathrm{relu}(u_i\\cdot x)`,
:math:`\\lambda_i = 2\\cdot2^{-(i-1)}` (2, 1, 0.5, ...), in :math:`d` dimensions (default
:math:`2k`), directions :math:`e_1..e_k` or random (:mod:`.runs`). A student of width
:math:`m \\ge k` (no intercept, both layers trained) starts at scale :math:`s`
(:math:`W = s(\\mathrm{randn}(d,m)/\\sqrt d)^T`, :math:`a = s\\,\\mathrm{randn}(m)/\\sqrt m`) and is
trained by plain GD with a fixed step :math:`\\eta` on :math:`\\tfrac12E[(g-f)^2]` in closed form (the
numba population-GD kernel; :math:`\\eta` is the time of one iteration of the gradient flow it
discretises), recording a log-spaced history.

Measured, per start: the plateaus and escapes of the loss curve (:mod:`.detect`: a plateau is a
maximal run of log-spaced checkpoints where the loss falls by at most a log-slope
:math:`-d\\ln L/d\\ln t \\le 0.25`, spanning a factor :math:`\\ge 1.3` in iterations; its escape is
the first iteration at which the loss is at most half its level; escape :math:`j` is the one from
the saddle where :math:`j - 1` teacher neurons are learned), the iteration at which each teacher
neuron is learned and their order (:mod:`.measures`), and :math:`\\sigma_1/\\sigma_2` of :math:`W` at
the first escape. Over the init scales: the slope of each escape iteration against
:math:`\\ln(1/s)` (least squares, :mod:`.report`), beside the first escape's prediction
:math:`1/\\ln(1+\\eta G^*)` from the growth rate at the origin.

A weight-decay sweep: width :math:`4k`, start of scale 1 (Xavier), decay :math:`\\alpha` on a grid;
active units, active directions, numerical and effective rank of :math:`W` (:mod:`.measures`) and
the exact excess population MSE over :math:`\\mathrm{Var} f`.

Tables go to stdout; PNG figures (:mod:`.plots`) and ``dynamics.json`` to ``--out``.
"""

import argparse
import json
import os
import sys
import time

from joblib import Parallel, delayed
from tqdm.auto import tqdm

from .._args import count, integer, real
from .measures import predicted_first_escape_slope
from .plots import write_plots
from .report import (
    decay_summary,
    escape_fits,
    format_decay_table,
    format_dynamics_table,
    format_fit_table,
    format_ratio_table,
    ratio_fits,
)
from .runs import FAMILIES, decay_run, dynamics_run, planted_teacher

DEFAULTS = {
    "teachers": ["orthonormal:3", "random:5"], "width_factors": [1, 4], "init_scales": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6],
    "repeats": 3, "max_iter": 30_000, "alphas": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1], "decay_max_iter": 100_000,
}
#: ``--tiny``: the size CI runs (a few seconds).
TINY = {
    "teachers": ["orthonormal:2"], "width_factors": [1, 2], "init_scales": [1e-2, 1e-3, 1e-4], "repeats": 1,
    "max_iter": 2_000, "alphas": [1e-2, 1e-1], "decay_max_iter": 2_000,
}


def teacher_spec(text):
    """``FAMILY:K``, e.g. ``orthonormal:3``."""
    family, _, k = text.partition(":")
    if family not in FAMILIES or not k.isdigit() or int(k) < 1:
        raise argparse.ArgumentTypeError(f"must be FAMILY:K with FAMILY one of {', '.join(FAMILIES)} and K >= 1, "
                                         f"got {text!r}")
    return family, int(k)


teacher_spec.__name__ = "teacher"


def add_parser(commands):
    p = commands.add_parser(
        "dynamics",
        help="GD from small inits on the exact population loss: plateaus, escapes, rank; weight decay",
        description="Population GD on planted teachers from a grid of small init scales: plateaus and escapes of "
        "the loss, escape time against ln(1/init), singular values of W, order in which teacher neurons are learned; "
        "then a weight-decay sweep at width 4k: active units, rank of W, excess MSE. Prints tables, writes PNGs "
        "and dynamics.json to --out.",
    )
    p.add_argument("--teachers", nargs="+", type=teacher_spec, metavar="FAMILY:K",
                   help=f"teachers (families {', '.join(FAMILIES)}; default: {' '.join(DEFAULTS['teachers'])})")
    p.add_argument("--d", type=count(1), help="input dimension (default: 2k for each teacher)")
    p.add_argument("--width-factors", nargs="+", type=count(1), metavar="F",
                   help="student widths F*k (default: 1 4)")
    p.add_argument("--init-scales", nargs="+", type=real(0, 1, closed="right"), metavar="S",
                   help="init scales s in (0, 1] (default: 1e-2 1e-3 1e-4 1e-5 1e-6)")
    p.add_argument("--repeats", type=count(1), help="random starts per (teacher, width, s) (default: 3)")
    p.add_argument("--step", type=real(0, 1, closed="right"), default=0.1, help="GD step (default: 0.1)")
    p.add_argument("--max-iter", type=count(1), help="GD iterations per start (default: 30000)")
    p.add_argument("--alphas", nargs="*", type=real(0, None, closed="neither"), metavar="ALPHA",
                   help="weight decays of the sweep; none to skip it (default: 1e-4 3e-4 ... 1e-1)")
    p.add_argument("--decay-width-factor", type=count(1), default=4, help="sweep width F*k (default: 4)")
    p.add_argument("--decay-init-scale", type=real(0, None, closed="neither"), default=1.0,
                   help="init scale of the sweep (default: 1)")
    p.add_argument("--decay-max-iter", type=count(1), help="GD iterations per sweep fit (default: 100000)")
    p.add_argument("--tiny", action="store_true", help="the CI size: one small teacher, three inits, short runs")
    p.add_argument("--seed", type=integer(0), default=0, help="base seed (default: 0)")
    p.add_argument("--n-jobs", type=count(1), default=1, help="parallel worker processes (default: 1)")
    p.add_argument("--out", default="dynamics-out", help="output directory (default: ./dynamics-out)")
    p.add_argument("--no-plots", action="store_true", help="print the tables only")
    p.set_defaults(func=run)
    return p


def resolve(args, parser):
    """Fill the options not given from ``--tiny`` or the defaults, and check them together."""
    for name in DEFAULTS:
        if getattr(args, name) is None:
            setattr(args, name, (TINY if args.tiny else DEFAULTS)[name])
    args.teachers = [teacher_spec(t) if isinstance(t, str) else t for t in args.teachers]
    if args.d is not None and any(k > args.d for _, k in args.teachers):
        parser.error(f"--d {args.d} is smaller than a teacher's k ({max(k for _, k in args.teachers)}): need d >= k")
    if len(set(args.init_scales)) != len(args.init_scales):
        parser.error(f"--init-scales has repeated values: {args.init_scales}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        parser.error(f"--out {args.out}: exists and is not a directory")
    return args


def _dimension(args, k):
    return args.d if args.d is not None else 2 * k


def run(args, parser):
    args = resolve(args, parser)
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    os.makedirs(args.out, exist_ok=True)
    specs = [(family, k, _dimension(args, k), f * k, s, args.seed, rep, args.step, args.max_iter)
             for family, k in args.teachers for f in args.width_factors for s in args.init_scales
             for rep in range(args.repeats)]
    decay_specs = [(family, k, _dimension(args, k), args.decay_width_factor * k, alpha, args.decay_init_scale,
                    args.seed, args.step, args.decay_max_iter)
                   for family, k in args.teachers for alpha in args.alphas]
    with tqdm(total=len(specs) + len(decay_specs), desc="GD runs", unit="run", file=sys.stderr) as progress:
        runs = _map(dynamics_run, specs, args.n_jobs, progress)
        decay = _map(decay_run, decay_specs, args.n_jobs, progress)
    records = [r for r, _ in runs]
    predictions = {(family, k): predicted_first_escape_slope(planted_teacher(family, k, _dimension(args, k), args.seed),
                                                             args.step)
                   for family, k in args.teachers}
    fits = escape_fits(records, predictions)
    ratios = ratio_fits(records)
    print(f"Population GD, step {args.step:g} (time {args.step:g} per iteration), no intercept, both layers from "
          f"scale s; {args.repeats} start(s) per cell, {args.max_iter} iterations each.\n")
    print("Plateaus per start; escape iterations from the saddles with 0, 1, ..., k-1 neurons learned (median over\n"
          "the starts that left them, '-' when none did); s1/s2 of W at the first escape (range); order in which the\n"
          "teacher neurons are learned (neuron i has the i-th largest |λ|); starts learning in the order of |λ|;\n"
          "starts that learned all k neurons:")
    print(format_dynamics_table(records))
    print("\nEscape iteration t_j = c + slope * ln(1/s), least squares over every start that left saddle j "
          "(± one standard error),\nthe same per start, and the first escape's predicted slope 1/ln(1 + step G*):")
    print(format_fit_table(fits))
    print("\nsigma_1/sigma_2 of W at the first escape, fitted as ratio = C * s^(-γ):")
    print(format_ratio_table(ratios))
    if decay:
        print(f"\nWeight decay at width {args.decay_width_factor}k from init scale {args.decay_init_scale:g}, "
              f"{args.decay_max_iter} GD iterations:")
        print(format_decay_table(decay))
        print(decay_summary(decay))
    paths = [] if args.no_plots else write_plots(args.out, runs, fits, decay)
    with open(os.path.join(args.out, "dynamics.json"), "w") as fh:
        json.dump({"runs": records, "escape_fits": fits, "ratio_fits": ratios, "weight_decay": decay,
                   "arguments": {k: v for k, v in vars(args).items() if k not in ("func", "command_parser")}},
                  fh, indent=1, default=float)
    run_cpu = sum(r["cpu_seconds"] for r in records) + sum(r["cpu_seconds"] for r in decay)
    print(f"\nwrote {', '.join(os.path.basename(p) for p in paths + ['dynamics.json'])} to {args.out}")
    print(f"wall {time.perf_counter() - start_wall:.1f} s; CPU {time.process_time() - start_cpu:.1f} s in this "
          f"process, {run_cpu:.1f} s inside the GD fits")
    return 0


def _map(func, specs, n_jobs, progress):
    out = []
    for result in Parallel(n_jobs=n_jobs, return_as="generator")(delayed(func)(*spec) for spec in specs):
        out.append(result)
        progress.update(1)
    return out
