"""Trial process of the Python API: call the user's function with the trial's config, report its value.

Two ways in (api.py picks one):

- ``fork_trial``, on Linux and macOS: the trial is an ``os.fork()`` of the process that called
  ``AutoTuner.run()``. The function is already in its memory, so a function of a script without an
  ``if __name__ == "__main__":`` guard, of ``python -`` or a notebook, a closure or a lambda all work, and
  the caller's module-level code never runs again.
- ``python -m paddle_autotune_plugins.trials.run_function my_module:train_evaluate trial_0003/config.json [IMPORT_ROOT]``
  where there is no fork: the trial imports the function by name (a script's run is then kept under the guard).

Either way the trial reports through reporting.py: ``report()`` calls during the run (pruning) and the
return value as the trial's result (``final``).
"""
import importlib
import json
import os
import runpy
import sys
from typing import Any, Callable, Optional, Union

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.trials import reporting
from paddle_autotune_plugins.trials.reporting import METRIC_ENV, report, report_unusable, set_parent_death_signal

LOADING = False  # True while a trial runs a script's module-level code to find its function (import path)


def load(target: str) -> Any:
    global LOADING
    module, _, qualname = target.rpartition(":")
    if module.endswith(".py"):  # a script's __main__: its guarded block does not run under this name
        LOADING = True
        try:
            namespace = runpy.run_path(module, run_name="__autotune_trial__")
        finally:
            LOADING = False
        obj: Any = namespace[qualname.split(".")[0]]
        rest = qualname.split(".")[1:]
    else:
        obj = importlib.import_module(module)
        rest = qualname.split(".")
    for part in rest:
        obj = getattr(obj, part)
    return obj


def cuda_initialised() -> Optional[str]:
    """The framework that has set up CUDA in this process ('PyTorch', 'Paddle') or None. Only a framework the
    caller already imported is asked: importing one to ask would take seconds, and for Paddle would itself
    set CUDA up."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return "PyTorch"
    paddle = sys.modules.get("paddle")
    # Paddle has no is_initialized(), and `import paddle` already runs core.init_devices() (paddle/base/__init__.py):
    # a CUDA build that sees a GPU is taken as having initialised CUDA
    if paddle is not None and paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        return "Paddle"
    return None


def check_fork_after_cuda(start_method: str) -> None:
    """Stop before any trial where trials would be forks of a process that has set up CUDA: a fork cannot use
    CUDA again (PyTorch raises "Cannot re-initialize CUDA in forked subprocess"), so every trial would fail.

    Stop rather than switch to start_method="import" on our own: "import" runs the caller's script again in
    every trial to find the function (its module-level code too, e.g. the training that set CUDA up) and
    cannot run a closure, a lambda or a notebook's function, so what each trial runs would change unasked."""
    framework = cuda_initialised() if start_method == "fork" else None
    if framework:
        raise UsageError(f"this process has initialised CUDA ({framework}) and a forked trial cannot use CUDA "
                         f"after that: pass start_method=\"import\" to AutoTuner (each trial then starts a fresh "
                         f"Python that imports train_evaluate from its file)")


def call(fn: Callable[[dict[str, Any]], Any], config_path: Union[str, os.PathLike[str]]) -> None:
    """Run the objective on the trial's config; its return value (if any) is the trial's result. A return the
    study cannot use is reported as such, which stops the study: every trial would return the same kind."""
    with open(config_path) as f:
        config = json.load(f)
    reporting.forget_reported()
    result = fn(config)
    if result is None and reporting.reported():  # its report() calls were the result
        return
    try:
        metrics = result_metrics(result, os.environ.get(METRIC_ENV) or "objective")
    except ValueError as e:
        report_unusable(str(e))
        return
    report(None, metrics, final=True)


RETURN_HINT = "return a number (e.g. `return acc`) or a dict of numbers (e.g. `return {'accuracy': acc}`)"


def result_metrics(result: Any, metric: str) -> dict[str, float]:
    """What train_evaluate returned, as {name: float}: a number (Python, numpy, a 0-D Paddle or torch tensor)
    is the study's `metric`; a dict keeps every key. ValueError, saying what came back and what to return."""
    if isinstance(result, dict):
        if not result:
            raise ValueError(f"train_evaluate returned an empty dict; {RETURN_HINT}")
        metrics: dict[str, float] = {}
        for key, value in result.items():
            number = as_number(value)
            if number is None:
                raise ValueError(f"train_evaluate returned a dict whose {key!r} is {_shown(value)}, not a number; "
                                 f"{RETURN_HINT}")
            metrics[str(key)] = number
        return metrics
    number = as_number(result)
    if number is None:
        raise ValueError(f"train_evaluate returned {_shown(result)}, which the study cannot use; {RETURN_HINT}")
    return {metric: number}


def as_number(value: Any) -> Optional[float]:
    """float(value) for a real number or a one-element array or tensor (numpy, Paddle, torch); else None."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy, Paddle, torch
        value = value.tolist()  # a Python number (0-D) or nested lists
        while isinstance(value, list) and len(value) == 1:
            value = value[0]
    if isinstance(value, (str, bytes, bool, list)) or value is None:  # float('0.9') and float(True) are no result
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _shown(value: Any, limit: int = 60) -> str:
    """A returned value as the one-line message shows it: its type and a short repr."""
    if value is None:
        return "None"
    text = repr(value).replace("\n", " ")
    text = text if len(text) <= limit else text[:limit - 3] + "..."
    return f"a {type(value).__name__} ({text})"


def fork_trial(fn: Callable[[dict[str, Any]], Any], config_path: Union[str, os.PathLike[str]], env: dict[str, str],
               cwd: Union[str, os.PathLike[str]], log_path: Union[str, os.PathLike[str]]) -> int:
    """Fork this process into the trial's; returns the child's pid once it leads its own session and is set
    to die with this process (so the coordinator can stop its group at once). Unix only."""
    sys.stdout.flush()  # what this process printed so far is not written again by the child
    sys.stderr.flush()
    parent = os.getpid()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        _child(fn, config_path, env, cwd, log_path, parent, ready_w)  # never returns
    os.close(ready_w)
    try:
        os.read(ready_r, 1)  # b"" if the child died first: the coordinator then sees its exit code
    finally:
        os.close(ready_r)
    return pid


def _child(fn: Callable[[dict[str, Any]], Any], config_path: Union[str, os.PathLike[str]], env: dict[str, str],
           cwd: Union[str, os.PathLike[str]], log_path: Union[str, os.PathLike[str]], parent: int,
           ready_w: int) -> None:
    """In the fork: become the trial (own session, its log, environment and folder), run fn, os._exit.

    Nothing of the caller's is closed or flushed on the way out (its Optuna storage, open files, atexit
    handlers): os._exit leaves them to the caller. Exit code 0, or 1 with the traceback in train.log."""
    import atexit
    import random
    import signal

    from paddle_autotune_plugins.trials.warm_start import exit_as_a_process

    def trial() -> None:
        try:
            os.setsid()  # its own process group, as cold trials: stopping the trial stops its children
            set_parent_death_signal()  # Linux: dies with the coordinator, as every trial does
        finally:
            os.write(ready_w, b"1")
            os.close(ready_w)
        if os.getppid() != parent:  # the caller died before the death signal was set
            os._exit(137)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        null = os.open(os.devnull, os.O_RDONLY)  # never read the caller's stdin (e.g. the rest of `python -`)
        os.dup2(null, 0)
        os.close(null)
        # new stream objects: the caller's may be a notebook's or hold text it had not flushed yet
        # (typeshed marks sys.__stdin__ and the others Final; a fresh process's are these fds' streams)
        sys.stdin = sys.__stdin__ = open(0, closefd=False)  # type: ignore[misc]
        sys.stdout = sys.__stdout__ = open(1, "w", buffering=1, closefd=False)  # type: ignore[misc]
        sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, closefd=False)  # type: ignore[misc]
        try:  # the signals a fresh Python process starts with, whatever the caller installed
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        except ValueError:  # not the main thread
            pass
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        random.seed()  # fresh entropy, as a new process would have, not a copy of the caller's state
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        atexit._clear()  # the caller's exit handlers are its own; the trial's (registered by fn) run below
        call(fn, config_path)

    exit_as_a_process(trial)


def main() -> None:
    target, config_path = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 3 and sys.argv[3]:
        sys.path.insert(0, sys.argv[3])  # where the coordinator's process imported the function from
    call(load(target), config_path)


if __name__ == "__main__":
    from paddle_autotune_plugins.trials import run_function  # the copy api.py sees: it reads LOADING there

    run_function.main()
