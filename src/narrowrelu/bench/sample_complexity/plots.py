"""Plots of a sample-complexity sweep (matplotlib, PNG, no display needed)."""

import os

import numpy as np

from ...teacher import FAMILIES

_MARKERS = {"moment_raw": "o", "moment_refined": "s", "gd_k": "v", "gd_2k": "^", "mlp_k": "D"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_success(rows, target, path, methods_order):
    """Success rate against n (log scale), one panel per (family, k), one line per method."""
    plt = _pyplot()
    families = _ordered_families(rows)
    ks = sorted({r["k"] for r in rows})
    fig, axes = plt.subplots(len(families), len(ks), figsize=(2.4 * len(ks) + 1.5, 2.0 * len(families) + 0.8),
                             squeeze=False)
    for i, family in enumerate(families):
        first = True
        for j, k in enumerate(ks):
            ax = axes[i][j]
            for method in methods_order:
                rs = sorted((r for r in rows if r["family"] == family and r["k"] == k and r["method"] == method),
                            key=lambda r: r["n"])
                if rs:
                    ax.plot([r["n"] for r in rs], [r["success_rate"] for r in rs], marker=_MARKERS.get(method, "."),
                            ms=3, lw=1, label=method)
            ax.set_xscale("log")
            ax.set_ylim(-0.05, 1.05)
            ax.axhline(0.9, color="0.7", lw=0.6, ls=":")
            ax.tick_params(labelsize=7)
            ax.set_title(f"k = {k}", fontsize=8)
            ax.set_xlabel("n", fontsize=7)
            if not any(r["family"] == family and r["k"] == k for r in rows):
                ax.set_visible(False)
            elif first:
                ax.set_ylabel(f"{family}\nsuccess rate", fontsize=8)
                first = False
    fig.suptitle(f"share of seeds with excess MSE <= {target:g} Var f (dotted: 90 %)", y=0.995, fontsize=9, va="top")
    return _legend_and_save(plt, fig, axes, path, legend_top=0.975, plot_top=0.94)


def plot_nstar(nstar, path, methods_order):
    """n*(k) against k on log-log axes, one panel per family, one line per method; a method that
    never reached the target is drawn as an open marker above the largest n of the grid."""
    plt = _pyplot()
    families = _ordered_families(nstar)
    fig, axes = plt.subplots(1, len(families), figsize=(3.6 * len(families), 3.4), sharey=True, squeeze=False)
    n_top = max(r["n_max"] for r in nstar)
    for ax, family in zip(axes[0], families):
        for idx, method in enumerate(methods_order):
            rs = sorted((r for r in nstar if r["family"] == family and r["method"] == method), key=lambda r: r["k"])
            if not rs:
                continue
            marker = _MARKERS.get(method, ".")
            hit = [r for r in rs if r["n_star"] is not None]
            line = ax.plot([r["k"] for r in hit], [r["n_star"] for r in hit], marker=marker, ms=4, lw=1, label=method)
            miss = [r for r in rs if r["n_star"] is None]
            if miss:
                jitter = 1.35 * (1.0 + 0.06 * idx)
                ax.plot([r["k"] for r in miss], [n_top * jitter] * len(miss), marker=marker, ls="none", mfc="none",
                        color=line[0].get_color(), ms=5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ks = sorted({r["k"] for r in nstar if r["family"] == family})
        ax.set_xticks(ks)
        ax.set_xticklabels([str(k) for k in ks])
        ax.minorticks_off()
        ax.axhline(n_top * 1.2, color="0.7", lw=0.6, ls=":")
        ax.set_title(family, fontsize=9)
        ax.set_xlabel("k", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", color="0.9", lw=0.5)
    axes[0][0].set_ylabel("n*(k)", fontsize=8)
    fig.suptitle("n*(k) per method; open markers above the dotted line: not reached by the largest n", y=0.995,
                 fontsize=9, va="top")
    return _legend_and_save(plt, fig, axes, path, legend_top=0.93, plot_top=0.84)


def _ordered_families(rows):
    present = {r["family"] for r in rows}
    return [f for f in FAMILIES if f in present] + sorted(present - set(FAMILIES))


def _legend_and_save(plt, fig, axes, path, legend_top, plot_top):
    """One legend for all panels above them, the panels below ``plot_top``; write the PNG."""
    handles, labels = _legend_entries(axes)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, legend_top), ncol=len(labels), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0, 1, plot_top))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _legend_entries(axes):
    seen = {}
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    return list(seen.values()), list(seen.keys())


def write_plots(directory, rows, nstar, target, methods_order):
    """Write ``success_rate.png`` and ``nstar.png`` into ``directory``; return their paths."""
    return [
        plot_success(rows, target, os.path.join(directory, "success_rate.png"), methods_order),
        plot_nstar(nstar, os.path.join(directory, "nstar.png"), methods_order),
    ]
