"""The runnable examples in the core's docstrings stay true."""
import doctest
import importlib

import pytest

MODULES = ["cli", "suites.datasets", "search_space.dotpath", "study.fidelity", "suites.flags", "trials.knobs",
           "optuna_glue.pruners", "trials.reporting", "suites.script_yaml", "search_space.space", "optuna_glue.storages",
           "trials.warm_start", "output.summary", "report.study_facts", "trials.trial_events", "suites.kit.zero_d",
           "suites.kit.schedule", "suites.kit.script_output", "suites.kit.patching", "suites.kit.config_files",
           "suites.kit.doctor_lines"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"paddle_autotune_plugins.{name}")
    failed, tried = doctest.testmod(module)
    assert tried > 0 and failed == 0
