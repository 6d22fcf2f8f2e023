"""Overrides (-o) without eval(), dotted-path edits, and the config export round trip through ppcls."""
import copy

import yaml

from paddle_autotune_plugins.adapters.paddleclas.adapter import ClasAdapter
from paddle_autotune_plugins.search_space import dotpath


def test_export_round_trip_loads_in_ppcls(digits_config, tmp_path):
    """Load, change at dotted paths, write: ppcls's own get_config reads back the same values + changes."""
    import sys

    from paddle_autotune_plugins.adapters.paddleclas import hooks

    sys.path.insert(0, hooks.wheel_ppcls_root())
    from ppcls.utils.config import get_config

    adapter = ClasAdapter()
    task = adapter.load(None, ["-c", str(digits_config), "-o", "Global.epochs=7"])
    cfg = task.fresh_config()
    dotpath.set_(cfg, "Optimizer.lr.learning_rate", 0.123)
    dotpath.set_(cfg, "Loss.Train.0.CELoss.epsilon", 0.05)
    cfg = adapter.prepare_trial(task, cfg, tmp_path / "trial_0001", seed=7)
    exported = adapter.export_config(task, cfg)
    path = tmp_path / "best_config.yaml"
    adapter.write_config(exported, path)
    loaded = get_config(str(path), show=False)
    assert loaded["Optimizer"]["lr"]["learning_rate"] == 0.123
    assert loaded["Loss"]["Train"][0]["CELoss"]["epsilon"] == 0.05
    assert loaded["Global"]["epochs"] == 7
    assert loaded["Global"]["output_dir"] == task.config["Global"]["output_dir"]  # the user's, not the trial's
    expected = copy.deepcopy(task.config)
    expected["Optimizer"]["lr"]["learning_rate"] = 0.123
    expected["Loss"]["Train"][0]["CELoss"]["epsilon"] = 0.05
    written = yaml.safe_load(path.read_text())
    for key in ("Arch", "DataLoader", "Metric", "Optimizer", "Loss"):
        assert written[key] == expected[key]
    assert task.config["Optimizer"]["lr"]["learning_rate"] == 0.003  # the task's own config is untouched
