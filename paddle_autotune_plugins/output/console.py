"""The live console of a study: one line per event and, while trials train, where each is with an ETA."""
import dataclasses
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Optional, TextIO

import optuna

from paddle_autotune_plugins.output.trial_clock import TrialClock
from paddle_autotune_plugins.output.trials_csv import duration_s

if TYPE_CHECKING:  # for the annotations only: the study and trial modules import this one
    from paddle_autotune_plugins.study.study_view import StudyView
    from paddle_autotune_plugins.trials.trial_processes import RunningTrial


def _fmt_values(values: dict[str, Any], limit: int = 4) -> str:
    parts = [f"{k.rsplit('.', 1)[-1]}={v:.4g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}"
             for k, v in list(values.items())[:limit]]
    return " ".join(parts) + (" ..." if len(values) > limit else "")


def fmt_clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


PROGRESS_EVERY_ENV = "PADDLE_AUTOTUNE_PROGRESS_EVERY"  # seconds between progress lines when stderr is a file
LOG_EVERY_SECONDS = 30.0
REDRAW_SECONDS = 1.0  # the live line on a terminal is rewritten at most this often
_CLEAR = "\r\x1b[K"  # back to the line's start, erase it


def _eta(seconds: Optional[float], why: str = "nothing timed yet") -> str:
    return f"ETA ~{fmt_clock(seconds)}" if seconds is not None else f"ETA ~? ({why})"


@dataclasses.dataclass(frozen=True)
class StudyStatus:
    """What the progress lines read of a running study; Progress only reads it. The coordinator builds it
    once: `view` and `running` are its own live objects, so the lines always show the current state."""
    view: "StudyView"  # study_view.StudyView: tally(), best_value(), trials(), started, study_started()
    running: dict[int, "RunningTrial"]  # trial number -> trial_processes.RunningTrial
    metric: str
    trials: int  # --trials
    workers: int
    time_budget: Optional[float] = None


class Progress:
    """What a study shows on stderr: one line per event (what started, what each eval said, how each trial
    ended) and, while trials train, where each is (epoch k/N) with an ETA for it and for the study. On a
    terminal that is one line rewritten in place (cleared before each event line); in a file, one line per
    running trial every LOG_EVERY_SECONDS (PADDLE_AUTOTUNE_PROGRESS_EVERY), never a carriage return."""

    def __init__(self, status: StudyStatus, quiet: bool = False, stream: Optional[TextIO] = None) -> None:
        self.status = status  # a StudyStatus
        self.quiet = quiet
        self._stream = stream  # None: sys.stderr as it is when writing (tests and the CLI may swap it)
        self.clocks: dict[int, TrialClock] = {}  # trial number -> TrialClock
        self._shown = False  # the live line is on the terminal now
        self._drawn = 0.0
        self._logged: Optional[float] = None
        try:
            self.every = float(os.environ.get(PROGRESS_EVERY_ENV) or LOG_EVERY_SECONDS)
        except ValueError:
            self.every = LOG_EVERY_SECONDS

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def _tty(self) -> bool:
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def _head(self) -> str:
        status = self.status
        if status.view.study is None:  # a note before the study is open (e.g. --warm-start's start-up)
            return "[autotune]"
        tally = status.view.tally()
        best = status.view.best_value()
        assert status.view.started is not None  # the coordinator sets it when its loop begins, after the study opens
        return (f"[autotune {fmt_clock(time.time() - status.view.started)}] {tally['done']}/{status.trials} done"
                f" ({tally['pruned']} pruned, {tally['failed']} failed), {len(status.running)} running,"
                f" best {status.metric}={'-' if best is None else f'{best:.4f}'}")

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        self.clear()
        print(f"{self._head()} | {text}", file=self.stream, flush=True)
        self._drawn = 0.0  # the live line comes back at the next tick

    def clear(self) -> None:
        """Erase the live line (before an event line, or when the study ends)."""
        if self._shown:
            self.stream.write(_CLEAR)
            self.stream.flush()
            self._shown = False

    def note(self, text: str) -> None:
        self._line(text)

    def warn(self, text: str) -> None:
        """Shown even with --quiet: a result is about to be wrong in a way the user must know."""
        quiet, self.quiet = self.quiet, False
        self._line(f"WARNING: {text}")
        self.quiet = quiet

    def started(self, number: int, baseline: bool, values: dict[str, Any]) -> None:
        self._line(f"trial {number} started" + (" (baseline: your config)" if baseline else f": {_fmt_values(values)}"))

    def reported(self, rt: "RunningTrial", step: int, value: float, unit: str = "step") -> None:
        self._line(f"trial {rt.trial.number} {unit} {step}: {self.status.metric}={value:.4f}")

    def finished(self, number: int, state: optuna.trial.TrialState, value: Optional[float],
                 reason: Optional[str]) -> None:
        self.clocks.pop(number, None)
        what = f"{self.status.metric}={value:.4f}" if value is not None else (reason or "")
        self._line(f"trial {number} {state.name}: {what}")

    # --- where the running trials are -------------------------------------------------------------
    def training(self, rt: "RunningTrial", rep: dict[str, Any]) -> None:
        """A progress line of a running trial (not a metric)."""
        clock = self.clocks.setdefault(rt.trial.number, TrialClock(rt.started))
        try:
            clock.update(rep["progress"], float(rep.get("time") or time.time()))
        except (KeyError, TypeError, ValueError):  # a malformed line says nothing about the training
            pass

    def study_eta(self, now: float) -> Optional[float]:
        """Seconds until the study ends: the running trials' remaining time plus the trials still to start
        at the mean duration of the finished ones (or, before any finished, of the running ones' estimates)."""
        status = self.status
        lefts, estimates = [], []
        for rt in status.running.values():
            clock = self.clocks.get(rt.trial.number)
            eta = clock.eta(now) if clock else None
            lefts.append((rt, eta))
            if eta is not None:
                estimates.append(now - rt.started + eta)
        done = [d for t in status.view.trials()
                if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
                and (d := duration_s(t))]
        per_trial = sum(done) / len(done) if done else sum(estimates) / len(estimates) if estimates else None
        if per_trial is None:
            return None
        left = [eta if eta is not None else max(0.0, per_trial - (now - rt.started)) for rt, eta in lefts]
        to_start = max(0, status.trials - status.view.tally()["trials"])
        total = max(left + [(sum(left) + to_start * per_trial) / max(1, status.workers)])
        if status.time_budget:  # no trial starts after the budget; those running then still finish
            budget_left = max(0.0, status.view.study_started() + status.time_budget - now)
            total = max(left + [min(total, budget_left + per_trial)])
        return total

    def tick(self) -> None:
        """Called while trials run: redraw the live line (terminal) or write the periodic lines (file)."""
        if self.quiet or not self.status.running:
            return
        now = time.time()
        if self._tty():
            if now - self._drawn >= REDRAW_SECONDS:
                self._draw(now)
            return
        if self._logged is None:
            self._logged = now
        if now - self._logged >= self.every:
            self._logged = now
            study = _eta(self.study_eta(now))
            for rt in list(self.status.running.values()):
                clock = self.clocks.get(rt.trial.number)
                if clock is None:
                    text = f"trial {rt.trial.number} running {fmt_clock(now - rt.started)}, no epoch reported yet"
                else:
                    rate = clock.rate()
                    text = (f"trial {rt.trial.number} {clock.where()}"
                            + (f", {rate:.1f} s/epoch" if rate is not None else "")
                            + f", trial {_eta(clock.eta(now), 'timing its first epoch')}")
                print(f"{self._head()} | {text}, study {study}", file=self.stream, flush=True)

    def _draw(self, now: float) -> None:
        parts = []
        for rt in list(self.status.running.values()):
            clock = self.clocks.get(rt.trial.number)
            if clock is None:
                parts.append(f"trial {rt.trial.number} running {fmt_clock(now - rt.started)}")
            else:
                eta = clock.eta(now)
                parts.append(f"trial {rt.trial.number} {clock.where()}, "
                             + (f"ETA ~{fmt_clock(eta)}" if eta is not None else "ETA ~?"))
        tally = self.status.view.tally()
        assert self.status.view.started is not None  # trials run: the coordinator's loop has begun
        parts.append(f"study {tally['done']}/{self.status.trials} done, {_eta(self.study_eta(now))}")
        text = f"[autotune {fmt_clock(now - self.status.view.started)}] " + " | ".join(parts)
        try:
            width = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            width = 120
        if len(text) > width - 1:  # a wrapped line could not be rewritten in place
            text = text[:max(0, width - 4)] + "..." if width > 4 else ""
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self._shown, self._drawn = True, now
