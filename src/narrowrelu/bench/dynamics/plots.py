"""Figures of ``narrowrelu bench dynamics`` (matplotlib, Agg, PNG).

``loss.png``: population loss against iteration (log axes), one curve per init scale (first
start), plateaus drawn thick, escapes as crosses. ``singular_values.png``: the singular values of
:math:`W` against iteration, escapes as dotted lines. ``sigma_ratio.png``: :math:`\\sigma_1/\\sigma_2`
against iteration, the first escape as a dot. ``cosines.png``: at the smallest init, each active
unit's cosine to its nearest teacher neuron, and the share :math:`\\rho_i` of each teacher neuron
learned. ``escape_times.png``: escape iterations against :math:`\\ln(1/s)` with the fitted lines
and the predicted first-escape slope. ``weight_decay.png``: active units, active directions and
rank of :math:`W`, and excess MSE, against :math:`\\alpha`.
"""

import os

import numpy as np

from .measures import LEARNED_SHARE, active_units, learned_shares
from .report import EXCESS_TARGET, RATIO_TARGET, teacher_label
from .runs import planted_teacher


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _cells(runs):
    """Ordered teachers and widths of the runs."""
    teachers = sorted({(r["family"], r["k"], r["d"]) for r, _ in runs}, key=lambda t: (t[1], t[0]))
    widths = sorted({r["width"] // r["k"] for r, _ in runs})
    return teachers, widths


def _select(runs, family, k, factor):
    """First start of each init scale, largest init first."""
    chosen = [(r, h) for r, h in runs if r["family"] == family and r["k"] == k and r["width"] == factor * k
              and r["rep"] == 0]
    return sorted(chosen, key=lambda rh: -rh[0]["init_scale"])


def _grid(plt, rows, cols, size=(4.6, 3.4)):
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False, layout="constrained")
    return fig, axes


def _colors(n):
    return [f"C{i % 10}" for i in range(n)]


def _t(history):
    keep = history["step"] >= 1
    return history["step"][keep], keep


def _teacher_width_panels(plt, runs):
    """The figure of one panel per teacher (rows) and width (columns), and per panel its axes, the
    teacher ``(family, k, d)``, the width factor and the runs shown, each with its colour."""
    teachers, widths = _cells(runs)
    fig, axes = _grid(plt, len(teachers), len(widths))
    panels = []
    for row, (family, k, d) in enumerate(teachers):
        for col, factor in enumerate(widths):
            chosen = _select(runs, family, k, factor)
            panels.append((axes[row, col], (family, k, d), factor, list(zip(_colors(len(chosen)), chosen))))
    return fig, panels


def plot_loss(plt, runs, path):
    fig, panels = _teacher_width_panels(plt, runs)
    for ax, (family, k, d), factor, coloured in panels:
        for color, (r, h) in coloured:
            t, keep = _t(h)
            loss = h["data_loss"][keep]
            ax.loglog(t, loss, color=color, lw=1, label=f"s = {r['init_scale']:.0e}")
            for p in r["plateaus"]:
                on = (t >= p["start"]) & (t <= p["end"])
                ax.loglog(t[on], loss[on], color=color, lw=5, alpha=0.35, solid_capstyle="butt")
                if p["escape"] is not None:
                    ax.plot(p["escape"], 0.5 * p["level"], "x", color=color, ms=7, mew=2)
        ax.set_title(f"{teacher_label(family, k)}, d={d}, width {factor * k}", fontsize=10)
        ax.set_xlabel("iteration")
        ax.set_ylabel("population loss ½E[(g−f)²]")
        ax.set_ylim(bottom=max(ax.get_ylim()[0], 1e-12))
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Loss against iteration: plateaus thick, escapes (loss ≤ ½ plateau level) as crosses", fontsize=11)
    _save(fig, path)


def plot_singular_values(plt, runs, path):
    teachers, widths = _cells(runs)
    panels = [(t, f) for t in teachers for f in widths]
    n_init = max(len(_select(runs, t[0], t[1], f)) for t, f in panels)
    cols = min(n_init, 3)
    fig, axes = _grid(plt, len(panels), cols, size=(4.2, 3.0))
    for row, ((family, k, d), factor) in enumerate(panels):
        chosen = _select(runs, family, k, factor)
        picks = sorted({0, len(chosen) // 2, len(chosen) - 1})[:cols]
        for col, idx in enumerate(picks):
            r, h = chosen[idx]
            ax = axes[row, col]
            t, keep = _t(h)
            sv = h["singular_values"][keep]
            for i, color in enumerate(_colors(sv.shape[1])):
                ax.loglog(t, np.maximum(sv[:, i], 1e-300), color=color, lw=1, label=f"σ{i + 1}")
            for e in r["escapes"]:
                if e is not None:
                    ax.axvline(e, color="0.5", ls=":", lw=1)
            ax.set_ylim(bottom=max(1e-3 * r["init_scale"], 1e-16))
            ax.set_title(f"{teacher_label(family, k)}, width {factor * k}, s = {r['init_scale']:.0e}", fontsize=9)
            ax.set_xlabel("iteration")
            if col == 0:
                ax.set_ylabel("singular values of W")
        axes[row, 0].legend(fontsize=6, ncol=2, loc="lower right")
    fig.suptitle("Singular values of W against iteration (escapes dotted)", fontsize=11)
    _save(fig, path)


def plot_sigma_ratio(plt, runs, path):
    fig, panels = _teacher_width_panels(plt, runs)
    for ax, (family, k, d), factor, coloured in panels:
        for color, (r, h) in coloured:
            t, keep = _t(h)
            sv = h["singular_values"][keep]
            if sv.shape[1] < 2:
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = sv[:, 0] / sv[:, 1]
            ax.loglog(t, ratio, color=color, lw=1, label=f"s = {r['init_scale']:.0e}")
            if r["escapes"][0] is not None:
                ax.plot(r["escapes"][0], r["sigma_ratio_escape1"], "o", color=color, ms=6)
        ax.axhline(RATIO_TARGET, color="k", ls="--", lw=0.8)
        ax.set_title(f"{teacher_label(family, k)}, width {factor * k}", fontsize=10)
        ax.set_xlabel("iteration")
        ax.set_ylabel("σ1/σ2 of W")
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"σ1/σ2 against iteration; dots: at the first escape; dashed: {RATIO_TARGET:g}", fontsize=11)
    _save(fig, path)


def plot_cosines(plt, runs, path):
    teachers, widths = _cells(runs)
    panels = [(t, f) for t in teachers for f in widths]
    fig, axes = _grid(plt, len(panels), 2, size=(5.0, 3.0))
    for row, ((family, k, d), factor) in enumerate(panels):
        r, h = _select(runs, family, k, factor)[-1]
        teacher = planted_teacher(family, k, d, r["seed"])
        t, keep = _t(h)
        final = active_units(h["unit_norms"][-1], h["output_weights"][-1], teacher)
        nearest = h["nearest_teacher"][-1]
        ax = axes[row, 0]
        for j in np.flatnonzero(final):
            ax.semilogx(t, h["teacher_cosine"][keep][:, j], color=f"C{nearest[j] % 10}", lw=0.9)
        ax.set_ylim(-1.02, 1.02)
        ax.set_ylabel("cos to nearest teacher neuron")
        ax.set_title(f"{teacher_label(family, k)}, width {factor * k}, s = {r['init_scale']:.0e}: active units",
                     fontsize=9)
        shares = learned_shares(h, teacher)[keep]
        ax = axes[row, 1]
        for i in range(k):
            lam = teacher.output_weights[i]
            ax.semilogx(t, shares[:, i], color=f"C{i % 10}", lw=1.2, label=f"neuron {i + 1} (λ = {lam:g})")
            if r["learned_iterations"][i] is not None:
                ax.axvline(r["learned_iterations"][i], color=f"C{i % 10}", ls=":", lw=0.8)
        ax.axhline(LEARNED_SHARE, color="k", ls="--", lw=0.6)
        ax.set_ylabel("share ρ_i learned")
        ax.set_title("share of each teacher neuron carried by units on it", fontsize=9)
        ax.legend(fontsize=6, loc="upper left")
        for a in axes[row]:
            a.set_xlabel("iteration")
    fig.suptitle("Units' cosines to the teacher (colour: nearest teacher neuron at the end) and shares ρ_i",
                 fontsize=11)
    _save(fig, path)


def plot_escape_times(plt, runs, fits, path):
    teachers, widths = _cells(runs)
    fig, axes = _grid(plt, len(teachers), len(widths))
    for row, (family, k, d) in enumerate(teachers):
        for col, factor in enumerate(widths):
            ax = axes[row, col]
            cell = [r for r, _ in runs if r["family"] == family and r["k"] == k and r["width"] == factor * k]
            xs = np.log(1 / np.array(sorted({r["init_scale"] for r in cell})))
            for f in [f for f in fits if (f["family"], f["k"], f["width"]) == (family, k, factor * k)]:
                j, color = f["escape"], f"C{(f['escape'] - 1) % 10}"
                pts = [(np.log(1 / r["init_scale"]), r["escapes"][j - 1]) for r in cell
                       if r["escapes"][j - 1] is not None]
                ax.plot(*zip(*pts), "o", color=color, ms=4, alpha=0.7)
                if np.isfinite(f["slope"]):
                    ax.plot(xs, f["intercept"] + f["slope"] * xs, "-", color=color, lw=1,
                            label=f"escape {j}: {f['slope']:.1f} ± {f['slope_se']:.1f} per ln(1/s)")
                if f["predicted"] is not None and np.isfinite(f["intercept"]):
                    mid = np.mean([p[0] for p in pts])
                    y_mid = f["intercept"] + f["slope"] * mid
                    ax.plot(xs, y_mid + f["predicted"] * (xs - mid), "--", color="k", lw=0.8,
                            label=f"predicted slope 1/ln(1+ηG*) = {f['predicted']:.1f}")
            ax.set_title(f"{teacher_label(family, k)}, width {factor * k}", fontsize=10)
            ax.set_xlabel("ln(1/s)")
            ax.set_ylabel("escape iteration")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("Escape iterations against ln(1/init scale), least-squares lines", fontsize=11)
    _save(fig, path)


def plot_weight_decay(plt, records, path):
    keys = sorted({(r["family"], r["k"]) for r in records}, key=lambda t: (t[1], t[0]))
    fig, axes = _grid(plt, 2, len(keys), size=(4.8, 3.3))
    for col, (family, k) in enumerate(keys):
        rows = sorted([r for r in records if (r["family"], r["k"]) == (family, k)], key=lambda r: r["alpha"])
        alpha = [r["alpha"] for r in rows]
        ax = axes[0, col]
        ax.semilogx(alpha, [r["active_units"] for r in rows], "o-", label="active units")
        ax.semilogx(alpha, [r["active_directions"] for r in rows], "s--", label="active directions")
        ax.semilogx(alpha, [r["numerical_rank"] for r in rows], "^:", label="numerical rank of W")
        ax.semilogx(alpha, [r["effective_rank"] for r in rows], "v:", label="effective rank of W")
        ax.axhline(k, color="k", lw=0.8)
        ax.set_title(f"{teacher_label(family, k)}, width {rows[0]['width']}, s = {rows[0]['init_scale']:g}",
                     fontsize=10)
        ax.set_ylabel("count")
        ax.legend(fontsize=7)
        ax = axes[1, col]
        ax.loglog(alpha, [max(r["excess_mse"], 1e-16) for r in rows], "o-", color="C3")
        ax.axhline(EXCESS_TARGET, color="k", ls="--", lw=0.8)
        ax.set_ylabel("excess MSE / Var f")
        ax.set_xlabel("weight decay α")
    fig.suptitle("Weight decay: active units, directions and rank of W (top; line at k), excess MSE (bottom)",
                 fontsize=11)
    _save(fig, path)


def _save(fig, path):
    for ax in fig.axes:
        ax.minorticks_off()  # log axes over many decades: minor ticks cost most of the drawing time
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)


def write_plots(out_dir, runs, fits, decay_records):
    """Write every figure into ``out_dir``; return the paths written."""
    plt = _pyplot()
    paths = []
    if runs:
        for name, draw in (("loss", plot_loss), ("singular_values", plot_singular_values),
                           ("sigma_ratio", plot_sigma_ratio), ("cosines", plot_cosines)):
            paths.append(os.path.join(out_dir, f"{name}.png"))
            draw(plt, runs, paths[-1])
        paths.append(os.path.join(out_dir, "escape_times.png"))
        plot_escape_times(plt, runs, fits, paths[-1])
    if decay_records:
        paths.append(os.path.join(out_dir, "weight_decay.png"))
        plot_weight_decay(plt, decay_records, paths[-1])
    return paths
