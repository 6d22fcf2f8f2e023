"""The report's plots: history, intermediate values, Pareto front, importances, slices; and which apply."""
from collections.abc import Callable
import re
from typing import TYPE_CHECKING, Any

import optuna

from paddle_autotune_plugins.report.importances import FEW_TRIALS, param_importances
from paddle_autotune_plugins.report.parallel_plot import plot_parallel
from paddle_autotune_plugins.report.plot_base import COLORS, PlotData, SkipPlot, add_legend, new_figure
from paddle_autotune_plugins.report.study_facts import fmt_value
from paddle_autotune_plugins.study import trial_queries as queries

if TYPE_CHECKING:
    from matplotlib.figure import Figure

S = optuna.trial.TrialState


def plot_history(d: PlotData) -> "Figure":
    """Each trial's value by trial number, the best so far, and a horizontal line at the baseline's value."""
    if not d.complete and not d.pruned:
        raise SkipPlot("No trial reported a value yet.")
    from matplotlib.ticker import MaxNLocator
    from matplotlib.transforms import blended_transform_factory

    n = len(d.metrics)
    fig = new_figure(8, 3.6 * n, layout="constrained")  # stacked axes (multi-objective) without overlaps
    for i, (metric, maximize) in enumerate(zip(d.metrics, d.maximize)):
        ax = fig.add_subplot(n, 1, i + 1)
        ax.scatter([t.number for t in d.complete], [t.values[i] for t in d.complete], color=COLORS["COMPLETE"],
                   zorder=3, label="complete")
        if not d.multi:
            ax.scatter([t.number for t in d.pruned if queries.last_value(t) is not None],
                       [queries.last_value(t) for t in d.pruned if queries.last_value(t) is not None],  # type: ignore[arg-type]  # None filtered out
                       facecolors="none",
                       edgecolors=COLORS["PRUNED"], zorder=3, label="pruned (last value)")
            complete = sorted(d.complete, key=lambda t: t.number)
            xs = [t.number for t in complete]
            ys = list(queries.best_so_far(complete, "maximize" if maximize else "minimize"))
            if xs:
                xs.append(max(t.number for t in d.trials))
                ys.append(ys[-1])
                # every trial here is COMPLETE, so no best so far is None
                ax.step(xs, ys, where="post", color=COLORS["best"], label="best so far")  # type: ignore[arg-type]
        if d.failed:  # failed trials have no value: ticks along the bottom edge show when they happened
            bottom = blended_transform_factory(ax.transData, ax.transAxes)
            ax.scatter([t.number for t in d.failed], [0.03] * len(d.failed), marker="x", color=COLORS["FAIL"],
                       transform=bottom, zorder=3, label="failed")
        if d.baseline is not None and d.baseline.state == S.COMPLETE:
            v = d.baseline.values[i]
            ax.axhline(v, color=COLORS["baseline"], linestyle="--", linewidth=1,
                       label=f"baseline (trial {d.baseline.number}) {v:.4g}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("trial")
        ax.set_ylabel(f"{metric} ({'higher' if maximize else 'lower'} is better)")
        ax.grid(alpha=0.3)
        add_legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: never over a point
    fig.suptitle("Optimization history")
    return fig


def plot_intermediate(d: PlotData) -> "Figure":
    """Every trial's evaluations step by step; pruned trials are dashed and end in an X where they were stopped."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    curves = [t for t in d.trials if t.intermediate_values]
    if not curves:
        raise SkipPlot("No trial reported intermediate values" +
                    (" (Optuna keeps none for multi-objective studies)." if d.multi else "."))
    fig = new_figure()
    ax = fig.add_subplot()
    special = {t.number: role for t, role in ((d.best, "best"), (d.baseline, "baseline")) if t is not None}
    # Ordinary trials first, so the baseline and the best are drawn on top of them.
    for t in sorted(curves, key=lambda t: t.number in special):
        steps = sorted(t.intermediate_values)
        values = [t.intermediate_values[s] for s in steps]
        role = special.get(t.number)
        color = COLORS[role] if role else COLORS[t.state.name]
        style = {"PRUNED": "--", "FAIL": ":"}.get(t.state.name, "-")
        width = 2.2 if role else 1.1
        ax.plot(steps, values, linestyle=style, color=color, linewidth=width, alpha=1.0 if role else 0.7,
                marker="o" if len(steps) == 1 else None, markersize=3)
        if t.state in (S.PRUNED, S.FAIL):
            ax.plot(steps[-1:], values[-1:], marker="X", markersize=8, color=color, linestyle="none")
    handles = [Line2D([], [], color=COLORS["COMPLETE"], label="complete")]
    if d.pruned:
        handles.append(Line2D([], [], color=COLORS["PRUNED"], linestyle="--", marker="X", label="pruned (X = stopped)"))
    if any(t.state == S.FAIL for t in curves):
        handles.append(Line2D([], [], color=COLORS["FAIL"], linestyle=":", marker="X", label="failed"))
    if d.baseline in curves:
        handles.append(Line2D([], [], color=COLORS["baseline"], linewidth=2.2,
                              label=f"baseline (trial {d.baseline.number})"))
    if d.best is not None and d.best is not d.baseline:
        handles.append(Line2D([], [], color=COLORS["best"], linewidth=2.2, label=f"best (trial {d.best.number})"))
    ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.85)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step (evaluation)")
    ax.set_ylabel(d.metrics[0])
    ax.set_title("Intermediate values")
    ax.grid(alpha=0.3)
    return fig


def plot_importances(d: PlotData) -> "Figure":
    """Horizontal bars: how much of the objective's variance each parameter explains (fANOVA)."""
    result, n = param_importances(d)
    fig = new_figure(8, 0.8 + sum(0.5 * len(r) + 0.8 for r in result.values()), layout="constrained")
    for i, (metric, imp) in enumerate(result.items()):
        ax = fig.add_subplot(len(result), 1, i + 1)
        names = list(imp)[::-1]  # largest at the top
        ax.barh([d.short.get(n, n) for n in names], [imp[n] for n in names], color=COLORS["COMPLETE"])
        for y, name in enumerate(names):
            ax.text(imp[name], y, f" {imp[name]:.2f}", va="center", fontsize=8)
        ax.set_xlim(0, max(1.0, max(imp.values()) * 1.15))
        ax.set_title(f"for {metric}", fontsize=10)
    ax.set_xlabel("importance (fANOVA, sums to 1 per objective)")
    few = f"; fewer than {FEW_TRIALS}: a rough guide" if n < FEW_TRIALS else ""
    fig.suptitle(f"Parameter importances over {n} complete trials{few}")
    d.alt["importances"] = "Parameter importances: " + "; ".join(
        (f"{metric}: " if d.multi else "") + ", ".join(f"{d.short.get(p, p)} {v:.2f}" for p, v in imp.items())
        for metric, imp in result.items())
    return fig


def plot_slice(d: PlotData, path: str) -> "Figure":
    """The objective against one parameter's sampled values: complete trials coloured by trial number, and
    pruned trials at their last evaluation (hollow orange triangles: stopped early, so not a final value)."""
    points = [(d.param_value(t, path), t) for t in d.complete]
    points = [(v, t) for v, t in points if v is not None]
    pruned = [] if d.multi else [(d.param_value(t, path), t) for t in d.pruned if queries.last_value(t) is not None]
    pruned = [(v, t) for v, t in pruned if v is not None]
    if not points and not pruned:
        raise SkipPlot(f"No complete or pruned trial has a value for {path}.")
    from matplotlib import colors

    fig = new_figure(5.2, 3.6)
    ax = fig.add_subplot()
    dist = d.dists.get(path)
    log = False
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        choices = list(dist.choices)

        def x_of(v: Any) -> Any:
            return choices.index(v)
        ax.set_xticks(range(len(choices)))
        ax.set_xticklabels([fmt_value(c, 12) for c in choices], fontsize=8)
        ax.set_xlim(-0.5, len(choices) - 0.5)
    else:
        def x_of(v: Any) -> Any:
            return v
        log = bool(getattr(dist, "log", False))
        if log:
            ax.set_xscale("log")
    if pruned:
        ax.scatter([x_of(v) for v, _ in pruned], [queries.last_value(t) for _, t in pruned],  # type: ignore[arg-type]  # None filtered out
                   marker="v", s=36,
                   facecolors="none", edgecolors=COLORS["PRUNED"], linewidths=1.2, zorder=2,
                   label="pruned (last value before it was stopped)")
    if points:
        numbers = [t.number for _, t in points]
        norm = colors.Normalize(min(numbers), max(max(numbers), min(numbers) + 1))
        # Blues without its near-white start, so that early trials stay visible on white
        cmap = colors.LinearSegmentedColormap.from_list("trials", ["#9ecae1", "#08306b"])
        sc = ax.scatter([x_of(v) for v, _ in points], [t.values[0] for _, t in points], c=numbers, cmap=cmap,
                        norm=norm, edgecolors="#333333", linewidths=0.5, zorder=3, label="complete")
        fig.colorbar(sc, ax=ax, label="trial (complete)")
    ax.margins(0.1)  # room for the stars at the edges
    for v, t in points:
        if t is d.baseline:
            ax.scatter([x_of(v)], [t.values[0]], marker="*", s=160, color=COLORS["baseline"], zorder=4,
                       label=f"baseline (trial {t.number})")
        elif t is d.best:
            ax.scatter([x_of(v)], [t.values[0]], marker="*", s=160, color=COLORS["best"], zorder=4,
                       label=f"best (trial {t.number})")
    ax.set_xlabel((path if len(path) <= 40 else d.short[path]) + (" (log scale)" if log else ""))
    ax.set_ylabel(d.metrics[0])
    ax.set_title(f"Slice: {d.short[path]}", fontsize=10)
    ax.grid(alpha=0.3)
    add_legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)  # below: never over a point
    d.alt[_slice_stem(d, path)] = (
        f"Slice: {d.short[path]}: {len(points)} complete trials"
        + (f", {len(pruned)} pruned trials at their last value" if pruned else ""))
    return fig


def plot_pareto(d: PlotData) -> "Figure":
    """Multi-objective studies: the complete trials in the plane of the first two objectives, the Pareto front
    joined."""
    if len(d.complete) < 1:
        raise SkipPlot("The Pareto front needs at least one complete trial.")
    front = [t for t in d.study.best_trials if not t.user_attrs.get("interrupted")]
    fig = new_figure(6.5, 5)
    ax = fig.add_subplot()
    others = [t for t in d.complete if t not in front]
    ax.scatter([t.values[0] for t in others], [t.values[1] for t in others], color="#9ecae1",
               edgecolors="#555555", linewidths=0.5, label="dominated", zorder=2)
    front = sorted(front, key=lambda t: t.values[0])
    ax.plot([t.values[0] for t in front], [t.values[1] for t in front], marker="o", color=COLORS["FAIL"],
            label=f"Pareto front ({len(front)} trials)", zorder=3)
    for t in front:
        ax.annotate(str(t.number), (t.values[0], t.values[1]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if d.baseline is not None and d.baseline.state == S.COMPLETE:
        ax.scatter([d.baseline.values[0]], [d.baseline.values[1]], marker="*", s=180, color=COLORS["baseline"],
                   zorder=4, label=f"baseline (trial {d.baseline.number})")
    word = {True: "higher is better", False: "lower is better"}
    ax.set_xlabel(f"{d.metrics[0]} ({word[d.maximize[0]]})")
    ax.set_ylabel(f"{d.metrics[1]} ({word[d.maximize[1]]})")
    title = "Pareto front" + (f" (first two of {len(d.metrics)} objectives)" if len(d.metrics) > 2 else "")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    add_legend(ax, loc="best")
    return fig


def _slice_stem(d: PlotData, path: str) -> str:
    return "slice_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", d.short[path])


def report_plots(d: PlotData) -> list[tuple[str, str, Callable[[PlotData], "Figure"]]]:
    """(file stem, title, draw) for every plot that may apply, in report order."""
    plots: list[tuple[str, str, Callable[[PlotData], "Figure"]]] = [("history", "Optimization history", plot_history),
             ("intermediate", "Intermediate values", plot_intermediate)]
    if d.multi:
        plots.append(("pareto", "Pareto front", plot_pareto))
    plots += [("importances", "Parameter importances", plot_importances),
              ("parallel", "Parallel coordinates", plot_parallel)]
    for p in d.paths:
        stem = _slice_stem(d, p)
        # (the ignore: mypy infers no type for a lambda with a default argument)
        plots.append((stem, f"Slice: {d.short[p]}", lambda d, p=p: plot_slice(d, p)))  # type: ignore[misc]
    return plots
