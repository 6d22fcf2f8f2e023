"""What a study shows people: trials.csv, the live progress line, the closing summary."""
import csv
import os
import pathlib
import re
import signal
import sys
import time

import optuna

CSV_HEAD = ["number", "state", "value", "best_value", "duration_s", "reason"]


def write_trials_csv(study, param_names, path):
    """One row per trial, trial order; best_value is the best finished value up to that trial."""
    multi = len(study.directions) > 1
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    best = None
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state == optuna.trial.TrialState.WAITING:  # queued, not started: not a trial yet
            continue
        if multi:  # every objective, ';'-separated; no single best
            rows.append(_row(t, ";".join(_num(v) for v in t.values) if t.values else "", "", param_names))
            continue
        value = {optuna.trial.TrialState.COMPLETE: t.value,
                 optuna.trial.TrialState.PRUNED: _last(t)}.get(t.state)
        if t.state == optuna.trial.TrialState.COMPLETE and value is not None:
            best = value if best is None or (value > best if maximize else value < best) else best
        rows.append(_row(t, _num(value), _num(best), param_names))
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_HEAD + list(param_names))
            writer.writerows(rows)
        os.replace(tmp, path)  # readers never see a half-written table
    except OSError:  # e.g. the disk is full: no half-written temp file stays behind
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _row(t, value, best, param_names):
    values = t.user_attrs.get("values", t.params)
    reason = t.user_attrs.get("reason", "baseline (config as given)" if t.user_attrs.get("baseline") else "")
    if t.state == optuna.trial.TrialState.RUNNING and not reason:  # e.g. another worker's, when this one ended
        reason = "still running when this table was written" + (
            f" (heartbeat {time.strftime('%H:%M:%S', time.localtime(t.user_attrs['heartbeat']))})"
            if "heartbeat" in t.user_attrs else "")
    if t.user_attrs.get("baseline") and "baseline" not in reason:
        reason = f"baseline; {reason}"
    knobs = t.user_attrs.get("knobs", "")
    if knobs.startswith("MISMATCH") and "knob does not act" not in reason:  # the trainer used other values
        reason = "; ".join(r for r in (reason, "knob does not act: " + knobs[len("MISMATCH "):]) if r)
    duration = duration_s(t)
    return [t.number, t.state.name, value, best, "" if duration is None else f"{duration:.2f}", reason] + \
        [_cell(values.get(name)) for name in param_names]


def duration_s(t):
    """Seconds from the trial's start to its end (older studies stored it as a user attr)."""
    if "duration_s" in t.user_attrs:
        return t.user_attrs["duration_s"]
    if t.datetime_start and t.datetime_complete:
        return (t.datetime_complete - t.datetime_start).total_seconds()
    return None


def _last(t):
    if t.intermediate_values:
        return t.intermediate_values[max(t.intermediate_values)]
    return None


def _num(x):
    return "" if x is None else f"{x:.6g}"


def _cell(v):
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def no_trial_completed(study):
    """None when some trial completed; else a line with the first failure's reason (the study exits 1)."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.state != optuna.trial.TrialState.WAITING]
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in trials):
        return None
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL and not t.user_attrs.get("surplus")]
    first = next((t for t in failed if not t.user_attrs.get("interrupted")), failed[0] if failed else None)
    if first is None:
        return "no trial completed" + (f" ({len(trials)} pruned)" if trials else "")
    log = pathlib.Path(first.user_attrs["dir"]) if "dir" in first.user_attrs else None
    where = f"; see {log / 'train.log'}" if log else "; see its trial_NNNN/train.log"
    return f"no trial completed; the first failure, trial {first.number}: {first.user_attrs.get('reason', 'failed')}{where}"


def rounds_without_improvement(finished, direction):
    """Finished trials since the best value last improved, in order of completion."""
    count, best = 0, None
    for t in sorted(finished, key=lambda t: t.datetime_complete or t.datetime_start):
        v = t.value if t.state == optuna.trial.TrialState.COMPLETE else None
        if v is not None and (best is None or (v > best if direction == "maximize" else v < best)):
            best, count = v, 0
        else:
            count += 1
    return count


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


class Progress:
    """One line per event on stderr: what started, what each eval said, how each trial ended."""

    def __init__(self, quiet=False):
        self.quiet = quiet

    def _line(self, text, coord):
        if self.quiet:
            return
        tally = coord.tally()
        best = coord.best_value()
        head = (f"[autotune {_clock(time.time() - coord.started)}] {tally['done']}/{coord.s.trials} done"
                f" ({tally['pruned']} pruned, {tally['failed']} failed), {len(coord.running)} running,"
                f" best {coord.metric}={'-' if best is None else f'{best:.4f}'}")
        print(f"{head} | {text}", file=sys.stderr, flush=True)

    def note(self, text, coord):
        self._line(text, coord)

    def warn(self, text, coord):
        """Shown even with --quiet: a result is about to be wrong in a way the user must know."""
        quiet, self.quiet = self.quiet, False
        self._line(f"WARNING: {text}", coord)
        self.quiet = quiet

    def started(self, number, baseline, values, coord):
        self._line(f"trial {number} started" + (" (baseline: your config)" if baseline else f": {_fmt_values(values)}"),
                   coord)

    def reported(self, rt, step, value, coord):
        self._line(f"trial {rt.trial.number} step {step}: {coord.metric}={value:.4f}", coord)

    def finished(self, number, state, value, reason, coord):
        what = f"{coord.metric}={value:.4f}" if value is not None else (reason or "")
        self._line(f"trial {number} {state.name}: {what}", coord)


def summary(study, metric, started, stop_reason):
    """The closing block: baseline vs best, improvement, pruned and failed counts, wall time."""
    trials = [t for t in study.get_trials(deepcopy=False)  # interrupted rows ran again under a new number
              if not (t.user_attrs.get("interrupted") or t.user_attrs.get("surplus"))
              and t.state != optuna.trial.TrialState.WAITING]
    count = {s: sum(t.state == s for t in trials) for s in optuna.trial.TrialState}
    lines = [f"Study '{study.study_name}': {len(trials)} trials ({count[optuna.trial.TrialState.COMPLETE]} complete, "
             f"{count[optuna.trial.TrialState.PRUNED]} pruned, {count[optuna.trial.TrialState.FAIL]} failed) "
             f"in {_clock(time.time() - started)}; stopped by: {stop_reason or 'interrupt'}"]
    baseline = next((t for t in trials if t.user_attrs.get("baseline")
                     and t.state == optuna.trial.TrialState.COMPLETE), None)
    completed = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not completed:
        lines.append("No trial completed: see the reason column of trials.csv and the trial_*/train.log files.")
        return "\n".join(lines)
    if len(study.directions) > 1:
        names = study.user_attrs.get("objectives", [metric])
        lines.append(f"  Pareto front ({', '.join(names)}), configs in pareto/:")
        for t in sorted(study.best_trials, key=lambda t: t.number):
            feasible = all(c <= 0 for c in t.user_attrs.get("constraints", []))
            lines.append(f"    trial {t.number}: " + ", ".join(f"{n} = {v:.4g}" for n, v in zip(names, t.values))
                         + ("" if feasible else "  (violates a constraint)"))
        return "\n".join(lines)
    best = study.best_trial
    if baseline is not None:
        lines.append(f"  baseline (trial {baseline.number}): {metric} = {baseline.value:.4f}")
    lines.append(f"  best     (trial {best.number}): {metric} = {best.value:.4f}")
    if baseline is not None and baseline.value:
        diff = best.value - baseline.value
        lines.append(f"  improvement: {diff:+.4f} ({diff / abs(baseline.value) * 100:+.1f}%)")
    for name, value in best.user_attrs.get("values", best.params).items():
        lines.append(f"    {name} = {value}")
    return "\n".join(lines + knob_warnings(trials))


def knob_warnings(trials):
    """Closing lines for trials whose trainer used other values than they were given."""
    bad = [t for t in trials if t.user_attrs.get("knobs", "").startswith("MISMATCH")]
    if not bad:
        return []
    return [f"WARNING: in {len(bad)} trial(s) a tuned knob did not act (the trainer used another value); see the "
            f"reason column of trials.csv. First: trial {bad[0].number}: {bad[0].user_attrs['knobs'][9:]}"]
