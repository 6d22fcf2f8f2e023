"""The trial-to-coordinator protocol: one JSON line per evaluation, appended to a file.

The coordinator sets ``PADDLE_AUTOTUNE_REPORT`` to the trial's ``metrics.jsonl`` and tails it. A line is
``{"step": 3, "metrics": {"top1": 0.91, "top5": 0.99}, "time": 1700000000.0}``; there is no version: readers
ignore keys they do not know. Two other kinds of line are not evaluations: ``{"used": {...}}`` (report_used,
the values the trainer really uses) and ``{"progress": {"epoch": 2, "epochs": 5}}`` (report_progress, how
far the training is, for the live ETA). Outside a study (no variable set) reporting does nothing, so a hooked
trainer behaves exactly as the suite's own.

>>> report(1, {"val_acc": 0.5})  # no-op unless run under the coordinator
"""
import json
import math
import os
import time
from typing import Any, Optional, Union

ENV_VAR = "PADDLE_AUTOTUNE_REPORT"
STOP_ENV = "PADDLE_AUTOTUNE_STOP"  # a file the coordinator creates when the trial should end (pruned)
METRIC_ENV = "PADDLE_AUTOTUNE_METRIC"  # the metric the study optimises
WANTS_ENV = "PADDLE_AUTOTUNE_WANTS"  # every metric the study reads (objectives, constraints), comma-separated
PARENT_ENV = "PADDLE_AUTOTUNE_PARENT"  # the coordinator's pid
# a metric name as a script's output lines carry it (``val_acc: 0.93``, ``précision=0.8``): a letter, then
# letters, digits and _ @ . -; the line readers (adapters/generic/hooks.py) and the check of --metric share it
PRINTED_NAME = r"[^\W\d_][\w@.-]*"
CGROUP_ENV = "PADDLE_AUTOTUNE_CGROUP"  # the cgroup v2 folder the trial runs in (process_tree), if any


def die_with_coordinator() -> None:
    """Linux: a trial process gets SIGKILL when its coordinator dies, instead of training on as an orphan.

    Set here, at the trial's start, rather than by the coordinator between fork and exec (Popen's
    preexec_fn), which would make every trial start a full fork of the coordinator instead of a vfork.
    Processes the trial starts itself (e.g. paddle.distributed.launch's workers) are left as they are."""
    text = os.environ.get(PARENT_ENV)
    if not text or not text.isdigit():
        return
    parent = int(text)
    if os.getppid() != parent:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:  # the coordinator died before this trial got this far
            os._exit(137)
        except PermissionError:
            pass
        return  # a grandchild of the coordinator
    if set_parent_death_signal() and os.getppid() != parent:  # it died between the check and the prctl
        os._exit(137)


def join_trial_cgroup() -> None:
    """Linux: a trial process moves itself into the cgroup its coordinator made for it (process_tree), at its
    start, so that whatever it starts is in there too."""
    folder = os.environ.get(CGROUP_ENV)
    if not folder:
        return
    try:
        with open(os.path.join(folder, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    except OSError:  # gone (the trial was ended meanwhile), or not ours to join
        pass


def set_parent_death_signal() -> bool:
    """Linux: this process gets SIGKILL when its parent dies. False where that cannot be set."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        return True
    except (OSError, AttributeError):
        return False


def wanted(name: str) -> bool:
    """Whether the study reads this metric: costly measurements (latency) are taken only when asked."""
    return name in os.environ.get(WANTS_ENV, "").split(",")


_REPORTED = [False]  # whether this process has reported an evaluation


def reported() -> bool:
    """True once this process has written an evaluation with report() (since forget_reported)."""
    return _REPORTED[0]


def forget_reported() -> None:
    """A trial forked from a process that reported (a notebook, a test) starts with nothing reported."""
    _REPORTED[0] = False


def report(step: Optional[int], metrics: Any, final: bool = False) -> None:
    """One evaluation: ``metrics`` is ``{name: value}``, or a bare number for the study's own metric.
    ``final=True`` marks the trial's result (the Python API's return value), not a step for the pruner."""
    path = os.environ.get(ENV_VAR)
    if not path or os.environ.get("PADDLE_TRAINER_ID", "0") != "0":  # multi-GPU trial: rank 0 speaks
        return
    if stop_requested():  # the trial is decided; an eval of the stopped, partial epoch says nothing
        return
    if not isinstance(metrics, dict):
        metrics = {os.environ.get(METRIC_ENV) or "objective": metrics}
    clean: dict[str, Union[float, str]] = {}
    for name, value in metrics.items():
        value = float(value)
        clean[name] = value if math.isfinite(value) else str(value)  # JSON has no NaN: 'nan', 'inf'
    item: dict[str, Any] = {"step": None if step is None else int(step), "metrics": clean, "time": time.time()}
    if final:
        item["final"] = True
    line = json.dumps(item)
    with open(path, "a") as f:  # one write per line, so a reader never sees half a line for long
        f.write(line + "\n")
        f.flush()
    _REPORTED[0] = True


def report_unusable(message: str) -> None:
    """The trial cannot give the study a result, and no trial of the study could (e.g. the Python API's
    function returns a string): one line ``{"unusable": "..."}``; the coordinator stops the study with it."""
    path = os.environ.get(ENV_VAR)
    if not path or os.environ.get("PADDLE_TRAINER_ID", "0") != "0":
        return
    with open(path, "a") as f:
        f.write(json.dumps({"unusable": message, "time": time.time()}) + "\n")
        f.flush()


PROGRESS_ITER_SECONDS = 2.0  # a trial writes at most one within-epoch line per this many seconds
_last_iter_line = [0.0]


def report_progress(epoch: int, epochs: Optional[int] = None, iter: Optional[int] = None, iters: Optional[int] = None,
                    end: bool = False) -> None:
    """Where the training is: epoch ``epoch`` (1-based) of ``epochs`` has started, or ended (``end=True``);
    with ``iter`` of ``iters``, how far into that epoch it is (batches or optimizer steps). One line
    ``{"progress": {"epoch": 2, "epochs": 5}, "time": ...}`` in metrics.jsonl: the coordinator shows it with
    an ETA, never as a metric. Within-epoch lines are thinned to one per PROGRESS_ITER_SECONDS; epoch
    starts and ends are always written.

    >>> report_progress(1, 5)  # no-op unless run under the coordinator
    """
    path = os.environ.get(ENV_VAR)
    if not path or os.environ.get("PADDLE_TRAINER_ID", "0") != "0":
        return
    now = time.time()
    item: dict[str, Any] = {"epoch": int(epoch), "epochs": None if epochs is None else int(epochs)}
    if end:
        item["end"] = True
    elif iter is not None:
        if now - _last_iter_line[0] < PROGRESS_ITER_SECONDS:
            return
        _last_iter_line[0] = now
        item.update(iter=int(iter), iters=None if iters is None else int(iters))
    with open(path, "a") as f:
        f.write(json.dumps({"progress": item, "time": now}) + "\n")
        f.flush()


def stop_requested() -> bool:
    """True once the coordinator wants this trial to end: a trainer that can stop cleanly checks this."""
    path = os.environ.get(STOP_ENV)
    return bool(path and os.path.exists(path))


MAX_LINE = 2**20  # a report line longer than this (1 MiB) is not one the plugin's reporting writes


class BadLine(str):
    """A line of metrics.jsonl the coordinator cannot use, as the reason its trial fails."""


Report = Union[dict[str, Any], BadLine]  # a line of metrics.jsonl as read_reports gives it


def read_reports(path: Union[str, os.PathLike[str]], offset: int = 0) -> tuple[list[Report], int]:
    """New complete lines from offset on: ([report, ...], new offset). A line that is not a report the
    coordinator can use (not JSON, a metric that is not a number, ...) comes as a BadLine in its place:
    the trial wrote it, so it fails that trial, never the study."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(64 * MAX_LINE)
    except FileNotFoundError:
        return [], offset
    except OSError as e:  # e.g. the trial replaced its report file with a folder
        return [BadLine(f"its report file {path} cannot be read ({e.strerror})")], offset
    end = data.rfind(b"\n") + 1  # leave a half-written last line for the next read
    if end == 0 and len(data) > MAX_LINE:
        return [BadLine(f"metrics.jsonl holds a line of over {MAX_LINE // 2**20} MiB without a newline")], offset
    reports = [parse_report(line) for line in data[:end].split(b"\n") if line.strip()]
    return reports, offset + end


def parse_report(line: bytes) -> Report:
    """One line of metrics.jsonl (bytes) as a report, or a BadLine that says what is wrong with it."""
    shown = line[:80].decode(errors="replace") + ("..." if len(line) > 80 else "")
    try:
        item = json.loads(line.decode())
    except ValueError:  # not UTF-8, or not JSON
        return BadLine(f"metrics.jsonl has a line that is not JSON: {shown!r}")
    if not isinstance(item, dict):
        return BadLine(f"metrics.jsonl has a line that is not a JSON object: {shown!r}")
    if "unusable" in item:  # report_unusable: the study cannot use this trial's result, nor any other's
        return item
    if "used" in item or "progress" in item:  # report_used / report_progress: not an evaluation
        if not isinstance(item.get("used", item.get("progress")), dict):
            return BadLine(f"metrics.jsonl has a 'used' or 'progress' line that holds no JSON object: {shown!r}")
        return item
    metrics, step = item.get("metrics"), item.get("step")
    if not isinstance(metrics, dict):
        return BadLine(f"metrics.jsonl has a line without a 'metrics' object: {shown!r}")
    if not (item.get("final") and step is None) and not (type(step) is int and step >= 0):
        return BadLine(f"metrics.jsonl has a line whose 'step' is not a whole number >= 0: {shown!r}")
    try:
        item["metrics"] = {k: float(v) for k, v in metrics.items()}
    except (TypeError, ValueError):
        bad = next(k for k, v in metrics.items() if not _is_number(v))
        return BadLine(f"metrics.jsonl reports {bad}={metrics[bad]!r}, which is not a number: {shown!r}")
    return item


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


TUNED_ENV = "PADDLE_AUTOTUNE_TUNED"  # JSON list of the dotted paths this study tunes
SEED_ENV = "PADDLE_AUTOTUNE_SEED"  # the study's --seed, for hooks of a trainer that takes no seed of its own


def study_seed() -> Optional[int]:
    """The study's --seed (None outside a study): hooks seed a trainer with it whose config has no seed key.

    >>> study_seed() is None  # outside a study
    True
    """
    text = os.environ.get(SEED_ENV)
    return int(text) if text else None


def tuned_paths() -> list[str]:
    """The config paths the study tunes (a trial's hooks may read only those), [] outside a study."""
    try:
        return list(json.loads(os.environ.get(TUNED_ENV) or "[]"))
    except ValueError:
        return []


def report_used(values: dict[str, Any]) -> None:
    """What the trainer really uses, read from its live objects once it is built: ``{dotted config path:
    value}`` (e.g. ``{"Optimizer.lr.learning_rate": 0.05}``, the peak learning rate of the built scheduler).
    The coordinator compares these with the values the trial was given (knobs.py); paths the hooks cannot
    read are left out. May be called more than once; later values win.

    >>> report_used({"Optimizer.lr.learning_rate": 0.05})  # no-op unless run under the coordinator
    """
    path = os.environ.get(ENV_VAR)
    if not path or os.environ.get("PADDLE_TRAINER_ID", "0") != "0":
        return
    line = json.dumps({"used": {k: _plain(v) for k, v in values.items()}, "time": time.time()}, default=str)
    with open(path, "a") as f:
        f.write(line + "\n")
        f.flush()


def _plain(value: Any) -> Any:
    """Numbers, strings, bools, None and (nested) lists of them, from numpy / Paddle scalars and tuples."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number.is_integer() and "int" in type(value).__name__:
        return int(number)
    return number if math.isfinite(number) else str(number)
