"""A trial's process: its folder and environment, the GPU slots it runs on, how it starts (the adapter's
own start, a fork of the --warm-start process, or a fresh process), how it is stopped, and its clean-up.

Steps of a trial owned here: writing its config (TrialProcesses.write_folder) and launching its process
(TrialProcesses.start_process); its reports are read by trial_events.py. Every trial is born in
TrialProcesses.start (through _spawn); trial 0 may be started before the study opens (prestart), and start
then adopts that process."""
import dataclasses
import json
import os
import pathlib
import select
import shlex
import signal
import subprocess
import time
from typing import IO, TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

import optuna

from paddle_autotune_plugins.optuna_glue.storages import jsonable
from paddle_autotune_plugins.search_space.space import Param
from paddle_autotune_plugins.suites.adapter import THREAD_VARS, Task, cpu_threads, launch_command, remove
from paddle_autotune_plugins.trials import knobs, process_tree, warm_start
from paddle_autotune_plugins.trials.reporting import (ENV_VAR, METRIC_ENV, PARENT_ENV, SEED_ENV, STOP_ENV, TUNED_ENV,
                                                      WANTS_ENV, set_parent_death_signal)

if TYPE_CHECKING:  # study.objectives and settings.options import this module's package: names for the checker only
    from paddle_autotune_plugins.settings.options import Settings
    from paddle_autotune_plugins.study.objectives import Objectives

# a trial's process: a Popen, or a fork of the --warm-start process or of the Python API's caller
Process = Union["subprocess.Popen[bytes]", warm_start.WarmProcess]


@dataclasses.dataclass(eq=False)  # one per process: compared by identity (TrialProcesses.stopping)
class RunningTrial:
    """A trial's process (TrialProcesses._spawn) and what the coordinator has learnt of it so far."""
    proc: Process
    cfg: dict[str, Any]  # the config the trial trains (as written to its folder)
    dir: pathlib.Path
    started: float
    number: int
    log: IO[str]  # train.log, open while the process runs
    tree: process_tree.TrialTree  # every process the trial started, ended with it (release)
    gpus: tuple[str, ...] = ()
    offset: int = 0  # how far metrics.jsonl has been read (trial_events.read_events)
    beat: float = 0.0
    stop_deadline: Optional[float] = None  # set once the trial was asked to stop
    # Set by the coordinator once the study has asked for the trial (Coordinator.launch): a process started
    # before that (TrialProcesses.prestart) has none until start() hands it over.
    trial: optuna.trial.Trial = dataclasses.field(init=False, repr=False)
    steps: list[tuple[int, float]] = dataclasses.field(default_factory=list)  # (step, value) reported so far
    final: Optional[float] = None  # the value the trial declared its result, if it did
    final_metrics: Optional[dict[str, float]] = None  # every metric of that result (the Python API's returned dict)
    # step -> every metric of that evaluation
    reports: dict[int, dict[str, float]] = dataclasses.field(default_factory=dict)
    used: dict[str, Any] = dataclasses.field(default_factory=dict)  # config path -> the value the trainer really uses
    mismatches: list[knobs.Mismatch] = dataclasses.field(default_factory=list)  # tuned paths that did not act
    # --fidelity schedule: the trial's full-length config (cfg is its compressed one)
    full_cfg: Optional[dict[str, Any]] = None
    level: int = 0  # --fidelity schedule: which of the ladder's lengths this training runs
    epochs_before: int = 0  # --fidelity schedule: epochs the trial's shorter trainings ran
    baseline: bool = False  # trial 0, the user's config as given: never pruned (Coordinator.pruned)


class TrialProcesses:
    """The processes of this coordinator's trials and what they hold: GPU slots, the early trial 0, the
    warm-start process and the trials asked to stop that have not exited yet."""

    def __init__(self, task: Task, settings: "Settings", goal: "Objectives", params: Sequence[Param], out: pathlib.Path,
                 note: Callable[[str], Any]) -> None:
        self.task = task
        self.adapter = task.adapter
        self.s = settings
        self.goal = goal  # objectives.Objectives: what each trial reports
        self.params = params
        self.out = out
        self.note = note  # a line for the user (console.Progress.note)
        self.gpu_load = {str(g): 0 for g in (settings.gpus or [])}
        self.stopping: list[RunningTrial] = []  # trials told to stop whose processes have not exited yet
        self.early: Optional[RunningTrial] = None  # trial 0's process, started before the study opened
        self.zygote: Optional[warm_start.Zygote] = None  # --warm-start: the process trials are forked from

    # --- birth ------------------------------------------------------------------------------
    def prestart(self, number: int, cfg: dict[str, Any], values: dict[str, Any]) -> None:
        """Start a trial's process before the study has asked for it; start() adopts it."""
        self.early = self._spawn(number, cfg, values)

    def start(self, number: int, cfg: dict[str, Any], values: dict[str, Any], baseline: bool) -> RunningTrial:
        """The running trial `number`: the process prestarted for it (the baseline), else a new one."""
        if self.early is not None and baseline and number == self.early.number:
            rt, self.early = self.early, None
            return rt
        self.drop_early()  # if there is one, it was not started for this trial
        return self._spawn(number, cfg, values)

    def drop_early(self) -> None:
        """The early trial 0 never became a trial of the study (it failed to open, or stopped at once)."""
        if self.early is not None:
            stop_process(self.early.proc)
            self.release(self.early)
            self.early = None

    def _spawn(self, number: int, cfg: dict[str, Any], values: dict[str, Any]) -> RunningTrial:
        """A trial's birth: its folder written, then its process started."""
        trial_dir, cfg, config_path = self.write_folder(number, cfg, values)
        return self.start_process(number, cfg, trial_dir, config_path)

    def write_folder(self, number: int, cfg: dict[str, Any],
                     values: dict[str, Any]) -> tuple[pathlib.Path, dict[str, Any], pathlib.Path]:
        """The one place a trial's config is written: its folder (config, params, empty metrics, no stop file).
        Returns the folder, the config as the adapter prepared it for the trial, and the config file."""
        trial_dir = self.out / f"trial_{number:04d}"
        trial_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.adapter.prepare_trial(self.task, cfg, trial_dir, self.s.seed)
        config_path = trial_dir / self.adapter.config_filename
        self.adapter.write_config(cfg, config_path)
        (trial_dir / "params.json").write_text(json.dumps(jsonable(values), indent=1) + "\n")
        (trial_dir / "metrics.jsonl").write_text("")
        remove(trial_dir / "stop")
        return trial_dir, cfg, config_path

    def start_process(self, number: int, cfg: dict[str, Any], trial_dir: pathlib.Path,
                      config_path: pathlib.Path) -> RunningTrial:
        """The one place a trial's process starts, in its written folder: its environment, GPUs and command."""
        metrics_path = trial_dir / "metrics.jsonl"
        env = self.base_env()
        env[METRIC_ENV] = self.goal.metric
        env[WANTS_ENV] = ",".join(self.goal.wanted())
        env[ENV_VAR] = str(metrics_path)
        env[STOP_ENV] = str(trial_dir / "stop")
        env[TUNED_ENV] = json.dumps(knobs.paths_of(self.params))
        if self.s.seed is not None:
            env[SEED_ENV] = str(self.s.seed)
        tree = process_tree.TrialTree(metrics_path)
        env.update(tree.env())
        cmd = self.adapter.trial_command(self.task, str(config_path), cfg=cfg)
        gpus = self.take_gpus() if self.gpu_load else ()
        launcher = self.task.launcher  # the user's own `-m paddle.distributed.launch ...`
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
            assert self.zygote is not None  # the warm process came from it
            with open(trial_dir / "command.txt", "a") as f:
                f.write(f"# started warm: forked from the study's preloaded process {self.zygote.proc.pid}\n")
        elif proc is None:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.task.cwd,
                                    start_new_session=True,  # its own group, so stopping it stops its children
                                    # paddle.distributed.launch is not ours: it cannot set PARENT_ENV's death signal
                                    preexec_fn=set_parent_death_signal if len(gpus) > 1 or launcher else None)
        tree.adopt(proc.pid)
        return RunningTrial(proc, cfg, trial_dir, time.time(), number, log, tree, gpus=gpus, beat=time.time())

    def keep_level(self, rt: RunningTrial, name: str) -> None:
        """A trial's shorter training ended and it trains again: its files go to a sub-folder (`name`) first,
        so the next training starts in a clean trial folder."""
        folder = rt.dir / name
        folder.mkdir(exist_ok=True)
        for file in ("metrics.jsonl", "train.log", "command.txt", "params.json", self.adapter.config_filename):
            if (rt.dir / file).exists():
                os.replace(rt.dir / file, folder / file)

    def base_env(self) -> dict[str, str]:
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

    # --- GPU slots --------------------------------------------------------------------------
    def free_slots(self, running: int) -> int:
        """How many more trials may start now, with `running` trials of this coordinator running."""
        busy = running + len(self.stopping)
        if self.gpu_load:
            return min(self.s.workers - busy, self._gpu_capacity())
        return self.s.workers - busy

    def _gpu_capacity(self) -> int:
        free = sum(max(0, self.s.trials_per_gpu - n) for n in self.gpu_load.values())
        return free // self.s.gpus_per_trial

    def take_gpus(self) -> tuple[str, ...]:
        """The least-loaded GPU slots for one trial."""
        order = sorted(self.gpu_load, key=lambda g: (self.gpu_load[g], list(self.gpu_load).index(g)))
        chosen = tuple(g for g in order if self.gpu_load[g] < self.s.trials_per_gpu)[:self.s.gpus_per_trial]
        for g in chosen:
            self.gpu_load[g] += 1
        return chosen

    # --- warm start -------------------------------------------------------------------------
    def start_zygote(self) -> None:
        """--warm-start: the process CPU trials are forked from, preloading while the study opens."""
        self.zygote = None
        if not self.s.warm_start or self.gpu_load:
            return
        preload = self.adapter.warm_preload(self.task)
        if preload is None:
            self.note("--warm-start: this suite's trials run a script of their own; they start cold")
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self.zygote = warm_start.Zygote(preload, self.base_env(), self.task.cwd, self.out / "warm_start.log")

    def close_zygote(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None

    def warm_process(self, cmd: list[str], env: dict[str, str],
                     log_path: pathlib.Path) -> Optional[warm_start.WarmProcess]:
        """The trial forked from the zygote, or None: it starts cold (not ready yet, or the zygote is gone)."""
        if self.zygote is None or not warm_start.can_fork(cmd):
            return None
        if not self.zygote.ready():
            if self.zygote.proc.poll() is not None:
                self._warm_start_lost("ended")
            return None
        proc = self.zygote.start(cmd, env, self.task.cwd, log_path)
        if proc is None:
            self._warm_start_lost("stopped answering")
        return proc

    def _warm_start_lost(self, what: str) -> None:
        self.note(f"--warm-start: the preloading process {what} (see {self.out / 'warm_start.log'}); "
                  f"trials start cold")
        self.close_zygote()

    # --- stopping and clean-up --------------------------------------------------------------
    def request_stop(self, rt: RunningTrial) -> None:
        """Cooperative first (the trial sees its stop file and ends its training loop), then SIGTERM."""
        if self.adapter.stops_cooperatively_for(self.task):
            (rt.dir / "stop").write_text("stop\n")
            rt.stop_deadline = time.time() + 15
        else:
            rt.tree.terminate()
            rt.stop_deadline = time.time() + 10
        self.stopping.append(rt)

    def poll_stopping(self) -> None:
        """Release the stopped trials whose processes exited; signal again (then SIGKILL) those that linger."""
        for rt in list(self.stopping):
            if rt.proc.poll() is not None:
                self.stopping.remove(rt)
                self.release(rt)
            elif time.time() > rt.stop_deadline:  # type: ignore[operator]  # request_stop set it
                if (rt.dir / "stop.term").exists():
                    rt.tree.kill()
                else:
                    rt.tree.terminate()
                (rt.dir / "stop.term").write_text("")
                rt.stop_deadline = time.time() + 10

    def kill_stopping(self) -> None:
        """Stop the trials asked to stop now (Ctrl-C) and release them."""
        for rt in self.stopping:
            stop_process(rt.proc)
            self.release(rt)
        self.stopping = []

    def release(self, rt: RunningTrial) -> None:
        """The trial's process is gone: end what it left running, free its GPUs, close its log, drop its
        weights (the best's moved)."""
        rt.tree.kill()
        for g in rt.gpus:
            self.gpu_load[g] -= 1
        rt.log.close()
        for path in self.adapter.trial_outputs(self.task, rt.cfg, trial_dir=rt.dir):
            remove(path)
        remove(rt.dir / "stop.term")


def wait_for_exit(procs: Sequence[Process], timeout: float) -> None:
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


def stop_process(proc: Process, grace: float = 10.0) -> None:
    """SIGTERM the trial's process group and wait; SIGKILL it if it lingers. What else of the trial is left
    is killed by release (TrialTree.kill)."""
    if proc.poll() is not None:
        return
    process_tree.signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        process_tree.signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
