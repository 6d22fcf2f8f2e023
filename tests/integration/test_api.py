"""The Python API: AutoTuner on plain Python objectives, trials in worker processes.

The scripts below run as a user runs them (a real `python` process per script): with and without the
`if __name__ == "__main__":` guard, fed on stdin, typed into an interactive console. Trials are forks of
that process (run_function.fork_trial); the tests check they really are separate processes that never
run the script's module-level code again, and that nothing of them is left once run() returns."""
import ast
import json
import math
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import time

from autotune_objective import constant, noisy_quadratic
from conftest import REPO
import pytest

from paddle_autotune_plugins import AutoTuner
from paddle_autotune_plugins.python_api import api

SPACE = {"lr": {"bounds": [1e-4, 1.0], "scale": "log"}, "momentum": {"min": 0.5, "max": 0.99}}


def test_finds_the_optimum_region_with_two_workers(tmp_path):
    tuner = AutoTuner(noisy_quadratic, search_space=SPACE, max_trials=30, num_workers=2, tuner_type="bayes",
                      pruner="none", out=tmp_path / "out", seed=3)
    best = tuner.run()
    assert set(best) == {"lr", "momentum"}
    assert abs(math.log10(best["lr"]) - math.log10(0.03)) < 0.5 and abs(best["momentum"] - 0.9) < 0.1
    finished = [t for t in tuner.study.trials if t.state.name == "COMPLETE"]
    assert len(finished) == 30 and tuner.study.best_value > 0.7
    starts = sorted((t.datetime_start, t.datetime_complete) for t in finished)
    assert any(b[0] < a[1] for a, b in zip(starts, starts[1:])), "two trials never overlapped"


def test_honours_early_stopping_rounds(tmp_path):
    tuner = AutoTuner(constant, search_space=SPACE, max_trials=50, early_stopping_rounds=4, tuner_type="random",
                      pruner="none", out=tmp_path / "out")
    tuner.run()
    assert len(tuner.study.trials) == 5  # the first value, then 4 trials without improvement


@pytest.mark.parametrize("tuner_type", ["random", "evolution", "grid"])
def test_tuner_types(tmp_path, tuner_type):
    space = {"lr": {"values": [0.001, 0.03, 0.3]}, "momentum": {"values": [0.9]}} if tuner_type == "grid" else SPACE
    best = AutoTuner(noisy_quadratic, search_space=space, max_trials=4, tuner_type=tuner_type, pruner="none",
                     out=tmp_path / "out").run()
    assert 1e-4 <= best["lr"] <= 1.0


def test_import_start_method_still_runs_trials_by_name(tmp_path):
    tuner = AutoTuner(noisy_quadratic, search_space=SPACE, max_trials=3, tuner_type="random", pruner="none",
                      out=tmp_path / "out", start_method="import")
    assert set(tuner.run()) == {"lr", "momentum"}
    assert all(t.state.name == "COMPLETE" for t in tuner.study.trials)
    command = (tmp_path / "out" / "trial_0001" / "command.txt").read_text()
    assert "autotune_objective:noisy_quadratic" in command and "fork" not in command


def test_study_and_trials_table(tmp_path):
    tuner = AutoTuner(noisy_quadratic, search_space=SPACE, max_trials=6, num_workers=2, tuner_type="random",
                      pruner="none", out=tmp_path / "out")
    assert tuner.study is None and tuner.trials is None  # until run()
    best = tuner.run()
    assert tuner.out == tmp_path / "out" and (tuner.out / "trials.csv").exists()
    assert len(tuner.study.trials) == 6 and len(tuner.trials) == 6
    for row, trial in zip(tuner.trials, tuner.study.trials):
        assert list(row)[:6] == ["number", "state", "value", "best_value", "duration_s", "reason"]
        assert row["number"] == trial.number and row["state"] == trial.state.name == "COMPLETE"
        assert isinstance(row["value"], float) and math.isclose(row["value"], trial.value, rel_tol=1e-5)
        assert math.isclose(row["lr"], trial.params["lr"], rel_tol=1e-5)
        assert math.isclose(row["momentum"], trial.params["momentum"], rel_tol=1e-5)
    assert max(r["value"] for r in tuner.trials) == tuner.trials[-1]["best_value"]
    assert math.isclose(best["lr"], tuner.study.best_trial.params["lr"])

HEAD = '''\
import json, math, os, sys
from paddle_autotune_plugins import AutoTuner, report
print("MODULE-LEVEL CODE RAN", flush=True)
SCRIPT_PID = os.getpid()
'''

OBJECTIVE = '''\
def train_evaluate(config):
    print("trial pid", os.getpid(), "parent", os.getppid(), "session", os.getsid(0), flush=True)
    return 1 - (math.log10(config["lr"]) + 2) ** 2 - (config["momentum"] - 0.9) ** 2
'''

RUN = '''\
tuner = AutoTuner(train_evaluate, search_space={"lr": {"bounds": [1e-4, 1e-1], "scale": "log"},
                                                "momentum": {"min": 0.5, "max": 0.99}},
                  max_trials=12, num_workers=2, early_stopping_rounds=4, tuner_type="bayes", out="out")
best = tuner.run()
print("RESULT " + json.dumps({"best": best, "pid": SCRIPT_PID, "module": train_evaluate.__module__,
                              "trials": [[t.number, t.state.name, t.value] for t in tuner.study.trials]}))
'''


def run_python(tmp_path, how, code, timeout=120):
    """Run code in a fresh interpreter: as a script file, on stdin (`python -`), with -c, or typed into
    code.InteractiveConsole (a REPL: __main__ has no file). Returns (the RESULT dict, stdout)."""
    if how == "file":
        (tmp_path / "script.py").write_text(code)
        argv, stdin = [sys.executable, "script.py"], None
    elif how == "stdin":
        argv, stdin = [sys.executable, "-"], code
    elif how == "-c":
        argv, stdin = [sys.executable, "-c", code], None
    else:
        console = "import code, sys; sys.ps1 = sys.ps2 = ''; code.InteractiveConsole().interact('', '')"
        argv, stdin = [sys.executable, "-c", console], code + "\n"
    proc = subprocess.run(argv, input=stdin, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):]), proc.stdout


def check_forked_trials(tmp_path, result, stdout):
    """Every trial completed, each in a process of its own forked from the script's process (its own
    session), and the script's module-level code ran once: in the script, never in a trial."""
    assert stdout.count("MODULE-LEVEL CODE RAN") == 1
    states = [state for _, state, _ in result["trials"]]
    assert states and set(states) == {"COMPLETE"}, result["trials"]
    assert set(result["best"]) == {"lr", "momentum"}
    pids = set()
    for number, _, _ in result["trials"]:
        folder = tmp_path / "out" / f"trial_{number:04d}"
        log = (folder / "train.log").read_text()
        assert "MODULE-LEVEL CODE RAN" not in log
        pid, parent, session = map(int, re.search(r"trial pid (\d+) parent (\d+) session (\d+)", log).groups())
        assert parent == result["pid"] and session == pid != result["pid"]
        pids.add(pid)
        assert f"fork of the calling process {result['pid']}" in (folder / "command.txt").read_text()
    assert len(pids) == len(result["trials"])
    # the study ran to max_trials, or early stopping ended it after 4 trials without improvement
    values = [value for _, _, value in result["trials"]]
    assert len(values) <= 12
    if len(values) < 12:
        best_at = values.index(max(values))
        assert len(values) - 1 - best_at >= 4, values
    return pids


def test_module_level_run_without_main_guard(tmp_path):
    """The AutoDL way: AutoTuner(...).run() at module level of a plain script, no __main__ guard."""
    result, stdout = run_python(tmp_path, "file", HEAD + OBJECTIVE + RUN)
    assert result["module"] == "__main__"
    check_forked_trials(tmp_path, result, stdout)


def test_module_level_run_under_main_guard(tmp_path):
    guarded = "if __name__ == '__main__':\n" + textwrap.indent(RUN, "    ")
    result, stdout = run_python(tmp_path, "file", HEAD + OBJECTIVE + guarded)
    check_forked_trials(tmp_path, result, stdout)


@pytest.mark.parametrize("how", ["stdin", "-c", "console"])
def test_main_without_a_file(tmp_path, how):
    """`python - < script.py`, `python -c`, an interactive console: the function's module has no file."""
    code = HEAD + OBJECTIVE + "\n" + RUN  # the blank line ends the def at a console prompt
    result, stdout = run_python(tmp_path, how, code)
    assert result["module"] == ("__console__" if how == "console" else "__main__")
    check_forked_trials(tmp_path, result, stdout)


CLOSURE_AND_LAMBDA = '''\
import json, os
from paddle_autotune_plugins import AutoTuner

def make_objective(center):
    def objective(config):
        return -(config["x"] - center) ** 2
    return objective

space = {"x": {"min": 0.0, "max": 1.0}}
closure = AutoTuner(make_objective(0.3), search_space=space, max_trials=6, num_workers=2, tuner_type="random",
                    out="closure")
lam = AutoTuner(lambda config: -abs(config["x"] - 0.7), search_space=space, max_trials=6, num_workers=2,
                tuner_type="random", out="lambda")
result = {}
for name, tuner in (("closure", closure), ("lambda", lam)):
    best = tuner.run()
    result[name] = {"best": best, "best_value": tuner.study.best_value,
                    "trials": [[t.state.name, t.params["x"], t.value] for t in tuner.study.trials]}
print("RESULT " + json.dumps(result))
'''


def test_closure_and_lambda_objectives(tmp_path):
    result, _ = run_python(tmp_path, "file", CLOSURE_AND_LAMBDA)
    for name, value_of in (("closure", lambda x: -(x - 0.3) ** 2), ("lambda", lambda x: -abs(x - 0.7))):
        trials = result[name]["trials"]
        assert len(trials) == 6 and {state for state, _, _ in trials} == {"COMPLETE"}
        for _, x, value in trials:  # each trial ran that very function on its own x
            assert math.isclose(value, value_of(x), rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(result[name]["best_value"], value_of(result[name]["best"]["x"]), abs_tol=1e-12)


RAISES = '''\
import json
from paddle_autotune_plugins import AutoTuner

def train_evaluate(config):
    if config["x"] == 1:
        raise ValueError(f"boom at x={config['x']}")
    return float(config["x"])

tuner = AutoTuner(train_evaluate, search_space={"x": {"values": [0, 1, 2]}}, max_trials=10, num_workers=2,
                  tuner_type="grid", out="out")
best = tuner.run()
print("RESULT " + json.dumps({"best": best, "trials": [[t.number, t.state.name, t.params["x"],
                              t.user_attrs.get("reason")] for t in tuner.study.trials]}))
'''


def test_a_trial_that_raises_fails_alone(tmp_path):
    result, _ = run_python(tmp_path, "file", RAISES)
    assert {x for _, _, x, _ in result["trials"]} == {0, 1, 2}  # (two workers may draw a grid point twice)
    for number, state, x, reason in result["trials"]:
        log = (tmp_path / "out" / f"trial_{number:04d}" / "train.log").read_text()
        if x == 1:
            assert state == "FAIL" and "exit code 1" in reason and "ValueError: boom at x=1" in reason
            assert "Traceback (most recent call last)" in log and "ValueError: boom at x=1" in log
        else:
            assert state == "COMPLETE" and "Traceback" not in log
    assert result["best"] == {"x": 2}


PRUNED = '''\
import json, os, subprocess, time
from paddle_autotune_plugins import AutoTuner, report

os.makedirs("done", exist_ok=True)

def train_evaluate(config):
    sleeper = subprocess.Popen(["sleep", "60"])  # a process of the trial's own: its group is stopped with it
    print("pids", os.getpid(), sleeper.pid, flush=True)
    for step in range(1, 5):
        report(step, config["x"] * step)
    time.sleep(1.0)  # the pruner decides meanwhile: a pruned trial is stopped here
    sleeper.kill()
    sleeper.wait()
    open(f"done/{os.getpid()}", "w").close()
    return config["x"] * 4

tuner = AutoTuner(train_evaluate, search_space={"x": {"min": 0.0, "max": 1.0}}, max_trials=8, num_workers=2,
                  tuner_type="random", pruner="asha", seed=1, out="out")
best = tuner.run()
try:
    left = os.waitpid(-1, os.WNOHANG)  # (0, 0): a child still runs; (pid, status): one was never reaped
except ChildProcessError:
    left = None  # no child at all
alive = {}
for name in os.listdir("out"):
    log = os.path.join("out", name, "train.log")
    if os.path.exists(log):
        for pid in open(log).read().split("pids ", 1)[1].split()[:2]:
            try:
                state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
            except FileNotFoundError:
                state = None
            alive[pid] = state
print("RESULT " + json.dumps({"left": left, "alive": alive, "done": os.listdir("done"),
                              "trials": [[t.number, t.state.name] for t in tuner.study.trials]}))
'''


def test_pruned_trials_are_stopped_and_gone(tmp_path):
    result, _ = run_python(tmp_path, "file", PRUNED)
    states = dict(result["trials"])
    assert "PRUNED" in states.values() and "COMPLETE" in states.values(), states
    assert result["left"] is None, "a trial process was left running or unreaped"
    # no trial process nor anything it started is still running (a zombie the container's init has not
    # reaped yet is gone too: 'Z')
    assert all(state in (None, "Z") for state in result["alive"].values()), result["alive"]
    for number, state in states.items():
        pid = (tmp_path / "out" / f"trial_{number:04d}" / "train.log").read_text().split("pids ", 1)[1].split()[0]
        assert (pid in result["done"]) == (state == "COMPLETE"), (number, state)  # pruned ones were cut short


DIES_WITH_CALLER = '''\
import os, time
from paddle_autotune_plugins import AutoTuner

def slow(config):
    with open("trial.pid.tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace("trial.pid.tmp", "trial.pid")
    time.sleep(120)
    return 1.0

AutoTuner(slow, search_space={"x": {"min": 0.0, "max": 1.0}}, max_trials=1, tuner_type="random", out="out").run()
'''


def process_state(pid):
    """The /proc state letter of a process (R, S, Z...), None once it is gone."""
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def test_a_forked_trial_dies_with_its_caller(tmp_path):
    (tmp_path / "script.py").write_text(DIES_WITH_CALLER)
    proc = subprocess.Popen([sys.executable, "script.py"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not (tmp_path / "trial.pid").exists():
            assert proc.poll() is None and time.time() < deadline, "the trial never started"
            time.sleep(0.05)
        pid = int((tmp_path / "trial.pid").read_text())
        assert process_state(pid) not in (None, "Z")
    finally:
        proc.kill()  # SIGKILL: the caller gets no chance to stop its trials itself
        proc.wait()
    deadline = time.time() + 10
    while process_state(pid) not in (None, "Z"):
        assert time.time() < deadline, f"trial {pid} outlived its caller"
        time.sleep(0.05)


def test_import_path_refuses_an_unguarded_script_clearly(tmp_path):
    """Where there is no fork, trials import the script again: an unguarded run gets a clear reason."""
    code = HEAD + OBJECTIVE + RUN.replace('out="out")', 'out="out", start_method="import")').replace(
        "max_trials=12", "max_trials=2")
    (tmp_path / "script.py").write_text(code)
    proc = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "RuntimeError: no trial completed" in proc.stderr
    assert 'put the AutoTuner call under `if __name__ == "__main__":`' in proc.stderr
    assert proc.stdout.count("MODULE-LEVEL CODE RAN") == 1  # the trials' reruns print into their own logs
    log = (tmp_path / "out" / "trial_0000" / "train.log").read_text()
    assert "MODULE-LEVEL CODE RAN" in log and "UsageError" in log

def docstring_example():
    """The example script at the top of api.py's docstring."""
    lines = api.__doc__.split("\n\n", 1)[1].split("``train_evaluate``", 1)[0]
    return textwrap.dedent(lines)


def python_api_doc_example():
    """The first example of docs/python-api.md (it was the README's)."""
    return (REPO / "docs" / "python-api.md").read_text().split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("example", [docstring_example, python_api_doc_example], ids=["api-docstring", "python-api-doc"])
def test_documented_example_runs(tmp_path, example):
    code = example()
    assert "AutoTuner(train_evaluate" in code and "__main__" not in code and "max_trials=30" in code
    code = code.replace("max_trials=30", "max_trials=8")  # as written, in less time
    (tmp_path / "tune_me.py").write_text(code)
    proc = subprocess.run([sys.executable, "tune_me.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "stopped by: " in proc.stdout  # run() prints the study's summary before the example's own prints
    best = ast.literal_eval(next(line for line in proc.stdout.splitlines() if line.startswith("{")))
    assert set(best) == {"lr", "batch_size"} and best["batch_size"] in (16, 32, 64) and 1e-4 <= best["lr"] <= 1e-1


def test_import_start_method_refuses_a_function_without_a_file(tmp_path):
    code = ("from paddle_autotune_plugins import AutoTuner\nfrom paddle_autotune_plugins.errors import UsageError\n"
            "def f(config):\n    return 1.0\n\ntry:\n    AutoTuner(f, search_space={'x': {'min': 0.0, 'max': 1.0}}, "
            "start_method='import')\nexcept UsageError as e:\n    print('RESULT ' + __import__('json').dumps(str(e)))\n")
    message, _ = run_python(tmp_path, "stdin", code)
    assert "has no file" in message and "put it in a .py file" in message


# --- what train_evaluate may return (issue 27) -------------------------------------------------------------
def returns_numpy(config):
    import numpy as np

    return np.float32(1 - (config["lr"] - 0.3) ** 2)


def returns_paddle_tensor(config):
    import paddle

    return paddle.to_tensor([1 - (config["lr"] - 0.3) ** 2]).mean()  # a 0-D tensor


@pytest.mark.parametrize("fn", [returns_numpy, returns_paddle_tensor, lambda c: {"acc": 1 - (c["lr"] - 0.3) ** 2}],
                         ids=["numpy", "paddle-0d", "dict"])
def test_accepts_numbers_tensors_and_dicts(tmp_path, fn):
    tuner = AutoTuner(fn, search_space={"lr": {"min": 0.0, "max": 1.0}}, max_trials=3, tuner_type="random",
                      out=tmp_path / "out", verbose=False)
    best = tuner.run()
    assert 0.0 <= best["lr"] <= 1.0
    assert [t.state.name for t in tuner.study.trials] == ["COMPLETE"] * 3
    for t in tuner.study.trials:
        assert t.value == pytest.approx(1 - (t.params["lr"] - 0.3) ** 2, rel=1e-6)
    if fn.__name__ == "<lambda>":  # the dict's only key is the study's metric
        assert tuner.study.user_attrs["metric"] == "acc" and tuner.study.metric_names == ["acc"]


def test_every_returned_number_is_kept_and_metric_picks_the_objective(tmp_path):
    tuner = AutoTuner(lambda c: {"loss": c["lr"], "acc": 1 - c["lr"]}, search_space={"lr": {"min": 0.0, "max": 1.0}},
                      max_trials=3, tuner_type="random", out=tmp_path / "out", metric="acc", verbose=False)
    tuner.run()
    header = (tmp_path / "out" / "trials.csv").read_text().splitlines()[0]
    assert header.endswith(",lr,loss,acc")
    for row in tuner.trials:
        assert row["value"] == row["acc"] and row["loss"] == pytest.approx(row["lr"], rel=1e-5)
    assert all(set(t.user_attrs["metrics"]) == {"loss", "acc"} for t in tuner.study.trials)
    from paddle_autotune_plugins.report.trials_table import trials_table  # show and the report's table: the other number too

    table = trials_table(tuner.study)
    head = next(line for line in table if line.lstrip().startswith("#  state"))
    assert head.split()[-2:] == ["lr", "loss"]
    assert "baseline" not in table[0]  # no base_config: no trial is one, and show does not say '* = baseline'


def test_every_returned_number_goes_to_mlflow(tmp_path):
    from mlflow import MlflowClient

    AutoTuner(lambda c: {"loss": c["lr"], "acc": 1 - c["lr"]}, search_space={"lr": {"min": 0.0, "max": 1.0}},
              max_trials=2, tuner_type="random", out=tmp_path / "out", metric="acc", mlflow="", verbose=False).run()
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("autotune").experiment_id])
    trials = [r for r in runs if r.data.tags.get("autotune.kind") == "trial"]
    assert len(trials) == 2
    for run in trials:
        assert run.data.metrics["acc"] == pytest.approx(1 - run.data.metrics["loss"])
        assert run.data.metrics["value"] == pytest.approx(run.data.metrics["acc"])


def test_resumed_study_keeps_the_key_it_uses(tmp_path):
    def run(trials):
        return AutoTuner(lambda c: {"loss": c["lr"], "acc": 1 - c["lr"]} if trials > 2 else {"acc": 1 - c["lr"]},
                         search_space={"lr": {"min": 0.0, "max": 1.0}}, max_trials=trials, tuner_type="random",
                         out=tmp_path / "out", verbose=False)
    run(2).run()  # the study takes the one key, 'acc', as its metric
    tuner = run(4)
    tuner.run()  # the second run returns two keys: the study already uses 'acc'
    assert [t.state.name for t in tuner.study.trials] == ["COMPLETE"] * 4
    assert tuner.study.user_attrs["metric"] == "acc"


def test_several_metrics_make_a_multi_objective_study(tmp_path):
    tuner = AutoTuner(lambda c: {"accuracy": c["x"], "latency_ms": 10 * c["x"] ** 2},
                      search_space={"x": {"min": 0.0, "max": 1.0}}, max_trials=4, tuner_type="random",
                      out=tmp_path / "out", metric=["accuracy", "latency_ms"], verbose=False)
    front = tuner.run()
    assert [d.name for d in tuner.study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert len(front) == 4 and all(set(c) == {"x"} for c in front)  # each trial trades one for the other
    assert [c["x"] for c in front] == sorted((c["x"] for c in front), reverse=True)


@pytest.mark.parametrize("fn, says", [
    (lambda c: "0.9", "returned a str ('0.9')"),
    (lambda c: [c["x"], 1.0], "returned a list"),
    (lambda c: {"acc": "high"}, "returned a dict whose 'acc' is a str"),
    (lambda c: None, "returned None"),
    (lambda c: {"acc": c["x"], "loss": 1.0}, "returned 'acc', 'loss' but not 'objective': name the one to optimise"),
], ids=["str", "list", "dict-of-str", "none", "two-keys"])
def test_a_return_the_study_cannot_use_stops_it_after_the_first_trial(tmp_path, capfd, fn, says):
    tuner = AutoTuner(fn, search_space={"x": {"min": 0.0, "max": 1.0}}, max_trials=10, tuner_type="random",
                      out=tmp_path / "out")
    with pytest.raises(RuntimeError, match=re.escape(says)) as caught:
        tuner.run()
    message = str(caught.value)
    assert "\n" not in message and ("return a number" in message or "metric='acc'" in message)
    assert [t.state.name for t in tuner.study.trials] == ["FAIL"]
    out, err = capfd.readouterr()
    assert f"stopped by: train_evaluate {says}" in out
    assert "paddle-autotune report" not in out  # nothing to report on


def test_a_caller_that_reported_before_does_not_make_a_none_return_a_result(tmp_path, monkeypatch):
    """A trial forks its caller: a caller that once called report() (a notebook that tried it, a test) must not
    pass that on, or `return None` read as "my report() calls were the result" and each trial failed with
    "finished without reporting" instead of the study saying what train_evaluate returned."""
    from paddle_autotune_plugins.trials import reporting

    monkeypatch.setenv(reporting.ENV_VAR, str(tmp_path / "tried.jsonl"))
    reporting.report(1, 0.5)
    monkeypatch.delenv(reporting.ENV_VAR)
    assert reporting.reported()
    tuner = AutoTuner(lambda c: None, search_space={"x": {"min": 0.0, "max": 1.0}}, max_trials=3,
                      tuner_type="random", out=tmp_path / "out")
    with pytest.raises(RuntimeError, match="returned None"):
        tuner.run()
    reporting.forget_reported()


def test_run_says_what_it_does_and_verbose_false_is_quiet(tmp_path, capfd):
    tuner = AutoTuner(constant, search_space=SPACE, max_trials=20, early_stopping_rounds=3, tuner_type="random",
                      pruner="none", out=tmp_path / "out")
    tuner.run()
    out, err = capfd.readouterr()
    assert f"out {tmp_path / 'out'}" in err.splitlines()[0]
    assert re.search(r"\| trial 0 COMPLETE: objective=0\.5000", err)
    assert "stopped by: no improvement in 3 finished trials (early_stopping_rounds=3)" in out
    assert "best     (trial 0): objective = 0.5" in out and f"paddle-autotune report --out {tmp_path / 'out'}" in out
    AutoTuner(constant, search_space=SPACE, max_trials=2, tuner_type="random", out=tmp_path / "quiet",
              verbose=False).run()
    assert capfd.readouterr() == ("", "")


ARTICLE = (REPO / "tests" / "autodl_article.py").read_text()


@pytest.mark.parametrize("how", ["file", "stdin", "console"])
def test_the_autodl_article_example_as_written(tmp_path, how):
    """The article's own example (Paddle SimpleCNN on digits, `return {'accuracy': acc}`, no __main__ guard),
    run as a script, from stdin and in an interactive console."""
    if how == "file":
        (tmp_path / "script.py").write_text(ARTICLE)
        argv, stdin = [sys.executable, "script.py"], None
    elif how == "stdin":
        argv, stdin = [sys.executable, "-"], ARTICLE
    else:
        console = "import code, sys; sys.ps1 = sys.ps2 = ''; code.InteractiveConsole().interact('', '')"
        argv, stdin = [sys.executable, "-c", console], ARTICLE + "\n"
    env = dict(os.environ, TMPDIR=str(tmp_path))  # the study's temporary folder goes there
    proc = subprocess.run(argv, input=stdin, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    out = pathlib.Path(re.search(r"^\[autotune\] function train_evaluate, .* out (\S+)$", proc.stderr, re.M).group(1))
    assert out.parent == tmp_path
    best = ast.literal_eval(re.search(r"^best config: (.*)$", proc.stdout, re.M).group(1))
    assert set(best) == {"learning_rate", "batch_size"}
    rows = api.read_trials_csv(out / "trials.csv")
    assert rows and all(r["state"] == "COMPLETE" and 0 <= r["accuracy"] <= 1 for r in rows)
    assert max(r["accuracy"] for r in rows) > 0.5  # one small epoch learns the digits well past chance (0.1)
    stopped = re.search(r"stopped by: (.*)$", proc.stdout, re.M).group(1)
    assert stopped in ("no improvement in 3 finished trials (early_stopping_rounds=3)", "trials")
