"""The study as one coordinator sees it: creating (or resuming) it, its trials read at most so often, the
rules that end it, trials.csv, and taking back trials whose coordinator stopped or died (heartbeats).

Step of a trial owned here: telling Optuna how it ended (StudyView.tell), the one place every tell goes through."""
import hashlib
import os
import socket
import pathlib
import time
import warnings
from typing import TYPE_CHECKING, Any, Collection, Optional, Sequence, Union

import optuna
from optuna.trial import FrozenTrial

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.optuna_glue import pruners, samplers
from paddle_autotune_plugins.optuna_glue.storages import jsonable
from paddle_autotune_plugins.output import trials_csv
from paddle_autotune_plugins.search_space import space
from paddle_autotune_plugins.search_space.space import Param
from paddle_autotune_plugins.study import trial_queries as queries
from paddle_autotune_plugins.study.objectives import Objectives
from paddle_autotune_plugins.suites.adapter import Task
from paddle_autotune_plugins.trials.trial_processes import RunningTrial

if TYPE_CHECKING:  # settings.options imports the study package: only the checker needs the name here
    from paddle_autotune_plugins.settings.options import Settings

RUNNING = optuna.trial.TrialState.RUNNING
SHARED_REFRESH_SECONDS = 1.0  # how stale this coordinator's view of a shared study may get
CSV_EVERY_SECONDS = 1.0  # trials.csv is rewritten at most this often while trials run (and at the end)
SAME_FAILURES = 3  # a study whose first this many trials fail with one reason stops (--max-failures sets it)
# A coordinator beats once per pass of its loop (a poll, a launch): sooner than this, a trial of a live but
# busy one would look lost (--heartbeat 0.01s made two coordinators take each other's trials back forever).
MIN_STALE_SECONDS = 5.0


class StudyView:
    def __init__(self, settings: "Settings", embedded: bool, goal: Objectives, csv_path: pathlib.Path,
                 param_names: list[str]) -> None:
        self.s = settings
        self.embedded = embedded
        self.goal = goal  # objectives.Objectives
        self.csv_path = csv_path
        self.param_names = param_names
        self.study: Optional[optuna.Study] = None  # until create_or_load
        self.started: Optional[float] = None  # when this coordinator's loop began (the time budget counts from it)
        # (time read, trials of the study, their tally): see trials
        self._trials: Optional[tuple[float, list[FrozenTrial], dict[str, Any]]] = None
        # time trials.csv was last written while it has news, None when up to date
        self._csv_due: Optional[float] = None
        self._csv_written = 0.0

    # --- the trials, cached -----------------------------------------------------------------
    def trials(self) -> list[FrozenTrial]:
        """The study's trials, read again only after this coordinator changed the study (ask, tell,
        enqueue) or, with a shared storage, once SHARED_REFRESH_SECONDS have passed: reading every trial
        on every poll is what made a long study's coordinator slow."""
        now = time.time()
        if self._trials is None or (not self.embedded and now - self._trials[0] > SHARED_REFRESH_SECONDS):
            trials = queries.trials(self.opened())
            self._trials = (now, trials, queries.counts(trials, None if self.goal.multi else self.goal.direction))
        return self._trials[1]

    def tally(self) -> dict[str, Any]:
        """Counts of the trials above, computed once per read of them (progress lines and stop rules ask
        on every event and poll): {"trials", "done", "pruned", "failed", "best"}."""
        self.trials()
        assert self._trials is not None  # just read
        return self._trials[2]

    def opened(self) -> optuna.Study:
        """The study, once create_or_load has opened it (every use but write_results comes after that)."""
        assert self.study is not None, "the study is not open yet (create_or_load)"
        return self.study

    def best_value(self) -> Optional[float]:
        return None if self.goal.multi else self.tally()["best"]

    def counted(self) -> list[FrozenTrial]:
        """Finished trials that count towards --trials (across every coordinator of the study)."""
        return [t for t in self.trials() if t.state in queries.FINISHED]

    def changed(self) -> None:
        """This coordinator wrote to the study: its cached view and trials.csv are out of date."""
        self._trials = None
        if self._csv_due is None:
            self._csv_due = time.time()

    def write_results(self, force: bool = True) -> None:
        """trials.csv; while trials run (force=False) only when something changed, at most every
        CSV_EVERY_SECONDS, since rewriting the table of a long study after each trial adds up."""
        if self.study is None:
            return
        if not force and (self._csv_due is None or time.time() - self._csv_written < CSV_EVERY_SECONDS):
            return
        trials_csv.write_trials_csv(self.study, self.param_names, self.csv_path)
        self._csv_due, self._csv_written = None, time.time()

    # --- stop rules -------------------------------------------------------------------------
    def stop_reason(self) -> Optional[str]:
        tally = self.tally()
        if tally["trials"] >= self.s.trials:
            return "trials"
        study = self.opened()
        if isinstance(study.sampler, samplers.GridSampler) and study.sampler.is_exhausted(study):
            return "grid exhausted"
        if self.s.time_budget and time.time() - self.study_started() >= self.s.time_budget:
            return "time budget"
        failures = tally["failed"]
        if self.s.max_failures is not None and failures >= self.s.max_failures:
            return f"{failures} failed trials (--max-failures {self.s.max_failures})"
        same = self.s.max_failures or SAME_FAILURES
        reason = queries.same_first_failures(self.counted(), same)
        if reason is not None:
            return f"the first {same} trials all failed with the same reason (--max-failures {same}): {reason}"
        if self.s.early_stopping_rounds and not self.goal.multi and queries.rounds_without_improvement(
                self.counted(), self.goal.direction) >= self.s.early_stopping_rounds:
            k = self.s.early_stopping_rounds
            return f"no improvement in {k} finished trials (--early-stopping-rounds {k})"
        return None

    def study_started(self) -> float:
        if self.s.storage and not hasattr(self, "_study_started"):
            self._study_started: Optional[float] = self.opened().user_attrs.get("started", self.started)
        started = self._study_started if self.s.storage else self.started
        assert started is not None  # the loop has begun (Coordinator.run sets started)
        return started

    # --- telling Optuna how a trial ended ---------------------------------------------------
    def tell(self, trial: Union[optuna.trial.Trial, int], values: Union[float, Sequence[float], None] = None,
             state: Optional[optuna.trial.TrialState] = None) -> None:
        """The one place a trial's end reaches the study: its value(s) (COMPLETE), or its state alone (PRUNED,
        FAIL; the FAIL of a surplus ask, of a trial taken back or given back). `trial` is a Trial or a trial
        number (a lost trial of another coordinator). Its user attributes are set before: a told trial is
        finished and takes none."""
        self.opened().tell(trial, values, state=state)

    # --- trials taken back ------------------------------------------------------------------
    def recover_lost(self, running: Collection[int] = (), everything: bool = False) -> None:
        """Trials left RUNNING by a coordinator that stopped or died are failed and queued again (not the
        numbers in `running`, this coordinator's own).

        With the embedded storage only this coordinator runs trials, so at start every RUNNING trial is
        lost; with a shared storage a trial is lost when its heartbeat is older than stale_after (and
        MIN_STALE_SECONDS)."""
        now = time.time()
        study = self.opened()
        for t in study.get_trials(deepcopy=False, states=(RUNNING,)):
            if t.number in running:
                continue
            last = t.user_attrs.get("heartbeat") or (t.datetime_start.timestamp() if t.datetime_start else now)
            if not everything and now - last < max(self.s.stale_after, MIN_STALE_SECONDS):
                continue
            try:
                handle = optuna.trial.Trial(study, t._trial_id)
                handle.set_user_attr("reason", "interrupted: its coordinator stopped; queued again")
                handle.set_user_attr("interrupted", True)
                self.tell(t.number, state=optuna.trial.TrialState.FAIL)
            except (RuntimeError, ValueError):  # another worker took it back first
                continue
            self.requeue(t.params, t.user_attrs)

    def give_back(self, trial: optuna.trial.Trial, reason: str) -> None:
        """A trial this coordinator ran and stopped unfinished: recorded as interrupted, its parameters
        queued again."""
        trial.set_user_attr("interrupted", True)
        trial.set_user_attr("reason", reason)
        self.requeue(trial.params, trial.user_attrs)
        self.tell(trial, state=optuna.trial.TrialState.FAIL)

    def requeue(self, params: dict[str, Any], user_attrs: dict[str, Any], **extra: Any) -> None:
        attrs: dict[str, Any] = {k: user_attrs[k] for k in ("baseline", "baseline_params", "rescaled", "drawn_from")
                                 if k in user_attrs}
        self.opened().enqueue_trial(params, user_attrs=dict(attrs, **extra))
        self.changed()

    def beat(self, running: dict[int, RunningTrial]) -> list[RunningTrial]:
        """The heartbeat of each running trial (number -> RunningTrial), every --heartbeat seconds. Returns
        those another coordinator has taken back meanwhile (their rows are finished: no heartbeat to set)."""
        now = time.time()
        taken = []
        for rt in running.values():
            if now - rt.beat >= self.s.heartbeat:
                try:
                    rt.trial.set_user_attr("heartbeat", now)
                except optuna.exceptions.UpdateFinishedTrialError:
                    taken.append(rt)
                rt.beat = now
        return taken


# --- opening the study ----------------------------------------------------------------------
def create_or_load(view: StudyView, task: Task, params: Sequence[Param], storage: Any, out: pathlib.Path,
                   pruner: Optional[optuna.pruners.BasePruner] = None) -> None:
    """Create or resume the study in `storage` into `view`: check that it tunes what this command asks,
    take back lost trials, and queue the baseline and the --enqueue configs of a fresh one."""
    s, goal, adapter = view.s, view.goal, task.adapter
    name = s.study or "autotune"
    try:
        study = optuna.create_study(
            # directions: each "maximize" or "minimize" (Objectives.of checked them), which mypy cannot see in a str
            study_name=name, storage=storage, load_if_exists=True,
            directions=[d for _, d in goal.objectives],  # type: ignore[misc]
            pruner=pruner or pruners.make_pruner(s.pruner, adapter.max_steps(task, task.config)))
    except ValueError as e:  # e.g. resuming with another number of objectives
        raise UsageError(f"cannot open study '{name}': {e}") from None
    view.study = study
    stored = queries.directions(study)
    if stored != [d for _, d in goal.objectives]:
        raise UsageError(f"study '{name}' in {out} was started to {', '.join(stored)}; this command asks to "
                         f"{', '.join(d for _, d in goal.objectives)}: drop --direction to resume it, or use "
                         f"another --out or --study")
    space.check_resumable(params, study.get_trials(deepcopy=False))
    # A resumed study (or a second coordinator on a shared one) must not replay the draws already made:
    # the sampler's seed moves on with the trials the study holds, and with who is asking.
    attrs = study.user_attrs
    # the prior's centres: the study's own (a resumed study, a worker), else this command's (rescale.centres)
    centres = attrs.get("centres", s.centres)
    study.sampler = samplers.make_sampler(s.sampler, params, seed=sampler_seed(s, view.embedded, len(study.trials)),
                                          centres=centres, prior=s.prior)
    if attrs.get("metric", goal.metric) != goal.metric:
        raise UsageError(f"study '{name}' tunes '{attrs['metric']}', not '{goal.metric}': "
                         f"use another --out, --study or --storage")
    check_same_command(name, out, attrs.get("command"), s.command)
    if "metric" not in attrs:
        study.set_user_attr("metric", goal.metric)
        study.set_user_attr("objectives", goal.names())
        study.set_user_attr("suite", adapter.name)
        study.set_user_attr("params", [p.name for p in params])
        study.set_user_attr("started", time.time())
        study.set_user_attr("centres", jsonable(s.centres))
        if s.command:
            study.set_user_attr("command", jsonable(s.command))
    if study.metric_names != goal.names():  # optuna-dashboard shows 'top1'
        name_metrics(study, goal.names())
    view.recover_lost(everything=view.embedded)
    if not study.trials:
        if s.baseline:
            enqueue_baseline(study, task, params)
        for values in s.enqueue:  # the trials the user asked for by name come first
            study.enqueue_trial(values, user_attrs={"enqueued": True})
        if s.rescaled:  # then the config rescaled to the user's devices (rescale.py)
            study.enqueue_trial(s.rescaled, user_attrs={"rescaled": True})


def check_same_command(name: str, out: pathlib.Path, stored: Optional[dict[str, Any]],
                       command: Optional[dict[str, Any]]) -> None:
    """Resuming runs the stored study's trials on: another script (or suite) would mix two tasks' results."""
    if not stored or not command:
        return
    was = (stored.get("suite"), stored.get("script"))
    now = (command.get("suite"), command.get("script"))
    if was != now:
        raise UsageError(f"study '{name}' in {out} was started with {_task_name(*was)}, not {_task_name(*now)}: use "
                         f"another --out (or --study) for this one, or run the first command to resume that study")


def _task_name(suite: Optional[str], script: Optional[str]) -> str:
    return f"the {suite} suite's {script}" if script else f"the {suite} suite"


def name_metrics(study: optuna.Study, names: list[str]) -> None:
    """Name the study's objectives (optuna-dashboard then shows 'top1', not 'Objective 0')."""
    with warnings.catch_warnings():  # experimental in Optuna since 3.2; it only names the objectives
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(names)


def sampler_seed(settings: "Settings", embedded: bool, existing: int) -> Optional[int]:
    """--seed for a fresh embedded study (reproducible); else mixed with the trials already there and,
    on a shared storage, with this coordinator's host and pid, so that no two draw the same sequence."""
    if embedded and not existing:
        return settings.seed
    who = "" if embedded else f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
    return int(hashlib.sha256(f"{settings.seed}:{existing}:{who}".encode()).hexdigest()[:8], 16)


def enqueue_baseline(study: optuna.Study, task: Task, params: Sequence[Param]) -> None:
    """Trial 0 runs the user's config unchanged; values that fit the space teach the sampler too."""
    cfg = task.adapter.values_in_effect(task)
    fitting = {p.name: p.encode(p.current(cfg)) for p in params
               if p.current(cfg) is not None and p.contains(p.current(cfg)) and task.known_value(p.name)}
    study.enqueue_trial(fitting, user_attrs={"baseline": True, "baseline_params": sorted(fitting)})


def baseline_values(task: Task, params: Sequence[Param]) -> dict[str, Any]:
    """What trial 0 runs with: the config's own value of each tuned path (None where it is not known)."""
    cfg = task.adapter.values_in_effect(task)
    return {p.name: p.current(cfg) if task.known_value(p.name) else None for p in params}
