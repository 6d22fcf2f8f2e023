"""--mlflow: a real study logs to a real `mlflow server` (and to the default SQLite store in --out); the runs
are read back with MlflowClient, as a user's MLflow UI or script reads them."""
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from conftest import TESTS
from fake_suite import FakeAdapter
import pytest
import yaml

from paddle_autotune_plugins.search_space import space
from paddle_autotune_plugins.settings.options import Settings
from paddle_autotune_plugins.study.coordinator import Coordinator
from paddle_autotune_plugins.suites.adapter import Task

pytest.importorskip("mlflow")

KILL_ENV = "AUTOTUNE_TEST_KILL_PGID"
TRAIN = f'''
import os, signal, sys, time, yaml
from paddle_autotune_plugins.trials.reporting import report
cfg = yaml.safe_load(open(sys.argv[1]))
if cfg["x"] >= 0.99:
    raise ValueError("crash requested by the config")
for step in range(1, cfg["steps"] + 1):
    if cfg["c"] == "kill" and step == 1:  # the tracking server goes away mid-study, once trial 0 is logged
        import sqlite3
        pgid, db = os.environ["{KILL_ENV}"].split(":", 1)
        deadline = time.time() + 240
        while time.time() < deadline:
            with sqlite3.connect(db) as con:
                if con.execute("select count(*) from runs r join tags t on r.run_uuid = t.run_uuid join experiments e "
                               "on r.experiment_id = e.experiment_id where e.name = 'goes-away' and "
                               "t.key = 'autotune.trial' and t.value = '0' and r.status = 'FINISHED'").fetchone()[0]:
                    break
            time.sleep(0.2)
        os.killpg(int(pgid), signal.SIGKILL)
        time.sleep(0.5)
    score = 1.0 - (cfg["x"] - 0.3) ** 2 - 0.1 * (cfg["c"] != "a")
    report(step, {{"score": score * step / cfg["steps"], "cost": cfg["x"] * step}})
'''
SPACE = {"x": {"low": 0.0, "high": 1.0}, "c": {"values": ["a", "b", "kill"]}}
# after the baseline (x=0.9, c=b): the best trial, one the median pruner stops at step 1, one that crashes
ENQUEUE = [{"x": 0.3, "c": "a"}, {"x": 0.95, "c": "b"}, {"x": 0.99, "c": "b"}]


def study(tmp_path, mlflow, enqueue=ENQUEUE, trials=4, out="out", name=None):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    task = Task(FakeAdapter(script, metrics=("score", "cost")), {"x": 0.9, "c": "b", "steps": 3},
                config_path="fake.yaml", cwd=str(tmp_path))
    params = space.parse_space(SPACE)
    settings = Settings(out=tmp_path / out, trials=trials, sampler="random", pruner="median:1", quiet=True,
                        study=name, mlflow=mlflow, enqueue=space.check_enqueue(enqueue, params))
    coordinator = Coordinator(task, params, settings)
    stop = coordinator.run()
    return coordinator, stop


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """`mlflow server` on loopback with its own SQLite store and artifact folder, in its own process group."""

    def __init__(self, root):
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.db = f"sqlite:///{self.root / 'backend.db'}"
        env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        self.log = open(self.root / "server.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--backend-store-uri", self.db, "--artifacts-destination", str(self.root / "artifacts")],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 300  # a loaded 2-core machine takes a while to import it and make its tables
        while True:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                pytest.fail(f"mlflow server did not start: {(self.root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for this file's tests (it takes a while to start); the last test takes it away."""
    srv = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    yield srv
    srv.stop()


def runs_of(client, experiment_name):
    experiment = client.get_experiment_by_name(experiment_name)
    assert experiment is not None, [e.name for e in client.search_experiments()]
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("autotune.kind") == "study"]
    trials = {int(r.data.tags["autotune.trial"]): r for r in runs if r.data.tags.get("autotune.kind") == "trial"}
    return parents, trials


def test_study_logs_nested_runs_to_an_mlflow_server(tmp_path, server, capfd):
    from mlflow import MlflowClient

    coordinator, stop = study(tmp_path, server.uri)
    assert stop == "trials"
    assert [t.state.name for t in coordinator.study.trials] == ["COMPLETE", "COMPLETE", "PRUNED", "FAIL"]
    captured = capfd.readouterr()
    assert "MLflow" not in captured.err  # nothing went wrong on the way
    assert "View run" not in captured.out  # MLflow's own lines stay out of the study's output

    client = MlflowClient(tracking_uri=server.uri)
    parents, trials = runs_of(client, "autotune")
    assert len(parents) == 1 and sorted(trials) == [0, 1, 2, 3]
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["autotune.metric"] == "score" and parent.data.tags["autotune.suite"] == "fake"
    assert parent.data.tags["autotune.best_trial"] == "1" and parent.data.tags["autotune.stop_reason"] == "trials"
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in trials.values())

    # parameters as the trial got them (the baseline's are the config's own values)
    assert trials[0].data.params == {"x": "0.9", "c": "b"} and trials[0].data.tags["autotune.baseline"] == "true"
    assert trials[1].data.params == {"x": "0.3", "c": "a"}

    # every metric of every evaluation, with its step
    history = client.get_metric_history(trials[1].info.run_id, "score")
    assert [(m.step, round(m.value, 6)) for m in history] == [(1, round(1 / 3, 6)), (2, round(2 / 3, 6)), (3, 1.0)]
    assert [m.step for m in client.get_metric_history(trials[1].info.run_id, "cost")] == [1, 2, 3]
    assert trials[1].data.metrics["value"] == pytest.approx(1.0)
    assert [m.step for m in client.get_metric_history(trials[2].info.run_id, "score")] == [1]

    # how each ended, and why
    assert [trials[n].data.tags["autotune.state"] for n in range(4)] == ["COMPLETE", "COMPLETE", "PRUNED", "FAIL"]
    assert [trials[n].info.status for n in range(4)] == ["FINISHED", "FINISHED", "KILLED", "FAILED"]
    assert trials[2].data.tags["autotune.reason"].startswith("pruned at step 1 (score=")
    assert "crash requested by the config" in trials[3].data.tags["autotune.reason"]
    assert "autotune.reason" not in trials[1].data.tags

    # the config each trained with, as an artifact (the failed one's too)
    for n, run in trials.items():
        assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["config.yaml"]
    local = client.download_artifacts(trials[1].info.run_id, "config.yaml", str(tmp_path / "dl"))
    assert yaml.safe_load(open(local)) == yaml.safe_load(open(tmp_path / "out" / "trial_0001" / "config.yaml"))
    assert yaml.safe_load(open(local))["x"] == 0.3

    # the best tag moved from trial 0 (best when it ended) to trial 1
    assert [n for n, r in sorted(trials.items()) if r.data.tags.get("autotune.best") == "true"] == [1]
    assert parent.data.tags["autotune.best_run"] == trials[1].info.run_id
    best_so_far = client.get_metric_history(parent.info.run_id, "best_score")
    assert [(m.step, round(m.value, 4)) for m in best_so_far] == [(0, round(1 - 0.6 ** 2 - 0.1, 4)), (1, 1.0)]


def test_default_store_is_sqlite_in_out_and_a_resumed_study_keeps_its_parent_run(tmp_path):
    from mlflow import MlflowClient

    out = tmp_path / "out"
    study(tmp_path, "", enqueue=ENQUEUE[:1], trials=2)
    assert (out / "mlflow.db").is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    parents, trials = runs_of(client, "autotune")
    assert len(parents) == 1 and sorted(trials) == [0, 1]
    artifact = pathlib.Path(client.download_artifacts(trials[1].info.run_id, "config.yaml", str(tmp_path / "dl")))
    assert yaml.safe_load(artifact.read_text())["x"] == 0.3
    assert (out / "mlartifacts").is_dir()  # artifacts stay in --out too

    # the same command with more trials resumes the study: the same parent run, two more trials under it
    study(tmp_path, "", enqueue=[], trials=4)
    parents, trials = runs_of(client, "autotune")
    assert len(parents) == 1 and sorted(trials) == [0, 1, 2, 3], sorted(trials)
    assert {r.data.tags["mlflow.parentRunId"] for r in trials.values()} == {parents[0].info.run_id}
    assert parents[0].info.status == "FINISHED"
    best = [n for n, r in trials.items() if r.data.tags.get("autotune.best") == "true"]
    assert len(best) == 1 and int(parents[0].data.tags["autotune.best_trial"]) == best[0]


def test_cli_option_and_no_mlflow_import_without_it(tmp_path):
    from paddle_autotune_plugins.cli import add_tuning_options, make_settings
    from paddle_autotune_plugins.errors import ArgumentParser

    parser = ArgumentParser()
    add_tuning_options(parser)
    assert make_settings(parser.parse_args([])).mlflow is None
    assert make_settings(parser.parse_args(["--mlflow"])).mlflow == ""
    assert make_settings(parser.parse_args(["--mlflow", "http://127.0.0.1:5000"])).mlflow == "http://127.0.0.1:5000"

    # a plain study (and its trial processes) never import mlflow
    (tmp_path / "train.py").write_text(TRAIN + "\nimport sys\nassert 'mlflow' not in sys.modules\n")
    code = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from fake_suite import FakeAdapter
from paddle_autotune_plugins.search_space import space
from paddle_autotune_plugins.suites.adapter import Task
from paddle_autotune_plugins.settings.options import Settings
from paddle_autotune_plugins.study.coordinator import Coordinator
task = Task(FakeAdapter({str(tmp_path / 'train.py')!r}), {{"x": 0.9, "c": "b", "steps": 2}}, cwd={str(tmp_path)!r})
c = Coordinator(task, space.parse_space({SPACE!r}), Settings(out={str(tmp_path / 'plain')!r}, trials=2, quiet=True))
c.run()
print([t.state.name for t in c.study.trials], "mlflow" in sys.modules)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.stdout.split("\n")[-2] == "['COMPLETE', 'COMPLETE'] False", proc.stdout + proc.stderr


def test_a_tracking_server_that_goes_away_warns_once_and_the_study_goes_on(tmp_path, server, capfd, monkeypatch):
    from mlflow import MlflowClient

    # trial 1 kills the server's process group once the server's store has trial 0's run finished
    monkeypatch.setenv(KILL_ENV, f"{server.proc.pid}:{server.root / 'backend.db'}")
    assert server.proc.poll() is None
    coordinator, stop = study(tmp_path, server.uri, enqueue=[{"x": 0.3, "c": "kill"}, {"x": 0.5, "c": "a"}],
                              trials=4, name="goes-away")
    assert stop == "trials"
    assert [t.state.name for t in coordinator.study.trials] == ["COMPLETE"] * 4
    err = capfd.readouterr().err
    assert err.count("MLflow logging") == 1 and "failed and stops (the study goes on)" in err, err
    # what reached the server before it went: trial 0 whole, nothing after trial 1's start
    client = MlflowClient(tracking_uri=server.db)
    parents, trials = runs_of(client, "goes-away")
    assert len(parents) == 1 and parents[0].info.status == "RUNNING"
    assert trials[0].info.status == "FINISHED" and 2 not in trials and 3 not in trials


def test_multi_objective_study_tags_its_pareto_front(tmp_path):
    from mlflow import MlflowClient

    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    task = Task(FakeAdapter(script, metrics=("score", "cost")), {"x": 0.9, "c": "b", "steps": 2}, cwd=str(tmp_path))
    params = space.parse_space({"x": {"low": 0.0, "high": 1.0}})
    out = tmp_path / "out"
    coordinator = Coordinator(task, params, Settings(
        out=out, trials=4, sampler="random", pruner="none", quiet=True, mlflow="", extra_metrics=[("cost", "minimize")],
        enqueue=space.check_enqueue([{"x": 0.3}, {"x": 0.0}, {"x": 0.6}], params)))
    coordinator.run()
    front = sorted(t.number for t in coordinator.study.best_trials)
    assert front == [1, 2]  # x=0.3 beats the baseline x=0.9 on both, x=0.0 beats x=0.6; those two trade off
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    parents, trials = runs_of(client, "autotune")
    assert sorted(n for n, r in trials.items() if r.data.tags.get("autotune.best") == "true") == front
    assert sorted(int(n) for n in parents[0].data.tags["autotune.best_trial"].split(",")) == front
    assert [m.step for m in client.get_metric_history(trials[3].info.run_id, "cost")] == [1, 2]
