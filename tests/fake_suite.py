"""A stand-in suite for unit tests of the core's own logic: each trial runs a tiny Python 'training' script
(written by the test) that reads its YAML config and reports with paddle_autotune_plugins.report."""
import sys

from paddle_autotune_plugins.adapter import Adapter


class FakeAdapter(Adapter):
    name = "fake"
    default_metric = "score"

    def __init__(self, script, metrics=("score",)):
        self.script = script
        self.metrics = list(metrics)

    def metric_names(self, task):
        return self.metrics

    def max_steps(self, cfg, task=None):
        return cfg["steps"]

    def trial_command(self, task, config_path, cfg=None):
        return [sys.executable, str(self.script), config_path]
