"""The Python API: tune any function, each trial in a process of its own.

    # tune_me.py: `python tune_me.py`, `python - < tune_me.py` or pasted into a notebook cell
    import math

    from paddle_autotune_plugins import AutoTuner, report

    def train_evaluate(config):
        for epoch in range(1, 6):
            # stands in for one epoch of training with config["lr"] and config["batch_size"]
            acc = epoch / 5 * (1 - (math.log10(config["lr"]) + 2) ** 2 / 9) - abs(config["batch_size"] - 32) / 640
            report(epoch, acc)              # lets the pruner stop a bad trial early
        return acc                          # the trial's value (else: its best report)

    tuner = AutoTuner(train_evaluate,
                      search_space={"lr": {"bounds": [1e-4, 1e-1], "scale": "log"},
                                    "batch_size": {"values": [16, 32, 64]}},
                      max_trials=30, num_workers=2, early_stopping_rounds=10, tuner_type="bayes")
    best = tuner.run()
    print(best)                             # e.g. {'lr': 0.0102, 'batch_size': 32}
    print(tuner.study.best_value, len(tuner.trials), tuner.out)

``train_evaluate`` gets the sampled values merged into ``base_config`` as a plain dict. It may call
``report(step, value)`` along the way (the pruner decides on those) and returns the trial's value: a number
(Python, numpy, a 0-D tensor) or a dict of numbers such as ``{'accuracy': acc}`` (``metric=`` names the key to
optimise, by default the dict's only one; every number is kept with the trial in trials.csv). ``run()``
prints the study's folder, its progress and its summary, as the CLI does (``verbose=False``: nothing).

How trials start (``start_method``):

- ``"fork"``, the default on Linux and macOS: each trial is an ``os.fork()`` of the process that called
  ``run()``, which has the function in memory. Any function works, at module level with or without an
  ``if __name__ == "__main__":`` guard, typed into a REPL or a notebook, fed on stdin (``python -``), a
  closure or a lambda; the caller's module-level code is never run again. The trial leads its own session,
  writes its output to ``trial_NNNN/train.log``, dies with the caller, and ends with ``os._exit``, leaving
  the caller's files and study storage alone. A fork gets the caller's state as it is: a caller that has
  trained with Paddle itself (CUDA and GNU OpenMP thread pools do not survive a fork) should use
  ``"import"``, and thread counts of libraries the caller already imported (``OMP_NUM_THREADS``) are fixed
  by then. The coordinator runs a single Python thread; ``trial_NNNN/command.txt`` notes the threads at each
  fork, and other Python threads of the caller (a notebook's kernel has some) get a warning.
- ``"import"``, the only one where there is no fork (Windows): each trial is a fresh
  ``python -m paddle_autotune_plugins.trials.run_function MODULE:NAME``, which imports the function by name. It must
  be a module-level function of an importable module or script file, and a script keeps its run under
  ``if __name__ == "__main__":`` (the trial runs the script's module-level code to find the function).

After ``run()``: ``tuner.study`` is the Optuna study, ``tuner.trials`` the rows of ``tuner.out/trials.csv`` as a
list of dicts (column name -> value: numbers as int or float, empty cells as None; ``pandas.DataFrame(
tuner.trials)`` makes a table of them), and ``tuner.out`` the study's folder (a fresh temporary one unless
``out`` is given).
"""
import csv
import inspect
import json
import os
import pathlib
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

import optuna
from optuna.trial import FrozenTrial

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.optuna_glue import samplers
from paddle_autotune_plugins.output.summary import no_trial_completed, summary
from paddle_autotune_plugins.search_space import space
from paddle_autotune_plugins.settings import options
from paddle_autotune_plugins.study.coordinator import Coordinator
from paddle_autotune_plugins.suites.adapter import Adapter, PathLike, Task, python
from paddle_autotune_plugins.trials import run_function
from paddle_autotune_plugins.trials.warm_start import ForkedProcess

# tuner_type -> sampler: the names the API offers, aliases as samplers.py has them
TUNER_TYPES = {name: samplers.ALIASES.get(name, name) for name in ("bayes", "tpe", "random", "evolution", "grid", "gp")}
START_METHODS = ("fork", "import")


def can_fork() -> bool:
    """Whether trials can be forks of the caller (Linux, macOS)."""
    return hasattr(os, "fork") and sys.platform.startswith(("linux", "darwin"))


def function_target(fn: Callable[..., Any]) -> tuple[str, str]:
    """'module:qualname' (or '/path/file.py:qualname' for a script's __main__) that a child can import."""
    if not inspect.isfunction(fn) or "<locals>" in fn.__qualname__ or fn.__name__ == "<lambda>":
        raise UsageError("train_evaluate must be a module-level function where trials import it by name "
                         "(start_method='import', the only one without os.fork): not a closure, lambda or method")
    module = fn.__module__
    main_file = getattr(sys.modules.get(module), "__file__", None)
    if main_file is None or not os.path.isfile(main_file):  # `python -` names its __main__ '<stdin>'
        raise UsageError(f"train_evaluate was defined in {module}, which has no file (a REPL, a notebook or "
                         f"`python -`), so trials cannot import it (start_method='import', the only one without "
                         f"os.fork): put it in a .py file")
    if module == "__main__":
        return f"{os.path.abspath(main_file)}:{fn.__qualname__}", ""
    # the sys.path entry the module was imported from, so the trial process finds it too
    root = os.path.abspath(main_file)
    for _ in range(module.count(".") + 1):
        root = os.path.dirname(root)
    if os.path.basename(main_file) == "__init__.py":
        root = os.path.dirname(root)
    return f"{module}:{fn.__qualname__}", root


def os_threads() -> Optional[int]:
    """How many threads the OS counts in this process (None where /proc cannot tell)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


class FunctionAdapter(Adapter):
    """Trials call a Python function: its config is a plain dict; it reports through report()."""

    name = "python"
    default_metric = "objective"
    config_filename = "config.json"
    runs_paddle = False
    metric_from_result = True  # the returned dict names the metrics (check_result in the coordinator)

    def __init__(self, fn: Callable[..., Any], direction: str = "maximize", start_method: str = "fork") -> None:
        self.fn = fn
        self.direction = direction
        self.start_method = start_method
        try:
            self.target, self.root = function_target(fn)
        except UsageError:  # a fork needs no name: command.txt shows what a cold start would be
            if start_method != "fork":
                raise
            self.target = f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
            self.root = ""
        self.warned_threads = False

    def load(self, script: Optional[str], argv: Sequence[str]) -> Task:
        raise UsageError("the Python API has no suite command: AutoTuner builds its task from base_config")

    def metric_names(self, task: Task) -> Optional[list[str]]:
        return None  # the function's returned dict names them

    def check_space(self, task: Task, params: Sequence[space.Param]) -> None:
        pass  # any key may be tuned: the function reads what it wants

    def write_config(self, cfg: dict[str, Any], path: Union[str, "os.PathLike[str]"]) -> None:
        pathlib.Path(path).write_text(json.dumps(cfg, indent=1) + "\n")

    def trial_command(self, task: Task, config_path: PathLike, cfg: Optional[dict[str, Any]] = None) -> list[str]:
        return [python(), "-m", "paddle_autotune_plugins.trials.run_function", self.target, str(config_path),
                self.root]

    def start_trial(self, task: Task, config_path: PathLike, env: dict[str, str], cwd: Optional[PathLike],
                    log_path: PathLike) -> Optional[ForkedProcess]:
        if self.start_method != "fork":
            return None  # the coordinator runs trial_command
        import threading

        others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
        if others and not self.warned_threads:
            import warnings

            self.warned_threads = True
            warnings.warn(f"AutoTuner forks each trial from this process, which runs other Python threads too "
                          f"({', '.join(others)}): a fork copies only the calling thread, so a lock another one "
                          f"holds can hang a trial; if trials hang, use start_method='import'", RuntimeWarning,
                          stacklevel=2)
        native = os_threads()
        assert cwd is not None, "AutoTuner's task keeps the caller's folder (run())"
        pid = run_function.fork_trial(self.fn, config_path, env, cwd, log_path)
        with open(pathlib.Path(log_path).with_name("command.txt"), "a") as f:
            f.write(f"# started as a fork of the calling process {os.getpid()}, which holds the function (the command "
                    f"above is the same trial started cold); its Python threads: "
                    f"{', '.join([threading.current_thread().name] + others)}; OS threads: {native or '?'} (numpy's "
                    f"OpenBLAS keeps an idle pool thread, which it stops around a fork)\n")
        return ForkedProcess(pid)


class AutoTuner:
    """Tune ``train_evaluate(config) -> value`` over ``search_space``; see the module docstring.

    ``tuner_type``: ``bayes`` (TPE), ``random``, ``evolution`` (CMA-ES), ``grid``, ``gp``; ``pruner``: ``asha``,
    ``hyperband``, ``median``, ``none``; ``start_method``: ``fork`` (default where there is one) or ``import``.
    ``metric``: the key of the returned dict to optimise (default: its only key), a list of keys for several
    objectives; ``verbose=False``: no console lines; ``mlflow``: a tracking URI ("" for out/mlflow.db).
    After ``run()``: ``study`` (Optuna), ``trials`` (the rows of trials.csv as dicts), ``out`` (the folder)."""

    def __init__(self, train_evaluate: Callable[[dict[str, Any]], Any], search_space: dict[str, Any],
                 max_trials: int = 20, num_workers: int = 1, early_stopping_rounds: Optional[int] = None,
                 tuner_type: str = "bayes", direction: Union[str, Sequence[str]] = "maximize",
                 pruner: Optional[str] = None, base_config: Optional[dict[str, Any]] = None,
                 out: Union[str, "os.PathLike[str]", None] = None, seed: int = 0,
                 time_budget: Union[str, float, None] = None, start_method: Optional[str] = None,
                 metric: Union[str, Sequence[str], None] = None, max_failures: Optional[int] = None,
                 verbose: bool = True, mlflow: Optional[str] = None) -> None:
        if run_function.LOADING:
            raise UsageError("this script was run again by a trial to import train_evaluate, and it starts a study "
                             "at module level: put the AutoTuner call under `if __name__ == \"__main__\":` "
                             "(trials import the script by name where there is no os.fork)")
        if tuner_type not in TUNER_TYPES:
            raise UsageError(f"unknown tuner_type '{tuner_type}'; choose one of {', '.join(TUNER_TYPES)}")
        if not callable(train_evaluate):
            raise UsageError(f"train_evaluate must be a function, not {type(train_evaluate).__name__}")
        start_method = start_method or ("fork" if can_fork() else "import")
        if start_method not in START_METHODS:
            raise UsageError(f"unknown start_method '{start_method}'; choose one of {', '.join(START_METHODS)}")
        if start_method == "fork" and not can_fork():
            raise UsageError(f"start_method='fork' needs os.fork (Linux, macOS), not {sys.platform}: use 'import'")
        metrics = [metric] if isinstance(metric, str) else list(metric or [])
        directions = [direction] if isinstance(direction, str) else list(direction)
        self.adapter = FunctionAdapter(train_evaluate, directions[0], start_method)  # checks an import can find it
        self.params = space.parse_space(search_space)
        self.base_config = dict(base_config or {})
        # the tuning options (options.py) these keywords give; the rest keep their defaults
        self.option_values = dict(trials=max_trials, workers=num_workers,
                                  early_stopping_rounds=early_stopping_rounds, sampler=TUNER_TYPES[tuner_type],
                                  pruner=pruner or ("none" if len(metrics) > 1 else "asha"), seed=seed,
                                  time_budget=time_budget, metric=metrics, direction=directions[:len(metrics) or 1],
                                  max_failures=max_failures, quiet=not verbose, mlflow=mlflow)
        self.verbose = verbose
        self.out = out
        self.study: Optional[optuna.Study] = None
        self.trials: Optional[list[dict[str, Any]]] = None

    def run(self) -> Union[dict[str, Any], list[dict[str, Any]]]:
        """Run the study; returns the best trial's values (the sampled keys of its config) as a dict, or with
        several metrics the Pareto front's, best first by the first metric, as a list of dicts."""
        run_function.check_fork_after_cuda(self.adapter.start_method)
        out = pathlib.Path(self.out or tempfile.mkdtemp(prefix="autotune_"))
        self.out = out
        config = dict(self.base_config)
        task = Task(self.adapter, config, cwd=os.getcwd())
        # The baseline (trial 0) is base_config as given: only when it holds every tuned key.
        baseline = all(p.name in config for p in self.params)
        given: dict[str, Any] = dict(self.option_values, out=out)
        if not given["metric"]:  # the key the study already uses (a resumed one), else the first dict's only key
            given["metric"] = [m] if (m := stored_metric(out)) else []
        settings = options.build(given, baseline=baseline)
        coordinator = Coordinator(task, self.params, settings)
        self.say_start(coordinator, given["metric"])
        started = time.time()
        stop = coordinator.run()
        self.study = coordinator.study
        self.trials = read_trials_csv(out / "trials.csv")
        if self.verbose:
            print(summary(self.study, coordinator.metric, started, api_wording(stop), out=out), flush=True)
        failure = no_trial_completed(self.study)
        if failure:
            raise RuntimeError(failure + (f" (the study stopped: {coordinator.halted})" if coordinator.halted
                                          and coordinator.halted not in failure else ""))
        if coordinator.multi:
            front = sorted(self.study.best_trials, key=lambda t: t.values[0], reverse=settings.direction == "maximize")
            return [sampled_values(t) for t in front]
        return sampled_values(self.study.best_trial)

    def say_start(self, coordinator: Coordinator, metrics: Sequence[str]) -> None:
        """The study's first lines, as the CLI's: what it runs, where its folder is, what it tunes."""
        if not self.verbose:
            return
        s = coordinator.s
        metric = (f"metric {', '.join(coordinator.goal.names())} ({coordinator.direction})" if metrics
                  else f"metric: the key train_evaluate returns ({coordinator.direction})")
        print(f"[autotune] function {getattr(self.adapter.fn, '__qualname__', self.adapter.target)}, {metric}, "
              f"sampler {s.sampler}, pruner {s.pruner}, {s.trials} trials, {s.workers} worker"
              f"{'s' if s.workers > 1 else ''}, out {coordinator.out}", file=sys.stderr, flush=True)
        for p in self.params:
            print(f"[autotune]   {p.describe()}", file=sys.stderr, flush=True)


def sampled_values(trial: FrozenTrial) -> dict[str, Any]:
    """A trial's sampled keys and their values (what run() returns)."""
    return {name: value for name, value in trial.user_attrs["values"].items() if name in trial.params}


def stored_metric(out: Union[str, "os.PathLike[str]"]) -> Optional[str]:
    """The metric of the study already in `out` (None for a fresh folder): a resumed study keeps its key."""
    db = pathlib.Path(out) / "study.db"
    if not db.is_file():
        return None
    try:
        storage = optuna.storages.RDBStorage(f"sqlite:///{db.resolve()}")
        return next((s.user_attrs.get("metric") for s in storage.get_all_studies()
                     if s.study_name == "autotune"), None)
    except Exception:  # not a study file of ours: the coordinator says so when it opens it
        return None


def api_wording(stop: Optional[str]) -> str:
    """A stop reason in the API's spelling: (--early-stopping-rounds 3) -> (early_stopping_rounds=3)."""
    return re.sub(r"--([a-z-]+) (\S+)\)", lambda m: f"{m.group(1).replace('-', '_')}={m.group(2)})", stop or "")


def read_trials_csv(path: Union[str, "os.PathLike[str]"]) -> list[dict[str, Any]]:
    """trials.csv as a list of dicts, numbers as numbers, empty cells as None."""
    with open(path, newline="") as f:
        return [{k: _value(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _value(cell: str) -> Union[int, float, str, None]:
    if cell == "":
        return None
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell
