"""The parallel coordinates plot: every complete trial across the parameter axes and the objective."""
from collections.abc import Callable, Iterable
import math
from typing import TYPE_CHECKING, Any, Optional, Union, cast

import optuna

from paddle_autotune_plugins.report.plot_base import COLORS, PlotData, SkipPlot, new_figure
from paddle_autotune_plugins.report.study_facts import fmt_value

if TYPE_CHECKING:
    from matplotlib.figure import Figure

S = optuna.trial.TrialState
Range = Union[optuna.distributions.FloatDistribution, optuna.distributions.IntDistribution]


def _tick_label(v: Any) -> str:
    """A tick's text: at most 4 significant digits (0.30000000000000004 -> 0.3, 0.000125 -> 0.000125, 1e-05)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return fmt_value(v, 12)
    if float(v).is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.4g}"


def _nice_ticks(lo: float, hi: float, log: bool = False, integer: bool = False) -> list[float]:
    """Round tick values between lo and hi (decades on a log axis), at least two of them."""
    from matplotlib.ticker import LogLocator, MaxNLocator

    if not hi > lo:
        return [lo]
    slack = (hi - lo) * 1e-9

    def inside(ticks: Iterable[float]) -> list[float]:
        return [float(v) for v in ticks if lo - slack <= v <= hi + slack]

    if log:
        ticks = inside(LogLocator(base=10, numticks=6).tick_values(lo, hi))
        if len(ticks) < 2:  # less than two decades: 1, 2, 5 times the powers of ten
            ticks = inside(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12).tick_values(lo, hi))
    else:
        ticks = inside(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10], integer=integer).tick_values(lo, hi))
    return ticks if len(ticks) >= 2 else [lo, hi]


def _axis(d: PlotData, path: str, values: list[Any]
          ) -> tuple[Callable[[Any], float], list[tuple[float, str]], Optional[tuple[float, float]]]:
    """(to_unit, ticks, search range): maps a parameter's values to 0..1 on its axis, the labelled tick
    positions, and the (low, high) of the space in axis units (None for choices)."""
    dist = d.dists.get(path)
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        choices = list(dist.choices)
        pos = {c: (i / (len(choices) - 1) if len(choices) > 1 else 0.5) for i, c in enumerate(choices)}
        return (lambda v: pos.get(v, math.nan)), [(pos[c], fmt_value(c, 12)) for c in choices], None
    dist = cast(Optional[Range], dist)  # past the choices: a numeric range, or none sampled
    log = bool(getattr(dist, "log", False))
    known = [v for v in values if v is not None] + ([dist.low, dist.high] if dist is not None else [])
    if log:
        known = [v for v in known if v > 0]
    if not known:
        return (lambda v: math.nan), [], None
    f = math.log10 if log else float
    lo, hi = f(min(known)), f(max(known))
    span = (hi - lo) or 1.0

    def to_unit(v: Any) -> float:
        return math.nan if v is None or (log and v <= 0) else (f(v) - lo) / span

    integer = isinstance(dist, optuna.distributions.IntDistribution)
    ticks = [(to_unit(v), _tick_label(v)) for v in _nice_ticks(min(known), max(known), log, integer)]
    space = (to_unit(dist.low), to_unit(dist.high)) if dist is not None else None
    return to_unit, ticks, space


def plot_parallel(d: PlotData) -> "Figure":
    """One polyline per complete trial across every parameter axis and the objective, coloured by the objective.

    The colour scale spans the searched trials only: the baseline (the config as given) is drawn black and
    dashed, so that a baseline far better or worse than the rest does not wash the searched trials into one
    colour. A thick segment on each numeric axis marks the search range (the baseline may lie outside it)."""
    if not d.complete:
        raise SkipPlot("Parallel coordinates need at least one complete trial.")
    paths = [p for p in d.paths if any(d.param_value(t, p) is not None for t in d.complete)]
    if not paths:
        raise SkipPlot("No tuned parameter has a value in the complete trials.")
    import matplotlib
    from matplotlib import cm, colors
    from matplotlib.lines import Line2D

    metric, maximize = d.metrics[0], d.maximize[0]
    axes = []
    for p in paths:
        log = getattr(d.dists.get(p), "log", False)
        axes.append((d.short[p] + ("\n(log scale)" if log else ""),) + _axis(d, p, [d.param_value(t, p) for t in d.complete]))
    objective = [t.values[0] for t in d.complete]
    lo, hi = min(objective), max(objective)
    span = (hi - lo) or 1.0
    axes.append((metric, lambda v: (v - lo) / span,
                 [((v - lo) / span, _tick_label(v)) for v in _nice_ticks(lo, hi)], None))

    fig = new_figure(max(7.0, 1.6 * len(axes) + 1.5), 4.6)
    ax = fig.add_subplot()
    # The better end of the colour map is always the bright one, whatever the direction.
    cmap = matplotlib.colormaps["viridis" if maximize else "viridis_r"]
    scale = [t.values[0] for t in (d.searched or d.complete)]
    c_lo, c_hi = min(scale), max(scale)
    norm = colors.Normalize(c_lo, c_hi if c_hi > c_lo else c_lo + 1e-12)
    for t in sorted(d.complete, key=lambda t: t.values[0] if maximize else -t.values[0]):  # best drawn last
        ys = [to_unit(d.param_value(t, p)) for (_, to_unit, _, _), p in zip(axes, paths)] + [axes[-1][1](t.values[0])]
        is_base = t is d.baseline
        ax.plot(range(len(axes)), ys, color=COLORS["baseline"] if is_base else cmap(norm(t.values[0])),
                linewidth=2.2 if is_base else 1.3, linestyle="--" if is_base else "-", alpha=0.9,
                zorder=3 if is_base else 2, marker="o", markersize=3)
    for x, (name, _, ticks, space) in enumerate(axes):
        ax.axvline(x, color="#888888", linewidth=0.8, zorder=1)
        if space is not None:
            ax.plot([x, x], space, color="#b8b8b8", linewidth=5, solid_capstyle="butt", zorder=1)
        for y, text in ticks:
            ax.plot([x - 0.03, x], [y, y], color="#555555", linewidth=0.8, zorder=1)
            ax.text(x + 0.05, y, text, fontsize=7, va="center", ha="left", color="#333333", zorder=4,
                    bbox=dict(facecolor="white", edgecolor="none", alpha=0.75, pad=0.6))  # readable over lines
    ax.set_xticks(range(len(axes)))
    ax.set_xticklabels([a[0] for a in axes], fontsize=9)
    ax.set_yticks([])
    ax.set_ylim(-0.06, 1.06)
    ax.set_xlim(-0.2, len(axes) - 0.6)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    source = "the searched trials" if d.searched else "the complete trials"
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=f"{metric} ({source})", pad=0.02)
    handles = [Line2D([], [], color="#b8b8b8", linewidth=5, label="search range")]
    base = d.baseline if d.baseline is not None and d.baseline.state == S.COMPLETE else None
    if base is not None and d.searched:
        handles.insert(0, Line2D([], [], color=COLORS["baseline"], linewidth=2.2, linestyle="--",
                                 label=f"baseline (trial {base.number}), not in the colour scale"))
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    ax.set_title(f"Parallel coordinates: {len(d.complete)} complete trials, coloured by {metric}", fontsize=10)
    note = f"Colour scale: {metric} of {source}, {c_lo:.4g} to {c_hi:.4g}."
    if base is not None and d.searched:
        note += (f" The baseline (trial {base.number}, {metric} = {base.values[0]:.4g}) is drawn black and dashed, "
                 "outside the colour scale.")
    d.notes["parallel"] = note
    return fig
