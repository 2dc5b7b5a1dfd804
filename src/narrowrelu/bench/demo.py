"""``narrowrelu demo``: plant a teacher, fit the moment learner, print the exact MSE."""

import time

from ..teacher import Teacher
from ._args import count, integer
from ._memory import moment_fit_bytes, shortfall


def add_parser(commands):
    p = commands.add_parser(
        "demo",
        help="plant a random teacher, fit the moment learner, print its exact population MSE",
        description="Plant a random teacher network, draw Gaussian samples, fit MomentReLURegressor "
        "and print the exact population MSE of the raw and refined models against the teacher.",
    )
    p.add_argument("--d", type=count(1), default=20, help="input dimension (default: 20)")
    p.add_argument("--k", type=count(1), default=4, help="number of teacher neurons, <= --d (default: 4)")
    p.add_argument("--n", type=count(1), default=30_000,
                   help="number of samples, at least d + k + 2 (default: 30000)")
    p.add_argument("--seed", type=integer(0), default=0, help="random seed for teacher, data and fit (default: 0)")
    p.set_defaults(func=run)
    return p


def run(args, parser):
    from ..learner.estimator import MomentReLURegressor
    from ..metrics import population_mse, population_variance

    if args.k < 1 or args.d < 1 or args.k > args.d:
        parser.error(f"need 1 <= k <= d, got k={args.k}, d={args.d}")
    need = MomentReLURegressor(n_neurons=args.k).required_samples(args.d)
    if args.n < need:
        parser.error(f"--n must be at least d + k + 2 = {need} for d={args.d}, k={args.k}; got {args.n}")
    if problem := shortfall(moment_fit_bytes(args.n, args.d, args.k)):
        parser.error(f"--n {args.n}: the fit of {args.n} rows of {args.d} features {problem}")
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
