"""The Python API: AutoTuner on plain Python objectives, trials in worker processes."""
import math

import pytest

from autotune_objective import constant, noisy_quadratic
from paddle_autotune_plugins import AutoTuner
from paddle_autotune_plugins.errors import UsageError

SPACE = {"lr": {"bounds": [1e-4, 1.0], "scale": "log"}, "momentum": {"min": 0.5, "max": 0.99}}


def test_finds_the_optimum_region_with_two_workers(tmp_path):
    tuner = AutoTuner(noisy_quadratic, search_space=SPACE, max_trials=30, num_workers=2, tuner_type="bayes",
                      pruner="none", out=tmp_path / "out", seed=3)
    best = tuner.run()
    assert set(best) == {"lr", "momentum"}
    assert abs(math.log10(best["lr"]) - math.log10(0.03)) < 0.5 and abs(best["momentum"] - 0.9) < 0.1
    finished = [t for t in tuner.study.trials if t.state.name == "COMPLETE"]
    assert len(finished) == 30 and tuner.study.best_value > 0.7
    starts = sorted((t.datetime_start, t.datetime_complete) for t in finished)
    assert any(b[0] < a[1] for a, b in zip(starts, starts[1:])), "two trials never overlapped"


def test_honours_early_stopping_rounds(tmp_path):
    tuner = AutoTuner(constant, search_space=SPACE, max_trials=50, early_stopping_rounds=4, tuner_type="random",
                      pruner="none", out=tmp_path / "out")
    tuner.run()
    assert len(tuner.study.trials) == 5  # the first value, then 4 trials without improvement


@pytest.mark.parametrize("tuner_type", ["random", "evolution", "grid"])
def test_tuner_types(tmp_path, tuner_type):
    space = {"lr": {"values": [0.001, 0.03, 0.3]}, "momentum": {"values": [0.9]}} if tuner_type == "grid" else SPACE
    best = AutoTuner(noisy_quadratic, search_space=space, max_trials=4, tuner_type=tuner_type, pruner="none",
                     out=tmp_path / "out").run()
    assert 1e-4 <= best["lr"] <= 1.0


def test_rejects_what_a_child_cannot_import():
    with pytest.raises(UsageError, match="module-level function"):
        AutoTuner(lambda c: 1.0, search_space=SPACE)
    with pytest.raises(UsageError, match="unknown tuner_type"):
        AutoTuner(constant, search_space=SPACE, tuner_type="annealing")
