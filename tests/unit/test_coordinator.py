"""The coordinator's own logic, with a fake suite: a tiny script that 'trains' for a few steps and reports.

The fake stands in for a suite only here, to test stop rules, samplers, pruners and failure handling in
seconds; real suites are exercised in the e2e tests.
"""
from fake_suite import X, make_task

from paddle_autotune_plugins.search_space import space
from paddle_autotune_plugins.settings.options import Settings
from paddle_autotune_plugins.study.coordinator import Coordinator
from paddle_autotune_plugins.suites.adapter import Task


def test_each_suite_names_its_unit():
    from paddle_autotune_plugins.adapters.paddleclas.adapter import ClasAdapter
    from paddle_autotune_plugins.adapters.paddledet.adapter import DetAdapter
    from paddle_autotune_plugins.adapters.paddlenlp.adapter import NlpAdapter
    from paddle_autotune_plugins.adapters.paddleseg.adapter import SegAdapter

    assert [a().step_unit_for(None) for a in (ClasAdapter, DetAdapter, SegAdapter)] == ["epoch", "epoch", "iteration"]
    from paddle_autotune_plugins.adapters.paddlenlp.adapter import NlpState

    nlp = NlpAdapter()
    by_epoch = Task(nlp, {"evaluation_strategy": "epoch"}, state=NlpState(trainer_style=True))
    by_steps = Task(nlp, {"evaluation_strategy": "steps"}, state=NlpState(trainer_style=True))
    own_loop = Task(nlp, {}, state=NlpState(trainer_style=False))
    assert [nlp.step_unit_for(t) for t in (by_epoch, by_steps, own_loop)] == ["epoch", "step", "epoch"]


def test_stale_heartbeat_in_a_shared_storage_is_taken_back(tmp_path):
    """A worker that died hard left a RUNNING trial in a shared storage: once its heartbeat is older than
    stale_after, another coordinator fails it as interrupted and queues its parameters again; a trial
    with a fresh heartbeat (a live worker's) is left alone."""
    import time as clock

    import optuna

    storage = f"journal:///{tmp_path / 'study.log'}"
    task = make_task(tmp_path)
    params = space.parse_space(X)
    coordinator = Coordinator(task, params, Settings(out=tmp_path / "out", storage=storage, study="s", trials=5,
                                                     quiet=True, stale_after=30))
    coordinator.attach_study()
    study = coordinator.study
    dead, alive = study.ask(), study.ask()
    for trial, beat, x in ((dead, clock.time() - 120, 0.25), (alive, clock.time(), 0.75)):
        trial.suggest_float("x", 0.0, 1.0)  # the baseline was queued first; these are plain asks
        trial.set_user_attr("heartbeat", beat)
    dead_x = dead.params["x"]
    coordinator.view.recover_lost()
    states = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert states[dead.number].state == optuna.trial.TrialState.FAIL
    assert states[dead.number].user_attrs["interrupted"] is True
    assert states[alive.number].state == optuna.trial.TrialState.RUNNING
    waiting = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.WAITING]
    assert any(t.params.get("x") == dead_x for t in waiting) or any(
        t.system_attrs.get("fixed_params", {}).get("x") == dead_x for t in waiting)


def test_every_tell_goes_through_the_study_view():
    """One place tells Optuna how a trial ended (StudyView.tell): no other module of the core calls study.tell."""
    import pathlib
    import re

    import paddle_autotune_plugins

    core = pathlib.Path(paddle_autotune_plugins.__file__).parent
    tells = [f"{path.relative_to(core)}: {line.strip()}" for path in sorted(core.rglob("*.py"))
             for line in path.read_text().splitlines() if re.search(r"(study|opened\(\))\.tell\(", line)]
    assert tells == ["study/study_view.py: self.opened().tell(trial, values, state=state)"]
