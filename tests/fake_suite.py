"""A stand-in suite for unit tests of the core's own logic: each trial runs a tiny Python 'training' script
(written by the test) that reads its YAML config and reports with paddle_autotune_plugins.report.

make_task gives a task of the coordinator tests' fake training (tests/*/test_coordinator.py, test_fidelity.py)."""
import sys

from paddle_autotune_plugins.suites.adapter import Adapter, Task


class FakeAdapter(Adapter):
    name = "fake"
    default_metric = "score"

    def __init__(self, script, metrics=("score",)):
        self.script = script
        self.metrics = list(metrics)

    def metric_names(self, task):
        return self.metrics

    def load(self, script, argv):
        raise NotImplementedError("the fake suite has no command: tests build its Task with make_task")

    def max_steps(self, task, cfg):
        return cfg["steps"]

    def trial_command(self, task, config_path, cfg=None):
        return [sys.executable, str(self.script), config_path]


FAKE_TRAIN = '''
import math, sys, time, yaml
from paddle_autotune_plugins.trials.reporting import report, report_used
cfg = yaml.safe_load(open(sys.argv[1]))
report_used({"x": 0.5 if cfg.get("ignores_x") else cfg["x"]})  # like a trainer that reads another key
if cfg.get("crash"):
    raise ValueError("crash requested by the config")
for step in range(1, cfg["steps"] + 1):
    score = 1.0 - (cfg["x"] - 0.3) ** 2 - 0.1 * (cfg.get("c", "a") != "a")
    report(step, {"score": float("nan") if cfg.get("nan") else score * step / cfg["steps"], "cost": cfg["x"]})
    time.sleep(cfg.get("sleep", 0.0))
'''


def make_task(tmp_path, **config):
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_TRAIN)
    cfg = {"x": 0.9, "c": "b", "steps": 3}
    cfg.update(config)
    return Task(FakeAdapter(script, metrics=("score", "cost")), cfg, config_path="fake.yaml", cwd=str(tmp_path))


X = {"x": {"low": 0.0, "high": 1.0}}
