"""VisualDL HParams: one VisualDL run per finished trial."""
import os
import pathlib
import shutil
from typing import Any

import optuna

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.report.study_facts import metric_names, tuned_params

S = optuna.trial.TrialState


def _hparam(v: Any) -> str | int | float:
    """VisualDL accepts str, int and float hyperparameter values only."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return str(v)
    return v


def log_to_visualdl(study: optuna.Study, logdir: str | os.PathLike[str]) -> list[pathlib.Path]:
    """One VisualDL run per finished trial (COMPLETE, and PRUNED with a value) under ``logdir/trial_NNNN``:
    its hparams (the values used, by dotted path, plus ``state`` and ``baseline``), ``hparam/<metric>`` = the
    trial's value for the HParams tab, and ``eval/<metric>`` at every evaluation step for the Scalars tab.
    Returns the run folders written.

    Running it again on the same ``logdir`` replaces each run's records rather than adding to them (VisualDL
    would show every trial twice): a run is written into a fresh folder, then the old run's records are
    removed and the new ones moved in.

    Example::

        log_to_visualdl(load_study("tune_resnet18"), "tune_resnet18/vdl")
        # visualdl --logdir tune_resnet18/vdl --port 8040, then the HParams tab
    """
    try:
        from visualdl import LogWriter
    except ImportError:
        raise UsageError("visualdl is not installed: pip install visualdl (or open the storage with "
                         "optuna-dashboard instead)") from None
    names = metric_names(study)
    metrics = [f"hparam/{m}" for m in names]
    paths = tuned_params(study)
    runs = []
    for t in study.get_trials(deepcopy=False, states=(S.COMPLETE, S.PRUNED)):
        if t.user_attrs.get("interrupted") or (t.state == S.PRUNED and not t.intermediate_values):
            continue
        used = t.user_attrs.get("values", t.params)
        hparams = {p: _hparam(used[p]) for p in paths if used.get(p) is not None}
        hparams["state"] = t.state.name
        hparams["baseline"] = "yes" if t.user_attrs.get("baseline") else "no"
        run = pathlib.Path(logdir) / f"trial_{t.number:04d}"
        fresh = pathlib.Path(logdir) / f".trial_{t.number:04d}.writing"
        shutil.rmtree(fresh, ignore_errors=True)  # left by a run that was stopped half-way
        with LogWriter(logdir=str(fresh)) as writer:
            writer.add_hparams(hparams, metrics)
            # HParams reads the hparam/ tags: one point, the trial's value (its best evaluation, or the last
            # one for a pruned trial); the step-by-step curve goes under eval/ so it is not mistaken for it.
            steps = sorted(t.intermediate_values)
            last = steps[-1] if steps else 0
            if t.state == S.COMPLETE:
                for name, value in zip(metrics, t.values):
                    writer.add_scalar(name, value, last)
            else:
                writer.add_scalar(metrics[0], t.intermediate_values[last], last)
            for step in steps:
                writer.add_scalar(f"eval/{names[0]}", t.intermediate_values[step], step)
        run.mkdir(parents=True, exist_ok=True)
        for old in run.glob("vdlrecords.*"):
            old.unlink()
        for record in fresh.iterdir():
            record.replace(run / record.name)
        fresh.rmdir()
        runs.append(run)
    return runs
