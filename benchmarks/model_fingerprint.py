"""Fit a fixed set of models and save every parameter array, to compare two versions bit for bit.

Usage::

    python benchmarks/model_fingerprint.py OUT.npz                # the installed narrowrelu
    PYTHONPATH=/path/to/other/checkout/src python benchmarks/model_fingerprint.py OTHER.npz
    python benchmarks/model_fingerprint.py --compare OUT.npz OTHER.npz

The models: four default moment fits (random, close pair, clusters families; noiseless and
noisy), an n_neurons=None fit, an oracle-mode fit, fits with the research knobs set (candidate
generators without the tensor fit or without the CP polish, the dense "lm" refinement on data
and in oracle mode, the refinement on the first rows, two refinement starts), and GD fits on
data and on the population loss. The knobs are passed as ``settings=`` where the installed
version has it, else as the estimator's keyword arguments of 0.1.0, so two versions on either
side of that change can be compared. Used to show that the layout changes of issue 11 (commits
c2f0692 and 8e5225f: 48 arrays, all equal) and issue 20 left every model identical.
"""
import argparse
import sys
import warnings

import numpy as np

warnings.simplefilter("ignore")
OLD_NAMES = {("jennrich", "cp_polish"): {"tensor_fit": False}, ("jennrich", "tensor_fit"): {"cp_polish": False}}


def moment(MomentReLURegressor, knobs=None, **params):
    """The estimator with research ``knobs``, in whichever way the installed version takes them."""
    knobs = dict(knobs or {})
    if "settings" in MomentReLURegressor().get_params():
        return MomentReLURegressor(**params, settings=knobs)
    generators = knobs.pop("candidate_generators", None)
    return MomentReLURegressor(**params, **knobs, **OLD_NAMES.get(generators, {}))


def fingerprint(path):
    from narrowrelu import GDReLURegressor, MomentReLURegressor

    out = {}

    def arrays(prefix, net):
        out[prefix + "U"] = np.asarray(net.hidden_weights)
        out[prefix + "lam"] = np.asarray(net.output_weights)
        out[prefix + "w"] = np.asarray(net.linear_weights)
        out[prefix + "b"] = np.array([net.intercept])

    cases = [("random", 20, 4, 30000, 0.0), ("close_pair", 20, 4, 100000, 0.0), ("random", 20, 3, 20000, 0.3),
             ("clusters", 20, 4, 20000, 0.1)]
    try:
        from narrowrelu.bench.recovery import make_teacher
    except ImportError:
        from narrowrelu.teacher import make_teacher
    for i, (fam, d, k, n, noise) in enumerate(cases):
        t = make_teacher(fam, d, k, i)
        X, y = t.sample(n, random_state=100 + i)
        y = y + noise * np.std(y) * np.random.default_rng(i).standard_normal(n)
        m = MomentReLURegressor(n_neurons=k, random_state=i).fit(X, y)
        arrays(f"m{i}raw", m.raw_network_)
        arrays(f"m{i}ref", m.network_)
        if i == 0:
            m2 = MomentReLURegressor(n_neurons=None, random_state=i, refine=False, max_auto_neurons=5).fit(X, y)
            arrays("auto", m2.raw_network_)
            m3 = MomentReLURegressor(n_neurons=k, random_state=i, refine=False, chunk_size=4096).fit_oracle(t, 50000)
            arrays("oracle", m3.raw_network_)
            g = GDReLURegressor(n_neurons=k, random_state=i, max_iter=200).fit(X[:5000], y[:5000])
            arrays("gd", g.relu_network())
            g2 = GDReLURegressor(n_neurons=k, random_state=i, max_iter=200).fit_population(t)
            arrays("gdpop", g2.relu_network())
            variants = {"cponly": {"candidate_generators": ("jennrich", "cp_polish")},
                        "fitonly": {"candidate_generators": ("jennrich", "tensor_fit")},
                        "lm": {"refine_method": "lm"}, "head": {"refine_max_samples": 12_000},
                        "starts2": {"refine_starts": 2, "max_rounds": 3}}
            for name, knobs in variants.items():
                m4 = moment(MomentReLURegressor, knobs, n_neurons=k, random_state=i).fit(X[:15000], y[:15000])
                arrays(name + "raw", m4.raw_network_)
                arrays(name, m4.network_)
            m5 = moment(MomentReLURegressor, {"refine_method": "lm", "refine_max_samples": 8000}, n_neurons=k,
                        random_state=i, chunk_size=4096).fit_oracle(t, 30000)
            arrays("oraclelm", m5.network_)
    np.savez(path, **out)
    print("saved", len(out))


def compare(a_path, b_path):
    a, b = np.load(a_path), np.load(b_path)
    differ = sorted(k for k in a if k not in b or not np.array_equal(a[k], b[k]))
    print(f"{len(a)} arrays; {len(differ)} differ" + (": " + ", ".join(differ) if differ else ""))
    return 1 if differ else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", metavar="OUT.npz", help="fit the models and save their arrays here")
    parser.add_argument("--compare", nargs=2, metavar=("A.npz", "B.npz"),
                        help="compare two saved fingerprints array by array (exit 1 when any differs)")
    args = parser.parse_args(argv)
    if (args.out is None) == (args.compare is None):
        parser.error("give either OUT.npz or --compare A.npz B.npz")
    if args.compare:
        return compare(*args.compare)
    fingerprint(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
