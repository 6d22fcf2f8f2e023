"""What every plot of the report shares: the study's data collected once (PlotData), the colours, the figure.

The plots are our own matplotlib code (Agg canvas, no pyplot, so no global backend is switched in the
caller's process) rather than optuna.visualization.matplotlib, whose functions are experimental and warn.
"""
import io
from typing import TYPE_CHECKING, Any, Literal, Optional

import optuna

from paddle_autotune_plugins.report.study_facts import maximizes, metric_names, short_names, tuned_params

if TYPE_CHECKING:  # matplotlib is imported when a plot is drawn
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

S = optuna.trial.TrialState


# One colour per outcome, the same in every plot.
COLORS = {"COMPLETE": "#1f77b4", "PRUNED": "#ff7f0e", "FAIL": "#d62728", "baseline": "#222222", "best": "#2ca02c"}


class SkipPlot(Exception):
    """A plot that does not apply to this study; the message is shown in its place."""


class PlotData:
    """What the plots need, collected once. Interrupted trials (Ctrl-C, re-queued) are left out."""

    def __init__(self, study: optuna.Study) -> None:
        self.study = study
        self.maximize = maximizes(study)
        self.metrics = metric_names(study)
        self.multi = len(study.directions) > 1
        self.paths = tuned_params(study)
        self.short = short_names(self.paths)
        self.trials = [t for t in study.get_trials(deepcopy=False)
                       if t.state in (S.COMPLETE, S.PRUNED, S.FAIL) and not t.user_attrs.get("interrupted")]
        self.complete = [t for t in self.trials if t.state == S.COMPLETE]
        self.pruned = [t for t in self.trials if t.state == S.PRUNED]
        self.failed = [t for t in self.trials if t.state == S.FAIL]
        self.baseline = next((t for t in self.trials if t.user_attrs.get("baseline")), None)
        # The sampled trials: the baseline is the user's config, which may lie outside the space (colour scales)
        self.searched = [t for t in self.complete if t is not self.baseline]
        self.notes: dict[str, str] = {}  # plot stem -> text shown under the figure (what it is computed over, caveats)
        self.alt: dict[str, str] = {}  # plot stem -> the figure's content in words (the <img> alt text)
        # study.best_trial is a copy: keep our own object so that "t is d.best" holds in the plots
        best = None if self.multi or not self.complete else study.best_trial.number
        self.best = next((t for t in self.complete if t.number == best), None)
        # One distribution per parameter, from any trial that sampled it: axes follow the space (log, choices).
        self.dists: dict[str, optuna.distributions.BaseDistribution] = {}
        for t in self.trials:
            for name, dist in t.distributions.items():
                self.dists.setdefault(name, dist)

    def param_value(self, t: optuna.trial.FrozenTrial, path: str) -> Any:
        """The sampled value; for the baseline, the config's value when it lies outside the space."""
        if path in t.params:
            return t.params[path]
        v = t.user_attrs.get("values", {}).get(path)
        numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
        if numeric and not isinstance(self.dists.get(path), optuna.distributions.CategoricalDistribution):
            return v
        return None


def new_figure(width: float = 8.0, height: float = 4.2,
               layout: Optional[Literal["constrained", "compressed", "tight"]] = None) -> "Figure":
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: "Figure") -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def add_legend(ax: "Axes", **kw: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, framealpha=0.85, **kw)
