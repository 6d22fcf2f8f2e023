"""`paddle-autotune dashboard`: the real optuna-dashboard, started as a user starts it, read over HTTP through
its JSON API (the calls its web page makes)."""
import json
import select
import socket
import subprocess
import time
import urllib.request

from conftest import PYTHON, REPO
from fake_suite import FakeAdapter
import pytest

from paddle_autotune_plugins.search_space import space
from paddle_autotune_plugins.settings.options import Settings
from paddle_autotune_plugins.study.coordinator import Coordinator
from paddle_autotune_plugins.suites.adapter import Task

pytest.importorskip("optuna_dashboard")

TRAIN = '''
import sys, yaml
from paddle_autotune_plugins.trials.reporting import report
cfg = yaml.safe_load(open(sys.argv[1]))
for step in range(1, cfg["steps"] + 1):
    report(step, {"score": (1.0 - (cfg["x"] - 0.3) ** 2) * step / cfg["steps"], "cost": cfg["x"] * step})
'''


def run_study(tmp_path, out, trials=3, **settings):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    task = Task(FakeAdapter(script, metrics=("score", "cost")), {"x": 0.9, "steps": 2}, config_path="fake.yaml",
                cwd=str(tmp_path))
    coordinator = Coordinator(task, space.parse_space({"x": {"low": 0.0, "high": 1.0}}),
                              Settings(out=out, trials=trials, sampler="random", pruner="none", quiet=True, **settings))
    coordinator.run()
    return coordinator.study


class Dashboard:
    """`python -m paddle_autotune_plugins dashboard ARGS` until stop(); url is the one it printed."""

    def __init__(self, args):
        self.proc = subprocess.Popen([PYTHON, "-m", "paddle_autotune_plugins", "dashboard"] + list(args), cwd=REPO,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 180
        line = ""
        while not line.startswith("dashboard: ") and time.time() < deadline and self.proc.poll() is None:
            if select.select([self.proc.stdout], [], [], 1.0)[0]:
                line = self.proc.stdout.readline()
        if not line.startswith("dashboard: "):
            self.stop()
            pytest.fail(f"no URL printed (exit {self.proc.returncode}): {self.proc.stderr.read()[-3000:]}")
        self.url = line.split()[1]
        self.base = self.url.split("/dashboard/")[0]

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=60) as response:
            assert response.status == 200
            return json.loads(response.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        return self.proc.stderr.read() if self.proc.stderr else ""


def test_dashboard_of_an_out_folder_shows_the_study_with_its_metric_name(tmp_path):
    out = tmp_path / "out"
    study = run_study(tmp_path, out)
    assert study.metric_names == ["score"]
    dash = Dashboard(["--out", str(out), "--port", "0"])
    try:
        assert dash.url.startswith("http://127.0.0.1:")
        summaries = dash.get("/api/studies")["study_summaries"]
        assert [(s["study_name"], s["directions"]) for s in summaries] == [("autotune", ["maximize"])]
        study_id = summaries[0]["study_id"]
        assert dash.url.endswith(f"/dashboard/studies/{study_id}")  # one study: its page
        detail = dash.get(f"/api/studies/{study_id}")
        assert detail["objective_names"] == ["score"]  # not "Objective 0"
        trials = detail["trials"]
        assert [t["number"] for t in trials] == [0, 1, 2] and {t["state"] for t in trials} == {"Complete"}
        assert trials[0]["params"][0]["name"] == "x" and float(trials[0]["params"][0]["param_external_value"]) == 0.9
        assert [v["step"] for v in trials[0]["intermediate_values"]] == [1, 2]
        assert trials[0]["values"][0] == pytest.approx(1.0 - 0.6 ** 2)
        with urllib.request.urlopen(dash.url, timeout=60) as page:  # the web page itself is served too
            assert page.status == 200 and b"<html" in page.read().lower()
    finally:
        dash.stop()


def test_dashboard_of_a_storage_url_names_every_objective(tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    run_study(tmp_path, tmp_path / "a", storage=storage, study="single")
    run_study(tmp_path, tmp_path / "b", storage=storage, study="multi", extra_metrics=[("cost", "minimize")])
    dash = Dashboard(["--storage", storage, "--study", "multi", "--port", "0"])
    try:
        ids = {s["study_name"]: s["study_id"] for s in dash.get("/api/studies")["study_summaries"]}
        assert sorted(ids) == ["multi", "single"]
        assert dash.url.endswith(f"/dashboard/studies/{ids['multi']}")
        multi = dash.get(f"/api/studies/{ids['multi']}")
        assert multi["objective_names"] == ["score", "cost"] and multi["directions"] == ["maximize", "minimize"]
        assert len(multi["trials"]) == 3 and all(len(t["values"]) == 2 for t in multi["trials"])
        assert dash.get(f"/api/studies/{ids['single']}")["objective_names"] == ["score"]
    finally:
        dash.stop()


def test_ports_taken_and_bad_input(tmp_path, capsys):
    from paddle_autotune_plugins.cli import main

    out = tmp_path / "out"
    run_study(tmp_path, out, trials=1)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert main(["dashboard", "--out", str(out), "--port", str(port)]) == 2
        assert f"port {port} on 127.0.0.1 is taken" in capsys.readouterr().err

    # the default port taken (by this test, or by anything else): a free one instead, and it says so
    default = socket.socket()
    try:
        default.bind(("127.0.0.1", 8080))
        default.listen()
    except OSError:
        pass  # something else holds it already
    try:
        dash = Dashboard(["--out", str(out)])
        try:
            assert not dash.base.endswith(":8080")
            assert dash.get("/api/studies")["study_summaries"][0]["study_name"] == "autotune"
        finally:
            assert "port 8080 is taken; listening on" in dash.stop()
    finally:
        default.close()

    for args, message in ((["--out", str(tmp_path / "none")], "no study in --out"),
                          (["--out", str(out), "--study", "nope"], "no study 'nope' in")):
        assert main(["dashboard"] + args) == 2
        assert message in capsys.readouterr().err
