"""The one option schema (options.py): each tuning option is one field of Settings, and the CLI's flags, their
help, the Settings a study runs with and the options a worker takes from the study all come from it."""
import argparse
import dataclasses
import doctest
import json

import pytest

from paddle_autotune_plugins import cli
from paddle_autotune_plugins.errors import ArgumentParser, UsageError
from paddle_autotune_plugins.optuna_glue import pruners, samplers
from paddle_autotune_plugins.python_api import api
from paddle_autotune_plugins.settings import options
from paddle_autotune_plugins.settings.options import Settings

# A value for each option, other than its default, as the user types it (the test fails for a new option until
# it is named here: its value must be seen to land in Settings).
GIVEN = {"--preset": ["clas-lr"], "--space": ["s.yaml"], "--param": ["x=0.1:0.9"], "--trials": ["7"],
         "--time-budget": ["1h30m"], "--sampler": ["random"], "--prior": ["none"], "--pruner": ["asha:2"],
         "--fidelity": ["schedule"], "--min-epochs": ["2"], "--fidelity-levels": ["2,6"], "--stages": ["random:3,tpe"],
         "--early-stopping-rounds": ["3"], "--metric": ["acc"], "--direction": ["minimize"],
         "--constraint": ["latency_ms<=20"], "--workers": ["3"], "--gpus": ["0,1"], "--trials-per-gpu": ["2"],
         "--gpus-per-trial": ["2"], "--reference-devices": ["4"], "--storage": ["sqlite:///s.db"], "--study": ["s"], "--heartbeat": ["2s"],
         "--out": ["o"], "--seed": ["5"], "--max-failures": ["4"], "--trial-timeout": ["2h"], "--trial-memory": ["1GB"],
         "--retry-failed": ["1"], "--warm-start": [], "--strict-knobs": [], "--mlflow": ["http://127.0.0.1:5000"],
         "--quiet": [], "--dry-run": []}
READ = {"reference_devices": 4, "preset": ["clas-lr"], "space": "s.yaml", "param": ["x=0.1:0.9"], "trials": 7, "time_budget": 5400.0,
        "sampler": "random", "prior": "none", "pruner": "asha:2", "fidelity": "schedule", "min_epochs": 2,
        "fidelity_levels": "2,6", "stages": [("random", 3), ("tpe", None)], "early_stopping_rounds": 3,
        "metric": "acc", "direction": "minimize", "constraints": [("latency_ms", "<=", 20.0)], "workers": 3,
        "gpus": ["0", "1"], "trials_per_gpu": 2, "gpus_per_trial": 2, "storage": "sqlite:///s.db", "study": "s",
        "heartbeat": 2.0, "out": options.parse_out("o"), "seed": 5, "max_failures": 4, "trial_timeout": 7200.0,
        "trial_memory": 2.0 ** 30, "retry_failed": 1, "warm_start": True, "strict_knobs": True,
        "mlflow": "http://127.0.0.1:5000", "quiet": True, "dry_run": True}


def _parser():
    parser = ArgumentParser(prog="test")
    cli.add_tuning_options(parser)
    return parser


def _help_of(parser, flag):
    return next(a.help for a in parser._actions if flag in a.option_strings)


def test_every_option_is_a_flag_with_its_help_and_lands_in_settings():
    parser = _parser()
    fields = options.option_fields()
    assert [f.metadata["flag"] for f in fields] == list(GIVEN)  # --help's order is the schema's
    for f in fields:
        meta = f.metadata
        expected = meta["help"]() if callable(meta["help"]) else meta["help"]
        assert _help_of(parser, meta["flag"]) == expected, meta["flag"]
        assert meta["scope"] in (options.STUDY, options.MACHINE, options.SPACE)
    argv = [token for flag, values in GIVEN.items() for token in [flag] + values]
    settings = cli.make_settings(parser.parse_args(argv))
    assert {name: getattr(settings, name) for name in READ} == READ
    assert settings.stale_after == 6 * 2.0 and settings.extra_metrics == []


def test_defaults_are_written_once():
    """The flags' defaults, read, are Settings' own defaults; the Python API's unset keywords take the same."""
    assert cli.make_settings(_parser().parse_args([])) == Settings()
    assert options.build({}) == Settings()
    assert Settings().heartbeat == 10.0 and Settings().stale_after == 60.0 and Settings().workers == 1


def test_an_option_added_to_the_schema_is_a_flag_and_a_setting_without_another_edit(monkeypatch):
    @dataclasses.dataclass
    class WithPriority(options.Settings):
        priority: int = options.option("--trial-priority", "made up: the trials' nice level", scope=options.STUDY,
                                       default=3, minimum=0, type=int)

    monkeypatch.setattr(options, "Settings", WithPriority)
    parser = _parser()
    assert _help_of(parser, "--trial-priority") == "made up: the trials' nice level"
    assert cli.make_settings(parser.parse_args([])).priority == 3
    assert cli.make_settings(parser.parse_args(["--trial-priority", "7"])).priority == 7
    assert "trial_priority" in options.option_names(options.STUDY)
    with pytest.raises(UsageError, match="--trial-priority must be >= 0, got -1"):
        cli.make_settings(parser.parse_args(["--trial-priority", "-1"]))


def test_the_pruner_is_read_once():
    settings = cli.make_settings(_parser().parse_args(["--pruner", "asha:2"]))
    assert isinstance(settings.pruner, pruners.Pruner) and settings.pruner == "asha:2"  # stored and shown as given
    assert (settings.pruner.name, settings.pruner.first_step) == ("asha", 2)
    spec = settings.pruner
    assert pruners.parse(spec) is spec
    assert pruners.make_pruner(spec, max_steps=8)._min_resource == 2
    assert settings.pruner != "none" and json.dumps(settings.pruner) == '"asha:2"'


def test_the_apis_tuner_types_are_the_samplers_aliases():
    assert api.TUNER_TYPES == {"bayes": "tpe", "tpe": "tpe", "random": "random", "evolution": "cmaes", "grid": "grid",
                               "gp": "gp"}
    assert all(samplers.ALIASES.get(name, name) == sampler for name, sampler in api.TUNER_TYPES.items())
    with pytest.raises(UsageError) as error:
        api.AutoTuner(lambda c: 1.0, search_space={"x": {"low": 0.0, "high": 1.0}}, tuner_type="annealing")
    assert str(error.value) == "unknown tuner_type 'annealing'; choose one of bayes, tpe, random, evolution, grid, gp"


def test_the_apis_settings_come_through_the_schema():
    tuner = api.AutoTuner(lambda c: 1.0, search_space={"x": {"low": 0.0, "high": 1.0}}, max_trials=5, num_workers=2,
                          early_stopping_rounds=3, tuner_type="evolution", direction="minimize", pruner="median:1",
                          time_budget=90, seed=1)
    settings = options.build(dict(tuner.option_values, out="o"), baseline=False)
    assert (settings.trials, settings.workers, settings.early_stopping_rounds, settings.sampler) == (5, 2, 3, "cmaes")
    assert (settings.direction, settings.pruner.first_step, settings.time_budget, settings.seed) == ("minimize", 1,
                                                                                                   90.0, 1)
    # run() shows its progress as the CLI does (verbose=True by default)
    assert not settings.quiet and not settings.baseline and settings.extra_metrics == []
    quiet = api.AutoTuner(lambda c: 1.0, search_space={"x": {"low": 0.0, "high": 1.0}}, verbose=False)
    assert options.build(dict(quiet.option_values, out="o")).quiet


def test_option_checks_need_no_suite():
    with pytest.raises(UsageError, match="2 --direction for 1 --metric"):
        options.build({"direction": ["maximize", "minimize"]})
    with pytest.raises(UsageError, match="--gpus-per-trial 3 needs at least that many --gpus"):
        options.build({"gpus": "0,1", "gpus_per_trial": 3})
    assert options.build({"gpus": "0,1,2,3", "trials_per_gpu": 2, "gpus_per_trial": 2}).workers == 4
    assert options.build({"metric": ["a", "b"], "direction": [None, "minimize"]}).extra_metrics == [("b", "minimize")]


def test_docstring_examples():
    failed, tried = doctest.testmod(options)
    assert tried > 0 and failed == 0


def test_a_namespace_without_some_options_takes_their_defaults():
    """Callers that build their own namespace (benchmarks) get the defaults of the options they leave out."""
    settings = cli.make_settings(argparse.Namespace(trials=3, out="x"))
    assert settings == dataclasses.replace(Settings(), trials=3, out=options.parse_out("x"))
