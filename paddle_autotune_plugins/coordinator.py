"""The coordinator: owns the Optuna study, launches one process per trial, listens, prunes, records.

Asynchronous: whenever a worker slot is free it asks for the next trial at once; no batch waits for
its slowest member. Each trial is its own process (crashes, leaked state and memory stay inside it) that
appends one JSON line per evaluation to its ``metrics.jsonl`` (see reporting.py). The coordinator reports
each value to Optuna, and when the pruner says so it stops the trial.

Trial 0 is the user's config unchanged (the baseline). Re-running the same command resumes: finished
trials are kept; trials that were running when a coordinator stopped or died are recorded as
interrupted and their parameters queued again. Several coordinators (``paddle-autotune worker``) can
share one study through a shared storage: each keeps a heartbeat on the trials it runs, and a trial
whose heartbeat goes stale is taken back the same way.
"""
import dataclasses
import json
import math
import os
import pathlib
import select
import shlex
import signal
import subprocess
import sys
import time

import optuna

from . import knobs, pruners, results, samplers, space, storages, warm_start
from .adapter import THREAD_VARS, check_gpus, cpu_threads, launch_command, remove
from .errors import InternalError, StorageFailed, UsageError
from .reporting import (ENV_VAR, METRIC_ENV, PARENT_ENV, STOP_ENV, TUNED_ENV, WANTS_ENV, read_reports,
                        set_parent_death_signal)

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
RUNNING = optuna.trial.TrialState.RUNNING
POLL_SECONDS = 0.2
SHARED_REFRESH_SECONDS = 1.0  # how stale this coordinator's view of a shared study may get
CSV_EVERY_SECONDS = 1.0  # trials.csv is rewritten at most this often while trials run (and at the end)


from .options import Settings  # noqa: E402,F401 - the tuning options (options.py); coordinator.Settings still works


@dataclasses.dataclass
class RunningTrial:
    trial: optuna.trial.Trial  # None until the study has asked for it (start_early_baseline)
    proc: subprocess.Popen
    cfg: dict
    dir: pathlib.Path
    started: float
    gpus: tuple = ()
    offset: int = 0
    steps: list = dataclasses.field(default_factory=list)  # (step, value) reported so far
    log: object = None
    beat: float = 0.0
    stop_deadline: float = None  # set once the trial was asked to stop
    final: float = None  # the value the trial declared its result, if it did
    reports: dict = dataclasses.field(default_factory=dict)  # step -> every metric of that evaluation
    number: int = None
    used: dict = dataclasses.field(default_factory=dict)  # config path -> the value the trainer really uses
    mismatches: list = dataclasses.field(default_factory=list)  # knobs.Mismatch, tuned paths that did not act


def excluded(t):
    """Storage rows that are not trials of the study: queued ones, interrupted ones (re-run under a new
    number) and surplus asks of a worker that came too late."""
    return t.state == optuna.trial.TrialState.WAITING or t.user_attrs.get("interrupted") or t.user_attrs.get("surplus")


class Coordinator:
    def __init__(self, task, params, settings):
        self.task = task
        self.adapter = task.adapter
        self.params = params
        self.s = settings
        self.metric = settings.metric or self.adapter.default_metric_for(task)
        if not self.metric:
            raise UsageError(f"the {self.adapter.name} suite has no default metric: give --metric NAME")
        self.direction = settings.direction or self.adapter.direction_for(self.metric)
        names = self.adapter.metric_names(task)
        if names is not None and self.metric not in names:
            raise UsageError(f"unknown metric '{self.metric}' for this config; choose one of {', '.join(names)}")
        self.objectives = [(self.metric, self.direction)] + [
            (m, d or self.adapter.direction_for(m)) for m, d in (settings.extra_metrics or [])]
        for m, d in self.objectives:
            if names is not None and m not in names:
                raise UsageError(f"unknown metric '{m}' for this config; choose one of {', '.join(names)}")
            if d not in ("maximize", "minimize"):
                raise UsageError(f"unknown direction '{d}'; use maximize or minimize")
        self.multi = len(self.objectives) > 1
        if self.multi and settings.pruner != "none":
            raise UsageError("several --metric: Optuna cannot prune multi-objective studies; add --pruner none")
        for m, _, _ in settings.constraints or []:
            if m not in [o for o, _ in self.objectives] and (names is None or m not in names):
                raise UsageError(f"--constraint on unknown metric '{m}'")
        check_gpus(settings.gpus, settings.gpus_per_trial, self.adapter.runs_paddle)
        self.out = pathlib.Path(settings.out).resolve()
        self.storage, self.embedded = storages.open_storage(settings.storage, self.out)
        self.gpu_load = {str(g): 0 for g in (settings.gpus or [])}
        self.active_params = params  # narrowed in a later --stages stage
        self.stage = None
        self.running = {}
        self.stopping = []  # trials told to stop whose processes have not exited yet
        self.started = None
        self.early = None  # trial 0's process, started before the study opened
        self.zygote = None  # --warm-start: the process trials are forked from
        self.lock = None  # the --out folder's lock (embedded storage: one coordinator per folder)
        self.progress = results.Progress(quiet=settings.quiet)
        self._trials = None  # (time read, trials of the study, their tally): see trials_of_study
        self._csv_due = None  # time trials.csv was last written while it has news, None when up to date
        self._csv_written = 0.0
        self.warned_paths = set()  # knobs already warned about (loudly, once per path)
        self.mine = set()  # numbers of the trials this coordinator started
        self.tracker = None  # --mlflow (mlflow_tracking.Tracker)

    # --- study set-up -----------------------------------------------------------------------
    def open_study(self):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.out.mkdir(parents=True, exist_ok=True)
        if self.embedded:
            storages.check_embedded(self.out)
            self.storage = storages.embedded_sqlite(self.out / "study.db")
        name = self.s.study or "autotune"
        try:
            self.study = optuna.create_study(
                study_name=name, storage=self.storage, load_if_exists=True,
                directions=[d for _, d in self.objectives],
                pruner=pruners.make_pruner(self.s.pruner, self.adapter.max_steps(self.task.config)))
        except ValueError as e:  # e.g. resuming with another number of objectives
            raise UsageError(f"cannot open study '{name}': {e}") from None
        stored = [d.name.lower() for d in self.study.directions]
        if stored != [d for _, d in self.objectives]:
            raise UsageError(f"study '{name}' in {self.out} was started to {', '.join(stored)}; this command asks to "
                             f"{', '.join(d for _, d in self.objectives)}: drop --direction to resume it, or use "
                             f"another --out or --study")
        space.check_resumable(self.params, self.study.get_trials(deepcopy=False))
        # A resumed study (or a second coordinator on a shared one) must not replay the draws already made:
        # the sampler's seed moves on with the trials the study holds, and with who is asking.
        self.study.sampler = samplers.make_sampler(self.s.sampler, self.params,
                                                   seed=self.sampler_seed(len(self.study.trials)))
        attrs = self.study.user_attrs
        if attrs.get("metric", self.metric) != self.metric:
            raise UsageError(f"study '{name}' tunes '{attrs['metric']}', not '{self.metric}': "
                             f"use another --out, --study or --storage")
        if "metric" not in attrs:
            self.study.set_user_attr("metric", self.metric)
            self.study.set_user_attr("objectives", [m for m, _ in self.objectives])
            self.study.set_user_attr("suite", self.adapter.name)
            self.study.set_user_attr("params", [p.name for p in self.params])
            self.study.set_user_attr("started", time.time())
            if self.s.command:
                self.study.set_user_attr("command", _jsonable(self.s.command))
        if self.study.metric_names != [m for m, _ in self.objectives]:  # optuna-dashboard shows 'top1'
            import warnings

            with warnings.catch_warnings():  # experimental in Optuna since 3.2; it only names the objectives
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self.study.set_metric_names([m for m, _ in self.objectives])
        self.recover_lost(everything=self.embedded)
        if not self.study.trials:
            if self.s.baseline:
                self.enqueue_baseline()
            for params in self.s.enqueue:
                self.study.enqueue_trial(params, user_attrs={"enqueued": True})

    def sampler_seed(self, existing):
        """--seed for a fresh embedded study (reproducible); else mixed with the trials already there and,
        on a shared storage, with this coordinator's host and pid, so that no two draw the same sequence."""
        if self.embedded and not existing:
            return self.s.seed
        import hashlib
        import socket

        who = "" if self.embedded else f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
        return int(hashlib.sha256(f"{self.s.seed}:{existing}:{who}".encode()).hexdigest()[:8], 16)

    def enqueue_baseline(self):
        """Trial 0 runs the user's config unchanged; values that fit the space teach the sampler too."""
        fitting = {p.name: p.encode(p.current(self.task.config)) for p in self.params
                   if p.current(self.task.config) is not None and p.contains(p.current(self.task.config))
                   and self.task.known_value(p.name)}
        self.study.enqueue_trial(fitting, user_attrs={"baseline": True, "baseline_params": sorted(fitting)})

    def recover_lost(self, everything=False):
        """Trials left RUNNING by a coordinator that stopped or died are failed and queued again.

        With the embedded storage only this coordinator runs trials, so at start every RUNNING trial is
        lost; with a shared storage a trial is lost when its heartbeat is older than stale_after."""
        now = time.time()
        for t in self.study.get_trials(deepcopy=False, states=(RUNNING,)):
            if t.number in self.running:
                continue
            last = t.user_attrs.get("heartbeat") or (t.datetime_start.timestamp() if t.datetime_start else now)
            if not everything and now - last < self.s.stale_after:
                continue
            try:
                handle = optuna.trial.Trial(self.study, t._trial_id)
                handle.set_user_attr("reason", "interrupted: its coordinator stopped; queued again")
                handle.set_user_attr("interrupted", True)
                self.study.tell(t.number, state=optuna.trial.TrialState.FAIL)
            except (RuntimeError, ValueError):  # another worker took it back first
                continue
            self.requeue(t.params, t.user_attrs)

    def requeue(self, params, user_attrs, **extra):
        attrs = {k: user_attrs[k] for k in ("baseline", "baseline_params") if k in user_attrs}
        self.study.enqueue_trial(params, user_attrs=dict(attrs, **extra))
        self.changed()

    # --- stop rules -------------------------------------------------------------------------
    def trials_of_study(self):
        """The study's trials, read again only after this coordinator changed the study (ask, tell,
        enqueue) or, with a shared storage, once SHARED_REFRESH_SECONDS have passed: reading every trial
        on every poll is what made a long study's coordinator slow."""
        now = time.time()
        if self._trials is None or (not self.embedded and now - self._trials[0] > SHARED_REFRESH_SECONDS):
            trials = [t for t in self.study.get_trials(deepcopy=False) if not excluded(t)]
            self._trials = (now, trials, self._count(trials))
        return self._trials[1]

    def tally(self):
        """Counts of the trials above, computed once per read of them (progress lines and stop rules ask
        on every event and poll): {"trials", "done", "pruned", "failed", "best"}."""
        self.trials_of_study()
        return self._trials[2]

    def _count(self, trials):
        states = [t.state for t in trials]
        values = [t.value for t in trials if t.state == optuna.trial.TrialState.COMPLETE] if not self.multi else []
        best = (max(values) if self.direction == "maximize" else min(values)) if values else None
        return {"trials": len(trials), "done": sum(s in FINISHED for s in states),
                "pruned": states.count(optuna.trial.TrialState.PRUNED),
                "failed": states.count(optuna.trial.TrialState.FAIL), "best": best}

    def changed(self):
        """This coordinator wrote to the study: its cached view and trials.csv are out of date."""
        self._trials = None
        if self._csv_due is None:
            self._csv_due = time.time()

    def counted(self):
        """Finished trials that count towards --trials (across every coordinator of the study)."""
        return [t for t in self.trials_of_study() if t.state in FINISHED]

    def stop_reason(self):
        tally = self.tally()
        if tally["trials"] >= self.s.trials:
            return "trials"
        if isinstance(self.study.sampler, samplers.GridSampler) and self.study.sampler.is_exhausted(self.study):
            return "grid exhausted"
        if self.s.time_budget and time.time() - self.study_started() >= self.s.time_budget:
            return "time budget"
        failures = tally["failed"]
        if self.s.max_failures is not None and failures >= self.s.max_failures:
            return f"{failures} failed trials (--max-failures)"
        if self.s.early_stopping_rounds and not self.multi and results.rounds_without_improvement(
                self.counted(), self.direction) >= self.s.early_stopping_rounds:
            return f"no improvement in {self.s.early_stopping_rounds} trials"
        return None

    def study_started(self):
        if self.s.storage and not hasattr(self, "_study_started"):
            self._study_started = self.study.user_attrs.get("started", self.started)
        return self._study_started if self.s.storage else self.started

    # --- the loop ---------------------------------------------------------------------------
    def run(self):
        if self.embedded:
            self.lock = storages.lock_folder(self.out)
        self.start_zygote()
        self.start_early_baseline()
        try:
            self.open_study()
            if self.s.mlflow is not None:
                from . import mlflow_tracking

                self.tracker = mlflow_tracking.for_coordinator(self)
        except BaseException:
            self.drop_early()
            self.close_zygote()
            self.unlock()
            raise
        self.started = time.time()
        stop = None
        next_check = time.time() + self.s.heartbeat
        try:
            while True:
                stop = self.stop_reason()
                while stop is None and self.free_slots() > 0:
                    if not self.launch():
                        stop = "trials"
                        break
                    stop = self.stop_reason()
                if not self.running and not self.stopping:
                    break
                wait_for_exit([rt.proc for rt in self.running.values()] + [rt.proc for rt in self.stopping],
                              POLL_SECONDS)
                for number in list(self.running):
                    self.poll(self.running[number])
                self.poll_stopping()
                self.write_results(force=False)
                if time.time() >= next_check:
                    self.beat()
                    if not self.embedded:
                        self.recover_lost()
                    next_check = time.time() + self.s.heartbeat
        except KeyboardInterrupt:
            self.interrupt()
            raise
        except Exception as e:
            if not storages.is_storage_failure(e):
                self.crashed(e)
                raise
            self.abandon()
            raise StorageFailed(f"the study storage failed mid-study: {storages.describe_failure(e)}; the trials "
                                f"that were running were stopped and are queued again when the same command runs "
                                f"after {storages.remedy(e)}") from None
        finally:
            self.progress.clear()  # the live line goes before anything else is printed
            self.drop_early()
            self.close_zygote()
            try:
                self.write_results()
            except Exception as e:  # the storage or disk that just failed: trials.csv waits for the resume
                if not storages.is_storage_failure(e):
                    raise
            self.unlock()
            if self.tracker is not None:
                from . import mlflow_tracking

                mlflow_tracking.end_of(self, stop, interrupted=sys.exc_info()[0] is not None)
        return stop

    def crashed(self, error):
        """An error mid-study that is not the storage's: every trial this coordinator started and did not
        record is stopped, recorded as interrupted and queued again (no row stays RUNNING). A bug of ours
        gets one line for the user and its traceback in a file."""
        import traceback

        self.abandon()
        for t in self.study.get_trials(deepcopy=False, states=(RUNNING,)):
            if t.number in self.mine:
                handle = optuna.trial.Trial(self.study, t._trial_id)
                handle.set_user_attr("interrupted", True)
                handle.set_user_attr("reason", f"interrupted: the coordinator failed ({type(error).__name__}); "
                                               f"queued again")
                self.requeue(t.params, t.user_attrs)
                self.study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        self.changed()
        if isinstance(error, UsageError):
            return
        log = self.out / "coordinator_error.log"
        log.write_text("".join(traceback.format_exception(error)))
        raise InternalError(f"internal error: {type(error).__name__}: {error} (traceback in {log}); finished trials "
                            f"are kept and the same command resumes; please report this") from None

    def abandon(self):
        """The storage cannot record anything: stop every trial process and let go of it. Their rows stay
        RUNNING in the storage, which the next run takes back (recover_lost)."""
        for rt in list(self.running.values()) + self.stopping:
            stop_process(rt.proc)
            rt.log.close()
        self.running, self.stopping = {}, []

    def start_zygote(self):
        """--warm-start: the process CPU trials are forked from, preloading while the study opens."""
        self.zygote = None
        if not self.s.warm_start or self.gpu_load:
            return
        preload = self.adapter.warm_preload(self.task)
        if preload is None:
            self.progress.note("--warm-start: this suite's trials run a script of their own; they start cold", self)
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self.zygote = warm_start.Zygote(preload, self.base_env(), self.task.cwd, self.out / "warm_start.log")

    def close_zygote(self):
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None

    def warm_process(self, cmd, env, log_path):
        """The trial forked from the zygote, or None: it starts cold (not ready yet, or the zygote is gone)."""
        if self.zygote is None or not warm_start.can_fork(cmd):
            return None
        if not self.zygote.ready():
            if self.zygote.proc.poll() is not None:
                self.warm_start_lost("ended")
            return None
        proc = self.zygote.start(cmd, env, self.task.cwd, log_path)
        if proc is None:
            self.warm_start_lost("stopped answering")
        return proc

    def warm_start_lost(self, what):
        self.progress.note(f"--warm-start: the preloading process {what} (see {self.out / 'warm_start.log'}); "
                           f"trials start cold", self)
        self.close_zygote()

    def unlock(self):
        if self.lock is not None:
            self.lock.close()
            self.lock = None

    def free_slots(self):
        busy = len(self.running) + len(self.stopping)
        if self.gpu_load:
            return min(self.s.workers - busy, self._gpu_capacity())
        return self.s.workers - busy

    def _gpu_capacity(self):
        free = sum(max(0, self.s.trials_per_gpu - n) for n in self.gpu_load.values())
        return free // self.s.gpus_per_trial

    def take_gpus(self):
        """The least-loaded GPU slots for one trial."""
        order = sorted(self.gpu_load, key=lambda g: (self.gpu_load[g], list(self.gpu_load).index(g)))
        chosen = tuple(g for g in order if self.gpu_load[g] < self.s.trials_per_gpu)[:self.s.gpus_per_trial]
        for g in chosen:
            self.gpu_load[g] += 1
        return chosen

    def enter_stage(self):
        """--stages: after each stage's trials, switch sampler and narrow the space around the best trials."""
        if not self.s.stages:
            return
        done = len(self.trials_of_study())
        stage, start = 0, 0
        for i, (_, count) in enumerate(self.s.stages):
            if count is None or done < start + count:
                stage = i
                break
            start += count
        if stage == self.stage:
            return
        self.stage = stage
        self.study.sampler = samplers.make_sampler(self.s.stages[stage][0], self.active_params,
                                                   seed=self.sampler_seed(len(self.study.trials)))
        if stage > 0 and not self.multi:
            complete = [t for t in self.counted() if t.state == optuna.trial.TrialState.COMPLETE]
            self.active_params = space.narrow(self.params, complete, self.direction)
            self.progress.note(f"stage {stage + 1} ({self.s.stages[stage][0]}): "
                               + "; ".join(p.describe() for p in self.active_params), self)
        self.study.set_user_attr("stage", stage)

    def launch(self):
        """Start the next trial. False when this ask came too late (other workers filled the study)."""
        self.enter_stage()
        trial = self.study.ask()
        self.mine.add(trial.number)
        self.changed()
        before = [t for t in self.trials_of_study() if t.number < trial.number]
        if len(before) >= self.s.trials:
            trial.set_user_attr("surplus", True)
            trial.set_user_attr("reason", "not run: the study had its trials when this ask arrived")
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return False
        baseline = bool(trial.user_attrs.get("baseline"))
        cfg = self.task.fresh_config()
        if baseline:
            # Only the enqueued (fitting) values are recorded as params; the config stays as given.
            for p in self.params:
                if p.name in trial.user_attrs["baseline_params"]:
                    p.suggest(trial)  # returns the enqueued value
            values = self.baseline_values()
        else:
            values = space.sample(trial, self.active_params, cfg)
            space.apply_all(self.active_params, values, cfg)
        trial.set_user_attr("values", _jsonable(values))
        if self.early is not None and baseline and trial.number == self.early.number:
            rt, self.early = self.early, None  # started before the study was open (start_early_baseline)
        else:
            self.drop_early()  # if there is one, it was not started for this trial
            rt = self.start_process(trial.number, cfg, values)
        rt.trial = trial
        if not self.embedded:  # another machine's worker may use another --out; the heartbeat starts
            trial.set_user_attr("dir", str(rt.dir))  # at the trial's start time (recover_lost)
        self.running[trial.number] = rt
        self.progress.started(trial.number, baseline, values, self)
        if self.tracker is not None:
            self.tracker.trial_started(trial.number, values, rt.dir / self.adapter.config_filename, baseline)
        return True

    def drop_early(self):
        """The early trial 0 never became a trial of the study (it failed to open, or stopped at once)."""
        if self.early is not None:
            stop_process(self.early.proc)
            self.release(self.early)
            self.early = None

    def base_env(self):
        """The environment every trial of this study starts with (before its own reporting paths)."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env[PARENT_ENV] = str(os.getpid())  # the trial dies with this process (reporting.die_with_coordinator)
        if self.s.workers > 1 or self.s.warm_start:
            # A fork does not take Paddle's default for an unset OMP_NUM_THREADS as a fresh process does (it
            # trained with 2 threads where a fresh process used 1), so warm studies always set it: 1 is that default.
            threads = cpu_threads(self.s.workers) if self.s.workers > 1 else 1
            for var in THREAD_VARS:
                env.setdefault(var, str(threads))
        return env

    def baseline_values(self):
        return {p.name: p.current(self.task.config) if self.task.known_value(p.name) else None for p in self.params}

    def start_early_baseline(self):
        """A fresh study in --out starts trial 0 (the config as given) before the study storage opens,
        which takes a second or two of imports and set-up that the trial's own start-up then hides."""
        self.early = None
        if not (self.s.baseline and self.embedded and self.s.trials > 0 and not self.gpu_load
                and not (self.out / "study.db").exists()):
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self.early = self.start_process(0, self.task.fresh_config(), self.baseline_values())

    def start_process(self, number, cfg, values):
        """Write the trial's folder (config, params, empty metrics) and start its process."""
        trial_dir = self.out / f"trial_{number:04d}"
        trial_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.adapter.prepare_trial(cfg, trial_dir, self.s.seed)
        config_path = trial_dir / self.adapter.config_filename
        self.adapter.write_config(cfg, config_path)
        (trial_dir / "params.json").write_text(json.dumps(_jsonable(values), indent=1) + "\n")
        metrics_path = trial_dir / "metrics.jsonl"
        metrics_path.write_text("")
        remove(trial_dir / "stop")
        env = self.base_env()
        env[METRIC_ENV] = self.metric
        env[WANTS_ENV] = ",".join([m for m, _ in self.objectives] + [m for m, _, _ in self.s.constraints or []])
        env[ENV_VAR] = str(metrics_path)
        env[STOP_ENV] = str(trial_dir / "stop")
        env[TUNED_ENV] = json.dumps(knobs.paths_of(self.params))
        cmd = self.adapter.trial_command(self.task, str(config_path))
        gpus = self.take_gpus() if self.gpu_load else ()
        launcher = getattr(self.task, "launcher", None)  # the user's own `-m paddle.distributed.launch ...`
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        if len(gpus) > 1 or launcher:  # one trial over several GPUs: paddle.distributed.launch, rank 0 reports
            # its --devices are ids as CUDA_VISIBLE_DEVICES names them (the launcher looks them up there)
            cmd = launch_command(cmd, ",".join(gpus), trial_dir / "launch_log", launcher)
        (trial_dir / "command.txt").write_text(
            (f"CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']} " if gpus else "") + shlex.join(cmd) + "\n")
        log = open(trial_dir / "train.log", "w")
        # the adapter may start the trial itself (the Python API forks its caller); else warm, else cold
        proc = self.adapter.start_trial(self.task, str(config_path), env, self.task.cwd, trial_dir / "train.log")
        warm = None if proc is not None or gpus else self.warm_process(cmd, env, trial_dir / "train.log")
        if warm is not None:
            proc = warm
            with open(trial_dir / "command.txt", "a") as f:
                f.write(f"# started warm: forked from the study's preloaded process {self.zygote.proc.pid}\n")
        elif proc is None:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.task.cwd,
                                    start_new_session=True,  # its own group, so stopping it stops its children
                                    # paddle.distributed.launch is not ours: it cannot set PARENT_ENV's death signal
                                    preexec_fn=set_parent_death_signal if len(gpus) > 1 or launcher else None)
        return RunningTrial(None, proc, cfg, trial_dir, time.time(), gpus=gpus, log=log, beat=time.time(),
                            number=number)

    def poll(self, rt):
        reports, rt.offset = read_reports(rt.dir / "metrics.jsonl", rt.offset)
        for rep in reports:
            if "progress" in rep:  # epoch k/N for the live ETA line, not a metric
                self.progress.training(rt, rep, self)
            elif "used" in rep:
                if self.check_knobs(rt, rep["used"]):
                    return
            elif self.take_report(rt, rep):
                return
        code = rt.proc.poll()
        if code is None:
            self.progress.tick(self)
            if self.s.trial_timeout and time.time() - rt.started > self.s.trial_timeout:
                self.finish(rt, optuna.trial.TrialState.FAIL, f"timeout after {self.s.trial_timeout:.0f} s", stop=True)
            elif self.s.trial_memory:
                rss = results.tree_rss(rt.proc.pid)
                if rss > self.s.trial_memory:
                    self.finish(rt, optuna.trial.TrialState.FAIL,
                                f"out of memory: {rss / 2**30:.2f} GiB resident > --trial-memory "
                                f"{self.s.trial_memory / 2**30:.2f} GiB", stop=True)
            return
        if code != 0:
            self.finish(rt, optuna.trial.TrialState.FAIL, results.exit_reason(code, rt.dir / "train.log"))
        elif not rt.steps and rt.final is None:
            self.finish(rt, optuna.trial.TrialState.FAIL,
                        f"finished without reporting '{self.metric}' (is evaluation during training on?)")
        else:
            self.finish(rt, optuna.trial.TrialState.COMPLETE)

    def check_knobs(self, rt, used):
        """Compare what the trainer uses with what the trial was given. True when the trial was failed for it
        (--strict-knobs). The first trial that shows a mismatch on a path gets a loud warning."""
        rt.used.update(used)
        values = rt.trial.user_attrs.get("values", {})
        tuned = [p for p in self.params if values.get(p.name) is not None]
        rt.mismatches = knobs.check(rt.cfg, rt.used, knobs.paths_of(tuned))
        rt.trial.set_user_attr("used", _jsonable(rt.used))
        rt.trial.set_user_attr("knobs", self.knob_verdict(rt))
        for m in rt.mismatches:
            if m.path not in self.warned_paths:
                self.warned_paths.add(m.path)
                self.progress.warn(f"trial {rt.trial.number}: knob does not act: {m.describe(values.get(m.path))}"
                                   + ("" if self.s.strict_knobs else "; the trial goes on (--strict-knobs fails it)"),
                                   self)
        if rt.mismatches and self.s.strict_knobs:
            self.finish(rt, optuna.trial.TrialState.FAIL,
                        "knob does not act (--strict-knobs): " + "; ".join(m.describe() for m in rt.mismatches),
                        stop=True)
            return True
        return False

    def knob_verdict(self, rt):
        """The trial's `knobs` attribute (show's knobs column; a mismatch also goes to trials.csv's reason): ok,
        the mismatches, or which tuned paths the trainer's values did not cover."""
        if rt.mismatches:
            return "MISMATCH " + "; ".join(m.describe() for m in rt.mismatches)
        values = rt.trial.user_attrs.get("values", {})
        paths = [p.name for p in self.params if values.get(p.name) is not None]
        if not paths:
            return ""
        missing = knobs.unchecked(rt.used, paths)
        if not rt.used:
            return "not read (the trainer reported no values)"
        return f"ok ({len(paths) - len(missing)} read)" + (f"; not read: {', '.join(missing)}" if missing else "")

    def take_report(self, rt, rep):
        """Feed one evaluation to Optuna. True when the trial was stopped because of it."""
        metrics = rep["metrics"]
        if self.metric not in metrics:
            self.finish(rt, optuna.trial.TrialState.FAIL,
                        f"reported {', '.join(metrics)} but not '{self.metric}'", stop=True)
            return True
        value, step = metrics[self.metric], rep["step"]
        missing = [m for m, _ in self.objectives[1:] if m not in metrics]
        if missing:
            self.finish(rt, optuna.trial.TrialState.FAIL, f"reported {', '.join(metrics)} but not "
                        f"'{missing[0]}'", stop=True)
            return True
        if not math.isfinite(value):
            where = "as the result" if rep.get("final") else f"at step {step}"
            self.finish(rt, optuna.trial.TrialState.FAIL, f"{self.metric} is {value} {where}", stop=True)
            return True
        if rep.get("final"):  # the trial's own result (Python API return value): not a pruning step
            rt.final = value
            return False
        if any(s == step for s, _ in rt.steps):  # a second eval of the same epoch (e.g. EMA weights)
            return False
        rt.steps.append((step, value))
        rt.reports[step] = metrics
        if self.tracker is not None:
            self.tracker.reported(rt.trial.number, step, metrics)
        if self.multi:  # Optuna keeps no intermediate values for several objectives (and cannot prune them)
            self.progress.reported(rt, step, value, self)
            return False
        rt.trial.report(value, step)
        self.progress.reported(rt, step, value, self)
        last = self.adapter.max_steps(rt.cfg)
        if (last is None or step < last) and rt.trial.should_prune():  # a finished run is not pruned
            self.finish(rt, optuna.trial.TrialState.PRUNED, f"pruned at step {step} ({self.metric}={value:.4g})",
                        stop=True)
            return True
        return False

    def finish(self, rt, state, reason=None, stop=False):
        """Record the trial's end; a process still running is asked to stop and cleaned up once it has."""
        del self.running[rt.trial.number]
        trial = rt.trial
        if reason:
            trial.set_user_attr("reason", reason)
        # from its process's start: trial 0 may start before the study asks for it (start_early_baseline)
        trial.set_user_attr("duration_s", round(time.time() - rt.started, 3))
        verdict = self.knob_verdict(rt)
        if verdict:
            trial.set_user_attr("knobs", verdict)
        value = None
        if state == optuna.trial.TrialState.COMPLETE and self.multi:
            # every objective as measured at the evaluation where the first one was best
            step = (max if self.direction == "maximize" else min)(rt.steps, key=lambda sv: sv[1])[0]
            values = [rt.reports[step][m] for m, _ in self.objectives]
            self.record_constraints(trial, rt.reports[step])
            trial.set_user_attr("config", _jsonable(self.adapter.export_config(rt.cfg, self.task)))
            self.study.tell(trial, values)
            self.write_pareto()
            value = values[0]
        elif state == optuna.trial.TrialState.COMPLETE:
            value = rt.final if rt.final is not None else \
                (max if self.direction == "maximize" else min)(v for _, v in rt.steps)
            if rt.steps:
                self.record_constraints(trial, rt.reports[max(rt.reports, key=lambda k: k)])
            previous_best = self.best_value()
            if previous_best is None or (value > previous_best if self.direction == "maximize"
                                         else value < previous_best):
                self.keep_best(rt)  # before tell: the trial's config is stored on it while it is still open
            self.study.tell(trial, value)
        else:
            self.study.tell(trial, state=state)
            if state == optuna.trial.TrialState.FAIL:
                self.maybe_retry(trial)
        self.changed()
        self.progress.finished(trial.number, state, value, reason, self)
        if self.tracker is not None:
            self.tracker.trial_finished(trial.number, state.name, value, reason)
        if stop and rt.proc.poll() is None:
            self.request_stop(rt)
        else:
            self.release(rt)

    def record_constraints(self, trial, metrics):
        """Optuna's soft constraints: each value <= 0 when satisfied; samplers prefer feasible trials."""
        values = [metrics.get(m, math.inf) - bound if op == "<=" else bound - metrics.get(m, -math.inf)
                  for m, op, bound in self.s.constraints or []]
        for (m, op, bound), value in zip(self.s.constraints or [], values):
            trial.set_constraint(f"{m}{op}{bound:g}", value)
        if values:
            trial.set_user_attr("constraints", values)  # for trials.csv readers and the Pareto export

    def write_pareto(self):
        """out/pareto/: the exported config of every trial on the Pareto front (feasible ones)."""
        folder = self.out / "pareto"
        remove(folder)
        folder.mkdir(parents=True)
        for t in self.study.best_trials:
            if all(c <= 0 for c in t.user_attrs.get("constraints", [])) and "config" in t.user_attrs:
                self.adapter.write_config(t.user_attrs["config"], folder / f"trial_{t.number:04d}_{self.adapter.config_filename}")

    def maybe_retry(self, trial):
        attempt = trial.user_attrs.get("attempt", 1)
        if attempt <= self.s.retry_failed:
            self.requeue(trial.params, trial.user_attrs, attempt=attempt + 1, retry_of=trial.number)

    def request_stop(self, rt):
        """Cooperative first (the trial sees its stop file and ends its training loop), then SIGTERM."""
        if self.adapter.stops_cooperatively:
            (rt.dir / "stop").write_text("stop\n")
            rt.stop_deadline = time.time() + 15
        else:
            _signal_group(rt.proc, signal.SIGTERM)
            rt.stop_deadline = time.time() + 10
        self.stopping.append(rt)

    def poll_stopping(self):
        for rt in list(self.stopping):
            if rt.proc.poll() is not None:
                self.stopping.remove(rt)
                self.release(rt)
            elif time.time() > rt.stop_deadline:
                escalate = signal.SIGKILL if (rt.dir / "stop.term").exists() else signal.SIGTERM
                _signal_group(rt.proc, escalate)
                (rt.dir / "stop.term").write_text("")
                rt.stop_deadline = time.time() + 10

    def release(self, rt):
        """The trial's process is gone: free its GPUs, close its log, drop its weights (the best's moved)."""
        for g in rt.gpus:
            self.gpu_load[g] -= 1
        rt.log.close()
        for path in self.adapter.trial_outputs(rt.cfg):
            remove(path)
        remove(rt.dir / "stop.term")

    def beat(self):
        now = time.time()
        for rt in self.running.values():
            if now - rt.beat >= self.s.heartbeat:
                rt.trial.set_user_attr("heartbeat", now)
                rt.beat = now

    def best_value(self):
        if self.multi:
            return None
        return self.tally()["best"]

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
        exported = self.adapter.export_config(rt.cfg, self.task)
        rt.trial.set_user_attr("config", _jsonable(exported))  # any machine can export it from the storage
        self.adapter.write_best(exported, self.out)

    def interrupt(self):
        """Ctrl-C: stop running trials, record them as interrupted and queue them again."""
        for rt in list(self.running.values()):
            stop_process(rt.proc)
            rt.trial.set_user_attr("interrupted", True)
            rt.trial.set_user_attr("reason", "interrupted (Ctrl-C); queued again")
            self.requeue(rt.trial.params, rt.trial.user_attrs)
            self.study.tell(rt.trial, state=optuna.trial.TrialState.FAIL)
            self.changed()
            del self.running[rt.trial.number]
            self.release(rt)
        for rt in self.stopping:
            stop_process(rt.proc)
            self.release(rt)
        self.stopping = []

    def write_results(self, force=True):
        """trials.csv; while trials run (force=False) only when something changed, at most every
        CSV_EVERY_SECONDS, since rewriting the table of a long study after each trial adds up."""
        if getattr(self, "study", None) is None:
            return
        if not force and (self._csv_due is None or time.time() - self._csv_written < CSV_EVERY_SECONDS):
            return
        results.write_trials_csv(self.study, [p.name for p in self.params], self.out / "trials.csv")
        self._csv_due, self._csv_written = None, time.time()


def wait_for_exit(procs, timeout):
    """Sleep up to timeout, waking as soon as one of the processes exits (Linux pidfds), so the next
    trial starts without waiting out the poll interval."""
    fds = []
    try:
        for proc in procs:
            if proc.poll() is not None:
                return
            fds.append(os.pidfd_open(proc.pid))
        select.select(fds, [], [], timeout)
    except (AttributeError, OSError):  # no pidfd_open (not Linux 5.3+): plain polling
        time.sleep(timeout)
    finally:
        for fd in fds:
            os.close(fd)


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def stop_process(proc, grace=10.0):
    """SIGTERM the trial's process group and wait; SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def _jsonable(values):
    return json.loads(json.dumps(values, default=str))
