"""Inside a trial of a flag-driven script (generic and PaddleNLP scripts alike), before the script runs: what
the generic and nlp adapters' hooks share.

- Output: every line the script writes, to stdout *or* stderr (PaddleNLP's logger writes to stderr), is
  read for metrics once its ANSI colour codes are stripped. An evaluation line (``eval loss: 0.51807, acc:
  0.75833``) is told apart from a training-step line (``global step 5, epoch: 1, batch: 3, loss: 0.69,
  acc: 0.5``), which reports nothing.
- Parsed arguments: argparse's ``parse_known_args`` (which ``parse_args`` and PaddleNLP's
  ``PdArgumentParser`` go through) hands the values the script really parsed to the coordinator with
  ``report_used``, which checks them against the trial's config (the knob proof).

>>> line_metrics("\\x1b[32m[2026-12-01 19:02:18,266] [    INFO]\\x1b[0m - eval loss: 0.69363, acc: 0.48000\\x1b[0m")
(True, {'loss': 0.69363, 'acc': 0.48})
>>> line_metrics("global step 5, epoch: 1, batch: 3, loss: 0.69, acc: 0.5")
(False, {})
>>> eval_names({'loss': 0.69363, 'acc': 0.48})
{'eval_loss': 0.69363, 'eval_accuracy': 0.48}
"""
import argparse
import contextlib
import re
import sys
from typing import Any, Callable, Iterator, Mapping, Optional, TextIO

from paddle_autotune_plugins.suites.kit.patching import is_patched, mark_patched
from paddle_autotune_plugins.trials.reporting import PRINTED_NAME, report, report_progress, report_used, tuned_paths

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf"
_PAIR = re.compile(rf"(?<![\w.-])({PRINTED_NAME}?)\s*[:=]\s*({_NUMBER})(?![\w.])", re.IGNORECASE)
# a word that says the line is an evaluation (letters around it would make it part of another word:
# "interval", "device", "value"; an underscore may follow, as in eval_loss or val_acc)
_EVAL_WORD = re.compile(r"(?<![A-Za-z])(eval|evaluat\w*|dev|val|valid|validation)(?![A-Za-z])", re.IGNORECASE)
# a training-progress counter: "global step 5", "batch: 3", "iter 10", "global_step: 10"
_PROGRESS = re.compile(r"(?<![A-Za-z])(step|batch|iter|iteration)(?![A-Za-z])\s*[:=]?\s*\d", re.IGNORECASE)
_EVAL_PREFIX = re.compile(r"^(eval|val|dev|valid)_", re.IGNORECASE)
ALIASES = {"acc": "accuracy"}  # eval_accuracy, as PaddleNLP's Trainer calls it, whatever the script prints


def line_metrics(line: str) -> tuple[bool, dict[str, float]]:
    """(is_eval, {name: value}) of one output line: the ``name: value`` / ``name=value`` pairs of an
    evaluation line or of a plain one (``epoch 3 val_acc: 0.93``); nothing for a training-step line."""
    line = ANSI.sub("", line)
    found: dict[str, float] = {}
    for name, value in _PAIR.findall(line):
        found.setdefault(name, float(value))
    evaluating = bool(_EVAL_WORD.search(line))
    if not evaluating and _PROGRESS.search(line):
        return False, {}
    return evaluating, found


def eval_names(found: dict[str, float]) -> dict[str, float]:
    """An evaluation line's values under eval_* names (``loss`` -> ``eval_loss``, ``acc`` and ``val_acc``
    -> ``eval_accuracy``), the names PaddleNLP's Trainer reports."""
    named: dict[str, float] = {}
    for name, value in found.items():
        base = _EVAL_PREFIX.sub("", name)
        named["eval_" + ALIASES.get(base.lower(), base)] = value
    return named


class EvalLines:
    """Each evaluation line is one report, numbered 1, 2, ... (one per epoch for per-epoch evaluation).
    The study's own spelling of a printed name (``--metric acc``) is reported too."""

    def __init__(self, metric: Optional[str] = None) -> None:
        self.metric = metric
        self.count = 0
        self.active = True  # False once a PaddleNLP Trainer reports through its callback instead

    def __call__(self, line: str) -> None:
        if not self.active:
            return
        evaluating, found = line_metrics(line)
        if not evaluating or not found:
            return
        metrics = eval_names(found)
        for name, value in found.items():
            if self.metric in (name, "eval_" + name):
                metrics[self.metric] = value
        self.count += 1
        report(self.count, metrics)


class MetricLines:
    """Each line that carries the study's metric (``val_acc: 0.93`` or ``val_acc=0.93``) is one report,
    numbered 1, 2, ...; training-step lines aside."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.count = 0

    def __call__(self, line: str) -> None:
        _, found = line_metrics(line)
        named = {k.lower(): v for k, v in found.items()}
        if self.metric.lower() in named:
            self.count += 1
            report(self.count, {self.metric: named[self.metric.lower()]})


_EPOCH = re.compile(r"(?<![A-Za-z])epoch\s*[:=]?\s*\[?\s*(\d+)\s*(?:/|of)\s*(\d+)", re.IGNORECASE)


class EpochLines:
    """A printed ``epoch 2/5`` (``Epoch 2 of 5``, ``[epoch 2/5]``) is the script's progress, for the ETA: a
    line that also carries the study's metric or is an evaluation ends that epoch, any other starts it.
    Only changes are reported (a script may print its epoch on every batch line)."""

    def __init__(self, metric: Optional[str] = None) -> None:
        self.metric = metric
        self.last: Optional[tuple[int, bool]] = None

    def __call__(self, line: str) -> None:
        match = _EPOCH.search(ANSI.sub("", line))
        if not match:
            return
        epoch, epochs = int(match.group(1)), int(match.group(2))
        evaluating, found = line_metrics(line)
        end = bool(found) and (evaluating or (self.metric or "").lower() in {k.lower() for k in found})
        if (epoch, end) != self.last and 0 < epoch <= epochs:
            self.last = (epoch, end)
            report_progress(epoch, epochs, end=end)


MAX_LINE = 64 * 1024  # the start of a longer line is read for metrics; the rest is passed through unread
_BREAK = re.compile(r"[\r\n]")


class _LineTee:
    """Passes a stream's output through unchanged and hands each complete line (tqdm's \\r-separated
    refreshes count as lines) to on_line. Linear in the output: a line's pieces are joined once, when it
    ends, and only its first MAX_LINE characters are kept (a script may write megabytes without a newline)."""

    def __init__(self, stream: TextIO, on_line: Callable[[str], Any]) -> None:
        self._stream = stream
        self._on_line = on_line
        self._pieces: list[str] = []  # the current line so far, at most MAX_LINE characters
        self._size = 0

    def write(self, text: str) -> int:
        for i, piece in enumerate(_BREAK.split(text)):
            if i:
                self._end_line()
            if piece and self._size < MAX_LINE:
                piece = piece[:MAX_LINE - self._size]
                self._pieces.append(piece)
                self._size += len(piece)
        return self._stream.write(text)

    def _end_line(self) -> None:
        line = "".join(self._pieces)
        self._pieces, self._size = [], 0
        if line.strip():
            self._on_line(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def read_output(on_line: Callable[[str], Any]) -> None:
    """Tee stdout and stderr into on_line. Installed before the script imports anything, so loggers that
    keep the stream they saw at import (logging.StreamHandler, PaddleNLP's logger) write through it."""
    sys.stdout = _LineTee(sys.stdout, on_line)
    sys.stderr = _LineTee(sys.stderr, on_line)


_depth = [0]  # nested argument parsing (a subparser, PdArgumentParser's own call): the outermost reports


@contextlib.contextmanager
def parsing() -> Iterator[bool]:
    """Around one parse; yields True when it is the outermost, whose values are the script's."""
    _depth[0] += 1
    try:
        yield _depth[0] == 1
    finally:
        _depth[0] -= 1


def send_used(values: Mapping[str, Any]) -> None:
    """Report the parsed values of the tuned flags (the config spells a flag as given, ``batch-size``;
    argparse keeps it as ``batch_size``)."""
    picked: dict[str, Any] = {}
    for path in tuned_paths():
        for key in (path, path.replace("-", "_")):
            if key in values:
                picked[path] = values[key]
                break
    if picked:
        report_used(picked)


def hook_parse_args() -> None:
    """Every argparse parse reports what it parsed (parse_args goes through parse_known_args)."""
    original = argparse.ArgumentParser.parse_known_args
    if is_patched(original):
        return

    def parse_known_args(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        with parsing() as outermost:
            result = original(self, *args, **kwargs)
        if outermost:
            send_used(vars(result[0]))
        return result

    mark_patched(parse_known_args)
    argparse.ArgumentParser.parse_known_args = parse_known_args  # type: ignore[method-assign]  # the trial's
    # every parse reports: argparse's own method is replaced for the whole process
