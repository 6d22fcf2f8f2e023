"""The type check: mypy over the core with pyproject.toml's [tool.mypy] (every function annotated, the bodies
checked), run in this process. The whole core costs about 35 s of CPU without mypy's cache and 6 s with it
(.mypy_cache in the repository root, git-ignored)."""
from mypy import api

from conftest import REPO


def test_the_core_type_checks(monkeypatch):
    """`mypy` as pyproject.toml configures it, from the repository root: every file of paddle_autotune_plugins/."""
    monkeypatch.chdir(REPO)
    stdout, stderr, status = api.run([])
    assert status == 0, f"mypy found errors:\n{stdout + stderr}"
