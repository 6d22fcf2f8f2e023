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

Steps of a trial owned here: ask (Coordinator.launch), the decisions on its events (Coordinator.poll: report
to Optuna in take_report, prune in pruned, its end in finish). Elsewhere, one place each: writing its config
and launching its process (trials/trial_processes.py), reading its reports (trials/trial_events.py), telling
Optuna how it ended (study_view.StudyView.tell), keeping the best files (objectives.keep_best).
"""
import dataclasses
import math
import pathlib
import sys
import time
from typing import IO, TYPE_CHECKING, Any, Optional, Sequence

import optuna

from paddle_autotune_plugins.errors import InternalError, StorageFailed, UsageError
from paddle_autotune_plugins.optuna_glue import pruners, samplers, storages
from paddle_autotune_plugins.optuna_glue.storages import jsonable
from paddle_autotune_plugins.output import console, exit_reasons, process_memory
from paddle_autotune_plugins.search_space import space
from paddle_autotune_plugins.search_space.space import Param
from paddle_autotune_plugins.study import fidelity, interrupts, study_view, trial_queries as queries
from paddle_autotune_plugins.study.objectives import (Objectives, best_evaluation, best_weights_trial, keep_best,
                                                      move_best_weights, record_constraints, single_value, store_config,
                                                      write_pareto)
from paddle_autotune_plugins.suites.adapter import Task, check_gpus, remove
from paddle_autotune_plugins.trials import knobs, process_tree, trial_events, trial_processes
from paddle_autotune_plugins.trials.trial_processes import RunningTrial

if TYPE_CHECKING:  # settings.options imports the study package: only the checker needs the name here
    from paddle_autotune_plugins.output.mlflow_tracking import Tracker
    from paddle_autotune_plugins.settings.options import Settings

POLL_SECONDS = 0.2


class Coordinator:
    """One study's coordinator. Its loop (run) asks for a trial and launches it while a worker slot is free,
    waits for news, polls each running trial (its reports go to Optuna, which may prune it) and tells Optuna
    how each ended (finish). The parts live in their own modules: the trial processes
    (trial_processes.TrialProcesses), the study as this coordinator sees it (study_view.StudyView), what is
    optimised and what follows the best (objectives.py). Each step of the loop is one public call, which is
    what benchmarks/coordinator_cost.py times."""

    def __init__(self, task: Task, params: Sequence[Param], settings: "Settings") -> None:
        self.task = task
        self.adapter = task.adapter
        self.params = params
        self.s = settings
        self.goal = Objectives.of(task, settings)
        self.ladder = self.check_ladder() if settings.fidelity == "schedule" else None  # (levels, eta)
        check_gpus(settings.gpus, settings.gpus_per_trial, self.adapter.runs_paddle)
        if "grid" in [settings.sampler] + [name for name, _ in settings.stages or []]:
            samplers.check_grid(params)  # before the study file is made
        self.out = pathlib.Path(settings.out).resolve()
        self.storage, self.embedded = storages.open_storage(settings.storage, self.out)
        self.active_params = params  # narrowed in a later --stages stage
        self.stage: Optional[int] = None
        self.running: dict[int, RunningTrial] = {}  # trial number -> its process and what it reported
        self.lock: Optional[IO[Any]] = None  # the --out folder's lock (embedded storage: one coordinator per folder)
        self.view = study_view.StudyView(settings, self.embedded, self.goal, self.out / "trials.csv",
                                         [p.name for p in params])
        self.progress = console.Progress(console.StudyStatus(self.view, self.running, self.goal.metric,
                                                             settings.trials, settings.workers,
                                                             settings.time_budget), quiet=settings.quiet)
        self.processes = trial_processes.TrialProcesses(task, settings, self.goal, params, self.out,
                                                        self.progress.note)
        self.weights_note: Optional[str] = None  # best/ set right as the study opened (agree_best_weights)
        self.warned_paths: set[str] = set()  # knobs already warned about (loudly, once per path)
        self.mine: set[int] = set()  # numbers of the trials this coordinator started
        self.tracker: Optional["Tracker"] = None  # --mlflow
        self.unit = self.adapter.step_unit_for(task)  # what report steps count: epoch, iteration, step
        self.halted: Optional[str] = None  # why no further trial can work (the baseline failed, an unusable result)

    # what cli.py, api.py, mlflow_tracking.py and the benchmarks read
    study = property(lambda self: self.view.study)
    metric = property(lambda self: self.goal.metric)
    direction = property(lambda self: self.goal.direction)
    objectives = property(lambda self: self.goal.objectives)
    multi = property(lambda self: self.goal.multi)

    def check_ladder(self) -> tuple[list[int], int]:
        """--fidelity schedule: the training lengths of its successive halving, and every shorter config the
        suite must compress, tried on the user's config before any trial runs."""
        if self.goal.multi:
            raise UsageError("--fidelity schedule prunes between its trainings: give one --metric")
        if pruners.parse(self.s.pruner).name != "asha":
            raise UsageError(f"--fidelity schedule runs successive halving over its trainings: use --pruner asha "
                             f"(the default), not {self.s.pruner}")
        levels, eta = fidelity.levels_for(self.s, self.adapter.max_steps(self.task, self.task.config))
        for epochs in levels[:-1]:
            fidelity.compressed(self.adapter, self.task.config, epochs, self.task)
        return levels, eta

    def at_level(self, cfg: dict[str, Any], level: int) -> dict[str, Any]:
        """The config a trial trains at its `level`-th length (itself without --fidelity schedule)."""
        if self.ladder is None:
            return cfg
        return fidelity.compressed(self.adapter, cfg, self.ladder[0][level], self.task)

    def attach_study(self) -> None:
        """Create or resume the study in the storage (study_view.create_or_load) and make best_config.yaml agree
        with its best trial."""
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.out.mkdir(parents=True, exist_ok=True)
        if self.embedded:
            storages.check_embedded(self.out)
            self.storage = storages.embedded_sqlite(self.out / "study.db")
        study_view.create_or_load(self.view, self.task, self.params, self.storage, self.out,
                                  pruner=fidelity.make_pruner(*self.ladder) if self.ladder else None)
        self.agree_best()

    def note_resumed(self) -> None:
        """The same command again (or a worker): say so before the progress line counts the trials held."""
        held = self.view.counted()
        if held:
            best = self.view.best_value()  # None for several objectives
            self.progress.note(f"resuming: the study already holds {len(held)} finished trial(s)"
                               + ("" if best is None else f", best {self.metric}={best:.4f}")
                               + (f"; this run goes on to {self.s.trials} trials" if self.s.trials else ""))
        if self.weights_note:  # found while the study opened (agree_best_weights), said once the loop began
            self.progress.note(self.weights_note)

    def agree_best(self) -> None:
        """best_config.yaml is the study's best trial's: a coordinator stopped between a trial's tell and
        writing its files left the previous best's (or none)."""
        if self.multi:
            return
        best = queries.best_of(queries.complete(self.view.counted()), self.direction, key=lambda t: t.value)
        if best is not None and "config" in best.user_attrs:
            self.adapter.write_best(self.task, self.adapter.config_from_store(best.user_attrs["config"]), self.out)
            self.agree_best_weights(best)

    def agree_best_weights(self, best: optuna.trial.FrozenTrial) -> None:
        """out/best/ holds the best trial's weights: stopped before it kept them, the best trial's folder still
        holds them (a trial's weights are deleted only after that), and they move now."""
        if best_weights_trial(self.out) == best.number:
            return
        trial_dir = queries.folder(best, self.out)
        config = trial_dir / self.adapter.config_filename
        cfg = self.adapter.read_config(config) if config.is_file() else None
        if cfg is not None and move_best_weights(self.task, cfg, trial_dir, best.number, self.out):
            for path in self.adapter.trial_outputs(self.task, cfg, trial_dir=trial_dir):  # as its release would
                remove(path)
            self.weights_note = (f"best/: the weights of trial {best.number}, the best, moved there now (the study "
                                 f"had stopped before keeping them)")

    def stop_reason(self) -> Optional[str]:
        """Why the study stops now (None: it goes on); one method, so that a benchmark may add a rule."""
        return self.halted or self.view.stop_reason()

    def halt(self, reason: str) -> None:
        """No further trial can work (the first reason given stands): the study starts none and ends."""
        self.halted = self.halted or reason

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> Optional[str]:
        """Run the study until a stop rule ends it; Ctrl-C or SIGTERM stop it cleanly (KeyboardInterrupt)."""
        with interrupts.sigterm_as_ctrl_c():
            return self._run()

    def _run(self) -> Optional[str]:
        self.run_started = time.time()  # this run's time, set-up included (record_run_time)
        process_tree.remove_orphans(self.out)  # what trials of a coordinator killed (SIGKILL) left
        if self.embedded:
            self.lock = storages.lock_folder(self.out)
        self.processes.start_zygote()
        try:
            with interrupts.held():  # prestarted and kept in processes.early, or neither
                self.start_early_baseline()
            self.attach_study()
            if self.s.mlflow is not None:
                from paddle_autotune_plugins.output import mlflow_tracking

                self.tracker = mlflow_tracking.for_coordinator(self)
        except BaseException:
            self.processes.drop_early()
            self.processes.close_zygote()
            self.unlock()
            raise
        self.view.started = time.time()
        self.note_resumed()
        stop = None
        next_check = time.time() + self.s.heartbeat
        try:
            while True:
                stop = self.stop_reason()
                while stop is None and self.processes.free_slots(len(self.running)) > 0:
                    if not self.launch():
                        stop = "trials"
                        break
                    stop = self.stop_reason()
                if not self.running and not self.processes.stopping:
                    break
                trial_processes.wait_for_exit([rt.proc for rt in self.running.values()]
                                              + [rt.proc for rt in self.processes.stopping], POLL_SECONDS)
                for number in list(self.running):
                    rt = self.running[number]
                    try:
                        self.poll(rt)
                    except optuna.exceptions.UpdateFinishedTrialError:
                        self.taken_back(rt)
                self.processes.poll_stopping()
                self.view.write_results(force=False)
                if time.time() >= next_check:
                    for rt in self.view.beat(self.running):
                        self.taken_back(rt)
                    if not self.embedded:
                        self.view.recover_lost(self.running)
                    next_check = time.time() + self.s.heartbeat
        except KeyboardInterrupt as e:
            self.interrupt("interrupted (SIGTERM)" if isinstance(e, interrupts.Terminated) else "interrupted (Ctrl-C)")
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
            self.processes.drop_early()
            self.processes.close_zygote()
            try:
                self.view.write_results()
                self.record_run_time()
            except Exception as e:  # the storage or disk that just failed: trials.csv waits for the resume
                if not storages.is_storage_failure(e):
                    raise
            self.unlock()
            if self.tracker is not None:
                from paddle_autotune_plugins.output import mlflow_tracking

                mlflow_tracking.end_of(self, stop, interrupted=sys.exc_info()[0] is not None)
        return stop

    def record_run_time(self) -> None:
        """Add this run's time to the study's (an embedded study's runs follow each other): the summary of a
        resumed study counts all of its time, not only this run's."""
        if not self.embedded or self.study is None:
            return
        attrs = self.study.user_attrs
        self.study.set_user_attr("elapsed_s", attrs.get("elapsed_s", 0.0) + time.time() - self.run_started)
        self.study.set_user_attr("runs", attrs.get("runs", 0) + 1)

    def start_early_baseline(self) -> None:
        """A fresh study in --out starts trial 0 (the config as given) before the study storage opens,
        which takes a second or two of imports and set-up that the trial's own start-up then hides."""
        if not (self.s.baseline and self.embedded and self.s.trials > 0 and not self.processes.gpu_load
                and not (self.out / "study.db").exists()):
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self.processes.prestart(0, self.at_level(self.task.fresh_config(), 0),
                                study_view.baseline_values(self.task, self.params))

    def launch(self) -> bool:
        """Ask for the next trial and start it. False when this ask came too late (other workers filled the study)."""
        self.enter_stage()
        trial = self.study.ask()
        self.mine.add(trial.number)
        self.view.changed()
        before = [t for t in self.view.trials() if t.number < trial.number]
        if len(before) >= self.s.trials:
            trial.set_user_attr("surplus", True)
            trial.set_user_attr("reason", "not run: the study had its trials when this ask arrived")
            self.view.tell(trial, state=optuna.trial.TrialState.FAIL)
            return False
        baseline = bool(trial.user_attrs.get("baseline"))
        cfg = self.task.fresh_config()
        if baseline:
            # Only the enqueued (fitting) values are recorded as params; the config stays as given.
            for p in self.params:
                if p.name in trial.user_attrs["baseline_params"]:
                    p.suggest(trial)  # returns the enqueued value
            values = study_view.baseline_values(self.task, self.params)
        else:
            values = space.sample(trial, self.active_params, cfg)
            space.apply_all(self.active_params, values, cfg)
        trial.set_user_attr("values", jsonable(values))
        with interrupts.held():  # started and registered, or neither: Ctrl-C's clean-up finds it
            rt = self.processes.start(trial.number, self.at_level(cfg, 0), values, baseline)
            rt.trial, rt.full_cfg, rt.baseline = trial, cfg, baseline
            self.running[trial.number] = rt
        if not self.embedded:  # another machine's worker may use another --out; the heartbeat starts
            try:  # at the trial's start time (recover_lost), which another coordinator may find stale already
                trial.set_user_attr("dir", str(rt.dir))
            except optuna.exceptions.UpdateFinishedTrialError:
                self.taken_back(rt)
                return True
        self.progress.started(trial.number, baseline, values)
        if self.tracker is not None:
            self.tracker.trial_started(trial.number, values, rt.dir / self.adapter.config_filename, baseline)
        return True

    def enter_stage(self) -> None:
        """--stages: after each stage's trials, switch sampler and narrow the space around the best trials."""
        if not self.s.stages:
            return
        done = len(self.view.trials())
        stage, start = 0, 0
        for i, (_, count) in enumerate(self.s.stages):
            if count is None or done < start + count:
                stage = i
                break
            start += count
        if stage == self.stage:
            return
        self.stage = stage
        self.study.sampler = samplers.make_sampler(
            self.s.stages[stage][0], self.active_params,
            seed=study_view.sampler_seed(self.s, self.embedded, len(self.study.trials)))
        if stage > 0 and not self.multi:
            complete = queries.complete(self.view.counted())
            self.active_params = space.narrow(self.params, complete, self.direction)
            self.progress.note(f"stage {stage + 1} ({self.s.stages[stage][0]}): "
                               + "; ".join(p.describe() for p in self.active_params))
        self.study.set_user_attr("stage", stage)

    # --- listening to a running trial -------------------------------------------------------
    def poll(self, rt: RunningTrial) -> None:
        """Decide on the trial's news (trial_events.read_events: its new report lines, then whether its process
        still runs), in the order it happened; the first decision that ends the trial ends the poll."""
        for event in trial_events.read_events(rt):
            if isinstance(event, trial_events.BadReport):  # the trial's own output fails the trial, not the study
                self.finish(rt, optuna.trial.TrialState.FAIL, event.reason, stop=True)
                return
            if isinstance(event, trial_events.Progress):  # epoch k/N for the live ETA line, not a metric
                self.progress.training(rt, event.line)
            elif isinstance(event, trial_events.KnobValues):
                if self.check_knobs(rt, event.used):
                    return
            elif isinstance(event, trial_events.Unusable):  # e.g. the Python API's function returned a string:
                # so will every trial
                self.finish(rt, optuna.trial.TrialState.FAIL, event.message, stop=True)
                self.halt(event.message)
                return
            elif isinstance(event, trial_events.Evaluation):
                if self.take_report(rt, event):
                    return
            elif isinstance(event, trial_events.Running):
                self.still_running(rt)
            else:
                self.exited(rt, event.code)

    def still_running(self, rt: RunningTrial) -> None:
        """A trial whose process runs on: its time and memory limits."""
        self.progress.tick()
        if self.s.trial_timeout and time.time() - rt.started > self.s.trial_timeout:
            self.finish(rt, optuna.trial.TrialState.FAIL, f"timeout after {self.s.trial_timeout:.0f} s", stop=True)
        elif self.s.trial_memory:
            rss = process_memory.tree_rss(rt.proc.pid)
            if rss > self.s.trial_memory:
                self.finish(rt, optuna.trial.TrialState.FAIL,
                            f"out of memory: {rss / 2**30:.2f} GiB resident > --trial-memory "
                            f"{self.s.trial_memory / 2**30:.2f} GiB", stop=True)

    def exited(self, rt: RunningTrial, code: int) -> None:
        """A trial whose process exited, every line it wrote read: how it ended."""
        if code != 0:
            self.finish(rt, optuna.trial.TrialState.FAIL, exit_reasons.exit_reason(code, rt.dir / "train.log"))
        elif not rt.steps and rt.final is None:
            self.finish(rt, optuna.trial.TrialState.FAIL,
                        f"finished without reporting '{self.metric}' (is evaluation during training on?)")
        elif self.ladder:
            self.level_done(rt)
        else:
            self.finish(rt, optuna.trial.TrialState.COMPLETE)

    def level_done(self, rt: RunningTrial) -> None:
        """--fidelity schedule: one of a trial's trainings ended. Its result is the trial's value at that many
        epochs, where Optuna's successive halving decides whether the config trains again, longer."""
        assert self.ladder is not None  # only --fidelity schedule trains a trial in levels
        levels = self.ladder[0]
        epochs, value = levels[rt.level], single_value(rt, self.goal)
        assert value is not None  # exited: a training that ends here reported (steps or a result)
        last = max(step for step, _ in rt.steps) if rt.steps else None
        if last is not None and last > epochs:  # the trainer did not take the compressed schedule's length
            self.progress.warn(f"trial {rt.trial.number}: its {epochs}-epoch training evaluated at step {last}: the "
                               f"compressed schedule did not act as written")
        rt.trial.report(value, epochs)
        if rt.level == len(levels) - 1:
            self.finish(rt, optuna.trial.TrialState.COMPLETE)
        elif self.pruned(rt):
            self.finish(rt, optuna.trial.TrialState.PRUNED,
                        f"pruned after its {epochs}-epoch training ({self.metric}={value:.4g})")
        else:
            number, longer = rt.trial.number, levels[rt.level + 1]
            self.processes.release(rt)
            self.processes.keep_level(rt, f"epochs_{epochs}")
            assert rt.full_cfg is not None  # set at launch
            nxt = self.processes.start(number, self.at_level(rt.full_cfg, rt.level + 1),
                                       rt.trial.user_attrs.get("values", {}), baseline=False)
            nxt.trial, nxt.full_cfg, nxt.level, nxt.started = rt.trial, rt.full_cfg, rt.level + 1, rt.started
            nxt.baseline = rt.baseline
            nxt.epochs_before = rt.epochs_before + len(rt.steps)
            self.running[number] = nxt
            self.progress.note(f"trial {number}: {self.metric}={value:.4f} after {epochs} epochs; trains again "
                               f"for {longer}")

    def check_knobs(self, rt: RunningTrial, used: dict[str, Any]) -> bool:
        """Compare what the trainer uses with what the trial was given. True when the trial was failed for it
        (--strict-knobs). The first trial that shows a mismatch on a path gets a loud warning."""
        rt.used.update(used)
        values = rt.trial.user_attrs.get("values", {})
        tuned = [p for p in self.params if values.get(p.name) is not None]
        rt.mismatches = knobs.check(rt.cfg, rt.used, knobs.paths_of(tuned))
        rt.trial.set_user_attr("used", jsonable(rt.used))
        verdict = self.knob_verdict(rt)
        rt.trial.set_user_attr("knobs", verdict and verdict.to_attr())
        for m in rt.mismatches:
            if m.path not in self.warned_paths:
                self.warned_paths.add(m.path)
                self.progress.warn(f"trial {rt.trial.number}: knob does not act: {m.describe(values.get(m.path))}"
                                   + ("" if self.s.strict_knobs else "; the trial goes on (--strict-knobs fails it)"))
        if rt.mismatches and self.s.strict_knobs:
            self.finish(rt, optuna.trial.TrialState.FAIL,
                        "knob does not act (--strict-knobs): " + "; ".join(m.describe() for m in rt.mismatches),
                        stop=True)
            return True
        return False

    def knob_verdict(self, rt: RunningTrial) -> Optional[knobs.Verdict]:
        """The trial's knob verdict (show's knobs column; a mismatch also goes to trials.csv's reason), or None
        where no tuned value was given."""
        values = rt.trial.user_attrs.get("values", {})
        return knobs.verdict(rt.mismatches, rt.used, [p.name for p in self.params if values.get(p.name) is not None])

    def take_report(self, rt: RunningTrial, evaluation: trial_events.Evaluation) -> bool:
        """Feed one evaluation (trial_events.Evaluation) to Optuna. True when the trial was stopped because of it."""
        metrics = evaluation.metrics
        if evaluation.final and self.adapter.metric_from_result and self.check_result(rt, metrics):
            return True
        if self.metric not in metrics:
            self.finish(rt, optuna.trial.TrialState.FAIL,
                        f"reported {', '.join(metrics)} but not '{self.metric}'", stop=True)
            return True
        value, step = metrics[self.metric], evaluation.step
        missing = [m for m, _ in self.objectives[1:] if m not in metrics]
        if missing:
            self.finish(rt, optuna.trial.TrialState.FAIL, f"reported {', '.join(metrics)} but not "
                        f"'{missing[0]}'", stop=True)
            return True
        if not math.isfinite(value):
            where = "as the result" if evaluation.final else f"at {self.unit} {step}"
            self.finish(rt, optuna.trial.TrialState.FAIL, f"{self.metric} is {value} {where}", stop=True)
            return True
        if evaluation.final:  # the trial's own result (Python API return value): not a pruning step
            rt.final, rt.final_metrics = value, metrics
            rt.trial.set_user_attr("metrics", jsonable(metrics))  # every number returned: trials.csv, report
            if self.tracker is not None:
                self.tracker.reported(rt.trial.number, len(rt.steps), metrics)
            return False
        assert step is not None  # only a result (final) comes without a step (reporting.parse_report)
        if any(s == step for s, _ in rt.steps):  # a second eval of the same epoch (e.g. EMA weights)
            return False
        rt.steps.append((step, value))
        rt.reports[step] = metrics
        if self.tracker is not None:
            self.tracker.reported(rt.trial.number, step, metrics)
        if self.multi or self.ladder:  # several objectives: Optuna keeps no intermediate values (and cannot prune
            # them); --fidelity schedule: a training's epochs are not the ladder's, its result is (level_done)
            self.progress.reported(rt, step, value, self.unit)
            return False
        rt.trial.report(value, step)
        self.progress.reported(rt, step, value, self.unit)
        if self.pruned(rt, step):
            self.finish(rt, optuna.trial.TrialState.PRUNED,
                        f"pruned at {self.unit} {step} ({self.metric}={value:.4g})", stop=True)
            return True
        return False

    def check_result(self, rt: RunningTrial, metrics: dict[str, float]) -> bool:
        """A returned result (Python API) must hold the study's metrics. Without metric= the study takes the one
        key of the first dict returned as its metric; a result that lacks them fails the trial and stops the
        study, since every trial returns the same keys. True when the trial was stopped for it."""
        missing = [m for m in self.goal.names() if m not in metrics]
        if not missing:
            return False
        first = not queries.complete(self.view.trials())
        if self.s.metric is None and len(metrics) == 1 and not self.goal.multi and first:
            self.adopt_metric(next(iter(metrics)))
            return False
        keys = ", ".join(repr(k) for k in metrics)
        fix = (f"return {missing[0]!r} too, or name one of the returned keys with metric=" if self.s.metric
               else f"name the one to optimise, e.g. AutoTuner(..., metric={next(iter(metrics))!r})")
        reason = f"train_evaluate returned {keys} but not {missing[0]!r}: {fix}"
        self.finish(rt, optuna.trial.TrialState.FAIL, reason, stop=True)
        self.halt(reason)
        return True

    def adopt_metric(self, name: str) -> None:
        """The study's metric becomes `name` (the Python API's function returned a dict of one key)."""
        goal = dataclasses.replace(self.goal, metric=name, objectives=[(name, self.goal.direction)])
        self.goal = self.view.goal = self.processes.goal = goal
        self.progress.status = dataclasses.replace(self.progress.status, metric=name)
        self.study.set_user_attr("metric", name)
        self.study.set_user_attr("objectives", [name])
        study_view.name_metrics(self.study, [name])

    def training_length(self, rt: RunningTrial) -> Optional[int]:
        """The last evaluation step of a full training: from the config, else from the baseline's own run."""
        last = self.adapter.max_steps(self.task, rt.cfg)
        if last is None:
            steps = self.study.user_attrs.get(pruners.EVALUATIONS)
            last = steps[-1] if steps else None
        return last

    def record_length(self, rt: RunningTrial) -> None:
        """The baseline finished (in a study without one, as the Python API's without base_config: the first
        trial to finish): where the config does not tell the training's length, its evaluation steps do (the
        pruner's rungs, pruners.LengthFromBaseline)."""
        if not rt.baseline and pruners.EVALUATIONS in self.study.user_attrs:
            return
        if rt.steps and self.adapter.max_steps(self.task, self.task.config) is None:
            steps = sorted(step for step, _ in rt.steps)
            self.study.set_user_attr(pruners.EVALUATIONS, steps)
            if pruners.waits_for_length(pruners.parse(self.s.pruner), None):
                self.progress.note(f"the baseline evaluated {len(steps)} times (last at {self.unit} {steps[-1]}): pruning "
                                   f"starts with rungs for that length")

    def pruned(self, rt: RunningTrial, step: Optional[int] = None) -> bool:
        """The one place that decides whether a trial is pruned, on its last report to Optuna: an evaluation at
        `step` of a training (take_report), or, step None, a --fidelity schedule training that ended below the
        ladder's top (level_done). A finished run is not pruned, nor one at its first evaluation
        (pruners.may_cut). Past those, the pruner is always asked, so that it records the value (ASHA's rungs),
        but the baseline is never stopped by it: the summary compares the best trial with the user's config,
        which needs that config's full result."""
        if step is not None:
            last = self.training_length(rt)
            if not ((last is None or step < last) and pruners.may_cut(pruners.parse(self.s.pruner), len(rt.steps))):
                return False
        return rt.trial.should_prune() and not rt.baseline

    # --- telling Optuna how a trial ended ---------------------------------------------------
    def finish(self, rt: RunningTrial, state: optuna.trial.TrialState, reason: Optional[str] = None,
               stop: bool = False) -> None:
        """Record the trial's end; a process still running is asked to stop and cleaned up once it has."""
        del self.running[rt.trial.number]
        trial = rt.trial
        if reason:
            trial.set_user_attr("reason", reason)
        # from its process's start: trial 0 may start before the study asks for it (TrialProcesses.prestart)
        trial.set_user_attr("duration_s", round(time.time() - rt.started, 3))
        if self.ladder:  # every training of the trial, for compute counts (trials.csv's epochs are its last's)
            trial.set_user_attr("epochs_trained", rt.epochs_before + len(rt.steps))
        verdict = self.knob_verdict(rt)
        if verdict:
            trial.set_user_attr("knobs", verdict.to_attr())
        value = None
        if state == optuna.trial.TrialState.COMPLETE and self.multi:
            metrics = best_evaluation(rt, self.goal)
            values = [metrics[m] for m in self.goal.names()]
            record_constraints(trial, metrics, self.goal)
            store_config(rt, self.task)
            self.view.tell(trial, values)
            write_pareto(self.study, self.out, self.adapter)
            value = values[0]
        elif state == optuna.trial.TrialState.COMPLETE:
            if not self.ladder and (rt.baseline or not self.s.baseline):
                self.record_length(rt)
            value = single_value(rt, self.goal)
            assert value is not None  # exited completes only a trial that reported (steps or a result)
            if rt.final_metrics or rt.steps:
                record_constraints(trial, rt.final_metrics or rt.reports[max(rt.reports)], self.goal)
            best = queries.better(value, self.view.best_value(), self.direction)
            exported = store_config(rt, self.task) if best else None
            self.view.tell(trial, value)
            if best:
                keep_best(rt, self.out, self.task, exported)
        else:
            self.view.tell(trial, state=state)
            if state == optuna.trial.TrialState.FAIL:
                self.maybe_retry(trial)
                if rt.baseline and trial.user_attrs.get("attempt", 1) > self.s.retry_failed:
                    self.halt(f"the baseline (trial {trial.number}, your config as given) failed: {reason}")
        self.view.changed()
        self.progress.finished(trial.number, state, value, reason)
        if self.tracker is not None:
            self.tracker.trial_finished(trial.number, state.name, value, reason)
        if stop and rt.proc.poll() is None:
            self.processes.request_stop(rt)
        else:
            self.processes.release(rt)

    def maybe_retry(self, trial: optuna.trial.Trial) -> None:
        attempt = trial.user_attrs.get("attempt", 1)
        if attempt <= self.s.retry_failed:
            self.view.requeue(trial.params, trial.user_attrs, attempt=attempt + 1, retry_of=trial.number)

    def taken_back(self, rt: RunningTrial) -> None:
        """Another coordinator of the shared study took this running trial back (its heartbeat looked stale:
        this one was paused, or --heartbeat is shorter than a poll) and queued it again: its process stops
        here and nothing more is recorded on it."""
        self.running.pop(rt.trial.number, None)
        self.view.changed()
        self.progress.note(f"trial {rt.trial.number}: taken back by another coordinator of the study (its "
                           f"heartbeat looked stale); stopped here, its parameters are queued again")
        if rt.proc.poll() is None:
            self.processes.request_stop(rt)
        elif rt not in self.processes.stopping:
            self.processes.release(rt)

    # --- ending early -----------------------------------------------------------------------
    def interrupt(self, why: str) -> None:
        """Ctrl-C or SIGTERM (`why`): stop running trials, record them as interrupted and queue them again."""
        for rt in list(self.running.values()):
            trial_processes.stop_process(rt.proc)
            self.view.give_back(rt.trial, f"{why}; queued again")
            del self.running[rt.trial.number]
            self.processes.release(rt)
        self.processes.kill_stopping()

    def crashed(self, error: Exception) -> None:
        """An error mid-study that is not the storage's: every trial this coordinator started and did not
        record is stopped, recorded as interrupted and queued again (no row stays RUNNING). A bug of ours
        gets one line for the user and its traceback in a file."""
        import traceback

        self.abandon()
        states = (optuna.trial.TrialState.RUNNING,)
        for t in [] if self.study is None else self.study.get_trials(deepcopy=False, states=states):
            if t.number in self.mine:
                self.view.give_back(optuna.trial.Trial(self.study, t._trial_id),
                                    f"interrupted: the coordinator failed ({type(error).__name__}); queued again")
        self.view.changed()
        if isinstance(error, UsageError):
            return
        log = self.out / "coordinator_error.log"
        log.write_text("".join(traceback.format_exception(error)))
        raise InternalError(f"internal error: {type(error).__name__}: {error} (traceback in {log}); finished trials "
                            f"are kept and the same command resumes; please report this") from None

    def abandon(self) -> None:
        """The storage cannot record anything: stop every trial process and let go of it. Their rows stay
        RUNNING in the storage, which the next run takes back (StudyView.recover_lost)."""
        for rt in list(self.running.values()) + self.processes.stopping:
            trial_processes.stop_process(rt.proc)
            rt.tree.kill()
            rt.log.close()
        self.running.clear()  # in place: the progress lines read this dict
        self.processes.stopping = []

    def unlock(self) -> None:
        if self.lock is not None:
            self.lock.close()
            self.lock = None
