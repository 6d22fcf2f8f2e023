"""--mlflow: every trial of the study as an MLflow run, nested under one parent run for the study.

The coordinator calls four methods: :meth:`Tracker.trial_started` (params, the trial's config file as an
artifact), :meth:`Tracker.reported` (every metric of an evaluation, with its step),
:meth:`Tracker.trial_finished` (state and reason; the ``autotune.best`` tag moves to a new best) and
:meth:`Tracker.study_finished` (the best tag as the study has it, runs left open, the parent's end).

The calls only queue the event: one background thread talks to MLflow, so neither the import of mlflow
(seconds), nor a new SQLite store's set-up, nor a slow server holds up the study, and trial processes
never import it. When MLflow fails (a server that went away, a full disk) the study goes on: one warning,
then this tracker logs nothing more.

A study that is resumed (the same command again, or a ``worker`` on a shared storage) finds its parent
run again by the ``autotune.study_id`` tag: a hash of where the study lives and its name.

Runs carry the tags ``autotune.trial`` (the Optuna trial number), ``autotune.state`` (COMPLETE, PRUNED,
FAIL or INTERRUPTED), ``autotune.reason`` and ``autotune.best`` ("true" on the best run; on every run of
the Pareto front of a multi-objective study, set at its end). MLflow's own run status says FINISHED,
KILLED (pruned, interrupted) or FAILED.
"""
from collections.abc import Callable, Iterable
import hashlib
import os
import pathlib
import queue
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Optional, TypeGuard

if TYPE_CHECKING:  # the coordinator imports this module when a study asks for --mlflow
    from paddle_autotune_plugins.study.coordinator import Coordinator

PREFIX = "autotune."
STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED", "INTERRUPTED": "KILLED"}
FLUSH_SECONDS = 120.0  # how long the end of a study waits for the events still queued
_STOP = object()


def default_uri(out: str | os.PathLike[str]) -> str:
    """The tracking store when --mlflow names none: a SQLite file in --out (MLflow 3 refuses new
    ./mlruns file stores), artifacts beside it in mlartifacts/."""
    return f"sqlite:///{pathlib.Path(out).resolve() / 'mlflow.db'}"


def study_id(where: str | os.PathLike[str], name: str) -> str:
    """What finds a study's parent run again: where the study lives (--out or the storage URL) and its name."""
    return hashlib.sha256(f"{where}\n{name}".encode()).hexdigest()[:16]


class Tracker:
    client: Any  # mlflow.MlflowClient, made by the thread (mlflow is imported there)
    parent: Optional[str]  # the study's run id
    experiment: Optional[str]

    def __init__(self, uri: Optional[str], out: str | os.PathLike[str], study: str, where: str | os.PathLike[str],
                 metric: str, direction: str, multi: bool = False, tags: Optional[dict[str, Any]] = None,
                 warn: Optional[Callable[[str], None]] = None) -> None:
        """uri: MLflow tracking URI ('' or None: default_uri(out)); where: the study's --out or storage URL
        (passwords masked); tags: more tags for the parent run (suite, sampler, ...); warn(text): how the
        one warning reaches the user."""
        self.out = pathlib.Path(out).resolve()
        self.uri = uri or default_uri(self.out)
        self.local = not uri
        self.study = study
        self.study_key = study_id(where, study)
        self.metric, self.direction, self.multi = metric, direction, multi
        self.parent_tags = {PREFIX + k: str(v) for k, v in (tags or {}).items() if v is not None}
        self.parent_tags[PREFIX + "study"] = study
        self.parent_tags[PREFIX + "where"] = str(where)
        self.warn = warn or (lambda text: print(f"[autotune] WARNING: {text}", file=sys.stderr, flush=True))
        self.failed = False  # MLflow failed once: nothing more is logged
        self.runs: dict[int, str] = {}  # trial number -> run id, for the trials started by this coordinator
        self.best: Optional[tuple[float, str]] = None  # (value, run id) of the best complete run seen
        self.client = self.parent = self.experiment = None
        self.events: queue.Queue[Any] = queue.Queue()
        self.thread = threading.Thread(target=self._work, name="autotune-mlflow", daemon=True)
        self.thread.start()
        self.events.put((self._open, ()))

    # --- what the coordinator calls (never raises, never waits for MLflow) --------------------
    def trial_started(self, number: int, values: Optional[dict[str, Any]],
                      config_path: str | os.PathLike[str] | None = None, baseline: bool = False) -> None:
        params = {k: v for k, v in (values or {}).items() if v is not None}
        self._queue(self._trial_started, number, params, config_path and str(config_path), baseline)

    def reported(self, number: int, step: int, metrics: dict[str, Any]) -> None:
        self._queue(self._reported, number, int(step), dict(metrics), int(time.time() * 1000))

    def trial_finished(self, number: int, state: str, value: Optional[float] = None,
                       reason: Optional[str] = None) -> None:
        self._queue(self._trial_finished, number, state, value, reason)

    def study_finished(self, best_numbers: Optional[Iterable[int]] = None, interrupted: bool = False,
                       stop_reason: Optional[str] = None, timeout: float = FLUSH_SECONDS) -> None:
        """Queue the study's end, then wait (up to timeout) for every event to reach MLflow."""
        if not self.thread.is_alive():
            return
        self._queue(self._study_finished, list(best_numbers or []), interrupted, stop_reason)
        self.events.put(_STOP)
        self.thread.join(timeout)
        if self.thread.is_alive() and not self.failed:
            self.failed = True
            self.warn(f"MLflow logging to {self.uri} did not finish within {timeout:.0f} s; the rest is not logged")

    # --- the thread ---------------------------------------------------------------------------
    def _queue(self, fn: Callable[..., None], *args: Any) -> None:
        if not self.failed:
            self.events.put((fn, args))

    def _work(self) -> None:
        while True:
            item = self.events.get()
            if item is _STOP:
                return
            if self.failed:
                continue
            fn, args = item
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 - whatever MLflow raises, the study goes on without it
                self.failed = True
                text = str(e).strip().splitlines()
                self.warn(f"MLflow logging to {_redact(self.uri)} failed and stops (the study goes on): "
                          f"{type(e).__name__}: {_redact(text[0]) if text else ''}")

    def _open(self) -> None:
        # a server that is gone should say so in seconds, not after MLflow's minutes of retries
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # stdout is the study's summary
        import logging

        for name in ("mlflow.store.db.utils", "alembic"):  # "Creating initial MLflow database tables..."
            logging.getLogger(name).setLevel(logging.WARNING)
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=self.uri)
        found = self.client.get_experiment_by_name(self.study)
        if found is None:
            location = (self.out / "mlartifacts").as_uri() if self.local else None
            self.experiment = self.client.create_experiment(self.study, artifact_location=location)
        else:
            self.experiment = found.experiment_id
            if found.lifecycle_stage == "deleted":
                self.client.restore_experiment(self.experiment)
        runs = self.client.search_runs([self.experiment], f"tags.`{PREFIX}study_id` = '{self.study_key}' "
                                                         f"and tags.`{PREFIX}kind` = 'study'", max_results=1)
        if runs:
            self.parent = runs[0].info.run_id
            self.client.update_run(self.parent, status="RUNNING")
            best = self._search(f"tags.`{PREFIX}best` = 'true'")
            if best and not self.multi and best[0].data.metrics.get("value") is not None:
                self.best = (best[0].data.metrics["value"], best[0].info.run_id)
        else:
            tags = dict(self.parent_tags, **{PREFIX + "study_id": self.study_key, PREFIX + "kind": "study"})
            self.parent = self.client.create_run(self.experiment, run_name=f"study {self.study} ({self.out.name})",
                                                 tags=tags).info.run_id

    def _search(self, condition: str) -> Any:
        return self.client.search_runs([self.experiment], f"tags.`mlflow.parentRunId` = '{self.parent}' and {condition}")

    def _trial_started(self, number: int, params: dict[str, Any], config_path: Optional[str], baseline: bool) -> None:
        from mlflow.entities import Param

        tags = {"mlflow.parentRunId": self.parent, PREFIX + "trial": str(number), PREFIX + "kind": "trial",
                PREFIX + "study_id": self.study_key, PREFIX + "state": "RUNNING"}
        if baseline:
            tags[PREFIX + "baseline"] = "true"
        run = self.client.create_run(self.experiment, run_name=f"trial {number}", tags=tags).info.run_id
        self.runs[number] = run
        if params:
            self.client.log_batch(run, params=[Param(_key(k)[:250], _text(v)) for k, v in sorted(params.items())])
        if config_path and os.path.isfile(config_path):
            self.client.log_artifact(run, config_path)

    def _reported(self, number: int, step: int, metrics: dict[str, Any], stamp: int) -> None:
        from mlflow.entities import Metric

        run = self.runs.get(number)
        values = [Metric(_key(k), float(v), stamp, step) for k, v in sorted(metrics.items()) if _number(v)]
        if run and values:
            self.client.log_batch(run, metrics=values)

    def _trial_finished(self, number: int, state: str, value: Optional[float], reason: Optional[str]) -> None:
        run = self.runs.pop(number, None)
        if run is None:
            return
        tags = {PREFIX + "state": state}
        if reason:
            tags[PREFIX + "reason"] = reason[:5000]
        self._set_tags(run, tags)
        if value is not None and _number(value):
            self.client.log_metric(run, "value", float(value))
        self.client.set_terminated(run, status=STATUS.get(state, "FINISHED"))
        if state == "COMPLETE" and not self.multi and _number(value) and (
                self.best is None or (value > self.best[0] if self.direction == "maximize" else value < self.best[0])):
            self._move_best([run])
            self.best = (value, run)
            # the parent's curve of the best value so far, over trial numbers
            self.client.log_metric(self.parent, _key(f"best_{self.metric}"), float(value), step=number)

    def _study_finished(self, best_numbers: list[int], interrupted: bool, stop_reason: Optional[str]) -> None:
        for number, run in list(self.runs.items()):  # trials the study did not see to their end
            self._set_tags(run, {PREFIX + "state": "INTERRUPTED",
                                 PREFIX + "reason": "the study stopped before the trial ended"})
            self.client.set_terminated(run, status="KILLED")
        self.runs = {}
        best_runs = []
        for number in best_numbers:  # the study's own word (trials of other workers included)
            found = self._search(f"tags.`{PREFIX}trial` = '{number}'")
            best_runs += [r.info.run_id for r in found[:1]]
        if best_numbers and best_runs:
            self._move_best(best_runs)
        tags: dict[str, str] = {}
        if best_numbers:
            tags[PREFIX + "best_trial"] = ",".join(str(n) for n in best_numbers)
        if stop_reason:
            tags[PREFIX + "stop_reason"] = str(stop_reason)
        self._set_tags(self.parent, tags)
        self.client.set_terminated(self.parent, status="KILLED" if interrupted else "FINISHED")

    def _move_best(self, runs: list[str]) -> None:
        for old in self._search(f"tags.`{PREFIX}best` = 'true'"):
            if old.info.run_id not in runs:
                self.client.delete_tag(old.info.run_id, PREFIX + "best")
        for run in runs:
            self.client.set_tag(run, PREFIX + "best", "true")
        self.client.set_tag(self.parent, PREFIX + "best_run", ",".join(runs))

    def _set_tags(self, run: Optional[str], tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        if tags:
            self.client.log_batch(run, tags=[RunTag(k, v) for k, v in tags.items()])


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) != float("inf")


def _text(value: Any) -> str:
    return str(value)[:6000]


def _key(name: Any) -> str:
    """MLflow keys take letters, digits, _ - . space : / only."""
    return "".join(c if c.isalnum() or c in "_-. :/" else "_" for c in str(name))


def _redact(text: str) -> str:
    from paddle_autotune_plugins.optuna_glue.storages import redact

    return redact(text)


def for_coordinator(coord: "Coordinator") -> Tracker:
    """The tracker of a coordinator whose settings ask for --mlflow (after its study opened)."""
    import importlib.util

    from paddle_autotune_plugins.errors import UsageError
    from paddle_autotune_plugins.optuna_glue.storages import redact

    if importlib.util.find_spec("mlflow") is None:
        raise UsageError("--mlflow needs the mlflow package: pip install mlflow (make setup installs it)")
    s = coord.s
    return Tracker(s.mlflow, coord.out, s.study or "autotune", redact(s.storage) if s.storage else coord.out,
                   coord.metric, coord.direction, multi=coord.multi,
                   tags={"suite": coord.adapter.name, "metric": coord.metric, "direction": coord.direction,
                         "objectives": ",".join(m for m, _ in coord.objectives), "sampler": s.sampler,
                         "pruner": s.pruner, "out": coord.out, "trials": s.trials})


def end_of(coord: "Coordinator", stop: Optional[str], interrupted: bool = False) -> None:
    """At the end of Coordinator.run: the study's best trial(s), then wait for the log to reach MLflow."""
    try:
        best = [t.number for t in coord.study.best_trials] if coord.multi else [coord.study.best_trial.number]
    except Exception:  # noqa: BLE001 - no complete trial yet, or the storage that just failed
        best = []
    # Ctrl-C waits a short while only: what is still queued then is not logged
    assert coord.tracker is not None  # the coordinator calls end_of where it made a tracker
    coord.tracker.study_finished(best, interrupted=interrupted, stop_reason=stop,
                                 timeout=15.0 if interrupted else FLUSH_SECONDS)
