"""The coordinator's own logic, with a fake suite: a tiny script that 'trains' for a few steps and reports.

The fake stands in for a suite only here, to test stop rules, samplers, pruners and failure handling in
seconds; real suites are exercised in the e2e tests.
"""
import csv
import re
import time

from conftest import knob_text
from fake_suite import FakeAdapter, X, make_task
import pytest
import yaml

from paddle_autotune_plugins.output import summary
from paddle_autotune_plugins.search_space import space
from paddle_autotune_plugins.settings.options import Settings
from paddle_autotune_plugins.study.coordinator import Coordinator


def run(tmp_path, spec, trials=6, **settings):
    task = make_task(tmp_path, **settings.pop("config", {}))
    params = space.parse_space(spec)
    coordinator = Coordinator(task, params, Settings(out=tmp_path / "out", trials=trials, quiet=True, **settings))
    stop = coordinator.run()
    with open(tmp_path / "out" / "trials.csv") as f:
        return stop, list(csv.DictReader(f)), coordinator


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes", "nsga2", "gp", "bayes"])
def test_every_sampler_runs_a_study(tmp_path, sampler):
    stop, rows, coordinator = run(tmp_path, dict(X, c={"values": ["a", "b"]}), trials=6, sampler=sampler,
                                  pruner="none")
    assert stop == "trials" and len(rows) == 6
    assert all(r["state"] == "COMPLETE" for r in rows)
    assert rows[0]["x"] == "0.9" and rows[0]["reason"].startswith("baseline")
    assert coordinator.study.best_value >= float(rows[0]["value"])


def test_grid_sampler_stops_when_the_grid_is_done(tmp_path):
    stop, rows, _ = run(tmp_path, {"c": {"values": ["a", "b"]}}, trials=10, sampler="grid", pruner="none")
    assert stop == "grid exhausted"
    assert {r["c"] for r in rows} == {"a", "b"}


@pytest.mark.parametrize("pruner", ["asha", "hyperband", "median"])
def test_pruners_stop_bad_trials(tmp_path, pruner):
    stop, rows, _ = run(tmp_path, X, trials=12, pruner=pruner, sampler="random", config={"steps": 6})
    states = [r["state"] for r in rows]
    assert len(rows) == 12 and "PRUNED" in states, states
    for r in rows:
        if r["state"] == "PRUNED":
            assert r["reason"].startswith("pruned at step") and int(r["reason"].split()[3]) < 6


def test_the_console_names_the_trainers_unit(tmp_path, capsys):
    """A trainer that evaluates each epoch: 'epoch 2', 'pruned at epoch 2', not 'step'."""
    task = make_task(tmp_path, steps=6)
    task.adapter.step_unit = "epoch"
    coordinator = Coordinator(task, space.parse_space(X), Settings(out=tmp_path / "out", trials=12, pruner="asha",
                                                                  sampler="random"))
    coordinator.run()
    rows = list(csv.DictReader(open(tmp_path / "out" / "trials.csv")))
    pruned = [r["reason"] for r in rows if r["state"] == "PRUNED"]
    assert pruned and all(re.match(r"pruned at epoch [1-5] \(score=", r) for r in pruned), pruned
    err = capsys.readouterr().err
    assert re.search(r"\| trial 0 epoch 1: score=", err) and " step " not in err


@pytest.mark.parametrize("pruner, first", [("asha", 3), ("asha:1", 1), ("median:2", 2)])
def test_first_pruning_step(tmp_path, pruner, first):
    """asha waits for a third of the training (9 steps here) unless told a first step; pruned trials show
    where."""
    stop, rows, _ = run(tmp_path, X, trials=12, pruner=pruner, sampler="random", seed=0, config={"steps": 9})
    steps = [int(r["reason"].split()[3]) for r in rows if r["state"] == "PRUNED"]
    assert steps and min(steps) == first, rows


def test_the_baseline_is_never_pruned(tmp_path):
    """The baseline (x=0.9, worse than every sampled x) trains slowly while the other worker's trials reach
    ASHA's rung first, so the pruner would stop it there; the summary needs its full result, so it runs on.
    Its rung value is still recorded for the others to be judged against."""
    spec = {"x": {"low": 0.0, "high": 0.6}, "sleep": {"values": [0.0]}}
    stop, rows, coordinator = run(tmp_path, spec, trials=4, pruner="asha:2", sampler="random", seed=0,
                                  workers=2, config={"sleep": 4.0})
    assert rows[0]["reason"].startswith("baseline") and rows[0]["x"] == "0.9"
    assert rows[0]["state"] == "COMPLETE", rows
    baseline = coordinator.study.trials[0]
    assert any(key.startswith("completed_rung_") for key in baseline.system_attrs), baseline.system_attrs
    better = [r for r in rows[1:] if r["state"] == "COMPLETE" and float(r["value"]) > float(rows[0]["value"])]
    assert better, rows  # a trial that beat it at the rung, i.e. one the pruner compared it with


def test_early_stopping_rounds(tmp_path):
    # the baseline is the optimum already: nothing can improve on it
    stop, rows, _ = run(tmp_path, X, trials=20, early_stopping_rounds=3, pruner="none", config={"x": 0.3, "c": "a"})
    assert stop == "no improvement in 3 finished trials (--early-stopping-rounds 3)" and len(rows) == 4


def test_time_budget(tmp_path):
    stop, rows, _ = run(tmp_path, X, trials=50, time_budget=1.0, pruner="none", config={"sleep": 0.4})
    assert stop == "time budget" and 1 <= len(rows) < 50


def test_failures_are_recorded_with_their_reason_and_the_study_goes_on(tmp_path):
    spec = {"crash": {"values": [False, True]}, "nan": {"values": [False, True], "new": True}}
    stop, rows, _ = run(tmp_path, spec, trials=8, sampler="random", pruner="none", config={"crash": False})
    assert stop == "trials" and len(rows) == 8
    reasons = [r["reason"] for r in rows if r["state"] == "FAIL"]
    assert any(r.startswith("exit code 1: ValueError: crash requested by the config") for r in reasons), reasons
    assert any(r == "score is nan at step 1" for r in reasons), reasons
    assert any(r["state"] == "COMPLETE" for r in rows)


def test_max_failures_stops_the_study(tmp_path):
    # baseline=False: a failing baseline stops the study at once (test_a_failing_baseline_stops_the_study)
    stop, rows, _ = run(tmp_path, X, trials=10, max_failures=2, pruner="none", config={"crash": True}, baseline=False)
    assert stop == "2 failed trials (--max-failures 2)" and len(rows) == 2


def test_trial_timeout(tmp_path):
    stop, rows, _ = run(tmp_path, X, trials=2, trial_timeout=1.0, pruner="none", config={"sleep": 5}, baseline=False)
    assert [r["reason"] for r in rows] == ["timeout after 1 s", "timeout after 1 s"]


def test_a_failing_baseline_stops_the_study(tmp_path):
    stop, rows, coordinator = run(tmp_path, X, trials=10, pruner="none", config={"crash": True})
    assert [(r["number"], r["state"]) for r in rows] == [("0", "FAIL")]
    reason = coordinator.study.trials[0].user_attrs["reason"]
    assert stop == f"the baseline (trial 0, your config as given) failed: {reason}"
    assert "exit code" in stop


def test_the_first_trials_failing_alike_stop_the_study(tmp_path):
    """Without a baseline: 3 trials (by default) that all fail with one reason stop it; --max-failures sets how many."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    stop, rows, _ = run(tmp_path / "a", X, trials=10, pruner="none", config={"crash": True}, baseline=False)
    assert len(rows) == 3 and stop.startswith("the first 3 trials all failed with the same reason (--max-failures 3): "
                                              "exit code")
    stop, rows, _ = run(tmp_path / "b", X, trials=10, pruner="none", config={"crash": True}, baseline=False,
                        max_failures=5)
    assert len(rows) == 5 and stop == "5 failed trials (--max-failures 5)"


def test_a_resumed_studys_summary_counts_all_of_it(tmp_path):
    started = time.time()
    run(tmp_path, X, trials=3, pruner="none", config={"sleep": 0.3})  # about 1 s a trial
    first = time.time() - started
    started = time.time()
    _, _, coordinator = run(tmp_path, X, trials=4, pruner="none", config={"sleep": 0.3})
    text = summary.summary(coordinator.study, "score", started, "trials")
    total, this_run = re.search(r"^Study 'autotune': 4 trials \(4 complete, 0 pruned, 0 failed\) in (\S+) over 2 runs "
                                r"\(this run (\S+)\)", text).groups()
    seconds = [sum(int(p) * 60 ** i for i, p in enumerate(reversed(t.split(":")))) for t in (total, this_run)]
    assert seconds[0] >= int(first) + seconds[1] - 1 and seconds[0] >= 3, text


def test_missing_metric_and_silent_trial(tmp_path):
    stop, rows, _ = run(tmp_path, X, trials=1, pruner="none", config={"steps": 0})
    assert rows[0]["state"] == "FAIL" and "finished without reporting 'score'" in rows[0]["reason"]


def test_resume_counts_finished_trials(tmp_path):
    run(tmp_path, X, trials=3, pruner="none")
    stop, rows, _ = run(tmp_path, X, trials=5, pruner="none")
    assert [r["number"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert sum(r["reason"].startswith("baseline") for r in rows) == 1


def test_trial_folder_holds_config_log_and_metrics(tmp_path):
    run(tmp_path, X, trials=2, pruner="none")
    trial = tmp_path / "out" / "trial_0001"
    cfg = yaml.safe_load((trial / "config.yaml").read_text())
    assert 0.0 <= cfg["x"] <= 1.0 and cfg["x"] != 0.9
    lines = (trial / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith('{"used": {"x": ')  # the trainer's values, then 3 evals
    assert (trial / "train.log").exists() and (tmp_path / "out" / "best_config.yaml").exists()


def test_enqueued_configs_run_right_after_the_baseline(tmp_path):
    from paddle_autotune_plugins.errors import UsageError

    params = space.parse_space({"x": {"low": 0.0, "high": 1.0}, "c": {"values": ["a", "b"]}})
    enqueue = space.check_enqueue([{"x": 0.31, "c": "a"}, {"x": 0.7}], params)
    task = make_task(tmp_path)
    coordinator = Coordinator(task, params, Settings(out=tmp_path / "out", trials=4, quiet=True, pruner="none",
                                                     enqueue=enqueue))
    coordinator.run()
    trials = coordinator.study.trials
    assert trials[1].params == {"x": 0.31, "c": "a"} and trials[2].params["x"] == 0.7
    assert coordinator.study.best_trial.number == 1  # the known-good config is the optimum here
    with pytest.raises(UsageError, match="outside its space"):
        space.check_enqueue([{"x": 2.0}], params)
    with pytest.raises(UsageError, match="not a tuned path"):
        space.check_enqueue([{"y": 0.5}], params)


def test_two_stages_narrow_the_space_around_the_best(tmp_path):
    stop, rows, coordinator = run(tmp_path, X, trials=14, pruner="none", stages=[("random", 8), ("tpe", None)],
                                  config={"x": 0.9, "c": "a"})
    assert stop == "trials" and len(rows) == 14
    (narrowed,) = coordinator.active_params
    assert 0.0 <= narrowed.low < narrowed.high <= 1.0 and narrowed.high - narrowed.low < 0.9
    assert narrowed.low <= 0.3 <= narrowed.high  # the optimum of the fake trainer stays inside
    assert all(narrowed.low <= float(r["x"]) <= narrowed.high for r in rows[8:])
    assert coordinator.study.user_attrs["stage"] == 1


def _dominates(a, b, directions):
    better = [(x >= y) if d == "maximize" else (x <= y) for x, y, d in zip(a, b, directions)]
    strictly = [(x > y) if d == "maximize" else (x < y) for x, y, d in zip(a, b, directions)]
    return all(better) and any(strictly)


def test_multi_objective_returns_a_non_dominated_set_with_configs(tmp_path):
    stop, rows, coordinator = run(tmp_path, dict(X, c={"values": ["a", "b"]}), trials=16, pruner="none",
                                  sampler="nsga2", extra_metrics=[("cost", None)],
                                  constraints=[("cost", "<=", 0.8)])
    study = coordinator.study
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]  # cost: minimize by its name
    front = [t for t in study.best_trials if all(c <= 0 for c in t.user_attrs["constraints"])]
    assert len(front) >= 2
    for a in front:  # pairwise: no member of the front dominates another
        for b in front:
            assert a is b or not _dominates(a.values, b.values, ["maximize", "minimize"])
        assert a.values[1] <= 0.8
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    for t in complete:  # and nothing outside it dominates a member
        assert not any(_dominates(t.values, a.values, ["maximize", "minimize"]) for a in front
                       if all(c <= 0 for c in t.user_attrs["constraints"]))
    exported = sorted(p.name for p in (tmp_path / "out" / "pareto").iterdir())
    assert exported == sorted(f"trial_{t.number:04d}_config.yaml" for t in front)
    assert ";" in rows[1]["value"]


def test_knob_check_reads_what_the_trainer_used(tmp_path):
    _, rows, coordinator = run(tmp_path, X, trials=2)
    assert [knob_text(t) for t in coordinator.study.trials] == ["ok (1 read)", "ok (1 read)"]
    assert not any("knob" in r["reason"] for r in rows)


def test_a_knob_that_does_not_act_is_flagged_and_strict_knobs_fails_it(tmp_path, capsys):
    task = make_task(tmp_path, ignores_x=True)
    coordinator = Coordinator(task, space.parse_space(X), Settings(out=tmp_path / "out", trials=3, quiet=True,
                                                                   pruner="none"))
    coordinator.run()
    rows = list(csv.DictReader(open(tmp_path / "out" / "trials.csv")))
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3  # a warning only, by default
    assert all(r["reason"].endswith("knob does not act: x: given " + r["x"] + ", trainer used 0.5") for r in rows), rows
    warnings = [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and "trial 0: knob does not act: x: given 0.9, trainer used 0.5" in warnings[0]  # once

    (tmp_path / "strict").mkdir()
    stop, rows, coordinator = run(tmp_path / "strict", X, trials=2, strict_knobs=True, config={"ignores_x": True})
    assert [r["state"] for r in rows] == ["FAIL"]  # the baseline failed: no further trial could work
    assert stop.startswith("the baseline (trial 0, your config as given) failed: knob does not act (--strict-knobs)")
    assert summary.no_trial_completed(coordinator.study).startswith(
        "no trial completed; the first failure, trial 0: knob does not act (--strict-knobs): x: given 0.9")


def test_an_error_of_ours_mid_study_leaves_no_trial_running(tmp_path):
    """A bug in the coordinator (here: the adapter's best_checkpoint raising) once left RUNNING rows and a
    traceback; now every started trial is recorded as interrupted and queued, and the same command resumes."""
    from paddle_autotune_plugins.errors import InternalError

    class Broken(FakeAdapter):
        def best_checkpoint(self, task, cfg, trial_dir=None):
            raise RuntimeError("broken on purpose")

    task = make_task(tmp_path, sleep=0.3)
    task.adapter = Broken(task.adapter.script, metrics=("score", "cost"))
    coordinator = Coordinator(task, space.parse_space(X), Settings(out=tmp_path / "out", trials=4, workers=2,
                                                                   pruner="none", quiet=True))
    with pytest.raises(InternalError, match="internal error: RuntimeError: broken on purpose .traceback in .*"
                                            "coordinator_error.log.; finished trials are kept"):
        coordinator.run()
    states = [t.state.name for t in coordinator.study.get_trials()]
    assert "RUNNING" not in states and "WAITING" in states, states  # the interrupted ones are queued again
    assert "broken on purpose" in (tmp_path / "out" / "coordinator_error.log").read_text()


class _ExitsRightAfterItsLastLine:
    """A trial process that writes its last evaluation and exits between two looks of the coordinator: its
    first poll says running, its second writes the step-3 line and says exited. A real trial does the same
    when its final report lands just before it ends."""

    def __init__(self, metrics_path):
        import subprocess

        self.stand_in = subprocess.Popen(["sleep", "60"], start_new_session=True)  # a pid to wait on and signal
        self.pid = self.stand_in.pid
        self.metrics_path = metrics_path
        self.polls = 0
        for step in (1, 2):
            self._write(step, 0.1 * step)

    def _write(self, step, score):
        import json

        with open(self.metrics_path, "a") as f:
            f.write(json.dumps({"step": step, "metrics": {"score": score}}) + "\n")

    def poll(self):
        self.polls += 1
        if self.polls == 2:
            self._write(3, 0.9)
            self.stand_in.kill()
            self.stand_in.wait()
        return None if self.polls < 2 else 0

    def wait(self, timeout=None):
        return self.poll()


def test_a_trial_that_exits_right_after_its_last_report_keeps_that_report(tmp_path):
    from paddle_autotune_plugins.trials.reporting import ENV_VAR

    class ExitingAdapter(FakeAdapter):
        def start_trial(self, task, config_path, env, cwd, log_path):
            self.proc = _ExitsRightAfterItsLastLine(env[ENV_VAR])
            return self.proc

    task = make_task(tmp_path)
    task.adapter = ExitingAdapter(tmp_path / "fake_train.py", metrics=("score",))
    coordinator = Coordinator(task, space.parse_space(X), Settings(out=tmp_path / "out", trials=1, pruner="none",
                                                                   quiet=True))
    try:
        coordinator.run()
    finally:
        task.adapter.proc.stand_in.kill()
    trial = coordinator.study.trials[0]
    assert trial.state.name == "COMPLETE" and task.adapter.proc.polls >= 2
    assert sorted(trial.intermediate_values) == [1, 2, 3] and trial.value == 0.9


def test_warm_start_where_the_suite_cannot_preload_runs_cold_and_says_so(tmp_path, capsys):
    """--warm-start with a suite whose trials run a script of their own: a note, printed before the study is
    open (it crashed the progress line), then cold trials."""
    task = make_task(tmp_path)
    coordinator = Coordinator(task, space.parse_space(X), Settings(out=tmp_path / "out", trials=2, quiet=False,
                                                                     warm_start=True, pruner="none"))
    assert coordinator.run() == "trials"
    err = capsys.readouterr().err
    assert "[autotune] | --warm-start: this suite's trials run a script of their own; they start cold" in err, err
    assert not (tmp_path / "out" / "warm_start.log").exists()
