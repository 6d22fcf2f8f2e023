"""The coordinator: owns the Optuna study, launches one process per trial, listens, prunes, records.

Asynchronous: whenever a worker slot is free it asks for the next trial at once; no batch waits for
its slowest member. Each trial is its own process (crashes, leaked state and memory stay inside it) that
appends one JSON line per evaluation to its ``metrics.jsonl`` (see report.py). The coordinator reports
each value to Optuna, and when the pruner says so it stops the trial's process group.

Trial 0 is the user's config unchanged (the baseline). Re-running the same command resumes: finished
trials are kept; trials that were running when the previous run stopped are recorded as interrupted and
their parameters queued again.
"""
import dataclasses
import json
import math
import os
import pathlib
import signal
import subprocess
import time

import optuna

from . import pruners, results, samplers, space
from .adapter import cpu_threads, remove
from .errors import UsageError
from .report import ENV_VAR, read_reports

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
POLL_SECONDS = 0.2


@dataclasses.dataclass
class Settings:
    out: pathlib.Path
    trials: int = 20
    time_budget: float = None  # seconds; no new trial starts after it
    sampler: str = "tpe"
    pruner: str = "asha"
    early_stopping_rounds: int = None
    metric: str = None
    direction: str = None
    workers: int = 1
    storage: str = None
    study: str = None
    seed: int = 42
    max_failures: int = None
    trial_timeout: float = None
    quiet: bool = False


@dataclasses.dataclass
class RunningTrial:
    trial: optuna.trial.Trial
    proc: subprocess.Popen
    cfg: dict
    dir: pathlib.Path
    started: float
    offset: int = 0
    steps: list = dataclasses.field(default_factory=list)  # (step, value) reported so far
    log: object = None


class Coordinator:
    def __init__(self, task, params, settings):
        self.task = task
        self.adapter = task.adapter
        self.params = params
        self.s = settings
        self.metric = settings.metric or self.adapter.default_metric
        self.direction = settings.direction or self.adapter.direction_for(self.metric)
        names = self.adapter.metric_names(task)
        if names is not None and self.metric not in names:
            raise UsageError(f"unknown metric '{self.metric}' for this config; choose one of {', '.join(names)}")
        if self.direction not in ("maximize", "minimize"):
            raise UsageError(f"unknown direction '{self.direction}'; use maximize or minimize")
        self.out = pathlib.Path(settings.out).resolve()
        self.running = {}
        self.started = None
        self.progress = results.Progress(quiet=settings.quiet)

    # --- study set-up -----------------------------------------------------------------------
    def open_study(self):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.out.mkdir(parents=True, exist_ok=True)
        storage = self.s.storage or f"sqlite:///{self.out / 'study.db'}"
        name = self.s.study or "autotune"
        try:
            self.study = optuna.create_study(
                study_name=name, storage=storage, load_if_exists=True, direction=self.direction,
                sampler=samplers.make_sampler(self.s.sampler, self.params, seed=self.s.seed),
                pruner=pruners.make_pruner(self.s.pruner, self.adapter.max_steps(self.task.config)))
        except ValueError as e:  # e.g. resuming with another direction
            raise UsageError(f"cannot open study '{name}': {e}") from None
        attrs = self.study.user_attrs
        if attrs.get("metric", self.metric) != self.metric:
            raise UsageError(f"study '{name}' in {self.out} tunes '{attrs['metric']}', not '{self.metric}': "
                             f"use another --out or --study")
        self.study.set_user_attr("metric", self.metric)
        self.study.set_user_attr("suite", self.adapter.name)
        self.study.set_user_attr("params", [p.name for p in self.params])
        self.recover_interrupted()
        if not self.study.trials:
            self.enqueue_baseline()

    def enqueue_baseline(self):
        """Trial 0 runs the user's config unchanged; values that fit the space teach the sampler too."""
        fitting = {p.name: p.encode(p.current(self.task.config)) for p in self.params
                   if p.current(self.task.config) is not None and p.contains(p.current(self.task.config))}
        self.study.enqueue_trial(fitting, user_attrs={"baseline": True, "baseline_params": sorted(fitting)})

    def recover_interrupted(self):
        """Trials left RUNNING by a run that stopped (killed, crashed) are failed and queued again."""
        for t in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            handle = optuna.trial.Trial(self.study, t._trial_id)
            handle.set_user_attr("reason", "interrupted: the previous run stopped; queued again")
            handle.set_user_attr("interrupted", True)
            self.requeue(t.params, t.user_attrs)
            self.study.tell(t.number, state=optuna.trial.TrialState.FAIL)

    def requeue(self, params, user_attrs):
        attrs = {k: user_attrs[k] for k in ("baseline", "baseline_params") if k in user_attrs}
        self.study.enqueue_trial(params, user_attrs=attrs)

    # --- stop rules -------------------------------------------------------------------------
    def counted(self):
        """Finished trials that count towards --trials (interrupted ones are re-run, not counted)."""
        return [t for t in self.study.get_trials(deepcopy=False, states=FINISHED)
                if not t.user_attrs.get("interrupted")]

    def stop_reason(self):
        done = self.counted()
        if len(done) + len(self.running) >= self.s.trials:
            return "trials"
        if isinstance(self.study.sampler, samplers.GridSampler) and self.study.sampler.is_exhausted(self.study):
            return "grid exhausted"
        if self.s.time_budget and time.time() - self.started >= self.s.time_budget:
            return "time budget"
        failures = sum(t.state == optuna.trial.TrialState.FAIL for t in done)
        if self.s.max_failures is not None and failures >= self.s.max_failures:
            return f"{failures} failed trials (--max-failures)"
        if self.s.early_stopping_rounds and results.rounds_without_improvement(
                done, self.direction) >= self.s.early_stopping_rounds:
            return f"no improvement in {self.s.early_stopping_rounds} trials"
        return None

    # --- the loop ---------------------------------------------------------------------------
    def run(self):
        self.open_study()
        self.started = time.time()
        stop = None
        try:
            while True:
                stop = self.stop_reason()
                while stop is None and len(self.running) < self.s.workers:
                    self.launch()
                    stop = self.stop_reason()
                if not self.running:
                    break
                time.sleep(POLL_SECONDS)
                for number in list(self.running):
                    self.poll(self.running[number])
        except KeyboardInterrupt:
            self.interrupt()
            raise
        finally:
            self.write_results()
        return stop

    def launch(self):
        trial = self.study.ask()
        baseline = bool(trial.user_attrs.get("baseline"))
        cfg = self.task.fresh_config()
        if baseline:
            # Only the enqueued (fitting) values are recorded as params; the config stays as given.
            for p in self.params:
                if p.name in trial.user_attrs["baseline_params"]:
                    p.suggest(trial)  # returns the enqueued value
            values = {p.name: p.current(cfg) for p in self.params}
        else:
            values = space.sample(trial, self.params, cfg)
            space.apply_all(self.params, values, cfg)
        trial.set_user_attr("values", _jsonable(values))
        trial_dir = self.out / f"trial_{trial.number:04d}"
        trial_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.adapter.prepare_trial(cfg, trial_dir, self.s.seed)
        config_path = trial_dir / self.adapter.config_filename
        self.adapter.write_config(cfg, config_path)
        (trial_dir / "params.json").write_text(json.dumps(_jsonable(values), indent=1) + "\n")
        metrics_path = trial_dir / "metrics.jsonl"
        metrics_path.write_text("")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env[ENV_VAR] = str(metrics_path)
        if self.s.workers > 1:
            for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CPU_NUM"):
                env.setdefault(var, str(cpu_threads(self.s.workers)))
        cmd = self.adapter.trial_command(self.task, str(config_path))
        (trial_dir / "command.txt").write_text(" ".join(cmd) + "\n")
        log = open(trial_dir / "train.log", "w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.task.cwd,
                                start_new_session=True)  # its own group, so stopping it stops its children
        trial.set_user_attr("dir", str(trial_dir))
        self.running[trial.number] = RunningTrial(trial, proc, cfg, trial_dir, time.time(), log=log)
        self.progress.started(trial.number, baseline, values, self)

    def poll(self, rt):
        reports, rt.offset = read_reports(rt.dir / "metrics.jsonl", rt.offset)
        for rep in reports:
            if self.take_report(rt, rep):
                return
        code = rt.proc.poll()
        if code is None:
            if self.s.trial_timeout and time.time() - rt.started > self.s.trial_timeout:
                self.finish(rt, optuna.trial.TrialState.FAIL, f"timeout after {self.s.trial_timeout:.0f} s", stop=True)
            return
        if code != 0:
            self.finish(rt, optuna.trial.TrialState.FAIL, results.exit_reason(code, rt.dir / "train.log"))
        elif not rt.steps:
            self.finish(rt, optuna.trial.TrialState.FAIL,
                        f"finished without reporting '{self.metric}' (is evaluation during training on?)")
        else:
            self.finish(rt, optuna.trial.TrialState.COMPLETE)

    def take_report(self, rt, rep):
        """Feed one evaluation to Optuna. True when the trial was stopped because of it."""
        metrics = rep["metrics"]
        if self.metric not in metrics:
            self.finish(rt, optuna.trial.TrialState.FAIL,
                        f"reported {', '.join(metrics)} but not '{self.metric}'", stop=True)
            return True
        value, step = metrics[self.metric], rep["step"]
        if not math.isfinite(value):
            self.finish(rt, optuna.trial.TrialState.FAIL, f"{self.metric} is {value} at step {step}", stop=True)
            return True
        if any(s == step for s, _ in rt.steps):  # a second eval of the same epoch (e.g. EMA weights)
            return False
        rt.steps.append((step, value))
        rt.trial.report(value, step)
        self.progress.reported(rt, step, value, self)
        last = self.adapter.max_steps(rt.cfg)
        if (last is None or step < last) and rt.trial.should_prune():  # a finished run is not pruned
            self.finish(rt, optuna.trial.TrialState.PRUNED, f"pruned at step {step} ({self.metric}={value:.4g})",
                        stop=True)
            return True
        return False

    def finish(self, rt, state, reason=None, stop=False):
        if stop:
            stop_process(rt.proc)
        rt.log.close()
        del self.running[rt.trial.number]
        trial = rt.trial
        trial.set_user_attr("duration_s", round(time.time() - rt.started, 2))
        if reason:
            trial.set_user_attr("reason", reason)
        value = None
        if state == optuna.trial.TrialState.COMPLETE:
            value = (max if self.direction == "maximize" else min)(v for _, v in rt.steps)
            previous_best = self.best_value()
            self.study.tell(trial, value)
            if previous_best is None or (value > previous_best if self.direction == "maximize"
                                         else value < previous_best):
                self.keep_best(rt)
        else:
            self.study.tell(trial, state=state)
        for path in self.adapter.trial_outputs(rt.cfg):  # weights of every trial but the best are dropped
            remove(path)
        self.progress.finished(trial.number, state, value, reason, self)
        self.write_results()

    def best_value(self):
        try:
            return self.study.best_value
        except ValueError:
            return None

    def keep_best(self, rt):
        """Move the new best trial's weights to out/best/ and write best_config.yaml."""
        best_dir = self.out / "best"
        checkpoint = self.adapter.best_checkpoint(rt.cfg)
        if checkpoint:
            remove(best_dir)
            best_dir.mkdir(parents=True)
            for path in checkpoint:
                os.replace(path, best_dir / pathlib.Path(path).name)
            (best_dir / "trial.txt").write_text(f"trial {rt.trial.number}\n")
        self.adapter.write_best(self.adapter.export_config(rt.cfg, self.task), self.out)

    def interrupt(self):
        """Ctrl-C: stop running trials, record them as interrupted and queue them again."""
        for rt in list(self.running.values()):
            stop_process(rt.proc)
            rt.trial.set_user_attr("interrupted", True)
            rt.trial.set_user_attr("reason", "interrupted (Ctrl-C); queued again")
            self.requeue(rt.trial.params, rt.trial.user_attrs)
            rt.log.close()
            self.study.tell(rt.trial, state=optuna.trial.TrialState.FAIL)
            del self.running[rt.trial.number]

    def write_results(self):
        if getattr(self, "study", None) is not None:
            results.write_trials_csv(self.study, [p.name for p in self.params], self.out / "trials.csv")


def stop_process(proc, grace=10.0):
    """SIGTERM the trial's process group, SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _jsonable(values):
    return json.loads(json.dumps(values, default=str))
