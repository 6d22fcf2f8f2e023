"""The report (report/): the trials table, the HTML report (checked in headless Chromium too) and VisualDL HParams,
on a real study written by the coordinator with a fake trainer (seconds, no suite needed)."""
import math
import pathlib
import re

import optuna
import pytest

from paddle_autotune_plugins.report.html_page import write_report
from paddle_autotune_plugins.report.parallel_plot import plot_parallel
from paddle_autotune_plugins.report.plot_base import COLORS, PlotData
from paddle_autotune_plugins.report.plots import plot_importances, plot_slice
from paddle_autotune_plugins.report.trials_table import trials_table


def test_trials_table_minimize_and_empty():
    study = optuna.create_study(direction="minimize")
    assert trials_table(study)[-1] == "(no trial has started yet)"
    dist = {"lr": optuna.distributions.FloatDistribution(1e-4, 1, log=True)}
    for v, lr in [(0.5, 0.1), (0.2, 0.01), (0.9, 0.3)]:
        study.add_trial(optuna.trial.create_trial(value=v, params={"lr": lr}, distributions=dist))
    rows = trials_table(study)[-3:]
    assert "baseline" not in trials_table(study)[0]  # no trial is one (e.g. a Python API study)
    assert [r.split()[2] for r in rows] == ["0.2", "0.5", "0.9"]


def test_report_notes_instead_of_plots_that_do_not_apply(tmp_path):
    study = optuna.create_study(direction="maximize")
    dist = {"lr": optuna.distributions.FloatDistribution(1e-4, 1, log=True)}
    study.add_trial(optuna.trial.create_trial(value=0.5, params={"lr": 0.01}, distributions=dist,
                                              intermediate_values={1: 0.3, 2: 0.5}, user_attrs={"baseline": True}))
    # a trial stopped by Ctrl-C and re-queued: listed in the table, left out of the plots and the failed count
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params={"lr": 0.5},
                                              distributions=dist, intermediate_values={1: 0.1},
                                              user_attrs={"interrupted": True, "reason": "interrupted (Ctrl-C)"}))
    assert "interrupted (Ctrl-C)" in trials_table(study)[-1]
    page = write_report(study, tmp_path).read_text()
    assert "1 complete, 0 pruned, 0 failed, 1 interrupted and re-queued" in page
    assert "Parameter importances need at least 2 complete trials" in page
    assert (tmp_path / "report" / "history.png").exists() and not (tmp_path / "report" / "importances.png").exists()


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # set_metric_names
def test_multi_objective_pareto_front(tmp_path):
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_metric_names(["top1", "latency_ms"])
    dist = {"width": optuna.distributions.IntDistribution(8, 64), "lr": optuna.distributions.FloatDistribution(0, 1)}
    for i, (acc, ms) in enumerate([(0.7, 10), (0.8, 20), (0.75, 30), (0.9, 40), (0.6, 5)]):
        study.add_trial(optuna.trial.create_trial(values=[acc, ms], params={"width": 8 + 10 * i, "lr": 0.1 * i + 0.05},
                                                  distributions=dist, user_attrs={"baseline": i == 0}))
    lines = trials_table(study)
    assert lines[0].startswith("Study") and "maximize top1, minimize latency_ms" in lines[0]
    first = [int(r.split()[0].rstrip("*")) for r in lines[-5:]]
    assert set(first[:4]) == {0, 1, 3, 4} and first[4] == 2  # the Pareto front first, the dominated trial last
    page = write_report(study, tmp_path).read_text()
    assert (tmp_path / "report" / "pareto.png").exists() and "Pareto front: trials 0, 1, 3, 4" in page


# --- "the report must not mislead" (issue 15, part 4) --------------------------------------------------
F = optuna.distributions
LR, WIDTH, EPS = "Optimizer.lr.learning_rate", "Model.width", "Loss.eps"
SPACE = {LR: F.FloatDistribution(1e-5, 1e-2, log=True), WIDTH: F.IntDistribution(16, 128),
         EPS: F.FloatDistribution(0.1, 0.7)}


def nlp_like_study(complete, pruned=0, baseline_value=0.95):
    """Written the way the coordinator writes it: trial 0 is the config as given, whose learning rate (0.1)
    lies outside the space, so only its fitting values are params (baseline_params) and ``values`` holds all
    three; the searched trials sample all three. The score grows with log10(lr), a little with eps."""
    import random

    study = optuna.create_study(direction="maximize")
    study.set_user_attr("metric", "acc")
    study.set_user_attr("params", list(SPACE))
    used = {LR: 0.1, WIDTH: 64, EPS: 0.3}
    study.add_trial(optuna.trial.create_trial(
        value=baseline_value, params={WIDTH: 64, EPS: 0.3}, distributions={WIDTH: SPACE[WIDTH], EPS: SPACE[EPS]},
        intermediate_values={1: baseline_value / 2, 2: baseline_value},
        user_attrs={"baseline": True, "baseline_params": [EPS, WIDTH], "values": used}))
    rng = random.Random(0)
    for i in range(complete + pruned):
        p = {LR: 10 ** rng.uniform(-5, -2), WIDTH: rng.randint(16, 128), EPS: 0.1 + 0.6 * rng.random()}
        score = 0.5 + 0.03 * (math.log10(p[LR]) + 5) + 0.01 * p[EPS]
        if i < complete:
            study.add_trial(optuna.trial.create_trial(value=score, params=p, distributions=SPACE, user_attrs={"values": p},
                                                      intermediate_values={1: score / 2, 2: score}))
        else:
            study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, params=p,
                                                      distributions=SPACE, user_attrs={"values": p},
                                                      intermediate_values={1: score / 3 + 0.001 * i}))
    return study


def page_text(path):
    """The report's text as a reader sees it: tags dropped, entities decoded."""
    import html as html_lib

    return html_lib.unescape(re.sub(r"<[^>]+>", " ", pathlib.Path(path).read_text()))


def alt_texts(path):
    import html as html_lib

    return [html_lib.unescape(a) for a in re.findall(r' alt="([^"]*)"', pathlib.Path(path).read_text())]


def test_importances_keep_the_learning_rate_that_the_baseline_lacks(tmp_path):
    study = nlp_like_study(complete=12)
    # What Optuna does on its own (the bug): the intersection of the complete trials' spaces, without the lr.
    assert LR not in optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    d = PlotData(study)
    fig = plot_importances(d)
    bars = [label.get_text() for label in fig.axes[0].get_yticklabels()]
    assert sorted(bars) == ["eps", "learning_rate", "width"]
    assert bars[-1] == "learning_rate"  # the top bar: it is what the score depends on
    assert fig.texts[0].get_text() == "Parameter importances over 12 complete trials"  # the suptitle, no caveat
    page = write_report(study, tmp_path)
    assert any(a.startswith("Parameter importances: learning_rate ") for a in alt_texts(page))
    text = page_text(page)
    assert "Computed over 12 complete trials (of 13)." in text
    assert ("Left out: trial 0 (the baseline: the config's learning_rate = 0.1 lies outside the search space)."
            in text)
    assert "Few trials" not in text and "Parameters left out" not in text


def test_importances_say_how_few_trials_they_rest_on(tmp_path):
    d = PlotData(nlp_like_study(complete=5))
    fig = plot_importances(d)
    assert fig.texts[0].get_text() == "Parameter importances over 5 complete trials; fewer than 10: a rough guide"
    text = page_text(write_report(d.study, tmp_path))
    assert "Computed over 5 complete trials (of 6). Few trials: with fewer than 10 complete trials" in text


def test_importances_name_a_parameter_they_leave_out(tmp_path):
    """A parameter only 2 of 9 complete trials sampled (added to the space on a resume) is left out, said why;
    the trials lacking it still count for the others."""
    study = nlp_like_study(complete=6)
    extra = {"Model.dropout": F.FloatDistribution(0.0, 0.5)}
    for i, dropout in enumerate((0.1, 0.4)):
        p = {LR: 1e-3 * (i + 1), WIDTH: 40 + i, EPS: 0.2, "Model.dropout": dropout}
        study.add_trial(optuna.trial.create_trial(value=0.6 + 0.01 * i, params=p, distributions=dict(SPACE, **extra),
                                                  user_attrs={"values": p}))
    d = PlotData(study)
    bars = [label.get_text() for label in plot_importances(d).axes[0].get_yticklabels()]
    assert sorted(bars) == ["eps", "learning_rate", "width"]
    text = page_text(write_report(study, tmp_path))
    assert "Computed over 8 complete trials (of 9)." in text
    assert ("Parameters left out of the importances: Model.dropout: only 2 of 9 complete trials sampled it"
            in text)


def test_parallel_coordinates_round_ticks_log_axis_and_a_colour_scale_without_the_baseline(tmp_path):
    study = nlp_like_study(complete=12, baseline_value=0.95)  # the searched trials score 0.5 to 0.6
    d = PlotData(study)
    fig = plot_parallel(d)
    ax, cbar = fig.axes
    searched = [t.value for t in study.trials if t.number > 0]
    assert cbar.get_ylim() == pytest.approx((min(searched), max(searched)))  # 0.95 does not stretch the colours
    assert cbar.get_ylabel() == "acc (the searched trials)"
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_color() == COLORS["baseline"]
    assert dashed[0].get_ydata()[-1] == pytest.approx(1.0)  # the baseline: top of the acc axis
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["baseline (trial 0), not in the colour scale",
                                                                    "search range"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["learning_rate\n(log scale)", "width", "eps", "acc"]
    ticks = {}  # axis (0 = lr ... 3 = acc) -> its tick labels, bottom to top
    for t in sorted(ax.texts, key=lambda t: t.get_position()[1]):
        ticks.setdefault(round(t.get_position()[0]), []).append(t.get_text())
    assert ticks == {0: ["1e-05", "0.0001", "0.001", "0.01", "0.1"],  # decades; 0.1 is the baseline's lr
                     1: ["25", "50", "75", "100", "125"], 2: ["0.2", "0.4", "0.6"], 3: ["0.6", "0.7", "0.8", "0.9"]}
    text = page_text(write_report(study, tmp_path))
    assert (f"Colour scale: acc of the searched trials, {min(searched):.4g} to {max(searched):.4g}. The baseline "
            "(trial 0, acc = 0.95) is drawn black and dashed, outside the colour scale." in text)


def test_slices_show_pruned_trials_at_their_last_value(tmp_path):
    study = nlp_like_study(complete=6, pruned=3)
    d = PlotData(study)
    fig = plot_slice(d, LR)
    ax = fig.axes[0]
    marks = {c.get_label(): c for c in ax.collections}
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    hollow = marks["pruned (last value before it was stopped)"]
    xy = sorted(map(tuple, hollow.get_offsets().tolist()))
    assert xy == sorted((t.params[LR], t.intermediate_values[1]) for t in pruned)
    complete = sorted(map(tuple, marks["complete"].get_offsets().tolist()))
    assert len(complete) == 7 and complete[-1] == (0.1, 0.95)  # the baseline at its config's lr, outside the space
    assert "pruned (last value before it was stopped)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.get_xscale() == "log" and ax.get_xlabel().endswith("(log scale)")
    assert "Slice: learning_rate: 7 complete trials, 3 pruned trials at their last value" in alt_texts(
        write_report(study, tmp_path))
