"""The one option schema (options.py): each tuning option is one field of Settings, and the CLI's flags, their
help, the Settings a study runs with and the options a worker takes from the study all come from it."""
import json

import optuna
import pytest

from paddle_autotune_plugins import cli
from paddle_autotune_plugins.settings import options

# what a worker took from the study before the schema (cli.STUDY_OPTIONS, written out by hand), and the
# study options added since
STUDY_BEFORE = {"trials", "time_budget", "sampler", "stages", "pruner", "early_stopping_rounds", "metric", "direction",
                "constraint", "seed", "max_failures", "trial_timeout", "trial_memory", "retry_failed", "study",
                "strict_knobs", "heartbeat"} | {"fidelity", "min_epochs", "fidelity_levels", "prior"}


def test_study_options_are_the_study_scope_and_round_trip_through_a_worker(tmp_path, monkeypatch):
    """What run_study stores for the study, a worker (cmd_worker) sets back on its own options: the Settings
    of the study scope are the first machine's, the rest the worker's own."""
    assert set(options.STUDY_OPTIONS) == STUDY_BEFORE
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("import argparse\np = argparse.ArgumentParser()\n"
                                       "p.add_argument('--lr', type=float, default=0.1)\np.parse_args()\n")
    seen = []

    class Recorder:  # stands in for the Coordinator: records what it was given, runs nothing
        def __init__(self, task, params, settings):
            seen.append(settings)
            raise KeyboardInterrupt

    monkeypatch.setattr(cli, "Coordinator", Recorder)
    study_argv = ["--trials", "7", "--time-budget", "30m", "--sampler", "random", "--pruner", "median:2",
                  "--early-stopping-rounds", "3", "--metric", "val_acc", "--direction", "maximize",
                  "--constraint", "val_acc>=0.1", "--study", "s", "--heartbeat", "3s", "--seed", "5",
                  "--max-failures", "4", "--trial-timeout", "2h", "--trial-memory", "1GB", "--retry-failed", "1",
                  "--strict-knobs"]
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    with pytest.raises(KeyboardInterrupt):
        cli.main(["train.py", "--autotune", "--param", "lr=0.01:0.1", "--storage", storage, "--out", "first",
                  "--workers", "2"] + study_argv)
    first = seen.pop()
    study = optuna.create_study(study_name="s", storage=storage)  # what the coordinator would have opened
    study.set_user_attr("command", json.loads(json.dumps(first.command)))
    assert set(first.command["options"]) == set(options.STUDY_OPTIONS)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["worker", "--storage", storage, "--study", "s", "--out", "second", "--quiet"])
    worker = seen.pop()
    for f in options.option_fields():
        name, scope = f.name, f.metadata["scope"]
        if scope == options.STUDY:
            assert getattr(worker, name) == getattr(first, name), name
    assert (worker.out.name, worker.workers, worker.quiet) == ("second", 1, True)  # its own
    assert (first.out.name, first.workers, first.quiet) == ("first", 2, False)
