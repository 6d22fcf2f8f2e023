"""The Python API: tune any function, each trial in a worker process of its own.

    # my_tuning.py
    from paddle_autotune_plugins import AutoTuner, report

    def train_evaluate(config):
        for epoch in range(1, 6):
            acc = ...train one epoch with config["lr"], config["batch_size"]...
            report(epoch, acc)              # lets the pruner stop a bad trial early
        return acc                          # the trial's value (else: its best report)

    if __name__ == "__main__":              # trials import this file again: keep the run under the guard
        best = AutoTuner(train_evaluate,
                         search_space={"lr": {"bounds": [1e-4, 1e-1], "scale": "log"},
                                       "batch_size": {"values": [16, 32, 64]}},
                         max_trials=20, num_workers=2, early_stopping_rounds=5, tuner_type="bayes").run()
        print(best)                         # {'lr': 0.0123, 'batch_size': 32}

``train_evaluate`` must be a module-level function (trials import it by name); it gets the sampled values
merged into ``base_config``.
"""
import inspect
import json
import os
import pathlib
import sys
import tempfile

from . import space
from .adapter import Adapter, Task, python
from .coordinator import Coordinator, Settings
from .errors import UsageError

TUNER_TYPES = {"bayes": "tpe", "tpe": "tpe", "random": "random", "evolution": "cmaes", "grid": "grid", "gp": "gp"}


def function_target(fn):
    """'module:qualname' (or '/path/file.py:qualname' for a script's __main__) that a child can import."""
    if not inspect.isfunction(fn) or "<locals>" in fn.__qualname__ or fn.__name__ == "<lambda>":
        raise UsageError("train_evaluate must be a module-level function (trials import it by name)")
    module = fn.__module__
    if module == "__main__":
        return f"{os.path.abspath(sys.modules['__main__'].__file__)}:{fn.__qualname__}", ""
    # the sys.path entry the module was imported from, so the trial process finds it too
    root = os.path.abspath(sys.modules[module].__file__)
    for _ in range(module.count(".") + 1):
        root = os.path.dirname(root)
    if os.path.basename(sys.modules[module].__file__) == "__init__.py":
        root = os.path.dirname(root)
    return f"{module}:{fn.__qualname__}", root


class FunctionAdapter(Adapter):
    """Trials call a Python function: its config is a plain dict; it reports through report()."""

    name = "python"
    default_metric = "objective"
    config_filename = "config.json"

    def __init__(self, target, root, direction="maximize"):
        self.target = target
        self.root = root
        self.direction = direction

    def direction_for(self, metric):
        return self.direction

    def check_space(self, task, params):
        pass  # any key may be tuned: the function reads what it wants

    def write_config(self, cfg, path):
        pathlib.Path(path).write_text(json.dumps(cfg, indent=1) + "\n")

    def trial_command(self, task, config_path):
        return [python(), "-m", "paddle_autotune_plugins.run_function", self.target, config_path, self.root]


class AutoTuner:
    def __init__(self, train_evaluate, search_space, max_trials=20, num_workers=1, early_stopping_rounds=None,
                 tuner_type="bayes", direction="maximize", pruner="asha", base_config=None, out=None, seed=0,
                 time_budget=None):
        if tuner_type not in TUNER_TYPES:
            raise UsageError(f"unknown tuner_type '{tuner_type}'; choose one of {', '.join(TUNER_TYPES)}")
        self.target, self.root = function_target(train_evaluate)
        self.params = space.parse_space(search_space)
        self.base_config = dict(base_config or {})
        self.settings = dict(trials=max_trials, workers=num_workers, early_stopping_rounds=early_stopping_rounds,
                             sampler=TUNER_TYPES[tuner_type], pruner=pruner, seed=seed, time_budget=time_budget,
                             direction=direction, quiet=True)
        self.out = out
        self.study = None

    def run(self):
        """Run the study; returns the best trial's values (the sampled keys of its config)."""
        out = pathlib.Path(self.out or tempfile.mkdtemp(prefix="autotune_"))
        adapter = FunctionAdapter(self.target, self.root, self.settings["direction"])
        config = dict(self.base_config)
        task = Task(adapter, config, cwd=os.getcwd())
        # The baseline (trial 0) is base_config as given: only when it holds every tuned key.
        baseline = all(p.name in config for p in self.params)
        coordinator = Coordinator(task, self.params, Settings(out=out, baseline=baseline, **self.settings))
        coordinator.run()
        self.study = coordinator.study
        done = [t for t in self.study.trials if t.state.name == "COMPLETE"]
        if not done:
            failed = [t.user_attrs.get("reason", "") for t in self.study.trials if t.state.name == "FAIL"]
            raise RuntimeError(f"no trial completed (see {out}/trial_*/train.log)"
                               + (f"; the first failed with: {failed[0]}" if failed else ""))
        best = self.study.best_trial
        return {name: value for name, value in best.user_attrs["values"].items() if name in best.params}
