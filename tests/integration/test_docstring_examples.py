"""The runnable examples in the core's docstrings stay true."""
import doctest
import importlib

import pytest

MODULES = ["cli", "datasets", "dotpath", "fidelity", "flags", "knobs", "pruners", "reporting", "script_yaml", "space", "storages", "warm_start"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"paddle_autotune_plugins.{name}")
    failed, tried = doctest.testmod(module)
    assert tried > 0 and failed == 0
