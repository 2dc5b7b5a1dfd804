"""Where the raw moment solution's excess error lives: inside the neurons' span or outside it.

For one teacher and data set (as in ``narrowrelu bench sample-complexity``: the same teachers,
label noise and data seeds) it fits ``MomentReLURegressor(refine=False)`` and prints, in units of
the parametric rate :math:`\\sigma^2p/n`, the exact excess MSE of

* the raw solution;
* its directions with output weights refitted by least squares on all rows;
* the same with the part of each direction *outside* the teachers' span replaced by the truth
  (the in-span error alone), and with the part *inside* replaced (the out-of-span error alone);
* an oracle lift: the true directions moved by the noise of :math:`M_2P` (the column
  :math:`\\beta_iu_i + E_n[\\varepsilon(xx^T - I)]v_i`, :math:`v_i` dual to the neurons in the span),
  the floor of the out-of-span correction the rounds apply;
* the true directions with output weights refitted (the floor of the output regression).

Also per neuron: :math:`\\lambda_i`, and :math:`n` times the squared error inside and outside the span::

    python benchmarks/raw_error_anatomy.py                          # random, d=50, k=16, n=3e5, seed 0
    python benchmarks/raw_error_anatomy.py --tensor-fit off         # without the joint tensor fit
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from narrowrelu import MomentReLURegressor
from narrowrelu.bench.sample_complexity.sweep import DATA_SEED_OFFSET
from narrowrelu.learner.output.sparse_regression import sign_free_to_relu_network
from narrowrelu.network import n_parameters
from narrowrelu.metrics import population_mse, population_variance
from narrowrelu.teacher import FAMILIES, make_teacher


def unit_rows(M):
    return M / np.linalg.norm(M, axis=1, keepdims=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", default="random", choices=FAMILIES)
    p.add_argument("--d", type=int, default=50)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--n", type=float, default=3e5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--tensor-fit", choices=("on", "off"), default="on")
    args = p.parse_args(argv)
    n = int(args.n)
    teacher = make_teacher(args.family, args.d, args.k, args.seed)
    sigma = args.noise * np.sqrt(population_variance(teacher))
    X, y = teacher.with_noise(sigma).sample(n, random_state=DATA_SEED_OFFSET + args.seed)
    net = teacher.relu_network()
    d, k = net.n_features, net.n_neurons
    rate = sigma**2 * n_parameters(k, d) / n
    norms = np.linalg.norm(net.hidden_weights, axis=1)
    U, lam = net.hidden_weights / norms[:, None], net.output_weights * norms

    def refitted(C):
        F = np.hstack([np.ones((n, 1)), X, np.abs(X @ C.T)])
        coef = np.linalg.lstsq(F, y, rcond=None)[0]
        return population_mse(sign_free_to_relu_network(coef[0], coef[1:1 + d], C, coef[1 + d:]), teacher) / rate

    start = time.perf_counter()
    with threadpool_limits(1):
        generators = ("jennrich", "cp_polish") + (("tensor_fit",) if args.tensor_fit == "on" else ())
        model = MomentReLURegressor(n_neurons=k, refine=False, random_state=args.seed,
                                    settings={"candidate_generators": generators}).fit(X, y)
    seconds = time.perf_counter() - start
    raw = unit_rows(model.network_.hidden_weights)
    raw = raw[np.argmax(np.abs(raw @ U.T), axis=0)]
    raw *= np.sign(np.sum(raw * U, axis=1))[:, None]
    P = np.linalg.qr(U.T)[0]
    inside, outside = raw @ P @ P.T, raw - raw @ P @ P.T
    truth_outside = U - U @ P @ P.T
    eps = y - net(X)
    A = P.T @ U.T
    dual = P @ (A @ np.linalg.inv(A.T @ A))
    beta = lam / np.sqrt(2 * np.pi)
    columns = beta[None, :] * U.T + ((X * eps[:, None]).T @ (X @ dual)) / n - eps.mean() * dual
    lifted = unit_rows(columns.T) * np.sign(beta)[:, None]

    print(f"{args.family}, d = {d}, k = {k}, n = {n}, seed {args.seed}, noise {args.noise} std f, "
          f"tensor_fit {args.tensor_fit}; excess MSE / (sigma^2 p / n)")
    raw_excess = population_mse(model.network_, teacher) / rate
    print(f"  raw solution                            {raw_excess:8.2f}  ({seconds:.1f} s)")
    print(f"  raw directions, weights refitted        {refitted(raw):8.2f}")
    print(f"  in-span error alone                     {refitted(unit_rows(inside + truth_outside)):8.2f}")
    print(f"  out-of-span error alone                 {refitted(unit_rows(U @ P @ P.T + outside)):8.2f}")
    print(f"  oracle M2P lift of the true directions  {refitted(lifted):8.2f}")
    print(f"  true directions, weights refitted       {refitted(U):8.2f}")
    print("  neuron: lambda, n * squared error inside / outside the span")
    err_in = np.sum((inside - U * np.sum(raw * U, axis=1)[:, None]) ** 2, axis=1) * n
    err_out = np.sum(outside**2, axis=1) * n
    for i in np.argsort(-np.abs(lam)):
        print(f"    {lam[i]:+7.3f}  {err_in[i]:9.1f}  {err_out[i]:9.1f}")


if __name__ == "__main__":
    main()
