"""Recovery of planted teachers by MomentReLURegressor: the targets of the moment-learner issue.

Runs ``narrowrelu bench recovery`` over the documented grids. Usage::

    python benchmarks/recovery.py            # everything (about an hour on 2 cores)
    python benchmarks/recovery.py --quick    # a few minutes
"""

import sys

from narrowrelu.cli import main

QUICK = [
    ["--families", "random", "--k", "1", "2", "3", "4", "6", "--n", "3e4", "--seeds", "3"],
]
FULL = [
    ["--families", "random", "--k", "1", "2", "3", "4", "6", "--n", "3e4", "--seeds", "10", "--json", "recovery_random.json"],
    ["--families", "orthonormal", "--k", "8", "--n", "3e4", "--seeds", "10", "--json", "recovery_orthonormal.json"],
    ["--families", "close_pair", "--k", "4", "--n", "1e5", "--seeds", "10", "--json", "recovery_close_pair.json"],
    ["--families", "random", "--k", "1", "2", "3", "4", "--n", "1e4", "1e5", "1e6", "--seeds", "10", "--no-refine",
     "--json", "recovery_raw_slope.json"],
    ["--families", "random", "--k", "1", "2", "3", "4", "--n", "1e4", "1e5", "1e6", "--seeds", "10", "--no-refine",
     "--noise", "0.3", "--json", "recovery_raw_slope_noisy.json"],
    ["--families", "random", "--k", "4", "--n", "1e5", "--seeds", "10", "--noise", "0.3", "--json", "recovery_noise.json"],
]

if __name__ == "__main__":
    grids = QUICK if "--quick" in sys.argv else FULL
    for argv in grids:
        print("$ narrowrelu bench recovery " + " ".join(argv), flush=True)
        main(["bench", "recovery", *argv])
        print(flush=True)
