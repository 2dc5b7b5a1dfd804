"""Time and accuracy of the matrix-free Gauss–Newton refinement from the raw moment solution.

Usage::

    PYTHONPATH=src python benchmarks/bench_gauss_newton.py [--quick] [--seeds 3] [--n-jobs 1] [--projections | --fisher]

Cases (full sizes; ``--quick`` shrinks them to run in seconds):

* noisy, n = 1e6, d = 100, k = 5 and n = 5e4, d = 200, k = 3, label noise 0.1 std f: refinement
  time over one ``X.T @ X`` (best of 3, one BLAS thread, timed in the same process), the moment
  stages' time over the same, and the excess risk ``population_mse(refined, teacher) /
  (sigma^2 p / n)`` (1 = the parametric rate), raw start and refined; median over seeds;
* noiseless, n = 1e5, d = 20, k = 4, random teacher and ``Teacher.close_pair``: the relative
  population MSE ``population_mse(refined, teacher) / population_variance(teacher)``;
* against the dense Levenberg–Marquardt (``narrowrelu.refine.normal_equations``) on
  n = 2e4, d = 10, k = 3, noisy: relative difference of the final training losses, for the
  default (noise-aware) stop and for ``noise_tol=0`` (iterate to convergence).

``--projections`` instead times eight conjugate-gradient Gauss–Newton iterations (``noise_tol=0``)
from the teacher perturbed, on close pairs and clusters at d = 20 and 50 and a random teacher at
d = 100, with the product passes reading the projections :math:`u_j\\cdot x_i` that the gradient
pass kept (the default for rows in memory) and recomputing them (``PROJECTION_BUFFER_BYTES = 0``,
as on an oracle or dask source): best of 4 each, over one ``X.T @ X``; the speed-up of one
product pass over all rows alone (the two kernels, best of 5); and the largest relative
difference of the two refined parameter vectors.

``--fisher`` instead times the Fisher preconditioner each Gauss–Newton iteration builds
(``FisherPreconditioner``: the closed-form Gaussian Fisher matrix, its gauge-fixed scaling and the
Cholesky factor) at the sizes of the race (d = 20, k = 2-8) and of the d = 50 and d = 100 fits:
best of 20, in milliseconds and over one ``X.T @ X`` on 10⁴ Gaussian rows of the same d (best of
3), with the Cholesky factor's share (the factor of a random positive definite matrix of the same
size, timed alone). The command runs on any commit that has the class.

Every refinement runs with BLAS on one thread (threadpoolctl).
"""

import argparse
import importlib
import time

import numpy as np
from threadpoolctl import threadpool_limits

from narrowrelu import MomentReLURegressor, ReLUNetwork, Teacher, population_mse, population_variance
from narrowrelu.teacher import make_teacher
from narrowrelu.learner.refine.normal_equations import levenberg_marquardt
from narrowrelu.network import n_parameters
from narrowrelu.learner.refine.gauss_newton import gauss_newton_arrays


FISHER_CASES = [(2, 20), (4, 20), (6, 20), (8, 20), (12, 50), (16, 50), (5, 100)]
PROJECTION_CASES = [("close_pair", 10_000, 20, 6), ("clusters", 30_000, 20, 8), ("close_pair", 100_000, 50, 8),
                    ("clusters", 60_000, 50, 12), ("random", 200_000, 100, 5)]


def _seconds(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def xtx_seconds(X, repeats=3):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        X.T @ X
        best = min(best, time.perf_counter() - t0)
    return best


def make_data(family, n, d, k, noise, seed):
    if family == "close_pair":
        teacher = Teacher.close_pair(d, n_neurons=k, random_state=seed)
    else:
        teacher = Teacher.random(n_features=d, n_neurons=k, random_state=seed)
    X, _ = teacher.sample(n, random_state=seed + 100)
    f = teacher(X)
    sigma = noise * float(np.std(f))
    y = f + sigma * np.random.default_rng(seed + 200).standard_normal(n) if noise > 0 else f
    return teacher, X, y, sigma


def moment_start(X, y, k, seed):
    t0 = time.perf_counter()
    raw = MomentReLURegressor(n_neurons=k, random_state=seed, refine=False).fit(X, y).raw_network_
    return raw, time.perf_counter() - t0


def noisy_case(n, d, k, seeds, n_jobs):
    p = n_parameters(k, d)
    excess = []
    for seed in range(seeds):
        teacher, X, y, sigma = make_data("random", n, d, k, 0.1, seed)
        ref = xtx_seconds(X)
        raw, t_moment = moment_start(X, y, k, seed)
        t0 = time.perf_counter()
        res = gauss_newton_arrays(raw, X, y, n_jobs=n_jobs)
        t_refine = time.perf_counter() - t0
        rate = sigma**2 * p / n
        ex_raw = population_mse(raw, teacher) / rate
        ex = population_mse(res.network, teacher) / rate
        excess.append(ex)
        print(
            f"noisy   n={n:.0e} d={d} k={k} seed={seed}: refine {t_refine:.3f}s = {t_refine / ref:.2f}x X.T@X "
            f"(X.T@X {ref:.3f}s; moment stages {t_moment / ref:.2f}x; total {(t_moment + t_refine) / ref:.2f}x), "
            f"iters {res.n_iter}, passes {res.n_gradient_passes}+{res.n_product_passes}, "
            f"excess raw {ex_raw:.3f} -> {ex:.4f}, stop: {res.stop_reason}",
            flush=True,
        )
    print(f"noisy   n={n:.0e} d={d} k={k}: median excess {np.median(excess):.4f} over {seeds} seeds", flush=True)


def noiseless_case(family, n, d, k, seed, n_jobs):
    teacher, X, y, _ = make_data(family, n, d, k, 0.0, seed)
    ref = xtx_seconds(X)
    raw, _ = moment_start(X, y, k, seed)
    t0 = time.perf_counter()
    res = gauss_newton_arrays(raw, X, y, n_jobs=n_jobs)
    t_refine = time.perf_counter() - t0
    var = population_variance(teacher)
    print(
        f"clean   n={n:.0e} d={d} k={k} {family} seed={seed}: refine {t_refine:.3f}s = {t_refine / ref:.2f}x X.T@X, "
        f"iters {res.n_iter}, passes {res.n_gradient_passes}+{res.n_product_passes}, "
        f"rel MSE raw {population_mse(raw, teacher) / var:.3g} -> {population_mse(res.network, teacher) / var:.3g}, "
        f"stop: {res.stop_reason}",
        flush=True,
    )


def lm_case(n, d, k, seed, n_jobs):
    teacher, X, y, _ = make_data("random", n, d, k, 0.1, seed)
    raw, _ = moment_start(X, y, k, seed)
    t0 = time.perf_counter()
    lm = levenberg_marquardt(raw, X, y, n_jobs=n_jobs)
    t_lm = time.perf_counter() - t0
    parts = []
    for label, kw in (("default", {}), ("noise_tol=0", {"noise_tol": 0.0})):
        t0 = time.perf_counter()
        res = gauss_newton_arrays(raw, X, y, n_jobs=n_jobs, **kw)
        t = time.perf_counter() - t0
        parts.append(
            f"GN {label}: {t:.3f}s, iters {res.n_iter}, passes {res.n_gradient_passes}+{res.n_product_passes}, "
            f"loss rel to LM {(res.loss - lm.loss) / lm.loss:+.2e}"
        )
    print(f"vs LM   n={n:.0e} d={d} k={k} seed={seed}: LM {t_lm:.3f}s, {lm.n_iter} iters; " + "; ".join(parts),
          flush=True)


def projection_case(family, n, d, k, seed, n_jobs):
    gn = importlib.import_module("narrowrelu.learner.refine.gauss_newton")
    teacher = make_teacher(family, d, k, seed)
    sigma = 0.1 * np.sqrt(population_variance(teacher))
    X, y = teacher.with_noise(sigma).sample(n, random_state=seed + 100)
    rng = np.random.default_rng(seed + 200)
    start = ReLUNetwork(teacher.hidden_weights + 0.05 * rng.standard_normal(teacher.hidden_weights.shape),
                        1.1 * teacher.output_weights, np.zeros(d), 0.0)
    ref = xtx_seconds(X)
    budget = gn.PROJECTION_BUFFER_BYTES
    seconds, results = {}, {}
    try:
        for label, bytes_ in (("recomputed", 0), ("kept", budget)) * 2:
            gn.PROJECTION_BUFFER_BYTES = bytes_
            for _ in range(2):
                t0 = time.perf_counter()
                results[label] = gauss_newton_arrays(start, X, y, method="cg", noise_tol=0.0, max_iter=8,
                                                     n_jobs=n_jobs)
                seconds[label] = min(seconds.get(label, np.inf), time.perf_counter() - t0)
    finally:
        gn.PROJECTION_BUFFER_BYTES = budget
    kernels = importlib.import_module("narrowrelu.learner.refine._kernels")
    U, lam = np.ascontiguousarray(start.hidden_weights), np.ascontiguousarray(start.output_weights)
    V, v_lam = rng.standard_normal((k + 1, d)), rng.standard_normal(k)
    P, Zu = np.ascontiguousarray(np.vstack([U, V])), np.ascontiguousarray(X @ U.T)
    G, s = np.zeros((k + 1, d)), np.zeros(k + 2)
    product = {
        "recomputed": lambda: kernels.gauss_newton_product_block(X, P, lam, v_lam, 0.0, G, s),
        "kept": lambda: kernels.gauss_newton_product_block_cached(X, Zu, V, lam, v_lam, 0.0, G, s),
    }
    for fn in product.values():
        fn()
    product = {label: min(_seconds(fn) for _ in range(5)) for label, fn in product.items()}
    kept, recomputed = results["kept"], results["recomputed"]
    a, b = kept.network.to_vector(), recomputed.network.to_vector()
    print(f"passes  {family:<10} n={n:.0e} d={d} k={k}: {recomputed.n_gradient_passes}+{recomputed.n_product_passes} "
          f"passes; recomputed {seconds['recomputed'] / ref:.1f}, kept {seconds['kept'] / ref:.1f} X.T@X "
          f"(x{seconds['recomputed'] / seconds['kept']:.2f}; one product pass x"
          f"{product['recomputed'] / product['kept']:.2f}); parameters differ by "
          f"{np.abs(a - b).max() / np.abs(b).max():.1e}", flush=True)


def fisher_case(k, d, repeats=20):
    from scipy.linalg import cho_factor

    from narrowrelu.learner.refine.fisher import FisherPreconditioner

    rng = np.random.default_rng(k * 1000 + d)
    theta = rng.standard_normal(n_parameters(k, d))
    X = rng.standard_normal((10_000, d))
    ref = xtx_seconds(X)
    FisherPreconditioner(theta, k, d, 1e-10)
    build = min(_seconds(lambda: FisherPreconditioner(theta, k, d, 1e-10)) for _ in range(repeats))
    A = np.cov(rng.standard_normal((theta.size, 2 * theta.size))) + np.eye(theta.size)
    factor = min(_seconds(lambda: cho_factor(A, lower=False, check_finite=True)) for _ in range(repeats))
    print(f"fisher  k={k:<2} d={d:<3} p={theta.size:<4} preconditioner {build * 1e3:7.3f} ms = "
          f"{build / ref:6.2f} X.T@X (10^4 rows); Cholesky {min(factor / build, 1.0):.0%} of it", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, seconds")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--projections", action="store_true", help="product passes: projections kept or recomputed")
    parser.add_argument("--fisher", action="store_true", help="the Fisher preconditioner of one iteration")
    args = parser.parse_args()
    with threadpool_limits(limits=1, user_api="blas"):
        if args.fisher:
            for k, d in FISHER_CASES:
                fisher_case(k, d)
            return
        if args.projections:
            for family, n, d, k in PROJECTION_CASES:
                projection_case(family, n, d, k, 0, args.n_jobs)
            return
        if args.quick:
            noisy_case(100_000, 50, 5, args.seeds, args.n_jobs)
            noisy_case(20_000, 100, 3, args.seeds, args.n_jobs)
            noiseless_case("random", 20_000, 10, 4, 0, args.n_jobs)
            noiseless_case("close_pair", 20_000, 10, 4, 0, args.n_jobs)
        else:
            noisy_case(1_000_000, 100, 5, args.seeds, args.n_jobs)
            noisy_case(50_000, 200, 3, args.seeds, args.n_jobs)
            for seed in range(args.seeds):
                noiseless_case("random", 100_000, 20, 4, seed, args.n_jobs)
                noiseless_case("close_pair", 100_000, 20, 4, seed, args.n_jobs)
        for seed in range(args.seeds):
            lm_case(20_000, 10, 3, seed, args.n_jobs)


if __name__ == "__main__":
    main()
