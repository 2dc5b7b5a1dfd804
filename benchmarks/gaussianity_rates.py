"""False-alarm rate of the Gaussianity diagnostic on N(0, I) samples, and its detection rate on
non-Gaussian and correlated inputs (narrowrelu.conditioning.gaussianity).

    PYTHONPATH=src python benchmarks/gaussianity_rates.py [--quick] [--n-max N]

d = 20; every input family has mean 0 and unit variance per column, so a check of means and
variances alone passes all of them.
"""

import argparse

import numpy as np

from narrowrelu.conditioning.gaussianity import non_gaussian_message, z_threshold

D = 20
#: Repetitions of the N(0, I) draws per n (the other families get one twentieth, at least 5).
REPS = {1_000: 1000, 10_000: 400, 100_000: 100, 1_000_000: 20}


def draw(kind, n, rng):
    if kind == "gaussian":
        return rng.standard_normal((n, D))
    if kind == "rademacher":
        return rng.choice([-1.0, 1.0], size=(n, D))
    if kind == "uniform":
        return rng.uniform(-np.sqrt(3), np.sqrt(3), size=(n, D))
    if kind == "student_t5":
        return rng.standard_t(5, size=(n, D)) / np.sqrt(5 / 3)
    if kind == "correlated":  # unit variances, equicorrelation 0.3
        return (np.sqrt(0.7) * rng.standard_normal((n, D)) + np.sqrt(0.3) * rng.standard_normal((n, 1)))
    raise ValueError(kind)


def upper95(k, n):
    """One-sided 95 % upper bound on a rate with k of n events (Clopper-Pearson; 3/n at k = 0)."""
    from scipy.stats import beta

    return 1.0 if k == n else float(beta.ppf(0.95, k + 1, n - k))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the repetitions (at least 5)")
    parser.add_argument("--n-max", type=float, default=1e6, help="the largest n of 1e3, 1e4, 1e5, 1e6 (default 1e6)")
    args = parser.parse_args(argv)
    reps = {n: max(5, r // 10) if args.quick else r for n, r in REPS.items() if n <= args.n_max}
    print(f"d = {D}; warn when the largest |z| of {4 * D + D * (D - 1) // 2} tests exceeds {z_threshold(D):.2f}")
    kinds = ["gaussian", "rademacher", "uniform", "student_t5", "correlated"]
    print(f"{'n':>9} {'reps':>5} " + " ".join(f"{k:>16}" for k in kinds))
    for n, n_reps in reps.items():
        cells = []
        for kind in kinds:
            r = n_reps if kind == "gaussian" else max(5, n_reps // 20)
            rng = np.random.default_rng([n, kinds.index(kind)])
            warned = sum(non_gaussian_message(draw(kind, n, rng)) is not None for _ in range(r))
            text = f"{warned}/{r}"
            if kind == "gaussian":
                text += f" (<{upper95(warned, r):.1%})"
            cells.append(text)
        print(f"{n:>9} {n_reps:>5} " + " ".join(f"{c:>16}" for c in cells))
    print("gaussian column: warnings on true N(0, I) samples (false alarms, 95% upper bound); others: detections")


if __name__ == "__main__":
    main()
