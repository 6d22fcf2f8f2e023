"""Reading a study back: the trials table, a self-contained HTML report with plots, VisualDL HParams.

Works on any study the coordinator wrote (finished, interrupted or still running)::

    from paddle_autotune_plugins.report import study_report
    study = study_report.open_study("tune_resnet18")            # tune_resnet18/study.db, study 'autotune'
    print("\\n".join(study_report.trials_table(study)))          # best first
    study_report.write_report(study, "tune_resnet18")            # tune_resnet18/report.html + report/*.png
    study_report.log_to_visualdl(study, "tune_resnet18/vdl")     # then: visualdl --logdir tune_resnet18/vdl

The storage is plain Optuna: ``paddle-autotune dashboard --out tune_resnet18`` opens it in optuna-dashboard.

The plots are our own matplotlib code (Agg canvas, no pyplot, so no global backend is switched in the
caller's process) rather than optuna.visualization.matplotlib, whose functions are experimental and warn.
"""
import base64
import html
import io
import math
import pathlib
import re
import shlex
import shutil

import optuna

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.optuna_glue.storages import redact
from paddle_autotune_plugins.output.trials_csv import drawn_from, duration_s, returned_metrics
from paddle_autotune_plugins.study import trial_queries as queries
from paddle_autotune_plugins.trials.knobs import Verdict

S = optuna.trial.TrialState
DEFAULT_STUDY = "autotune"
# One colour per outcome, the same in every plot.
COLORS = {"COMPLETE": "#1f77b4", "PRUNED": "#ff7f0e", "FAIL": "#d62728", "baseline": "#222222", "best": "#2ca02c"}


# --- opening ---------------------------------------------------------------------------------------
def open_study(out, study=None, storage=None, label=None):
    """The Optuna study a run left in ``out`` (or in ``storage``, for --storage runs).

    ``study`` is the --study name; without it 'autotune', or the only study the storage holds. ``label``:
    the storage's URL, for messages (``storage`` may be an opened storage object).
    """
    if storage is None:
        db = pathlib.Path(out) / "study.db"
        if not db.is_file():  # checked first: opening a SQLite URL would create an empty file
            raise UsageError(f"no study in {out}: {db} does not exist; pass the --out folder of a tuning run "
                             f"(or --storage URL for a study kept elsewhere)")
        storage = f"sqlite:///{db.resolve()}"
    shown = redact(label or (storage if isinstance(storage, str) else "the --storage"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        names = optuna.get_all_study_names(storage)
    except Exception as e:  # malformed URL, unreachable server, not a database
        raise UsageError(f"cannot read the study storage {shown}: {redact(str(e).splitlines()[0])}") from None
    if study is None:
        study = DEFAULT_STUDY if DEFAULT_STUDY in names or len(names) != 1 else names[0]
    if study not in names:
        held = f"it holds {', '.join(sorted(names))}: pass --study NAME" if names else "it holds no study yet"
        raise UsageError(f"no study '{study}' in {shown}; {held}")
    return optuna.load_study(study_name=study, storage=storage)


# --- what the study holds ----------------------------------------------------------------------------
def tuned_params(study):
    """Dotted paths of the tuned parameters, in the order of the space."""
    names = list(study.user_attrs.get("params") or [])
    for t in study.get_trials(deepcopy=False):
        names += [n for n in list(t.params) + list(t.user_attrs.get("values", {})) if n not in names]
    return names


def short_names(paths):
    """The shortest dotted suffix that tells each path apart.

    >>> short_names(["Optimizer.lr.learning_rate", "Optimizer.regularizer.coeff", "Loss.Train.0.CELoss.epsilon"])
    {'Optimizer.lr.learning_rate': 'learning_rate', 'Optimizer.regularizer.coeff': 'coeff', \
'Loss.Train.0.CELoss.epsilon': 'epsilon'}
    """
    parts = {p: p.split(".") for p in paths}
    depth = {p: 2 if len(s) > 1 and s[-1].isdigit() else 1 for p, s in parts.items()}  # "values.0", not "0"
    while True:
        short = {p: ".".join(parts[p][-depth[p]:]) for p in paths}
        clashes = [p for p in paths if list(short.values()).count(short[p]) > 1 and depth[p] < len(parts[p])]
        if not clashes:
            return short
        for p in clashes:
            depth[p] += 1


def _directions(study):
    return [d == optuna.study.StudyDirection.MAXIMIZE for d in study.directions]  # True = maximize


def _metric_names(study):
    if study.metric_names:
        return list(study.metric_names)
    if len(study.directions) == 1:
        return [study.user_attrs.get("metric", "value")]
    return [f"objective {i}" for i in range(len(study.directions))]


def _pareto_numbers(study):
    try:
        return {t.number for t in study.best_trials}
    except ValueError:
        return set()


def ordered_trials(study):
    """Best first: COMPLETE by value in the study's direction (Pareto front first when multi-objective),
    then PRUNED by their last value, then FAIL, then RUNNING; queued (WAITING) trials are not trials yet."""
    direction = queries.directions(study)[0]
    pareto = _pareto_numbers(study) if len(study.directions) > 1 else set()
    trials = study.get_trials(deepcopy=False)
    complete = sorted((t for t in trials if t.state == S.COMPLETE),
                      key=lambda t: (t.number not in pareto, *queries.rank(t.values[0], direction), t.number))
    pruned = sorted((t for t in trials if t.state == S.PRUNED),
                    key=lambda t: (*queries.rank(queries.last_value(t), direction), t.number))
    rest = [t for state in (S.FAIL, S.RUNNING) for t in trials if t.state == state]
    return complete + pruned + rest


# --- the table ---------------------------------------------------------------------------------------
def _fmt_value(v, width=18):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    text = str(v)
    return text if len(text) <= width else text[:width - 3] + "..."


def _fmt_duration(seconds):
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def trials_table(study, reason_width=56):
    """A fixed-width table of the trials, best first, one line per trial; ``*`` marks the baseline.

    Example (``paddle-autotune show`` prints this)::

        print("\\n".join(trials_table(open_study("tune_resnet18"))))
    """
    metrics = _metric_names(study)
    dirs = ", ".join(f"{'maximize' if m else 'minimize'} {name}" for m, name in zip(_directions(study), metrics))
    trials = ordered_trials(study)
    has_baseline = any(t.user_attrs.get("baseline") for t in trials)  # a Python API study may have none
    lines = [f"Study '{study.study_name}': {dirs}; {len(trials)} trials, best first."
             + (" * = baseline (your config as given)" if has_baseline else "")]
    paths = tuned_params(study)
    short = short_names(paths)
    legend = [f"  {short[p]} = {p}" for p in paths if short[p] != p]
    if legend:
        lines += ["Parameters:"] + legend
    if not trials:
        return lines + ["(no trial has started yet)"]

    # the other numbers the trials returned (Python API dicts), beside the objective in the value column
    others = [m for m in returned_metrics(trials) if m not in metrics]
    head = ["#", "state", "value", "duration", "drawn from", "reason", "knobs"] + [short[p] for p in paths] + others
    rows = []
    for t in trials:
        if t.state == S.COMPLETE:
            value = ", ".join(f"{v:.6g}" for v in t.values)
        elif t.state == S.PRUNED and queries.last_value(t) is not None:
            value = f"{queries.last_value(t):.6g}"
        else:
            value = "-"
        reason = t.user_attrs.get("reason", "")
        if len(reason) > reason_width:
            reason = reason[:reason_width - 3] + "..."
        used = t.user_attrs.get("values", t.params)
        number = f"{t.number}*" if t.user_attrs.get("baseline") else f"{t.number} "
        rows.append([number, t.state.name, value, _fmt_duration(duration_s(t)), drawn_from(t), reason, _knob_cell(t)]
                    + [_fmt_value(used.get(p)) for p in paths]
                    + [_fmt_value(t.user_attrs.get("metrics", {}).get(m)) for m in others])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    right = {0, 2, 3}  # numbers line up on the right

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines.append(line(head))
    lines.append(line(["-" * w for w in widths]))
    return lines + [line(r) for r in rows] + knob_mismatch_lines(trials)


def _knob_cell(t):
    """ok / MISMATCH / - (not read): whether the trainer used the values the trial was given (knobs.py)."""
    verdict = Verdict.from_attr(t.user_attrs.get("knobs"))
    if verdict is None or not verdict.reported:
        return "-"
    return "ok" if verdict.acted() else "MISMATCH"


def knob_mismatch_lines(trials):
    bad = [(t, v) for t in trials if (v := Verdict.from_attr(t.user_attrs.get("knobs"))) and not v.acted()]
    if not bad:
        return []
    return [f"WARNING: {len(bad)} trial(s) trained with other values than they were given (a tuned key that the "
            f"trainer does not read):"] + [f"  trial {t.number}: {'; '.join(v.mismatches)}"
                                           for t, v in sorted(bad, key=lambda tv: tv[0].number)[:5]]


# --- the HTML report ---------------------------------------------------------------------------------
class _Skip(Exception):
    """A plot that does not apply to this study; the message is shown in its place."""


class _Data:
    """What the plots need, collected once. Interrupted trials (Ctrl-C, re-queued) are left out."""

    def __init__(self, study):
        self.study = study
        self.maximize = _directions(study)
        self.metrics = _metric_names(study)
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
        self.notes = {}  # plot stem -> text shown under the figure (what it is computed over, caveats)
        self.alt = {}  # plot stem -> the figure's content in words (the <img> alt text)
        # study.best_trial is a copy: keep our own object so that "t is d.best" holds in the plots
        best = None if self.multi or not self.complete else study.best_trial.number
        self.best = next((t for t in self.complete if t.number == best), None)
        # One distribution per parameter, from any trial that sampled it: axes follow the space (log, choices).
        self.dists = {}
        for t in self.trials:
            for name, dist in t.distributions.items():
                self.dists.setdefault(name, dist)

    def param_value(self, t, path):
        """The sampled value; for the baseline, the config's value when it lies outside the space."""
        if path in t.params:
            return t.params[path]
        v = t.user_attrs.get("values", {}).get(path)
        numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
        if numeric and not isinstance(self.dists.get(path), optuna.distributions.CategoricalDistribution):
            return v
        return None


def _figure(width=8.0, height=4.2, layout=None):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _legend(ax, **kw):
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, framealpha=0.85, **kw)


def plot_history(d):
    """Each trial's value by trial number, the best so far, and a horizontal line at the baseline's value."""
    if not d.complete and not d.pruned:
        raise _Skip("No trial reported a value yet.")
    from matplotlib.ticker import MaxNLocator
    from matplotlib.transforms import blended_transform_factory

    n = len(d.metrics)
    fig = _figure(8, 3.6 * n, layout="constrained")  # stacked axes (multi-objective) without overlaps
    for i, (metric, maximize) in enumerate(zip(d.metrics, d.maximize)):
        ax = fig.add_subplot(n, 1, i + 1)
        ax.scatter([t.number for t in d.complete], [t.values[i] for t in d.complete], color=COLORS["COMPLETE"],
                   zorder=3, label="complete")
        if not d.multi:
            ax.scatter([t.number for t in d.pruned if queries.last_value(t) is not None],
                       [queries.last_value(t) for t in d.pruned if queries.last_value(t) is not None], facecolors="none",
                       edgecolors=COLORS["PRUNED"], zorder=3, label="pruned (last value)")
            complete = sorted(d.complete, key=lambda t: t.number)
            xs = [t.number for t in complete]
            ys = list(queries.best_so_far(complete, "maximize" if maximize else "minimize"))
            if xs:
                xs.append(max(t.number for t in d.trials))
                ys.append(ys[-1])
                ax.step(xs, ys, where="post", color=COLORS["best"], label="best so far")
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
        _legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: never over a point
    fig.suptitle("Optimization history")
    return fig


def plot_intermediate(d):
    """Every trial's evaluations step by step; pruned trials are dashed and end in an X where they were stopped."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    curves = [t for t in d.trials if t.intermediate_values]
    if not curves:
        raise _Skip("No trial reported intermediate values" +
                    (" (Optuna keeps none for multi-objective studies)." if d.multi else "."))
    fig = _figure()
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


EVALUATOR_NAME = "fANOVA (Optuna's FanovaImportanceEvaluator, seed 0)"  # param_importances; named in its note
FEW_TRIALS = 10  # importances from fewer complete trials than this carry a caveat in the report


def _why_baseline_lacks(d, path):
    """Why the baseline (trial 0) has no sampled value for ``path``: it runs the config as given."""
    used = d.baseline.user_attrs.get("values", {})
    if used.get(path) is None:
        return f"the config's value of {d.short[path]} is not known"
    return f"the config's {d.short[path]} = {_fmt_value(used[path], 24)} lies outside the search space"


def importance_inputs(d):
    """What the importances are computed over: (params kept, {param left out: why}, trials used,
    {trial number: why it is left out}).

    Optuna on its own uses only the parameters that every complete trial sampled, so a baseline whose
    learning rate lies outside the space would drop the learning rate. Here every tuned parameter is kept and
    the trials lacking one are left out instead; a parameter only a minority of the trials sampled
    (conditional, or added to the space on a resume) is left out rather than most of the trials.
    """
    left_params = {}
    for p in d.paths:
        if p not in d.dists:
            left_params[p] = "no trial sampled it (never in the search space of a trial)"
        elif not any(p in t.params for t in d.complete):
            left_params[p] = "no complete trial sampled it"
    kept = [p for p in d.paths if p not in left_params]
    cover = {p: sum(p in t.params for t in d.complete) for p in kept}

    def having(ps):
        return [t for t in d.complete if all(p in t.params for p in ps)]

    need = max(2, math.ceil(len([t for t in d.complete if any(p in t.params for p in kept)]) / 2))
    while len(kept) > 1 and len(having(kept)) < need:
        p = min(reversed(kept), key=lambda p: cover[p])  # the least sampled; the later one on a tie
        kept.remove(p)
        left_params[p] = (f"only {cover[p]} of {len(d.complete)} complete trials sampled it (a conditional "
                          f"parameter, or one added to the space later); keeping it would leave too few trials")
    used = having(kept)
    left_trials = {}
    for t in d.complete:
        if t in used:
            continue
        lacks = [p for p in kept if p not in t.params]
        if t is d.baseline:
            left_trials[t.number] = "the baseline: " + "; ".join(_why_baseline_lacks(d, p) for p in lacks)
        else:
            left_trials[t.number] = "it has no value for " + ", ".join(d.short[p] for p in lacks)
    return kept, left_params, used, left_trials


def _importance_note(d, kept, left_params, used, left_trials):
    parts = [f"Computed over {len(used)} complete trial{'s' if len(used) != 1 else ''}"
             + (f" (of {len(d.complete)})" if len(used) != len(d.complete) else "") + "."]
    if used and len(used) < FEW_TRIALS:
        parts.append(f"Few trials: with fewer than {FEW_TRIALS} complete trials these importances are a rough "
                     "guide only; a parameter may look unimportant because it has not been explored yet.")
    parts.append(f"Evaluator: {EVALUATOR_NAME}. paddle-autotune dashboard computes its importances with PED-ANOVA, "
                 "so the two may rank the parameters differently, the more so the fewer the trials.")
    if left_trials:
        parts.append("Left out: " + "; ".join(f"trial {n} ({why})" for n, why in sorted(left_trials.items())) + ".")
    if left_params:
        parts.append("Parameters left out of the importances: " + "; ".join(
            f"{p}: {why}" for p, why in left_params.items()) + ".")
    return " ".join(parts)


def param_importances(d):
    """({metric: {path: importance}}, number of trials): Optuna's fANOVA importances, most important first, over
    the complete trials that sampled every kept parameter (importance_inputs); the note under the figure says
    which trials and parameters were left out, and warns under FEW_TRIALS trials."""
    kept, left_params, used, left_trials = importance_inputs(d)
    note = _importance_note(d, kept, left_params, used, left_trials)
    if len(d.complete) < 2:
        raise _Skip(f"Parameter importances need at least 2 complete trials; this study has {len(d.complete)}.")
    if len(kept) < 2:
        raise _Skip(f"Parameter importances need at least 2 tuned parameters; this study tunes {len(kept)} that "
                    "complete trials sampled." + (" " + note if left_params else ""))
    if len(used) < 2:
        raise _Skip("Parameter importances need at least 2 complete trials that sampled every parameter. " + note)
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)  # seeded: the same study gives the same plot
    result = {}
    for i, metric in enumerate(d.metrics):
        try:  # params=kept: Optuna then uses the complete trials that have all of them (not their intersection)
            result[metric] = optuna.importance.get_param_importances(
                d.study, evaluator=evaluator, params=kept, target=(lambda t, i=i: t.values[i]) if d.multi else None)
        except (ValueError, RuntimeError) as e:  # e.g. a parameter's range changed between runs of the study
            raise _Skip(f"Optuna could not compute parameter importances: {e}") from None
    if not any(any(r.values()) for r in result.values()):
        raise _Skip("The complete trials do not tell the parameters apart (every importance is 0). " + note)
    d.notes["importances"] = note
    return result, len(used)


def plot_importances(d):
    """Horizontal bars: how much of the objective's variance each parameter explains (fANOVA)."""
    result, n = param_importances(d)
    fig = _figure(8, 0.8 + sum(0.5 * len(r) + 0.8 for r in result.values()), layout="constrained")
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


def _tick_label(v):
    """A tick's text: at most 4 significant digits (0.30000000000000004 -> 0.3, 0.000125 -> 0.000125, 1e-05)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return _fmt_value(v, 12)
    if float(v).is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.4g}"


def _nice_ticks(lo, hi, log=False, integer=False):
    """Round tick values between lo and hi (decades on a log axis), at least two of them."""
    from matplotlib.ticker import LogLocator, MaxNLocator

    if not hi > lo:
        return [lo]
    slack = (hi - lo) * 1e-9

    def inside(ticks):
        return [float(v) for v in ticks if lo - slack <= v <= hi + slack]

    if log:
        ticks = inside(LogLocator(base=10, numticks=6).tick_values(lo, hi))
        if len(ticks) < 2:  # less than two decades: 1, 2, 5 times the powers of ten
            ticks = inside(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12).tick_values(lo, hi))
    else:
        ticks = inside(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10], integer=integer).tick_values(lo, hi))
    return ticks if len(ticks) >= 2 else [lo, hi]


def _axis(d, path, values):
    """(to_unit, ticks, search range): maps a parameter's values to 0..1 on its axis, the labelled tick
    positions, and the (low, high) of the space in axis units (None for choices)."""
    dist = d.dists.get(path)
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        choices = list(dist.choices)
        pos = {c: (i / (len(choices) - 1) if len(choices) > 1 else 0.5) for i, c in enumerate(choices)}
        return (lambda v: pos.get(v, math.nan)), [(pos[c], _fmt_value(c, 12)) for c in choices], None
    log = bool(getattr(dist, "log", False))
    known = [v for v in values if v is not None] + ([dist.low, dist.high] if dist is not None else [])
    if log:
        known = [v for v in known if v > 0]
    if not known:
        return (lambda v: math.nan), [], None
    f = math.log10 if log else float
    lo, hi = f(min(known)), f(max(known))
    span = (hi - lo) or 1.0

    def to_unit(v):
        return math.nan if v is None or (log and v <= 0) else (f(v) - lo) / span

    integer = isinstance(dist, optuna.distributions.IntDistribution)
    ticks = [(to_unit(v), _tick_label(v)) for v in _nice_ticks(min(known), max(known), log, integer)]
    space = (to_unit(dist.low), to_unit(dist.high)) if dist is not None else None
    return to_unit, ticks, space


def plot_parallel(d):
    """One polyline per complete trial across every parameter axis and the objective, coloured by the objective.

    The colour scale spans the searched trials only: the baseline (the config as given) is drawn black and
    dashed, so that a baseline far better or worse than the rest does not wash the searched trials into one
    colour. A thick segment on each numeric axis marks the search range (the baseline may lie outside it)."""
    if not d.complete:
        raise _Skip("Parallel coordinates need at least one complete trial.")
    paths = [p for p in d.paths if any(d.param_value(t, p) is not None for t in d.complete)]
    if not paths:
        raise _Skip("No tuned parameter has a value in the complete trials.")
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

    fig = _figure(max(7.0, 1.6 * len(axes) + 1.5), 4.6)
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


def plot_slice(d, path):
    """The objective against one parameter's sampled values: complete trials coloured by trial number, and
    pruned trials at their last evaluation (hollow orange triangles: stopped early, so not a final value)."""
    points = [(d.param_value(t, path), t) for t in d.complete]
    points = [(v, t) for v, t in points if v is not None]
    pruned = [] if d.multi else [(d.param_value(t, path), t) for t in d.pruned if queries.last_value(t) is not None]
    pruned = [(v, t) for v, t in pruned if v is not None]
    if not points and not pruned:
        raise _Skip(f"No complete or pruned trial has a value for {path}.")
    from matplotlib import colors

    fig = _figure(5.2, 3.6)
    ax = fig.add_subplot()
    dist = d.dists.get(path)
    log = False
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        choices = list(dist.choices)

        def x_of(v):
            return choices.index(v)
        ax.set_xticks(range(len(choices)))
        ax.set_xticklabels([_fmt_value(c, 12) for c in choices], fontsize=8)
        ax.set_xlim(-0.5, len(choices) - 0.5)
    else:
        def x_of(v):
            return v
        log = bool(getattr(dist, "log", False))
        if log:
            ax.set_xscale("log")
    if pruned:
        ax.scatter([x_of(v) for v, _ in pruned], [queries.last_value(t) for _, t in pruned], marker="v", s=36,
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
    _legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)  # below: never over a point
    d.alt[_slice_stem(d, path)] = (
        f"Slice: {d.short[path]}: {len(points)} complete trials"
        + (f", {len(pruned)} pruned trials at their last value" if pruned else ""))
    return fig


def plot_pareto(d):
    """Multi-objective studies: the complete trials in the plane of the first two objectives, the Pareto front
    joined."""
    if len(d.complete) < 1:
        raise _Skip("The Pareto front needs at least one complete trial.")
    front = [t for t in d.study.best_trials if not t.user_attrs.get("interrupted")]
    fig = _figure(6.5, 5)
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
    _legend(ax, loc="best")
    return fig


def _slice_stem(d, path):
    return "slice_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", d.short[path])


def _plots(d):
    """(file stem, title, draw) for every plot that may apply, in report order."""
    plots = [("history", "Optimization history", plot_history),
             ("intermediate", "Intermediate values", plot_intermediate)]
    if d.multi:
        plots.append(("pareto", "Pareto front", plot_pareto))
    plots += [("importances", "Parameter importances", plot_importances),
              ("parallel", "Parallel coordinates", plot_parallel)]
    for p in d.paths:
        stem = _slice_stem(d, p)
        plots.append((stem, f"Slice: {d.short[p]}", lambda d, p=p: plot_slice(d, p)))
    return plots


def _summary_html(d):
    e = html.escape
    out = []
    counts = queries.by_state(d.study.get_trials(deepcopy=False))
    interrupted = sum(bool(t.user_attrs.get("interrupted")) for t in d.study.get_trials(deepcopy=False))
    directions = ", ".join(f"{'maximize' if m else 'minimize'} <b>{e(n)}</b>" for m, n in zip(d.maximize, d.metrics))
    suite = d.study.user_attrs.get("suite")
    out.append(f"<p>Study <b>{e(d.study.study_name)}</b>{f' ({e(suite)})' if suite else ''}: {directions}. "
               f"{counts[S.COMPLETE]} complete, {counts[S.PRUNED]} pruned, "
               f"{counts[S.FAIL] - interrupted} failed"
               + (f", {interrupted} interrupted and re-queued" if interrupted else "")
               + (f", {counts[S.RUNNING]} running" if counts[S.RUNNING] else "") + ".</p>")
    mismatches = knob_mismatch_lines(d.study.get_trials(deepcopy=False))
    if mismatches:
        out.append("<p class=warn><b>" + e(mismatches[0]) + "</b><br>" + "<br>".join(e(m) for m in mismatches[1:]) + "</p>")
    if not d.complete:
        out.append("<p>No trial completed: see the reason column below and the trial_*/train.log files.</p>")
        return "\n".join(out)
    rows = []
    base = d.baseline if d.baseline is not None and d.baseline.state == S.COMPLETE else None
    if d.multi:
        front = sorted(d.study.best_trials, key=lambda t: t.number)
        out.append(f"<p>Pareto front: trials {', '.join(str(t.number) for t in front)}.</p>")
        shown = ([base] if base is not None else []) + [t for t in front if t is not base]
    else:
        best = d.best
        if base is not None:
            diff = best.value - base.value
            better = diff > 0 if d.maximize[0] else diff < 0
            pct = f" ({diff / abs(base.value) * 100:+.1f}%)" if base.value else ""
            verdict = "better than" if better else ("the same as" if diff == 0 else "worse than")
            out.append(f"<p class=big>Best <b>{e(d.metrics[0])} = {best.value:.6g}</b> (trial {best.number}) vs "
                       f"baseline {base.value:.6g} (trial {base.number}): <b>{diff:+.6g}{pct}</b>, {verdict} "
                       f"the baseline.</p>")
        else:
            out.append(f"<p class=big>Best <b>{e(d.metrics[0])} = {best.value:.6g}</b> (trial {best.number}); "
                       f"the baseline did not complete.</p>")
        shown = ([base] if base is not None and base is not best else []) + [best]
    head = "".join(f"<th>{'baseline' if t is base else ('best' if t is d.best else 'Pareto')} "
                   f"(trial {t.number})</th>" for t in shown)
    for p in d.paths:
        cells = "".join(f"<td>{e(_fmt_value(t.user_attrs.get('values', t.params).get(p), 40))}</td>" for t in shown)
        rows.append(f"<tr><td><code>{e(p)}</code></td>{cells}</tr>")
    for i, m in enumerate(d.metrics):
        cells = "".join(f"<td><b>{t.values[i]:.6g}</b></td>" for t in shown)
        rows.append(f"<tr><td>{e(m)}</td>{cells}</tr>")
    out.append(f"<table><tr><th>parameter</th>{head}</tr>{''.join(rows)}</table>")
    return "\n".join(out)


_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222;
padding:0 16px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:28px}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f3f3f3} pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:8px;font-size:12px;overflow-x:auto}
img{max-width:100%;height:auto} .note{color:#666;font-style:italic} .big{font-size:15px}
.caption{font-size:13px;color:#444;margin-top:4px}
.warn{background:#fff3cd;border:1px solid #e0b000;padding:8px}
.grid{display:flex;flex-wrap:wrap;gap:12px} .grid figure{margin:0;flex:1 1 480px;max-width:580px}
figure{margin:0} code{font-size:12px}
"""


def write_report(study, out_dir):
    """Write ``out_dir/report.html`` (self-contained: PNGs inline as data URIs, no script, no network) and
    the same PNGs as ``out_dir/report/*.png``. Returns the path of report.html.

    Example::

        write_report(open_study("tune_resnet18"), "tune_resnet18")   # open tune_resnet18/report.html
    """
    out_dir = pathlib.Path(out_dir)
    img_dir = out_dir / "report"
    img_dir.mkdir(parents=True, exist_ok=True)
    d = _Data(study)
    sections, slices = [], []
    for stem, title, draw in _plots(d):
        try:
            png = _png(draw(d))
        except _Skip as skip:
            part = (title, None, str(skip), title)
        else:
            (img_dir / f"{stem}.png").write_bytes(png)
            part = (title, f"data:image/png;base64,{base64.b64encode(png).decode('ascii')}",
                    d.notes.get(stem), d.alt.get(stem, title))
        (slices if stem.startswith("slice_") else sections).append(part)

    e = html.escape
    db = out_dir / "study.db"
    # the dashboard command the setup installs, on this folder's study file or on the study's storage
    where = (f"--out {shlex.quote(str(out_dir))}" if db.is_file()
             else f"--storage STORAGE_URL --study {shlex.quote(study.study_name)}")
    body = [f"<h1>paddle-autotune report: {e(study.study_name)}</h1>",
            "<h2>Summary</h2>", _summary_html(d),
            "<h2>Trials (best first)</h2>", f"<pre>{e(chr(10).join(trials_table(study)))}</pre>"]
    for title, uri, note, alt in sections:
        body.append(f"<h2>{e(title)}</h2>")
        if uri:
            body.append(f'<img id="{e(title.lower().replace(" ", "-"))}" src="{uri}" alt="{e(alt)}">')
            if note:
                body.append(f"<p class=caption>{e(note)}</p>")
        else:
            body.append(f"<p class=note>{e(note)}</p>")
    if slices:
        body.append("<h2>Slice plots (objective against each parameter)</h2><div class=grid>")
        for title, uri, note, alt in slices:
            body.append(f'<figure><img src="{uri}" alt="{e(alt)}"></figure>' if uri
                        else f"<figure><p class=note>{e(title)}: {e(note)}</p></figure>")
        body.append("</div>")
    body.append("<h2>Explore further</h2>"
                f"<p>Interactive views of the same study, live while it runs: <code>paddle-autotune dashboard "
                f"{e(where)}</code>. VisualDL HParams: "
                "<code>paddle_autotune_plugins.report.study_report.log_to_visualdl(study, LOGDIR)</code>, then "
                "<code>visualdl --logdir LOGDIR</code>. The PNGs are also in <code>report/</code>.</p>")
    page = ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<title>autotune report: {e(study.study_name)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)  # a browser that reloads never sees half a page
    return path


# --- VisualDL ----------------------------------------------------------------------------------------
def _hparam(v):
    """VisualDL accepts str, int and float hyperparameter values only."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return str(v)
    return v


def log_to_visualdl(study, logdir):
    """One VisualDL run per finished trial (COMPLETE, and PRUNED with a value) under ``logdir/trial_NNNN``:
    its hparams (the values used, by dotted path, plus ``state`` and ``baseline``), ``hparam/<metric>`` = the
    trial's value for the HParams tab, and ``eval/<metric>`` at every evaluation step for the Scalars tab.
    Returns the run folders written.

    Running it again on the same ``logdir`` replaces each run's records rather than adding to them (VisualDL
    would show every trial twice): a run is written into a fresh folder, then the old run's records are
    removed and the new ones moved in.

    Example::

        log_to_visualdl(open_study("tune_resnet18"), "tune_resnet18/vdl")
        # visualdl --logdir tune_resnet18/vdl --port 8040, then the HParams tab
    """
    try:
        from visualdl import LogWriter
    except ImportError:
        raise UsageError("visualdl is not installed: pip install visualdl (or open the storage with "
                         "optuna-dashboard instead)") from None
    names = _metric_names(study)
    metrics = [f"hparam/{m}" for m in names]
    paths = tuned_params(study)
    runs = []
    for t in study.get_trials(deepcopy=False, states=(S.COMPLETE, S.PRUNED)):
        if t.user_attrs.get("interrupted") or (t.state == S.PRUNED and not t.intermediate_values):
            continue
        used = t.user_attrs.get("values", t.params)
        hparams = {p: _hparam(used[p]) for p in paths if used.get(p) is not None}
        hparams["state"] = t.state.name
        hparams["baseline"] = "yes" if t.user_attrs.get("baseline") else "no"
        run = pathlib.Path(logdir) / f"trial_{t.number:04d}"
        fresh = pathlib.Path(logdir) / f".trial_{t.number:04d}.writing"
        shutil.rmtree(fresh, ignore_errors=True)  # left by a run that was stopped half-way
        with LogWriter(logdir=str(fresh)) as writer:
            writer.add_hparams(hparams, metrics)
            # HParams reads the hparam/ tags: one point, the trial's value (its best evaluation, or the last
            # one for a pruned trial); the step-by-step curve goes under eval/ so it is not mistaken for it.
            steps = sorted(t.intermediate_values)
            last = steps[-1] if steps else 0
            if t.state == S.COMPLETE:
                for name, value in zip(metrics, t.values):
                    writer.add_scalar(name, value, last)
            else:
                writer.add_scalar(metrics[0], t.intermediate_values[last], last)
            for step in steps:
                writer.add_scalar(f"eval/{names[0]}", t.intermediate_values[step], step)
        run.mkdir(parents=True, exist_ok=True)
        for old in run.glob("vdlrecords.*"):
            old.unlink()
        for record in fresh.iterdir():
            record.replace(run / record.name)
        fresh.rmdir()
        runs.append(run)
    return runs
