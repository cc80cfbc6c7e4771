"""The comparison's plots: test RMSE per row, and loss curves of the best rows."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

# matplotlib is an optional dependency: callers pass its Figure class in, so
# importing this module never needs it.

import math

import numpy as np

from skann.compare._article import format_hidden
from skann.compare._protocol import ESTIMATOR_SPECS, ESTIMATORS, PARITY_PAIR

# Rows of the loss-curve plot, best first; colours belong to the estimators.
_RANK_LINESTYLES = ("-", "--", ":")


def _plural(n, word):
    return f"{n} {word}{'s' if n != 1 else ''}"


def _draw_diverged_band(ax, color_result, x, offsets, n_seeds):
    """Mark diverged fits in a band of their own, one line per source, no values."""
    sources = [*ESTIMATORS, "article"]
    marked = False
    for level, name in enumerate(ESTIMATORS):
        spec = ESTIMATOR_SPECS[name]
        for i, rr in enumerate(color_result.rows):
            n_diverged = sum(fit.diverged is not None for fit in rr.fits[name])
            if n_diverged:
                marked = True
                ax.plot(x[i] + offsets[level], level, "X", color=spec.color, ms=9)
                ax.annotate(
                    f"{n_diverged}/{n_seeds}",
                    (x[i] + offsets[level], level),
                    xytext=(7, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=7,
                )
    level = len(ESTIMATORS)
    for i, rr in enumerate(color_result.rows):
        if math.isnan(getattr(rr.row, color_result.color)):
            marked = True
            ax.plot(x[i], level, "X", color="black", ms=9)
            ax.annotate(
                "diverged (NaN)",
                (x[i], level),
                xytext=(7, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
    if not marked:
        ax.text(
            0.5,
            0.5,
            "no fit diverged",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="0.4",
            fontsize=8,
        )
    ax.set_ylim(len(sources) - 0.5, -0.5)
    ax.set_yticks(range(len(sources)), sources, fontsize=8)
    ax.set_ylabel("diverged", rotation=0, ha="right", va="center", fontsize=9)
    ax.set_facecolor("0.95")
    ax.tick_params(axis="x", labelbottom=False)


def _draw_rmse_points(ax, color_result, x, offsets):
    """Each estimator's test RMSE per row, the article's and the mean's.

    Returns the finite values drawn, from which the axis takes its limits.
    """
    article = np.array(
        [getattr(rr.row, color_result.color) for rr in color_result.rows]
    )
    stats = {
        name: np.array([rr.rmse_mean_std(name) for rr in color_result.rows])
        for name in ESTIMATORS
    }
    for offset, name in zip(offsets, ESTIMATORS, strict=True):
        spec = ESTIMATOR_SPECS[name]
        ax.errorbar(
            x + offset,
            stats[name][:, 0],
            yerr=stats[name][:, 1],
            fmt=spec.marker,
            color=spec.color,
            capsize=3,
            label=name,
        )
    ax.plot(x, article, "*", color="black", markersize=11, label="article's figure")
    # A network that collapsed to the mean scores about this; without the
    # run's own figure, the target's spread is the RMSE of the overall mean.
    mean_rmse = (
        color_result.target_std
        if color_result.mean_rmse is None
        else color_result.mean_rmse
    )
    ax.axhline(
        mean_rmse,
        color="0.35",
        linestyle="--",
        linewidth=1.2,
        zorder=1,
        label=f"predicting the mean\n(test RMSE {mean_rmse:.3f})",
    )
    # A legend entry only: diverged fits have no value on this axis.
    ax.plot(
        [],
        [],
        "X",
        color="0.3",
        ms=8,
        label="diverged, so no RMSE:\nin the band above\n(seeds diverged/run)",
    )
    shown = np.concatenate([article, [mean_rmse], *(s[:, 0] for s in stats.values())])
    return shown[np.isfinite(shown)]


def _legend_estimators_first(ax):
    """The legend beside ``ax``, estimators first in their order, as in the tables."""
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(
        range(len(labels)),
        key=lambda i: (
            ESTIMATORS.index(labels[i])
            if labels[i] in ESTIMATORS
            else len(ESTIMATORS) + i
        ),
    )
    ax.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )


def _draw_rmse_panel(band_ax, ax, color_result, offsets, n_seeds):
    """One colour's panel of test RMSEs and, above it, its band of divergences."""
    band_ax.sharex(ax)
    x = np.arange(len(color_result.rows))
    shown = _draw_rmse_points(ax, color_result, x, offsets)
    if shown.size:
        margin = 0.08 * (shown.max() - shown.min() + 0.1)
        ax.set_ylim(shown.min() - margin, shown.max() + margin)
    _draw_diverged_band(band_ax, color_result, x, offsets, n_seeds)
    ax.set_xticks(
        x,
        [
            f"{rr.number}\n{format_hidden(rr.row, wrap=3)}\n{rr.row.activation}\n"
            f"{rr.row.learning_rate:g}"
            for rr in color_result.rows
        ],
        fontsize=7,
    )
    ax.set_xlabel("row of the table: hidden layers, activation, learning rate")
    ax.set_ylabel("test RMSE")
    band_ax.set_title(
        f"{color_result.color.capitalize()} wine: test RMSE per row, mean ± std "
        f"over the seeds that finished ({_plural(n_seeds, 'seed')} run)"
    )
    ax.grid(axis="y", alpha=0.3)
    _legend_estimators_first(ax)


def plot_test_rmse(result, Figure, path):
    """Test RMSE per row for every estimator and the article, one panel a colour.

    Diverged fits have no RMSE: they are marked in a band above each panel,
    with the number of seeds that diverged, never on the RMSE axis.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure, also saved to ``path``.
    """
    n_colors = len(result.colors)
    width = max(9.0, 0.75 * len(result.numbers) + 5.0)
    band_height = len(ESTIMATORS) + 1
    fig = Figure(figsize=(width, 5.2 * n_colors), layout="constrained")
    axes = fig.subplots(
        2 * n_colors, 1, height_ratios=[band_height, 13] * n_colors, squeeze=False
    )[:, 0]
    offsets = np.linspace(-0.17, 0.17, len(ESTIMATORS))
    for band_ax, ax, cr in zip(axes[::2], axes[1::2], result.colors, strict=True):
        _draw_rmse_panel(band_ax, ax, cr, offsets, len(result.seeds))
    fig.savefig(path, dpi=120)
    return fig


def _standardises_target(name):
    """Whether estimator ``name`` trains on the standardised target."""
    return ESTIMATOR_SPECS[name].params.get("target_scaling") is not None


def _draw_row_curves(loss_axes, val_ax, rr, linestyle, ranker):
    """The first seed's loss and validation curves of row result ``rr``.

    Returns the lowest and highest validation R² the axis should show (the
    lowest past the first tenth of the epochs).
    """
    lowest, highest = 0.0, 0.0
    for k, name in enumerate(ESTIMATORS):
        spec = ESTIMATOR_SPECS[name]
        fit = rr.fits[name][0]
        epochs = np.arange(1, len(fit.loss_curve) + 1)
        # The curves usually coincide: the first is a wide line, the
        # others narrower lines with sparse hollow markers on top of it.
        style = {
            "color": spec.color,
            "linestyle": linestyle,
            "linewidth": 2.4 if k == 0 else 1.2,
            "zorder": 2 + k,
            "label": f"row {rr.number}, {name}",
        }
        if k:
            style |= {
                "marker": spec.marker,
                "markersize": 5,
                "fillstyle": "none",
                "markevery": max(1, len(epochs) // 8),
            }
        loss_axes[name].plot(epochs, fit.loss_curve, **style)
        val_ax.plot(epochs, fit.validation_scores, **style)
        if name == ranker:
            best = int(np.argmax(fit.validation_scores))
            val_ax.plot(
                best + 1,
                fit.validation_scores[best],
                "*",
                color=spec.color,
                markersize=12,
                markeredgecolor="black",
                zorder=5,
            )
        lowest = min(lowest, *fit.validation_scores[len(epochs) // 10 :])
        highest = max(highest, *fit.validation_scores)
    return lowest, highest


def _label_loss_axes(loss_axes, loss_groups, scaled, color_result):
    """Log scale, title and label of each loss panel of one colour."""
    colour = color_result.color.capitalize()
    for group in loss_groups:
        ax = loss_axes[group[0]]
        ax.set_yscale("log")
        names = ", ".join(group)
        if group is scaled:
            variance = color_result.target_std**2
            ax.set_title(
                f"{colour} wine: training loss of {names},\non the standardised "
                f"target: about the loss above / {variance:.2f}",
                fontsize=10,
            )
            ax.set_ylabel(
                f"½ MSE of quality / {color_result.target_std:.2f} + L2\n(log scale)"
            )
        else:
            ax.set_title(
                f"{colour} wine: training loss of {names},\non the quality "
                "score itself",
                fontsize=10,
            )
            ax.set_ylabel("½ MSE + L2 penalty (log scale)")


def _label_validation_axis(val_ax, color_result, ranker, seed, lowest, highest):
    """Title, limits and labels of one colour's validation R² panel."""
    val_ax.set_title(
        f"{color_result.color.capitalize()} wine: validation R² (early stopping;\n"
        f"star: the epoch whose weights {ranker} kept)",
        fontsize=10,
    )
    val_ax.set_ylim(max(lowest, -1.0) - 0.05, highest + 0.05)
    val_ax.set_xlabel(f"epoch (seed {seed})")
    val_ax.set_ylabel("R² (the same scale for all)")


def _draw_loss_column(axes, color_result, loss_groups, scaled, seed, n_best):
    """One colour's column of panels: the loss groups', then validation R²."""
    ranker = PARITY_PAIR[0]
    eligible = [
        rr
        for rr in color_result.rows
        if all(rr.fits[name][0].diverged is None for name in ESTIMATORS)
    ]
    ranked = sorted(eligible, key=lambda rr: rr.rmse_mean_std(ranker)[0])
    loss_axes = {name: axes[g] for g, group in enumerate(loss_groups) for name in group}
    val_ax = axes[-1]
    lowest, highest = 0.0, 0.0
    for rr, linestyle in zip(ranked[:n_best], _RANK_LINESTYLES, strict=False):
        low, high = _draw_row_curves(loss_axes, val_ax, rr, linestyle, ranker)
        lowest, highest = min(lowest, low), max(highest, high)
    _label_loss_axes(loss_axes, loss_groups, scaled, color_result)
    _label_validation_axis(val_ax, color_result, ranker, seed, lowest, highest)
    for ax in axes:
        ax.grid(alpha=0.3)
        if ranked:
            ax.legend(fontsize=7)
        else:
            ax.text(
                0.5,
                0.5,
                f"every row diverged on seed {seed}",
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="0.4",
            )


def plot_loss_curves(result, Figure, path, n_best=3):
    """Training loss and validation R² of the first seed's fits of the best rows.

    The best rows are those with the lowest mean test RMSE of the first
    estimator of ``PARITY_PAIR`` among the rows where no estimator diverged on
    that seed. Colours are the estimators', line styles the rows'.

    An estimator that standardises the target reports its loss on that scale,
    about the loss of the others divided by the target's variance: its curves
    get a panel of their own under the others', so that a lower line never
    reads as a better fit. Validation R² does not depend on the scale: one
    panel holds every estimator.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure, also saved to ``path``.
    """
    n_colors = len(result.colors)
    scaled = [name for name in ESTIMATORS if _standardises_target(name)]
    loss_groups = [[name for name in ESTIMATORS if name not in scaled]]
    if scaled:
        loss_groups.append(scaled)
    n_panels = len(loss_groups) + 1
    fig = Figure(figsize=(5.8 * n_colors, 3.9 * n_panels), layout="constrained")
    axes = fig.subplots(n_panels, n_colors, squeeze=False)
    seed = result.seeds[0]
    fig.suptitle(
        f"Seed {seed}'s fits of the {n_best} rows with the lowest mean test RMSE "
        f"of {PARITY_PAIR[0]}\n(best first in the legends; rows with a fit that "
        f"diverged on seed {seed} left out)",
        fontsize=10,
    )
    for j, cr in enumerate(result.colors):
        _draw_loss_column(axes[:, j], cr, loss_groups, scaled, seed, n_best)
    fig.savefig(path, dpi=120)
    return fig
