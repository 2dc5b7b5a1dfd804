"""Plots of a sample-complexity sweep (matplotlib, PNG, no display needed).

``success_rate.png``: the success rate against n, one panel per (family, k), each method's line
shifted slightly along n and up or down (by at most :data:`RATE_SPREAD`) so that methods with the
same rates stay visible side by side. ``nstar.png``: the
headline, n*(k) against k on log-log axes per family, with the least-squares line of each method
(see :mod:`.slopes`); an n* at the smallest n is drawn with a down arrow (it is only a bound),
one never reached with an open marker and an up arrow above that method's largest n.
"""

import os
import textwrap

from ...teacher import FAMILIES
from .summary import SUCCESS_FRACTION, family_dimension

_MARKERS = {"moment_raw": "o", "moment_refined": "s", "gd_k": "D", "gd_2k": "p", "mlp_k": "h", "mlp_4k": "P",
            "mlp_default": "X"}
_SPARE_MARKERS = ("*", "d", "H", "8", "<", ">")
_LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2, 1, 2)))
#: Largest multiplicative shift along k between a method's points and the true k, either way.
K_OFFSET = 1.05
#: Largest vertical shift of a method's success-rate line, either way (rates are multiples of 1/seeds).
RATE_SPREAD = 0.03
#: Vertical factors of the arrows: a floor point's arrow ends at n_min / ARROW, an unreached
#: point's open marker sits at n_max * UNREACHED and its arrow ends at n_max * UNREACHED * ARROW.
ARROW, UNREACHED = 1.5, 1.3


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def method_style(method, methods_order):
    """Colour, marker and line style of a method, the same in every figure."""
    idx = methods_order.index(method) if method in methods_order else len(methods_order)
    spare = _SPARE_MARKERS[idx % len(_SPARE_MARKERS)]
    return {"color": f"C{idx % 10}", "marker": _MARKERS.get(method, spare),
            "ls": _LINESTYLES[idx % len(_LINESTYLES)]}


def k_offsets(methods):
    """Per method, the factor its points are shifted by along the x axis (k, or n), spread evenly over
    [1/K_OFFSET, K_OFFSET] so that methods with equal n* stay side by side."""
    if len(methods) < 2:
        return dict.fromkeys(methods, 1.0)
    return {m: K_OFFSET ** (2 * i / (len(methods) - 1) - 1) for i, m in enumerate(methods)}


def rate_shifts(methods):
    """Per method, the vertical shift of its success-rate line, spread evenly over
    [-RATE_SPREAD, RATE_SPREAD]."""
    if len(methods) < 2:
        return dict.fromkeys(methods, 0.0)
    return {m: RATE_SPREAD * (2 * i / (len(methods) - 1) - 1) for i, m in enumerate(methods)}


def _ordered_families(rows):
    present = {r["family"] for r in rows}
    return [f for f in FAMILIES if f in present] + sorted(present - set(FAMILIES))


def _methods_present(rows, methods_order):
    present = {r["method"] for r in rows}
    return [m for m in methods_order if m in present] + sorted(present - set(methods_order))


def plot_success(rows, target, path, methods_order):
    """Success rate against n (log scale): one row of panels per family, holding only that
    family's k, one line per method; a dotted line at the success fraction and a dashed one at
    each n cap."""
    plt = _pyplot()
    families = _ordered_families(rows)
    methods = _methods_present(rows, methods_order)
    shifts, offsets = rate_shifts(methods), k_offsets(methods)
    width = max(len({r["k"] for r in rows if r["family"] == f}) for f in families)
    header = 0.75
    fig = plt.figure(figsize=(2.3 * width + 0.6, 1.9 * len(families) + header), layout="constrained")
    top, *subfigs = fig.subfigures(len(families) + 1, 1, height_ratios=[header] + [1.9] * len(families))
    caps = sorted({r["n"] for r in _largest_n_per_method(rows)} - {max(r["n"] for r in rows)})
    for subfig, family in zip(subfigs, families):
        of_family = [r for r in rows if r["family"] == family]
        ks = sorted({r["k"] for r in of_family})
        axes = subfig.subplots(1, len(ks), sharey=True, squeeze=False)[0]
        for ax, k in zip(axes, ks):
            of_panel = [r for r in of_family if r["k"] == k]
            for method in methods:
                rs = sorted((r for r in of_panel if r["method"] == method), key=lambda r: r["n"])
                if rs:
                    style = method_style(method, methods_order)
                    ax.plot([r["n"] * offsets[method] for r in rs], [r["success_rate"] + shifts[method] for r in rs],
                            color=style["color"], marker=style["marker"], ls=style["ls"], ms=3.5, lw=1, mfc="none",
                            label=method)
            for cap in caps:
                ax.axvline(cap, color="0.6", lw=0.7, ls="--")
            ax.set_xscale("log")
            ax.set_ylim(-0.05 - RATE_SPREAD, 1.05 + RATE_SPREAD)
            ax.axhline(SUCCESS_FRACTION, color="0.7", lw=0.6, ls=":")
            ax.tick_params(labelsize=7)
            ax.set_title(f"{family}, d = {of_panel[0]['d']}, k = {k}", fontsize=8)
            ax.set_xlabel("n", fontsize=7)
        axes[0].set_ylabel("success rate", fontsize=8)
    cap_note = f"; dashed: largest n of a capped method ({', '.join(map(str, caps))})" if caps else ""
    top.suptitle(f"share of seeds with excess MSE <= {target:g} Var f (dotted: {SUCCESS_FRACTION:.0%}){cap_note}\n"
                 f"methods shifted by up to \u00b1{RATE_SPREAD:g} in rate and {K_OFFSET - 1:.0%} in n to stay visible",
                 fontsize=9)
    top.legend(*_legend_entries(fig), loc="lower center", ncol=min(len(methods), 7), fontsize=8, frameon=False)
    return _save(plt, fig, path)


def _largest_n_per_method(rows):
    largest = {}
    for r in rows:
        if r["n"] > largest.get(r["method"], {"n": -1})["n"]:
            largest[r["method"]] = r
    return list(largest.values())


def plot_nstar(nstar, slopes, path, methods_order):
    """n*(k) against k on log-log axes, one panel per family (d in its title), with each
    method's fitted line; floor and unreached points are drawn but were not fitted."""
    plt = _pyplot()
    from matplotlib.ticker import NullLocator

    families = _ordered_families(nstar)
    methods = _methods_present(nstar, methods_order)
    offsets = k_offsets(methods)
    legend_lines = len(methods) + 1
    fig, axes = plt.subplots(1, len(families), figsize=(3.9 * len(families) + 0.4, 3.3 + 0.16 * legend_lines),
                             sharey=True, squeeze=False, layout="constrained")
    for ax, family in zip(axes[0], families):
        of_family = [r for r in nstar if r["family"] == family]
        fits = {s["method"]: s for s in slopes if s["family"] == family}
        for method in methods:
            rs = [r for r in of_family if r["method"] == method]
            if rs:
                _draw_method(ax, rs, fits.get(method), method_style(method, methods_order), offsets[method])
        ks = sorted({r["k"] for r in of_family})
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(min(ks) / K_OFFSET ** 3, max(ks) * K_OFFSET ** 3)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_title(f"{family} (d = {family_dimension(of_family)})", fontsize=9)
        ax.set_xlabel("k", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", color="0.92", lw=0.5)
        ax.legend(handles=_panel_legend(methods, fits, methods_order), loc="upper center",
                  bbox_to_anchor=(0.5, -0.16), fontsize=6.5, frameon=False, ncol=1)
    _draw_references(axes[0], nstar)
    low = min(r["n_min"] for r in nstar) / ARROW ** 1.3
    high = max(r["n_max"] * UNREACHED * ARROW if r["status"] == "not reached" else r["n_star"] for r in nstar)
    axes[0][0].set_ylim(low, high * 1.3)
    levels = sorted({r["n_min"] for r in nstar} | {r["n_max"] for r in nstar} | {r["n_star"] for r in nstar} - {None})
    axes[0][0].set_yticks(levels, [str(n) for n in levels])
    axes[0][0].yaxis.set_minor_locator(NullLocator())
    axes[0][0].set_ylabel("n*(k)", fontsize=8)
    caption = ("Filled: n* reached. \u2193: reached at the smallest n (n* \u2264 n_min). Open \u2191: not reached by "
               "that method's largest n. Lines: least-squares fit of log n* on log k over the filled points only "
               "(floor and unreached points excluded), slope in the legend. Methods are shifted slightly along k.")
    fig.suptitle(textwrap.fill(caption, width=int(26 * len(families) + 40)), fontsize=7.5)
    return _save(plt, fig, path)


def _draw_method(ax, rs, fit, style, offset):
    common = {"color": style["color"], "marker": style["marker"], "ls": "none", "ms": 5}
    arrow = {"arrowstyle": "-|>", "color": style["color"], "lw": 0.8, "mutation_scale": 7}
    for r in rs:
        x = r["k"] * offset
        if r["status"] == "reached":
            ax.plot([x], [r["n_star"]], **common)
        elif r["status"] == "floor":
            ax.plot([x], [r["n_min"]], **common)
            ax.annotate("", xy=(x, r["n_min"] / ARROW), xytext=(x, r["n_min"]), arrowprops=arrow)
        else:
            top = r["n_max"] * UNREACHED
            ax.plot([x], [top], mfc="white", **common)
            ax.annotate("", xy=(x, top * ARROW), xytext=(x, top), arrowprops=arrow)
    if fit and fit["slope"] is not None:
        ks = [int(k) for k in fit["ks_used"].split()]
        ax.plot([k * offset for k in ks], [fit["prefactor"] * k ** fit["slope"] for k in ks], color=style["color"],
                ls=style["ls"], lw=1.1)


def _draw_references(axes, nstar):
    """Dotted lines at the smallest n and at every largest n a method ran, named right of the
    last panel."""
    levels = {r["n_min"]: "smallest n" for r in nstar}
    for r in sorted(nstar, key=lambda r: r.get("n_cap") is not None):
        levels.setdefault(r["n_max"], "largest n" if r.get("n_cap") is None else "capped n")
    for n, name in sorted(levels.items()):
        for ax in axes:
            ax.axhline(n, color="0.75", lw=0.6, ls=":")
        axes[-1].annotate(f"{name}\n{n}", xy=(1, n), xycoords=("axes fraction", "data"), xytext=(3, 0),
                          textcoords="offset points", ha="left", va="center", fontsize=6, color="0.4")


def _panel_legend(methods, fits, methods_order):
    from matplotlib.lines import Line2D

    handles = []
    for method in methods:
        fit = fits.get(method)
        if fit is None:
            continue
        style = method_style(method, methods_order)
        text = (f"slope {fit['slope']:.2f} ({fit['points']} points)" if fit["slope"] is not None
                else fit["slope_label"])
        handles.append(Line2D([], [], color=style["color"], marker=style["marker"], ms=4, lw=1.1,
                              ls=style["ls"] if fit["slope"] is not None else "none", label=f"{method}: {text}"))
    return handles


def _legend_entries(fig):
    seen = {}
    for ax in fig.get_axes():
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    return list(seen.values()), list(seen.keys())


def _save(plt, fig, path):
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(directory, rows, nstar, slopes, target, methods_order):
    """Write ``success_rate.png`` and ``nstar.png`` into ``directory``; return their paths."""
    return [
        plot_success(rows, target, os.path.join(directory, "success_rate.png"), methods_order),
        plot_nstar(nstar, slopes, os.path.join(directory, "nstar.png"), methods_order),
    ]
