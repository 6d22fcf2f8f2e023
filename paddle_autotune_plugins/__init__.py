"""paddle-autotune: hyperparameter tuning for PaddleClas, PaddleDetection, PaddleNLP, PaddleSeg and PaddleOCR on Optuna.

Usage from a suite checkout (everything before --autotune is your usual command)::

    python -m paddle_autotune_plugins tools/train.py -c configs/x.yaml --autotune --preset clas-lr --trials 20

From Python, any objective (see paddle_autotune_plugins.python_api.api)::

    from paddle_autotune_plugins import AutoTuner, report
"""
from typing import Any

from paddle_autotune_plugins.trials.reporting import (PARENT_ENV,  # noqa: F401  (light: json/os/time)
                                                      die_with_coordinator, join_trial_cgroup, report)

__version__ = "0.1.0"

die_with_coordinator()  # in a trial process (every trial command is `python -m paddle_autotune_plugins...`)
join_trial_cgroup()


def __getattr__(name: str) -> Any:
    if name == "AutoTuner":  # imported on first use: it pulls in Optuna
        from paddle_autotune_plugins.python_api.api import AutoTuner

        return AutoTuner
    raise AttributeError(name)
