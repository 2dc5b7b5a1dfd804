"""Input checking across the foundation API.

* Bad input raises a ``ValueError`` whose message names the argument and the problem.
* Inputs are never modified.
* Read-only and Fortran-ordered arrays work in every public function and give the same results
  as C-ordered writeable ones.
"""

import numpy as np
import pytest

from narrowrelu import (
    HermiteContractionAccumulator,
    ReLUNetwork,
    Teacher,
    hermite_e,
    hermite_moment_contraction,
    linear_moments,
    monte_carlo_mse,
    population_inner_product,
    population_mse,
    population_variance,
    projected_hermite_tensor,
    second_moment,
)
from narrowrelu._validation import (
    as_generator,
    check_data,
    check_finite_array,
    check_positive_int,
    check_unit_directions,
)
from narrowrelu.hermite import directional_hermite
from narrowrelu.metrics import relu_angles, relu_kernel

RNG = np.random.default_rng(0)
D = 4
X0 = RNG.standard_normal((57, D))
Y0 = RNG.standard_normal(57)
G0 = RNG.standard_normal((2, D))
U0 = RNG.standard_normal((3, D))
LAM0 = RNG.standard_normal(3)
W0 = RNG.standard_normal(D)


def _net(U, lam, w):
    return ReLUNetwork(U, lam, w, 0.5)


def _acc(X, y, G):
    acc = HermiteContractionAccumulator(G, 4, chunk_size=10)
    acc.update(X, y)
    return acc.result(), acc.mean_y(), acc.mean_yx()


# name -> (function, its array arguments)
CALLS = {
    "hermite_moment_contraction": (
        lambda X, y, G: hermite_moment_contraction(X, y, G, order=4, chunk_size=10),
        (X0, Y0, G0),
    ),
    "hermite_moment_contraction_order6_jobs2": (
        lambda X, y, G: hermite_moment_contraction(X, y, G, order=6, chunk_size=10, n_jobs=2),
        (X0, Y0, G0),
    ),
    "accumulator": (_acc, (X0, Y0, G0)),
    "second_moment": (lambda X, y: second_moment(X, y, chunk_size=10), (X0, Y0)),
    "linear_moments": (linear_moments, (X0, Y0)),
    "projected_hermite_tensor": (lambda Z, y: projected_hermite_tensor(Z, y, order=4, chunk_size=10), (X0[:, :3], Y0)),
    "network_call": (lambda U, lam, w, X: _net(U, lam, w)(X), (U0, LAM0, W0, X0)),
    "teacher_sample": (
        lambda U, lam, w: Teacher(U, lam, w, 0.1, noise_std=0.3).sample(20, random_state=1),
        (U0, LAM0, W0),
    ),
    "population_mse": (lambda U, lam, w: population_mse(_net(U, lam, w), _net(U[::-1], lam, w)), (U0, LAM0, W0)),
    "population_inner_product": (
        lambda U, lam, w: population_inner_product(_net(U, lam, w), _net(U, lam, -w)),
        (U0, LAM0, W0),
    ),
    "population_variance": (lambda U, lam, w: population_variance(_net(U, lam, w)), (U0, LAM0, W0)),
    "monte_carlo_mse": (
        lambda U, lam, w: monte_carlo_mse(_net(U, lam, w), _net(U, -lam, w), 1000, random_state=2).mean,
        (U0, LAM0, W0),
    ),
    "relu_kernel": (relu_kernel, (U0, G0)),
    "relu_angles": (relu_angles, (U0, G0)),
    "hermite_e": (lambda t: hermite_e(5, t), (X0,)),
    "directional_hermite": (lambda s: directional_hermite(5, s, 2.0), (X0,)),
    "check_unit_directions": (check_unit_directions, (U0,)),
    "check_data": (check_data, (X0, Y0)),
}


def _variants(a):
    """The same values as C writeable, C read-only, Fortran, Fortran read-only, and a strided view."""
    out = {}
    c = np.array(a, order="C")
    out["C"] = c
    ro = c.copy()
    ro.setflags(write=False)
    out["C read-only"] = ro
    if a.ndim == 2:
        f = np.asfortranarray(a)
        assert f.flags.f_contiguous and not f.flags.c_contiguous
        out["Fortran"] = f
        fro = f.copy(order="F")
        fro.setflags(write=False)
        out["Fortran read-only"] = fro
        wide = np.zeros((a.shape[0], 2 * a.shape[1]))
        wide[:, ::2] = a
        out["strided"] = wide[:, ::2]
    else:
        wide = np.zeros(2 * a.shape[0])
        wide[::2] = a
        out["strided"] = wide[::2]
    return out


def _flatten(result):
    if isinstance(result, tuple):
        return [np.asarray(r, dtype=float) for part in result for r in _flatten(part)]
    return [np.asarray(result, dtype=float)]


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("layout", ["C read-only", "Fortran", "Fortran read-only", "strided"])
def test_layouts_work_and_inputs_are_not_modified(name, layout):
    fn, args = CALLS[name]
    reference = _flatten(fn(*[np.array(a, order="C") for a in args]))
    variants = [_variants(a).get(layout, _variants(a)["C read-only"]) for a in args]
    saved = [v.copy() for v in variants]
    got = _flatten(fn(*variants))
    for v, s in zip(variants, saved):
        np.testing.assert_array_equal(v, s)
    assert len(got) == len(reference)
    for g, r in zip(got, reference):
        np.testing.assert_allclose(g, r, rtol=1e-13, atol=1e-13 * max(1.0, np.max(np.abs(r), initial=0.0)))


@pytest.mark.parametrize("name", sorted(CALLS))
def test_writeable_inputs_are_not_modified(name):
    fn, args = CALLS[name]
    args = [np.array(a) for a in args]
    saved = [a.copy() for a in args]
    fn(*args)
    for a, s in zip(args, saved):
        np.testing.assert_array_equal(a, s)


def test_lists_are_accepted():
    net = ReLUNetwork([[1.0, 0.0]], [2.0], [0.5, 0.5], 1)
    assert net([[1.0, 1.0]])[0] == pytest.approx(4.0)
    out = hermite_moment_contraction(X0.tolist(), Y0.tolist(), G0[0].tolist(), order=4)
    np.testing.assert_allclose(out, hermite_moment_contraction(X0, Y0, G0[0], order=4), rtol=0, atol=1e-14)


# ------------------------------------------------------------------------------- bad input
def _with(a, index, value):
    a = np.array(a, dtype=float)
    a[index] = value
    return a


BAD = [
    # networks
    (lambda: ReLUNetwork(_with(U0, (0, 1), np.nan), LAM0), "hidden_weights contains 1 non-finite"),
    (lambda: ReLUNetwork(U0, _with(LAM0, 2, np.inf)), "output_weights contains 1 non-finite"),
    (lambda: ReLUNetwork(U0, LAM0, _with(W0, 0, -np.inf)), "linear_weights contains 1 non-finite"),
    (lambda: ReLUNetwork(U0, LAM0, None, np.nan), "intercept contains"),
    (lambda: ReLUNetwork(U0, LAM0, None, [1.0, 2.0]), "intercept must be 0-dimensional"),
    (lambda: ReLUNetwork(U0, LAM0[:2]), "hidden_weights has 3 neurons .* output_weights has 2 entries"),
    (lambda: ReLUNetwork(U0[0], LAM0[:1]), "hidden_weights must be 2-dimensional"),
    (lambda: ReLUNetwork(U0, LAM0[:, None]), "output_weights must be 1-dimensional"),
    (lambda: ReLUNetwork(U0, LAM0, W0[:3]), "linear_weights has length 3, expected n_features = 4"),
    (lambda: ReLUNetwork(np.zeros((0, 0)), []), "at least one column"),
    (lambda: ReLUNetwork([["a", "b"]], [1.0]), "hidden_weights must be a numeric array"),
    (lambda: ReLUNetwork(U0, LAM0)(X0[:, :3]), "X has 3 features, expected 4"),
    (lambda: ReLUNetwork(U0, LAM0)(_with(X0, (5, 0), np.nan)), "X contains 1 non-finite"),
    (lambda: ReLUNetwork(U0, LAM0)(X0[0]), "X must be 2-dimensional"),
    (lambda: Teacher(U0, LAM0, noise_std=-1.0), "noise_std must be >= 0"),
    # moments
    (lambda: hermite_moment_contraction(_with(X0, (3, 2), np.inf), Y0, G0), "X contains 1 non-finite"),
    (lambda: hermite_moment_contraction(_with(X0, (56, 3), np.nan), Y0, G0), "X contains 1 non-finite"),
    (lambda: hermite_moment_contraction(X0, _with(Y0, 0, np.nan), G0), "y contains 1 non-finite"),
    (lambda: hermite_moment_contraction(X0, Y0, _with(G0, (1, 1), np.nan)), "directions contains 1 non-finite"),
    (lambda: hermite_moment_contraction(X0, Y0[:-1], G0), "X has 57 rows but y has 56 entries"),
    (lambda: hermite_moment_contraction(X0, Y0, G0[:, :3]), r"directions has shape \(2, 3\)"),
    (lambda: hermite_moment_contraction(X0, Y0, G0[None]), "directions must be 2-dimensional"),
    (lambda: hermite_moment_contraction(X0[:, 0], Y0, G0), "X must be 2-dimensional"),
    (lambda: hermite_moment_contraction(X0, Y0[:, None], G0), "y must be 1-dimensional"),
    (lambda: hermite_moment_contraction(X0, Y0, G0, order=1), "order must be an integer >= 2"),
    (lambda: hermite_moment_contraction(X0, Y0, G0, order=4.0), "order must be an integer >= 2"),
    (lambda: hermite_moment_contraction(X0, Y0, G0, chunk_size=0), "chunk_size must be an integer >= 1"),
    (lambda: hermite_moment_contraction(X0, Y0, G0, n_jobs=0), "n_jobs must be an integer >= 1"),
    (lambda: hermite_moment_contraction(X0, Y0, G0, n_jobs=True), "n_jobs must be an integer >= 1"),
    (lambda: second_moment(_with(X0, (0, 0), np.nan), Y0), "X contains 1 non-finite"),
    (lambda: linear_moments(X0, _with(Y0, 3, np.inf)), "y contains 1 non-finite"),
    (lambda: projected_hermite_tensor(X0[:, :2], Y0, order=3), "order must be even"),
    (lambda: projected_hermite_tensor(_with(X0[:, :2], (0, 0), np.nan), Y0), "X contains 1 non-finite"),
    (lambda: HermiteContractionAccumulator(G0, 4).update(X0[:, :3], Y0), "X has 3 features, expected 4"),
    (lambda: HermiteContractionAccumulator(G0, 4).update(_with(X0, (9, 1), np.nan), Y0), "X contains 1 non-finite"),
    (lambda: HermiteContractionAccumulator(G0, 4).update(X0, Y0[:5]), "X has 57 rows but y has 5 entries"),
    (lambda: HermiteContractionAccumulator(G0[0], 4), "directions must be 2-dimensional"),
    (lambda: hermite_moment_contraction(np.empty((0, D)), np.empty(0), G0), "X has no rows"),
    (lambda: second_moment(np.empty((0, D)), np.empty(0)), "X has no rows"),
    (lambda: linear_moments(np.empty((0, D)), np.empty(0)), "X has no rows"),
    (lambda: projected_hermite_tensor(np.empty((0, 2)), np.empty(0)), "X has no rows"),
    # helpers
    (lambda: check_unit_directions(np.vstack([U0, np.zeros(D)])), r"zero-norm row\(s\) \[3\]"),
    (lambda: check_finite_array(np.ones((2, 3)), "A", shape=(2, 4)), r"A has shape \(2, 3\), expected \(2, 4\)"),
    (lambda: check_positive_int(-3, "k"), "k must be an integer >= 1, got -3"),
    (lambda: as_generator("seed"), "random_state must be"),
]


@pytest.mark.parametrize("call, match", BAD, ids=[m[:40] for _, m in BAD])
def test_bad_input_raises_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_failed_update_leaves_accumulator_unchanged():
    acc = HermiteContractionAccumulator(G0, 4, chunk_size=10)
    acc.update(X0, Y0)
    before = acc.result().copy(), acc.mean_y(), acc.mean_yx().copy(), acc.n_samples
    with pytest.raises(ValueError, match="X contains"):
        acc.update(_with(X0, (40, 2), np.inf), Y0)
    after = acc.result(), acc.mean_y(), acc.mean_yx(), acc.n_samples
    np.testing.assert_array_equal(before[0], after[0])
    assert before[1] == after[1] and before[3] == after[3]
    np.testing.assert_array_equal(before[2], after[2])


def test_overflowing_but_finite_data_is_not_called_non_finite():
    # huge finite values may overflow inside the sums; that is not a non-finite input
    X = np.full((3, 2), 1e200)
    y = np.ones(3)
    with np.errstate(over="ignore", invalid="ignore"):
        out = hermite_moment_contraction(X, y, np.ones(2), order=4)
    assert out.shape == (2, 2)


def test_population_mse_mismatched_dimensions():
    with pytest.raises(ValueError, match="different input dimensions: 4 and 3"):
        population_mse(ReLUNetwork(U0, LAM0), ReLUNetwork(U0[:, :3], LAM0))
