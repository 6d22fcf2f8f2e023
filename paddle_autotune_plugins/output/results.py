"""What a study shows people: trials.csv, the live progress line, the closing summary."""
import csv
import dataclasses
import math
import os
import pathlib
import re
import shlex
import signal
import sys
import time

import optuna

from paddle_autotune_plugins.study import trial_queries as queries
from paddle_autotune_plugins.trials.knobs import Verdict

CSV_HEAD = ["number", "state", "value", "best_value", "duration_s", "reason", "drawn_from"]


def write_trials_csv(study, param_names, path):
    """One row per trial, trial order; best_value is the best finished value up to that trial."""
    trials = queries.started(study)  # queued (WAITING) rows are not trials yet
    if len(study.directions) > 1:  # every objective, ';'-separated; no single best
        rows = [_row(t, ";".join(_num(v) for v in t.values) if t.values else "", "", param_names) for t in trials]
    else:
        bests = queries.best_so_far(trials, queries.directions(study)[0])
        rows = [_row(t, _num(queries.value(t)), _num(best), param_names) for t, best in zip(trials, bests)]
    metrics = returned_metrics(trials)
    rows = [row + [_cell(t.user_attrs.get("metrics", {}).get(m)) for m in metrics] for t, row in zip(trials, rows)]
    taken = set(CSV_HEAD) | set(param_names)
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_HEAD + list(param_names) + [f"metric.{m}" if m in taken else m for m in metrics])
            writer.writerows(rows)
        os.replace(tmp, path)  # readers never see a half-written table
    except OSError:  # e.g. the disk is full: no half-written temp file stays behind
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def returned_metrics(trials):
    """Every metric name the trials' results hold (the Python API's returned dicts), first seen first."""
    return list(dict.fromkeys(m for t in trials for m in t.user_attrs.get("metrics", {})))


def _row(t, value, best, param_names):
    values = t.user_attrs.get("values", t.params)
    reason = t.user_attrs.get("reason", "baseline (config as given)" if t.user_attrs.get("baseline") else "")
    if t.state == optuna.trial.TrialState.RUNNING and not reason:  # e.g. another worker's, when this one ended
        reason = "still running when this table was written" + (
            f" (heartbeat {time.strftime('%H:%M:%S', time.localtime(t.user_attrs['heartbeat']))})"
            if "heartbeat" in t.user_attrs else "")
    if t.user_attrs.get("baseline") and "baseline" not in reason:
        reason = f"baseline; {reason}"
    verdict = Verdict.from_attr(t.user_attrs.get("knobs"))
    if verdict and not verdict.acted() and "knob does not act" not in reason:  # the trainer used other values
        reason = "; ".join(r for r in (reason, "knob does not act: " + "; ".join(verdict.mismatches)) if r)
    duration = duration_s(t)
    return [t.number, t.state.name, value, best, "" if duration is None else f"{duration:.2f}", reason,
            drawn_from(t)] + [_cell(values.get(name)) for name in param_names]


def drawn_from(t):
    """Where a trial's values came from: the config as given (trial 0), the config rescaled to the user's
    devices (trial 1), a queued config, or a draw: around the config (prior), uniform exploration (uniform) or
    the sampler itself (sampler); the prior sampler records the draw's kind as the drawn_from user attr."""
    attrs = t.user_attrs
    if attrs.get("baseline"):
        return "config"
    if attrs.get("rescaled"):
        return "rescaled config"
    if attrs.get("enqueued") or attrs.get("retry_of") is not None:
        return "enqueued"
    return attrs.get("drawn_from", "sampler")


def duration_s(t):
    """Seconds from the trial's start to its end (older studies stored it as a user attr)."""
    if "duration_s" in t.user_attrs:
        return t.user_attrs["duration_s"]
    if t.datetime_start and t.datetime_complete:
        return (t.datetime_complete - t.datetime_start).total_seconds()
    return None


def _num(x):
    return "" if x is None else f"{x:.6g}"


def _cell(v):
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def no_trial_completed(study):
    """None when some trial completed; else a line with the first failure's reason (the study exits 1)."""
    trials = queries.started(study)
    if queries.complete(trials):
        return None
    first = queries.first_failure(trials)
    if first is None:
        return "no trial completed" + (f" ({len(trials)} pruned)" if trials else "")
    log = pathlib.Path(first.user_attrs["dir"]) if "dir" in first.user_attrs else None
    where = f"; see {log / 'train.log'}" if log else "; see its trial_NNNN/train.log"
    return f"no trial completed; the first failure, trial {first.number}: {first.user_attrs.get('reason', 'failed')}{where}"


_ERROR_LINE = re.compile(r"^\s*([A-Za-z_.]*(Error|Exception|Interrupt)|Killed|Segmentation fault)\b.*")


def exit_reason(code, log_path):
    """A short, readable reason for a trial process that ended badly."""
    tail = _log_tail(log_path)
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    if "MemoryError" in tail or "out of memory" in tail.lower():
        return f"out of memory (exit code {code})"
    errors = [m.group(0).strip() for line in tail.splitlines() if (m := _ERROR_LINE.match(line))]
    detail = f": {errors[-1][:240]}" if errors else ""
    return f"exit code {code}{detail}"


def _log_tail(path, size=20000):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def tree_rss(pid):
    """Resident memory of a process and all its children, in bytes (0 once it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def _fmt_values(values, limit=4):
    parts = [f"{k.rsplit('.', 1)[-1]}={v:.4g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}"
             for k, v in list(values.items())[:limit]]
    return " ".join(parts) + (" ..." if len(values) > limit else "")


def _clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# What the suites say when the coordinator's own process imports them (a demo building its data or model,
# a config read): import-time warnings and PaddleNLP's INFO log. Each trial's train.log keeps all of its
# suite's output; only these exact messages are dropped, and only in the coordinator's process.
IMPORT_NOISE = (r"No ccache found", r"Setuptools is replacing distutils", r"pkg_resources is deprecated",
                r".*distutils Version classes are deprecated", r".*pkg_resources\.declare_namespace")


_quieted = []


def quiet_suite_imports():
    """Drop the suites' import-time noise from this (the coordinator's) console; errors still show."""
    import warnings

    from paddle_autotune_plugins.suites.adapter import adapter_classes

    for message in IMPORT_NOISE:
        warnings.filterwarnings("ignore", message=message)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # about APIs the coordinator uses
    if not _quieted:  # a suite that logs its INFO lines from its import on is told to keep to warnings
        _quieted.append(True)
        for cls in adapter_classes():
            cls.quiet_imports()


PROGRESS_EVERY_ENV = "PADDLE_AUTOTUNE_PROGRESS_EVERY"  # seconds between progress lines when stderr is a file
LOG_EVERY_SECONDS = 30.0
REDRAW_SECONDS = 1.0  # the live line on a terminal is rewritten at most this often
_CLEAR = "\r\x1b[K"  # back to the line's start, erase it


class TrialClock:
    """How far one trial's training is, from its progress lines (reporting.report_progress), and what
    that says about the time it still needs: remaining epochs x its measured seconds per epoch."""

    def __init__(self, started):
        self.started = started  # the trial process's start
        self.epoch = None  # the epoch running, or the last one that ended
        self.epochs = None
        self.done = 0  # epochs completed
        self.first = None  # when the first timed epoch started ...
        self.base = 0  # ... with this many epochs completed before it
        self.boundary = None  # time of the last epoch start or end
        self.seconds_per_epoch = None
        self.iter = self.iters = self.iter_time = None

    def update(self, progress, when):
        k = int(progress["epoch"])
        if progress.get("epochs"):
            self.epochs = int(progress["epochs"])
        end = bool(progress.get("end"))
        done = k if end else k - 1
        if done < self.done or (not end and k == self.epoch and done == self.done and progress.get("iter") is None):
            return  # an epoch that has already ended (ppdet's eval starts an "epoch" too), or a repeated start
        if progress.get("iter") is not None:
            if self.epoch == k - 1 and self.done == k - 1 and self.boundary is not None:
                self.epoch = k  # its start line was not seen: it started when the previous one ended
            elif k != self.epoch or done != self.done:  # nothing seen of it before: it starts now
                self._boundary(k, k - 1, when, first_at=when)
            self.iter, self.iters, self.iter_time = progress["iter"], progress.get("iters"), when
            return
        # an end line with no start seen (e.g. a script that prints only "epoch 1/5 ... val_acc"): timed from
        # the process's start, start-up included
        self._boundary(k, done, when, first_at=self.started if end else when)

    def _boundary(self, k, done, when, first_at):
        if self.first is None:
            self.first, self.base = first_at, (k - 1)
        if done > self.base and when > self.first:
            self.seconds_per_epoch = (when - self.first) / (done - self.base)
        if k != self.epoch or done != self.done:
            self.iter = self.iters = self.iter_time = None
        self.epoch, self.done, self.boundary = k, max(self.done, done), when

    def rate(self):
        """Seconds per epoch: measured over the epochs done, else guessed from the iterations of the first one."""
        if self.seconds_per_epoch is not None:
            return self.seconds_per_epoch
        if self.iter and self.iters and self.iter_time and self.boundary is not None and self.iter_time > self.boundary:
            return (self.iter_time - self.boundary) * self.iters / self.iter
        return None

    def eta(self, now):
        """Seconds this trial still needs, or None while nothing has been timed (or the epochs are unknown)."""
        rate = self.rate()
        if rate is None or self.epochs is None:
            return None
        return max(0.0, (self.epochs - self.done) * rate - (now - self.boundary))

    def where(self):
        if self.epoch is None:
            return "no epoch reported yet"
        text = f"epoch {self.epoch}/{self.epochs}" if self.epochs else f"epoch {self.epoch}"
        if self.iter is not None:
            text += f" iter {self.iter}/{self.iters}" if self.iters else f" iter {self.iter}"
        return text + (" ended" if self.done == self.epoch and self.iter is None else "")


def _eta(seconds, why="nothing timed yet"):
    return f"ETA ~{_clock(seconds)}" if seconds is not None else f"ETA ~? ({why})"


@dataclasses.dataclass(frozen=True)
class StudyStatus:
    """What the progress lines read of a running study; Progress only reads it. The coordinator builds it
    once: `view` and `running` are its own live objects, so the lines always show the current state."""
    view: object  # study_view.StudyView: tally(), best_value(), trials(), started, study_started()
    running: dict  # trial number -> trial_processes.RunningTrial
    metric: str
    trials: int  # --trials
    workers: int
    time_budget: float = None


class Progress:
    """What a study shows on stderr: one line per event (what started, what each eval said, how each trial
    ended) and, while trials train, where each is (epoch k/N) with an ETA for it and for the study. On a
    terminal that is one line rewritten in place (cleared before each event line); in a file, one line per
    running trial every LOG_EVERY_SECONDS (PADDLE_AUTOTUNE_PROGRESS_EVERY), never a carriage return."""

    def __init__(self, status, quiet=False, stream=None):
        self.status = status  # a StudyStatus
        self.quiet = quiet
        self._stream = stream  # None: sys.stderr as it is when writing (tests and the CLI may swap it)
        self.clocks = {}  # trial number -> TrialClock
        self._shown = False  # the live line is on the terminal now
        self._drawn = 0.0
        self._logged = None
        try:
            self.every = float(os.environ.get(PROGRESS_EVERY_ENV) or LOG_EVERY_SECONDS)
        except ValueError:
            self.every = LOG_EVERY_SECONDS

    @property
    def stream(self):
        return self._stream or sys.stderr

    def _tty(self):
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def _head(self):
        status = self.status
        if status.view.study is None:  # a note before the study is open (e.g. --warm-start's start-up)
            return "[autotune]"
        tally = status.view.tally()
        best = status.view.best_value()
        return (f"[autotune {_clock(time.time() - status.view.started)}] {tally['done']}/{status.trials} done"
                f" ({tally['pruned']} pruned, {tally['failed']} failed), {len(status.running)} running,"
                f" best {status.metric}={'-' if best is None else f'{best:.4f}'}")

    def _line(self, text):
        if self.quiet:
            return
        self.clear()
        print(f"{self._head()} | {text}", file=self.stream, flush=True)
        self._drawn = 0.0  # the live line comes back at the next tick

    def clear(self):
        """Erase the live line (before an event line, or when the study ends)."""
        if self._shown:
            self.stream.write(_CLEAR)
            self.stream.flush()
            self._shown = False

    def note(self, text):
        self._line(text)

    def warn(self, text):
        """Shown even with --quiet: a result is about to be wrong in a way the user must know."""
        quiet, self.quiet = self.quiet, False
        self._line(f"WARNING: {text}")
        self.quiet = quiet

    def started(self, number, baseline, values):
        self._line(f"trial {number} started" + (" (baseline: your config)" if baseline else f": {_fmt_values(values)}"))

    def reported(self, rt, step, value, unit="step"):
        self._line(f"trial {rt.trial.number} {unit} {step}: {self.status.metric}={value:.4f}")

    def finished(self, number, state, value, reason):
        self.clocks.pop(number, None)
        what = f"{self.status.metric}={value:.4f}" if value is not None else (reason or "")
        self._line(f"trial {number} {state.name}: {what}")

    # --- where the running trials are -------------------------------------------------------------
    def training(self, rt, rep):
        """A progress line of a running trial (not a metric)."""
        clock = self.clocks.setdefault(rt.trial.number, TrialClock(rt.started))
        try:
            clock.update(rep["progress"], float(rep.get("time") or time.time()))
        except (KeyError, TypeError, ValueError):  # a malformed line says nothing about the training
            pass

    def study_eta(self, now):
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

    def tick(self):
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
                    text = f"trial {rt.trial.number} running {_clock(now - rt.started)}, no epoch reported yet"
                else:
                    rate = clock.rate()
                    text = (f"trial {rt.trial.number} {clock.where()}"
                            + (f", {rate:.1f} s/epoch" if rate is not None else "")
                            + f", trial {_eta(clock.eta(now), 'timing its first epoch')}")
                print(f"{self._head()} | {text}, study {study}", file=self.stream, flush=True)

    def _draw(self, now):
        parts = []
        for rt in list(self.status.running.values()):
            clock = self.clocks.get(rt.trial.number)
            if clock is None:
                parts.append(f"trial {rt.trial.number} running {_clock(now - rt.started)}")
            else:
                eta = clock.eta(now)
                parts.append(f"trial {rt.trial.number} {clock.where()}, "
                             + (f"ETA ~{_clock(eta)}" if eta is not None else "ETA ~?"))
        tally = self.status.view.tally()
        parts.append(f"study {tally['done']}/{self.status.trials} done, {_eta(self.study_eta(now))}")
        text = f"[autotune {_clock(now - self.status.view.started)}] " + " | ".join(parts)
        try:
            width = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            width = 120
        if len(text) > width - 1:  # a wrapped line could not be rewritten in place
            text = text[:max(0, width - 4)] + "..." if width > 4 else ""
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self._shown, self._drawn = True, now


def summary(study, metric, started, stop_reason, out=None, where=""):
    """The closing block: baseline vs best, improvement, pruned and failed counts, wall time, and the
    commands that look at the study next (with ``out``; ``where`` adds e.g. its --storage and --study).
    Numbers are rounded to 4 significant digits here; best_config.yaml keeps the exact values."""
    trials = queries.trials(study)  # interrupted rows ran again under a new number
    count = queries.by_state(trials)
    lines = [f"Study '{study.study_name}': {len(trials)} trials ({count[optuna.trial.TrialState.COMPLETE]} complete, "
             f"{count[optuna.trial.TrialState.PRUNED]} pruned, {count[optuna.trial.TrialState.FAIL]} failed) "
             f"in {_study_time(study, started)}; stopped by: {stop_reason or 'interrupt'}"]
    baseline = queries.baseline(trials)
    completed = queries.complete(trials)
    then = _next_commands(out, where)
    if not completed:  # nothing to report on or export: where to read why, instead of the next commands
        lines.append("No trial completed: see the reason column of trials.csv and the trial_*/train.log files.")
        return "\n".join(lines)
    if len(study.directions) > 1:
        names = study.user_attrs.get("objectives", [metric])
        lines.append(f"  Pareto front ({', '.join(names)}), configs in pareto/:")
        for t in sorted(study.best_trials, key=lambda t: t.number):
            feasible = all(c <= 0 for c in t.user_attrs.get("constraints", []))
            lines.append(f"    trial {t.number}: " + ", ".join(f"{n} = {_round(v)}" for n, v in zip(names, t.values))
                         + ("" if feasible else "  (violates a constraint)"))
        return "\n".join(lines + then)
    best = study.best_trial
    if baseline is not None:
        lines.append(f"  baseline (trial {baseline.number}): {metric} = {_round(baseline.value)}")
    lines.append(f"  best     (trial {best.number}): {metric} = {_round(best.value)}")
    if baseline is not None and baseline.value:
        diff = best.value - baseline.value
        lines.append(f"  improvement: {'+' if diff >= 0 else ''}{_round(diff)} ({diff / abs(baseline.value) * 100:+.1f}%)")
    for name, value in best.user_attrs.get("values", best.params).items():
        lines.append(f"    {name} = {_round(value)}")
    drawn = [source for source in map(drawn_from, completed) if source in ("prior", "uniform")]
    if drawn:
        lines.append(f"  drawn around the config: {drawn.count('prior')} complete trials (the prior), "
                     f"{drawn.count('uniform')} uniform; best drawn from: {drawn_from(best)}")
    direction = queries.directions(study)[0]
    return "\n".join(lines + edge_hints(completed, direction) + knob_warnings(trials) + then)


EDGE = 0.1  # a value in the outer tenth of its range (in log space for a log range) is at its edge


def edge_hints(completed, direction, top=3):
    """Lines for the ranges where the best trial sits at an end (its outer EDGE) and the next best (the top
    `top` complete ones, at least 2) on the same half: which way to widen it, as a --param to paste.

    >>> import optuna
    >>> d = optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)
    >>> ts = [optuna.trial.create_trial(params={"lr": v}, distributions={"lr": d}, value=v) for v in (0.09, 0.02, 0.05, 2e-3)]
    >>> edge_hints(ts, "maximize")
    ['  lr: the best trials sit at the high end of [0.001, 0.1]; widen it upwards, e.g. --param lr=log:0.001:1']
    """
    ranked = sorted(completed, key=lambda t: t.value, reverse=direction == "maximize")[:top]
    if len(ranked) < 2:
        return []
    lines = []
    for name, dist in ranked[0].distributions.items():
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            continue
        if name not in ranked[0].params:
            continue
        end = _end(ranked[0].params[name], dist)
        halves = {_position(t.params[name], dist) >= 0.5 for t in ranked if name in t.params}
        if end is None or halves != {end == "high"}:
            continue
        lines.append(f"  {name}: the best trials sit at the {end} end of [{_round(dist.low)}, {_round(dist.high)}]; "
                     f"widen it {'upwards' if end == 'high' else 'downwards'}, e.g. --param {_widened(name, dist, end)}")
    return lines


def _position(value, dist):
    """Where a value lies in its range, 0 (low) to 1 (high), in log space for a log range."""
    scale = math.log if dist.log else float
    span = scale(dist.high) - scale(dist.low)
    return (scale(value) - scale(dist.low)) / span if span else 0.5


def _end(value, dist):
    """'low' or 'high' where the value lies in the outer EDGE of the range, else None."""
    where = _position(value, dist)
    return "low" if where <= EDGE else "high" if where >= 1 - EDGE else None


def _widened(name, dist, end):
    """The --param spelling of the range widened at one end (x10 for a log range, by its width else)."""
    low, high = dist.low, dist.high
    int_range = isinstance(dist, optuna.distributions.IntDistribution)
    if dist.log:
        low, high = (low / 10, high) if end == "low" else (low, high * 10)
    else:
        width = high - low
        low, high = (low - width, high) if end == "low" else (low, high + width)
        low = max(low, 0) if dist.low >= 0 else low  # a range of non-negative values stays so
    kind = "log:" if dist.log else ("int:" if int_range else "float:")
    if int_range:
        low, high = int(math.floor(low)), int(math.ceil(high))
    return f"{name}={kind}{_round(low)}:{_round(high)}"


def _study_time(study, started):
    """The study's time: this run's, or for a resumed study the time of all its runs (Coordinator.record_run_time)."""
    this_run = time.time() - started
    runs, total = study.user_attrs.get("runs", 1), study.user_attrs.get("elapsed_s")
    if runs < 2 or total is None:
        return _clock(this_run)
    return f"{_clock(max(total, this_run))} over {runs} runs (this run {_clock(this_run)})"


def _round(value, digits=4):
    """A number as the summary shows it: floats (and floats in lists) to 4 significant digits."""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_round(v, digits) for v in value) + "]"
    return str(value)


def _next_commands(out, where):
    if out is None:
        return []
    target = f"--out {shlex.quote(str(out))}" + (f" {where}" if where else "")
    commands = [(f"paddle-autotune report {target}", "HTML report with plots"),
                (f"paddle-autotune dashboard {target}", "the trials in a browser, live"),
                (f"paddle-autotune export {target}", "the best config (--trial N: any trial's)")]
    width = max(len(c) for c, _ in commands)
    return ["Next:"] + [f"  {c.ljust(width)}   # {what}" for c, what in commands]


def knob_warnings(trials):
    """Closing lines for trials whose trainer used other values than they were given."""
    bad = [(t, v) for t in trials if (v := Verdict.from_attr(t.user_attrs.get("knobs"))) and not v.acted()]
    if not bad:
        return []
    first, verdict = bad[0]
    return [f"WARNING: in {len(bad)} trial(s) a tuned knob did not act (the trainer used another value); see the "
            f"reason column of trials.csv. First: trial {first.number}: {'; '.join(verdict.mismatches)}"]
