"""The type check: mypy over the core with pyproject.toml's [tool.mypy] (every function annotated, the bodies
checked), run in this process. The whole core costs about 35 s of CPU without mypy's cache and 6 s with it
(.mypy_cache in the repository root, git-ignored)."""
import pytest
from mypy import api

from conftest import REPO

# The files whose annotations are done (search space, Optuna glue, Python API, settings, errors, the package's
# entry points); the whole core follows once every part is annotated.
TYPED = ["paddle_autotune_plugins/__init__.py", "paddle_autotune_plugins/__main__.py",
         "paddle_autotune_plugins/errors.py",
         "paddle_autotune_plugins/search_space/__init__.py", "paddle_autotune_plugins/search_space/space.py",
         "paddle_autotune_plugins/search_space/presets.py", "paddle_autotune_plugins/search_space/rescale.py",
         "paddle_autotune_plugins/search_space/dotpath.py", "paddle_autotune_plugins/search_space/data_paths.py",
         "paddle_autotune_plugins/optuna_glue", "paddle_autotune_plugins/python_api",
         "paddle_autotune_plugins/settings"]


def mypy(args, monkeypatch):
    """(exit status, mypy's report) for mypy ARGS run from the repository root, where it reads pyproject.toml."""
    monkeypatch.chdir(REPO)
    stdout, stderr, status = api.run(args)
    return status, stdout + stderr


def test_the_core_type_checks(monkeypatch):
    """`mypy` as pyproject.toml configures it: every file of paddle_autotune_plugins/."""
    status, report = mypy([], monkeypatch)
    assert status == 0, f"mypy found errors:\n{report}"


def test_the_typed_files_type_check(monkeypatch):
    """The same check on the files annotated so far; their imports are read but not reported on (silent)."""
    status, report = mypy(["--follow-imports=silent"] + TYPED, monkeypatch)
    assert status == 0, f"mypy found errors:\n{report}"
    assert "Success: no issues found" in report
