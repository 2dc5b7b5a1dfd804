"""Every numba kernel against a plain NumPy reference, through one registry (pynndescent's way).

``KERNELS`` maps each kernel of ``narrowrelu.moments._kernels``, ``narrowrelu.baseline._kernels`` and
``narrowrelu.learner.refine._kernels`` (and ``_fisher_kernels``) and
``narrowrelu.learner.candidates._cluster_kernels`` to a :class:`Case`:

* ``draw(data)`` draws sizes (and flags) with hypothesis and the values from a seeded generator,
  returning the inputs as a dict;
* ``run(kernel, inputs)`` allocates the outputs as the library's callers do (pre-filled with
  NaN where the kernel overwrites, with random values where it adds), calls the kernel and
  returns its outputs as a dict;
* ``reference(inputs)`` returns the same dict computed with NumPy, and ``bound(inputs)`` a scale
  for each output: the same sums taken over absolute values (so ``rel * bound`` bounds the
  rounding of any summation order, which ``fastmath`` reassociation may change), or one scalar
  scale for the iterative GD kernels;
* ``rel``: the tolerance relative to the bound. Integer outputs must be equal.

One parametrised test runs every entry; a second checks that the registry names every kernel
the modules define, so that a new kernel without a reference fails.
"""

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba.core.dispatcher import Dispatcher
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

import narrowrelu._kernels as top_kernels
import narrowrelu.baseline._kernels as baseline_kernels
import narrowrelu.learner.candidates._cluster_kernels as cluster_kernels
import narrowrelu.learner.refine._fisher_kernels as fisher_kernels
import narrowrelu.learner.refine._kernels as refine_kernels
import narrowrelu.moments._kernels as moment_kernels
from narrowrelu.network import unpack_parameters
from _helpers import random_network
from narrowrelu.baseline.population_loss import loss_gradient_trusted, teacher_terms
from narrowrelu.hermite import directional_hermite
from narrowrelu.learner.candidates.cluster import projective_distances
from narrowrelu.learner.refine.fisher import gate_pair_second_moment, gauge_directions
from narrowrelu.metrics import relu_kernel

MODULES = {"moments": moment_kernels, "baseline": baseline_kernels, "refine": refine_kernels,
           "fisher": fisher_kernels, "cluster": cluster_kernels, "top": top_kernels}


@dataclass
class Case:
    draw: Callable
    run: Callable
    reference: Callable
    bound: Callable
    rel: float


def values(data):
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


def maybe_read_only(data, *arrays):
    """The kernels are compiled for read-only inputs; writeable ones must give the same results."""
    if data.draw(st.booleans(), label="read_only"):
        for a in arrays:
            a.setflags(write=False)


def absolute(inputs, *names):
    return {**inputs, **{n: np.abs(inputs[n]) for n in names}}


# ----------------------------------------------------------------------------- thin products
def draw_project_rows(data):
    rng = values(data)
    n, d, w = (data.draw(st.integers(lo, hi), label=name) for name, lo, hi in (("n", 0, 13), ("d", 1, 9), ("w", 1, 9)))
    inputs = dict(X=rng.standard_normal((n, d)), St=rng.standard_normal((w, d)))
    maybe_read_only(data, inputs["X"], inputs["St"])
    return inputs


def run_project_rows(kernel, X, St):
    out = np.full((X.shape[0], St.shape[0]), np.nan)  # every entry is written (widths mod 4 too)
    kernel(X, St, out)
    return {"out": out}


def reference_project_rows(X, St):
    return {"out": X @ St.T}


def draw_accumulate_row_products(data):
    rng = values(data)
    n, d, w = (data.draw(st.integers(lo, hi), label=name) for name, lo, hi in (("n", 0, 13), ("d", 1, 9), ("w", 1, 9)))
    inputs = dict(X=rng.standard_normal((n, d)), W=rng.standard_normal((n, w)), start=rng.standard_normal((w, d)))
    maybe_read_only(data, inputs["X"], inputs["W"])
    return inputs


def run_accumulate_row_products(kernel, X, W, start):
    acc = start.copy()  # the kernel adds to what acc holds (rows mod 4 too)
    kernel(X, W, acc)
    return {"acc": acc}


def reference_accumulate_row_products(X, W, start):
    return {"acc": start + W.T @ X}


# ----------------------------------------------------------------------------- contraction kernels
def draw_split_rows_by_sign(data):
    rng = values(data)
    n, d = data.draw(st.integers(0, 20), label="n"), data.draw(st.integers(1, 6), label="d")
    w = rng.standard_normal(n)
    w[rng.random(n) < data.draw(st.sampled_from([0.0, 0.2, 1.0]), label="zero_share")] = 0.0
    inputs = dict(X=rng.standard_normal((n, d)), w=w)
    maybe_read_only(data, inputs["X"], inputs["w"])
    return inputs


def run_split_rows_by_sign(kernel, X, w):
    P, N = np.full(X.shape, np.nan), np.full(X.shape, np.nan)
    n_pos, n_neg = kernel(X, w, P, N)
    P, N = P[:n_pos], N[:n_neg]
    return {"counts": np.array([n_pos, n_neg]), "positive": P, "negative": N, "gram": P.T @ P - N.T @ N}


def reference_split_rows_by_sign(X, w):
    pos, neg = w > 0, w < 0
    return {
        "counts": np.array([pos.sum(), neg.sum()]),
        "positive": np.sqrt(w[pos])[:, None] * X[pos],
        "negative": np.sqrt(-w[neg])[:, None] * X[neg],
        "gram": (X.T * w) @ X,  # X^T diag(w) X = P^T P - N^T N
    }


def bound_split_rows_by_sign(X, w):
    expected = reference_split_rows_by_sign(X, w)
    return {"counts": 0, "positive": np.abs(expected["positive"]), "negative": np.abs(expected["negative"]),
            "gram": (np.abs(X).T * np.abs(w)) @ np.abs(X)}


def hermite(m, S, q):
    """H_m(s; q) for every column of S (q per column); zero for m < 0."""
    if m < 0:
        return np.zeros_like(S)
    return np.stack([directional_hermite(m, S[:, j], q[j]) for j in range(S.shape[1])], axis=1)


def draw_contraction_row_pass(data):
    rng = values(data)
    n, d, r = data.draw(st.integers(0, 40), label="n"), data.draw(st.integers(1, 6),
                                                                  label="d"), data.draw(st.integers(1, 4), label="r")
    G = rng.standard_normal((r, d)) * rng.uniform(0.1, 2.0, size=(r, 1))
    inputs = dict(
        X=rng.standard_normal((n, d)), y=rng.standard_normal(n), G=G, sq_norms=np.einsum("ij,ij->i", G, G),
        order=data.draw(st.integers(2, 7), label="order"),
        vectors=rng.standard_normal((r, d)), sums=rng.standard_normal((2, r)), sum_yx=rng.standard_normal(d),
    )
    maybe_read_only(data, inputs["X"], inputs["y"], inputs["G"], inputs["sq_norms"])
    return inputs


def run_contraction_row_pass(kernel, X, y, G, sq_norms, order, vectors, sums, sum_yx):
    gram_weights = np.full((G.shape[0], X.shape[0]), np.nan)
    vectors, sums, sum_yx = vectors.copy(), sums.copy(), sum_yx.copy()  # the kernel adds to these
    kernel(X, y, G, sq_norms, order, gram_weights, vectors, sums, sum_yx)
    return {"gram_weights": gram_weights, "vectors": vectors, "sums": sums, "sum_yx": sum_yx}


def reference_contraction_row_pass(X, y, G, sq_norms, order, vectors, sums, sum_yx):
    S = X @ G.T
    H = {m: hermite(m, S, sq_norms) for m in (order - 4, order - 3, order - 2)}
    return {
        "gram_weights": (y[:, None] * H[order - 2]).T,
        "vectors": vectors + (y[:, None] * H[order - 3]).T @ X,
        "sums": sums + np.stack([y @ H[order - 2], y @ H[order - 4]]),
        "sum_yx": sum_yx + y @ X,
    }


def bound_contraction_row_pass(**inputs):
    # |s| <= |x|.|g| and H(|s|; -q) sums the absolute values of the terms of H(s; q)
    absolute_inputs = absolute(inputs, "X", "y", "G", "vectors", "sums", "sum_yx")
    absolute_inputs["sq_norms"] = -inputs["sq_norms"]
    return reference_contraction_row_pass(**absolute_inputs)


def draw_contraction_row_split(data):
    inputs = draw_contraction_row_pass(data)
    rng = values(data)
    d = inputs["X"].shape[1]
    G = rng.standard_normal((1, d)) * rng.uniform(0.1, 2.0)
    return {**inputs, "G": G, "sq_norms": np.einsum("ij,ij->i", G, G), "vectors": rng.standard_normal((1, d)),
            "sums": rng.standard_normal((2, 1))}


def run_contraction_row_split(kernel, X, y, G, sq_norms, order, vectors, sums, sum_yx):
    P, N = np.full(X.shape, np.nan), np.full(X.shape, np.nan)
    vectors, sums, sum_yx = vectors.copy(), sums.copy(), sum_yx.copy()  # the kernel adds to these
    n_pos, n_neg = kernel(X, y, G, sq_norms, order, vectors, sums, sum_yx, P, N)
    P, N = P[:n_pos], N[:n_neg]
    return {"counts": np.array([n_pos, n_neg]), "positive_gram": P.T @ P, "negative_gram": N.T @ N,
            "vectors": vectors, "sums": sums, "sum_yx": sum_yx}


def reference_contraction_row_split(X, y, G, sq_norms, order, vectors, sums, sum_yx):
    """The row pass's sums, and its one row of weights w split as split_rows_by_sign splits them:
    the Grams of the rows written, sum over w_i > 0 of w_i x_i x_i^T and over w_i < 0 of -w_i x_i x_i^T
    (the rows' values carry the rounding of w_i through a square root, unbounded near w_i = 0;
    the Grams are linear in w and split_rows_by_sign's own test checks the rows)."""
    row_pass = reference_contraction_row_pass(X, y, G, sq_norms, order, vectors, sums, sum_yx)
    w = row_pass.pop("gram_weights")[0]
    positive, negative = np.maximum(w, 0.0), np.maximum(-w, 0.0)
    return {**row_pass, "counts": np.array([(w > 0).sum(), (w < 0).sum()]),
            "positive_gram": (X.T * positive) @ X, "negative_gram": (X.T * negative) @ X}


def bound_contraction_row_split(**inputs):
    row_pass = bound_contraction_row_pass(**inputs)
    w, X = row_pass.pop("gram_weights")[0], np.abs(inputs["X"])
    return {**row_pass, "counts": 0, "positive_gram": (X.T * w) @ X, "negative_gram": (X.T * w) @ X}


# ----------------------------------------------------------------------------- order-4 products
def draw_order4_product_pass(data):
    rng = values(data)
    n, d = data.draw(st.integers(0, 13), label="n"), data.draw(st.integers(1, 7), label="d")
    k, r = data.draw(st.integers(1, 4), label="k"), data.draw(st.integers(1, 3), label="r")
    X = rng.standard_normal((n, d))
    Q = rng.standard_normal((d, k))
    coords = rng.standard_normal((k, r))
    G = (Q @ coords).T  # directions in span(Q), as the learner draws them
    inputs = dict(X=X, XQ=np.ascontiguousarray(X @ Q), y=rng.standard_normal(n), coords=coords,
                  sq_norms=np.einsum("ij,ij->i", G, G), start_acc=rng.standard_normal(((r + 1) * k, d)),
                  start_sums=rng.standard_normal((2, r)))
    maybe_read_only(data, inputs["X"], inputs["XQ"], inputs["y"], inputs["coords"])
    return inputs


def run_order4_product_pass(kernel, X, XQ, y, coords, sq_norms, start_acc, start_sums):
    acc, sums = start_acc.copy(), start_sums.copy()  # the kernel adds to both
    kernel(X, XQ, y, coords, sq_norms, acc, sums)
    return {"acc": acc, "sums": sums}


def reference_order4_product_pass(X, XQ, y, coords, sq_norms, start_acc, start_sums):
    """The weight matrix of HermiteContractionProducts at order 4, formed in memory:
    W[:, j k + b] = y (s_j^2 - |g_j|^2) q_b, W[:, r k + b] = y q_b; acc += W^T X."""
    n, k = XQ.shape
    r = coords.shape[1]
    h = y[:, None] * ((XQ @ coords) ** 2 - sq_norms)
    W = np.hstack([(h[:, :, None] * XQ[:, None, :]).reshape(n, r * k), y[:, None] * XQ])
    return {"acc": start_acc + W.T @ X, "sums": start_sums + np.stack([h.sum(axis=0), np.full(r, y.sum())])}


def bound_order4_product_pass(X, XQ, y, coords, sq_norms, start_acc, start_sums):
    n, k = XQ.shape
    r = coords.shape[1]
    aXQ, ay = np.abs(XQ), np.abs(y)
    h = ay[:, None] * ((aXQ @ np.abs(coords)) ** 2 + sq_norms)
    W = np.hstack([(h[:, :, None] * aXQ[:, None, :]).reshape(n, r * k), ay[:, None] * aXQ])
    return {"acc": np.abs(start_acc) + W.T @ np.abs(X),
            "sums": np.abs(start_sums) + np.stack([h.sum(axis=0), np.full(r, ay.sum())])}


# ----------------------------------------------------------------------------- monomial moments
def draw_monomial_moment_pass(data):
    rng = values(data)
    n, k = data.draw(st.integers(0, 30), label="n"), data.draw(st.integers(1, 4), label="k")
    degree = data.draw(st.integers(1, 3), label="degree")
    if data.draw(st.booleans(), label="all_monomials"):  # as ProjectedRawMoments builds them
        combos = np.array(list(itertools.combinations_with_replacement(range(k), degree)), dtype=np.int64)
    else:  # any index table, repeats and order included
        combos = rng.integers(0, k, size=(data.draw(st.integers(1, 6), label="p"), degree)).astype(np.int64)
    p = combos.shape[0]
    inputs = dict(Z=rng.standard_normal((n, k)), y=rng.standard_normal(n), combos=combos,
                  start=rng.standard_normal((p, p)))
    maybe_read_only(data, inputs["Z"], inputs["y"], inputs["combos"])
    return inputs


def run_monomial_moment_pass(kernel, Z, y, combos, start):
    out = start.copy()  # the kernel adds to the upper triangle and leaves the rest
    kernel(Z, y, combos, out)
    return {"out": out}


def reference_monomial_moment_pass(Z, y, combos, start):
    A = np.prod(Z[:, combos], axis=2)  # a_u(z_i) = prod_c z_{i, combos[u, c]}
    return {"out": start + np.triu((A.T * y) @ A)}


def bound_monomial_moment_pass(Z, y, combos, start):
    return {"out": np.abs(start) + reference_monomial_moment_pass(np.abs(Z), np.abs(y), combos,
                                                                  np.zeros_like(start))["out"]}


# ----------------------------------------------------------------------------- population GD
def draw_student(data):
    rng = values(data)
    d, k, m = (data.draw(st.integers(1, hi), label=name) for name, hi in (("d", 6), ("k", 4), ("m", 4)))
    terms = teacher_terms(random_network(rng, d, k, affine=data.draw(st.booleans(), label="affine")))
    W = rng.standard_normal((m, d))
    if m > 1 and data.draw(st.booleans(), label="zero_row"):
        W[0] = 0.0  # a zero row: the one-sided choice of the gradient
    return rng, terms, W, rng.standard_normal(m), float(rng.standard_normal())


def teacher_arguments(t):
    return (t.hidden_weights, t.hidden_norms, t.unit_hidden_weights, t.output_weights, t.linear_weights,
            t.intercept, t.relu_mean, t.second_moment)


def gd_scale(terms, W):
    return 1.0 + terms.second_moment + np.abs(W).max() ** 2


def draw_population_loss_gradient_kernel(data):
    _, terms, W, a, b = draw_student(data)
    return dict(terms=terms, W=W, a=a, b=b)


def run_population_loss_gradient_kernel(kernel, terms, W, a, b):
    m, d = W.shape
    grad_W, grad_a = np.full((m, d), np.nan), np.full(m, np.nan)
    loss, grad_b = kernel(W, a, b, *teacher_arguments(terms), np.empty(m), np.empty((m, d)), grad_W, grad_a)
    return {"loss": loss, "grad_b": grad_b, "grad_W": grad_W, "grad_a": grad_a}


def reference_population_loss_gradient_kernel(terms, W, a, b):
    loss, grad_W, grad_a, grad_b = loss_gradient_trusted(W, a, b, terms)
    return {"loss": loss, "grad_b": grad_b, "grad_W": grad_W, "grad_a": grad_a}


def draw_population_gd_kernel(data):
    _, terms, W, a, b = draw_student(data)
    return dict(
        terms=terms, W=W, a=a, b=b,
        step=data.draw(st.sampled_from([0.01, 0.1]), label="step"),
        alpha=data.draw(st.sampled_from([0.0, 0.3]), label="alpha"),
        train_output=data.draw(st.booleans(), label="train_output"),
        train_intercept=data.draw(st.booleans(), label="train_intercept"),
        n_steps=data.draw(st.integers(0, 6), label="n_steps"),
        gtol=data.draw(st.sampled_from([0.0, 1e9]), label="gtol"),  # never / at once (no rounding tie)
    )


def run_population_gd_kernel(kernel, terms, W, a, b, step, alpha, train_output, train_intercept, n_steps, gtol):
    m, d = W.shape
    W, a, intercept = W.copy(), a.copy(), np.array([b])  # updated in place
    losses = np.full(n_steps, np.nan)
    taken, objective, norm = kernel(
        W, a, intercept, *teacher_arguments(terms), step, alpha, train_output, train_intercept, n_steps, gtol,
        losses, np.empty(m), np.empty((m, d)), np.empty((m, d)), np.empty(m),
    )
    return {"taken": np.array(taken), "objective": objective, "norm": norm, "W": W, "a": a, "b": intercept[0],
            "losses": losses[:taken], "untouched": np.isnan(losses[taken:]).all()}


def reference_population_gd_kernel(terms, W, a, b, step, alpha, train_output, train_intercept, n_steps, gtol):
    """Steps of loss_gradient_trusted in NumPy, with the weight decay of the kernel's docstring:
    objective L + alpha/2 (|W|^2 + |a|^2 if train_output), stop before a step once the gradient
    norm over the trained parameters is at most gtol."""
    W, a = W.copy(), a.copy()
    losses = []
    taken = 0
    while True:
        loss, grad_W, grad_a, grad_b = loss_gradient_trusted(W, a, b, terms)
        grad_W = grad_W + alpha * W
        penalty = np.sum(W * W)
        sq = np.sum(grad_W * grad_W)
        if train_output:
            grad_a = grad_a + alpha * a
            penalty += a @ a
            sq += grad_a @ grad_a
        if train_intercept:
            sq += grad_b**2
        objective, norm = loss + 0.5 * alpha * penalty, np.sqrt(sq)
        if taken == n_steps or norm <= gtol:
            break
        losses.append(objective)
        W = W - step * grad_W
        if train_output:
            a = a - step * grad_a
        if train_intercept:
            b = b - step * grad_b
        taken += 1
    return {"taken": np.array(taken), "objective": objective, "norm": norm, "W": W, "a": a, "b": b,
            "losses": np.array(losses), "untouched": True}


def bound_gd(terms, W, **_):
    return gd_scale(terms, W)


# ----------------------------------------------------------------------------- Gauss-Newton refinement
def draw_refine_problem(data):
    """Rows, a network (U, lam, w, b) and a direction v of the same layout, small shapes."""
    rng = values(data)
    n = data.draw(st.integers(1, 300), label="n")
    d = data.draw(st.integers(1, 8), label="d")
    k = data.draw(st.integers(1, 4), label="k")
    X = rng.standard_normal((n, d))
    theta = rng.standard_normal(k * d + k + d + 1)
    v = rng.standard_normal(theta.size)
    return rng, X, theta, v, k


def refine_jacobian(theta, X, k):
    """The dense n x p Jacobian of f, rows (lam_j 1[u_j.x>0] x, relu(u_j.x), x, 1)."""
    n, d = X.shape
    U, lam, _, _ = unpack_parameters(theta, k, d)
    pre = X @ U.T
    gated = (((pre > 0) * lam)[:, :, None] * X[:, None, :]).reshape(n, k * d)
    return np.hstack([gated, np.maximum(pre, 0.0), X, np.ones((n, 1))])


def kernel_layout(vector, k, d):
    """A parameter-ordered vector in the kernels' output layout: G = [g_u1..g_uk, g_w], s = [g_lam, g_b, extra]."""
    U, lam, w, b = unpack_parameters(vector, k, d)
    return np.vstack([U, w]), np.concatenate([lam, [b]])


def draw_gradient_block(data):
    rng, X, theta, _, k = draw_refine_problem(data)
    y = rng.standard_normal(X.shape[0])
    U, lam, w, b = unpack_parameters(theta, k, X.shape[1])
    W, lam = np.ascontiguousarray(np.vstack([U, w])), np.ascontiguousarray(lam)
    maybe_read_only(data, X, y, W, lam)
    return {"X": X, "y": y, "W": W, "lam": lam, "b": float(b)}


def run_gradient_block(kernel, X, y, W, lam, b):
    k, d = lam.size, X.shape[1]
    G, s = np.zeros((k + 1, d)), np.zeros(k + 2)
    kernel(X, y, W, lam, b, G, s)
    return {"G": G, "s": s}


def _theta_of(W, lam, b):
    k = lam.size
    return np.concatenate([W[:k].ravel(), lam, W[k], [b]])


def reference_gradient_block(X, y, W, lam, b):
    k = lam.size
    theta = _theta_of(W, lam, b)
    U = W[:k]
    r = np.maximum(X @ U.T, 0.0) @ lam + X @ W[k] + b - y
    G, s = kernel_layout(refine_jacobian(theta, X, k).T @ r, k, X.shape[1])
    return {"G": G, "s": np.concatenate([s, [r @ r]])}


def bound_gradient_block(X, y, W, lam, b):
    k = lam.size
    theta = np.abs(_theta_of(W, lam, b))
    Xa = np.abs(X)
    r = np.abs(X @ W[:k].T).clip(0) @ np.abs(lam) + Xa @ np.abs(W[k]) + abs(b) + np.abs(y)
    G, s = kernel_layout(np.abs(refine_jacobian(theta, Xa, k)).T @ r, k, X.shape[1])
    return {"G": G, "s": np.concatenate([s, [r @ r]])}


def draw_gauss_newton_product_block(data):
    _, X, theta, v, k = draw_refine_problem(data)
    d = X.shape[1]
    U, lam, _, _ = unpack_parameters(theta, k, d)
    vU, vlam, vw, vb = unpack_parameters(v, k, d)
    P = np.ascontiguousarray(np.vstack([U, vU, vw]))
    lam, vlam = np.ascontiguousarray(lam), np.ascontiguousarray(vlam)
    maybe_read_only(data, X, P, lam, vlam)
    return {"X": X, "P": P, "lam": lam, "vlam": vlam, "vb": float(vb)}


def run_gauss_newton_product_block(kernel, X, P, lam, vlam, vb):
    k, d = lam.size, X.shape[1]
    G, s = np.zeros((k + 1, d)), np.zeros(k + 2)
    kernel(X, P, lam, vlam, vb, G, s)
    return {"G": G, "s": s}


def _product_parts(X, P, lam, vlam, vb, absolute_values=False):
    k, d = lam.size, X.shape[1]
    f = np.abs if absolute_values else (lambda a: a)
    theta = np.concatenate([P[:k].ravel(), lam, np.zeros(d), [0.0]])
    v = np.concatenate([P[k:2 * k].ravel(), vlam, P[2 * k], [vb]])
    J = f(refine_jacobian(f(theta), f(X), k))
    Jv = J @ f(v)
    return J, Jv


def reference_gauss_newton_product_block(X, P, lam, vlam, vb):
    J, Jv = _product_parts(X, P, lam, vlam, vb)
    G, s = kernel_layout(J.T @ Jv, lam.size, X.shape[1])
    return {"G": G, "s": np.concatenate([s, [Jv @ Jv]])}


def bound_gauss_newton_product_block(X, P, lam, vlam, vb):
    J, Jv = _product_parts(X, P, lam, vlam, vb, absolute_values=True)
    G, s = kernel_layout(J.T @ Jv, lam.size, X.shape[1])
    return {"G": G, "s": np.concatenate([s, [Jv @ Jv]])}


def run_gradient_block_projections(kernel, X, y, W, lam, b):
    k, d = lam.size, X.shape[1]
    G, s, Zu = np.zeros((k + 1, d)), np.zeros(k + 2), np.full((X.shape[0], k), np.nan)
    kernel(X, y, W, lam, b, G, s, Zu)
    return {"G": G, "s": s, "Zu": Zu}


def reference_gradient_block_projections(X, y, W, lam, b):
    return {**reference_gradient_block(X, y, W, lam, b), "Zu": X @ W[:lam.size].T}


def bound_gradient_block_projections(X, y, W, lam, b):
    return {**bound_gradient_block(X, y, W, lam, b), "Zu": np.abs(X) @ np.abs(W[:lam.size]).T}


def draw_gauss_newton_product_block_cached(data):
    case = draw_gauss_newton_product_block(data)
    k = case["lam"].size
    U, Q = np.ascontiguousarray(case["P"][:k]), np.ascontiguousarray(case["P"][k:])
    maybe_read_only(data, U, Q)
    return {"X": case["X"], "U": U, "Q": Q, "lam": case["lam"], "vlam": case["vlam"], "vb": case["vb"]}


def run_gauss_newton_product_block_cached(kernel, X, U, Q, lam, vlam, vb):
    """The kernel reads the neurons' projections, computed here as the reference computes them."""
    k, d = lam.size, X.shape[1]
    G, s = np.zeros((k + 1, d)), np.zeros(k + 2)
    kernel(X, np.ascontiguousarray(X @ U.T), Q, lam, vlam, vb, G, s)
    return {"G": G, "s": s}


def reference_gauss_newton_product_block_cached(X, U, Q, lam, vlam, vb):
    return reference_gauss_newton_product_block(X, np.vstack([U, Q]), lam, vlam, vb)


def bound_gauss_newton_product_block_cached(X, U, Q, lam, vlam, vb):
    return bound_gauss_newton_product_block(X, np.vstack([U, Q]), lam, vlam, vb)


# ----------------------------------------------------------------------------- Gaussian Fisher matrix
def draw_fisher(data):
    """No neurons, neurons in general position, or with a zero one, a parallel, an opposite and a
    nearly parallel pair among them (the degenerate fits Gauss-Newton meets)."""
    rng = values(data)
    k, d = data.draw(st.integers(0, 6), label="k"), data.draw(st.integers(1, 7), label="d")
    U = rng.standard_normal((k, d))
    if data.draw(st.booleans(), label="degenerate") and k >= 2:
        U[1] = rng.choice([0.0, 2.0, -1.5]) * U[0] if k < 3 else 0.0
        if k >= 3:
            U[2] = -0.7 * U[0]
        if k >= 4:
            U[3] = U[0] + 1e-7 * rng.standard_normal(d)
    lam = rng.standard_normal(k)
    maybe_read_only(data, U, lam)
    return {"U": U, "lam": lam}


def run_gaussian_fisher_into(kernel, U, lam):
    k, d = U.shape
    F = np.full((k * d + k + d + 1,) * 2, np.nan)
    kernel(U, lam, F)
    return {"F": F}


def reference_gaussian_fisher_into(U, lam):
    """The module docstring's blocks of fisher.py, one pair of neurons at a time."""
    k, d = U.shape
    p = k * d + k + d + 1
    iL, iW = k * d, k * d + k
    F = np.zeros((p, p))
    norms = np.linalg.norm(U, axis=1)
    for i in range(k):
        for j in range(k):
            A = gate_pair_second_moment(U[i], U[j])
            F[i * d:(i + 1) * d, j * d:(j + 1) * d] = lam[i] * lam[j] * A
            F[i * d:(i + 1) * d, iL + j] = lam[i] * A @ U[j]
            F[iL + j, i * d:(i + 1) * d] = lam[i] * A @ U[j]
        if norms[i] > 0:
            F[i * d:(i + 1) * d, iW:p - 1] = F[iW:p - 1, i * d:(i + 1) * d] = 0.5 * lam[i] * np.eye(d)
            F[i * d:(i + 1) * d, p - 1] = F[p - 1, i * d:(i + 1) * d] = lam[i] * U[i] / norms[i] / np.sqrt(2 * np.pi)
    F[iL:iW, iL:iW] = relu_kernel(U, U)
    F[iL:iW, iW:p - 1] = 0.5 * U
    F[iW:p - 1, iL:iW] = 0.5 * U.T
    F[iL:iW, p - 1] = F[p - 1, iL:iW] = norms / np.sqrt(2 * np.pi)
    F[iW:p - 1, iW:p - 1] = np.eye(d)
    F[p - 1, p - 1] = 1.0
    return {"F": F}


def draw_precondition_into(data):
    case = draw_fisher(data)
    F = reference_gaussian_fisher_into(case["U"], case["lam"])["F"]
    return {**case, "F": F, "ridge": float(values(data).choice([0.0, 1e-10, 1e-3]))}


def run_precondition_into(kernel, U, lam, F, ridge):
    out, scale = F.copy(), np.full(F.shape[0], np.nan)
    kernel(out, U, lam, ridge, scale)
    return {"F": out, "scale": scale}


def reference_precondition_into(U, lam, F, ridge):
    diag = np.diag(F)
    scale = np.sqrt(np.where(diag > 0, diag, 1.0))
    V = gauge_directions(U, lam) * scale
    norms = np.linalg.norm(V, axis=1)
    V = V[norms > 0] / norms[norms > 0, None]
    return {"F": F / np.outer(scale, scale) + V.T @ V + ridge * np.eye(F.shape[0]), "scale": scale}


# ----------------------------------------------------------------------------- flat clusters
def draw_cut_linkage(data):
    """The average-linkage tree of unit directions (some repeated, some nearly), cut at a random
    distance, at zero, at one of its merge heights (a tie) or above all of them."""
    rng = values(data)
    m, k = data.draw(st.integers(1, 40), label="m"), data.draw(st.integers(1, 5), label="k")
    C = rng.standard_normal((m, k))
    if data.draw(st.booleans(), label="repeated"):
        C = C[rng.integers(0, max(1, m // 3), size=m)] + 1e-4 * rng.standard_normal((m, k)) * rng.integers(0, 2)
    C /= np.linalg.norm(C, axis=1)[:, None]
    Z = linkage(squareform(projective_distances(C), checks=False), method="average") if m > 1 else np.empty((0, 4))
    kind = data.draw(st.sampled_from(["random", "zero", "tie", "above"]), label="cut")
    t = {"random": rng.uniform(0, 0.5), "zero": 0.0, "above": 2.0,
         "tie": Z[rng.integers(0, m - 1), 2] if m > 1 else 0.0}[kind]
    maybe_read_only(data, Z)
    return {"Z": Z, "t": float(t)}


def run_cut_linkage(kernel, Z, t):
    labels = np.full(Z.shape[0] + 1, -1, dtype=np.int64)
    kernel(Z, t, labels)
    return {"labels": labels}


def reference_cut_linkage(Z, t):
    if Z.shape[0] == 0:
        return {"labels": np.ones(1, dtype=np.int64)}
    return {"labels": fcluster(Z, t=t, criterion="distance").astype(np.int64)}


# ----------------------------------------------------------------------------- input conditioning
def draw_column_extremes(data):
    rng = values(data)
    n = data.draw(st.integers(0, 200), label="n")
    d = data.draw(st.integers(1, 9), label="d")
    X = rng.standard_normal((n, d)) * 10.0 ** rng.integers(-5, 6, size=d)
    maybe_read_only(data, X)
    start = rng.standard_normal((2, d))
    return {"X": X, "start": start}


def run_column_extremes(kernel, X, start):
    top, bottom = start[0].copy(), start[1].copy()
    kernel(X, top, bottom)
    return {"top": top, "bottom": bottom}


def reference_column_extremes(X, start):
    return {"top": np.max(np.vstack([X, start[:1]]), axis=0), "bottom": np.min(np.vstack([X, start[1:]]), axis=0)}


def draw_central_moment_sums(data):
    rng = values(data)
    m, d = data.draw(st.integers(0, 60), label="m"), data.draw(st.integers(1, 9), label="d")
    S = rng.standard_normal((m, d)) * 10.0 ** rng.integers(-3, 4, size=d) + rng.standard_normal(d)
    mean = S.mean(axis=0) if m else np.zeros(d)
    maybe_read_only(data, S, mean)
    return {"S": S, "mean": mean}


def run_central_moment_sums(kernel, S, mean):
    cubes, fourths = np.full(S.shape[1], np.nan), np.full(S.shape[1], np.nan)
    kernel(S, mean, cubes, fourths)
    return {"cubes": cubes, "fourths": fourths}


def reference_central_moment_sums(S, mean):
    centred = S - mean
    return {"cubes": (centred ** 3).sum(axis=0), "fourths": (centred ** 4).sum(axis=0)}


def bound_central_moment_sums(S, mean):
    centred = np.abs(S - mean)
    return {"cubes": (centred ** 3).sum(axis=0), "fourths": (centred ** 4).sum(axis=0)}


KERNELS = {
    "moments.project_rows": Case(draw_project_rows, run_project_rows, reference_project_rows,
                                 lambda X, St: reference_project_rows(np.abs(X), np.abs(St)), 1e-13),
    "moments.accumulate_row_products": Case(
        draw_accumulate_row_products, run_accumulate_row_products, reference_accumulate_row_products,
        lambda X, W, start: reference_accumulate_row_products(np.abs(X), np.abs(W), np.abs(start)), 1e-13),
    "moments.split_rows_by_sign": Case(draw_split_rows_by_sign, run_split_rows_by_sign, reference_split_rows_by_sign,
                                       bound_split_rows_by_sign, 1e-13),
    "moments.contraction_row_pass": Case(draw_contraction_row_pass, run_contraction_row_pass,
                                         reference_contraction_row_pass, bound_contraction_row_pass, 1e-12),
    "moments.contraction_row_split": Case(draw_contraction_row_split, run_contraction_row_split,
                                          reference_contraction_row_split, bound_contraction_row_split, 1e-12),
    "moments.order4_product_pass": Case(draw_order4_product_pass, run_order4_product_pass,
                                        reference_order4_product_pass, bound_order4_product_pass, 1e-12),
    "moments.monomial_moment_pass": Case(draw_monomial_moment_pass, run_monomial_moment_pass,
                                         reference_monomial_moment_pass, bound_monomial_moment_pass, 1e-12),
    "baseline.population_loss_gradient_kernel": Case(
        draw_population_loss_gradient_kernel, run_population_loss_gradient_kernel,
        reference_population_loss_gradient_kernel, bound_gd, 1e-12),
    "baseline.population_gd_kernel": Case(draw_population_gd_kernel, run_population_gd_kernel,
                                          reference_population_gd_kernel, bound_gd, 1e-11),
    "top.central_moment_sums": Case(draw_central_moment_sums, run_central_moment_sums,
                                    reference_central_moment_sums, bound_central_moment_sums, 1e-13),
    "top.column_extremes": Case(draw_column_extremes, run_column_extremes, reference_column_extremes,
                                lambda X, start: 1.0, 0.0),
    "cluster.cut_linkage": Case(draw_cut_linkage, run_cut_linkage, reference_cut_linkage, lambda Z, t: 1.0, 0.0),
    "fisher.gaussian_fisher_into": Case(
        draw_fisher, run_gaussian_fisher_into, reference_gaussian_fisher_into,
        lambda U, lam: np.abs(reference_gaussian_fisher_into(U, lam)["F"]).max(), 1e-13),
    "fisher.precondition_into": Case(draw_precondition_into, run_precondition_into, reference_precondition_into,
                                     lambda U, lam, F, ridge: 2.0, 1e-13),
    "refine.gradient_block": Case(draw_gradient_block, run_gradient_block, reference_gradient_block,
                                  bound_gradient_block, 1e-12),
    "refine.gauss_newton_product_block": Case(
        draw_gauss_newton_product_block, run_gauss_newton_product_block, reference_gauss_newton_product_block,
        bound_gauss_newton_product_block, 1e-12),
    "refine.gradient_block_projections": Case(
        draw_gradient_block, run_gradient_block_projections, reference_gradient_block_projections,
        bound_gradient_block_projections, 1e-12),
    "refine.gauss_newton_product_block_cached": Case(
        draw_gauss_newton_product_block_cached, run_gauss_newton_product_block_cached,
        reference_gauss_newton_product_block_cached, bound_gauss_newton_product_block_cached, 1e-12),
}


def kernel_of(name):
    module, function = name.split(".")
    return getattr(MODULES[module], function)


def assert_matches(name, got, expected, bound, rel):
    assert set(got) == set(expected), f"{name}: outputs {sorted(got)} vs reference {sorted(expected)}"
    for key in expected:
        g, e = np.asarray(got[key]), np.asarray(expected[key])
        assert g.shape == e.shape, f"{name}.{key}: shape {g.shape} vs reference {e.shape}"
        if e.dtype.kind in "biu":
            assert np.array_equal(g, e), f"{name}.{key}: {g} vs reference {e}"
            continue
        b = bound[key] if isinstance(bound, dict) else bound
        tol = rel * np.broadcast_to(np.asarray(b, dtype=float), e.shape) + 1e-300
        err = np.abs(g - e)
        assert np.all(err <= tol), (f"{name}.{key}: max error {err.max():.3g} over tolerance "
                                    f"(largest error/tol {np.max(err / tol):.3g})")


@pytest.mark.parametrize("name", sorted(KERNELS))
@given(data=st.data())
def test_kernel_matches_reference(name, data):
    case = KERNELS[name]
    inputs = case.draw(data)
    got = case.run(kernel_of(name), **inputs)
    expected = case.reference(**inputs)
    assert_matches(name, got, expected, case.bound(**inputs), case.rel)


def test_registry_names_every_kernel():
    """A public numba function added to a _kernels module without an entry here fails this test
    (private ``_helpers`` are pieces of the public kernels, checked through them)."""
    defined = {
        f"{prefix}.{name}"
        for prefix, module in MODULES.items()
        for name, obj in vars(module).items()
        if isinstance(obj, Dispatcher) and obj.py_func.__module__ == module.__name__ and not name.startswith("_")
    }
    assert defined == set(KERNELS)
    assert all(isinstance(kernel_of(name), Dispatcher) for name in KERNELS)
