"""``narrowrelu demo``: plant a teacher, fit the moment learner, print the exact MSE."""

import time

from ..teacher import Teacher


def add_parser(commands):
    p = commands.add_parser(
        "demo",
        help="plant a random teacher, fit the moment learner, print its exact population MSE",
        description="Plant a random teacher network, draw Gaussian samples, fit MomentReLURegressor "
        "and print the exact population MSE of the raw and refined models against the teacher.",
    )
    p.add_argument("--d", type=int, default=20, help="input dimension (default: 20)")
    p.add_argument("--k", type=int, default=4, help="number of teacher neurons (default: 4)")
    p.add_argument("--n", type=int, default=30_000, help="number of samples (default: 30000)")
    p.add_argument("--seed", type=int, default=0, help="random seed for teacher, data and fit (default: 0)")
    p.set_defaults(func=run)
    return p


def run(args, parser):
    from ..learner.estimator import MomentReLURegressor
    from ..metrics import population_mse, population_variance

    if args.k < 1 or args.d < 1 or args.k > args.d:
        parser.error(f"need 1 <= k <= d, got k={args.k}, d={args.d}")
    if args.n < 1:
        parser.error(f"--n must be positive, got {args.n}")
    teacher = Teacher.random(args.d, args.k, random_state=args.seed)
    X, y = teacher.sample(args.n, random_state=args.seed + 1)
    start = time.perf_counter()
    model = MomentReLURegressor(n_neurons=args.k, random_state=args.seed).fit(X, y)
    seconds = time.perf_counter() - start
    var = population_variance(teacher)
    raw = population_mse(model.raw_network_, teacher)
    refined = population_mse(model, teacher)
    print(f"teacher: random, d={args.d}, k={args.k}; n={args.n}; Var f = {var:.4g}")
    print(f"moment (raw):     population MSE {raw:.3e}  (relative {raw / var:.3e})")
    print(f"moment (refined): population MSE {refined:.3e}  (relative {refined / var:.3e})")
    print(f"fit time: {seconds:.2f} s")
    return 0
