"""The Python API: AutoTuner on plain Python objectives, trials in worker processes.

The scripts below run as a user runs them (a real `python` process per script): with and without the
`if __name__ == "__main__":` guard, fed on stdin, typed into an interactive console. Trials are forks of
that process (run_function.fork_trial); the tests check they really are separate processes that never
run the script's module-level code again, and that nothing of them is left once run() returns."""

from autotune_objective import constant
import pytest

from paddle_autotune_plugins import AutoTuner
from paddle_autotune_plugins.errors import UsageError

SPACE = {"lr": {"bounds": [1e-4, 1.0], "scale": "log"}, "momentum": {"min": 0.5, "max": 0.99}}


def test_rejects_what_a_child_cannot_import():
    """Without a fork (start_method='import', the only one on Windows) trials import the function by name."""
    with pytest.raises(UsageError, match="module-level function"):
        AutoTuner(lambda c: 1.0, search_space=SPACE, start_method="import")

    def local(config):
        return 1.0

    with pytest.raises(UsageError, match="not a closure, lambda"):
        AutoTuner(local, search_space=SPACE, start_method="import")
    with pytest.raises(UsageError, match="unknown tuner_type"):
        AutoTuner(constant, search_space=SPACE, tuner_type="annealing")
    with pytest.raises(UsageError, match="unknown start_method"):
        AutoTuner(constant, search_space=SPACE, start_method="spawn")
    AutoTuner(lambda c: 1.0, search_space=SPACE)  # a fork needs no name
