"""`paddle-autotune doctor --configs ROOT` for PaddleClas: every shipped config through the adapter.

For each ``ppcls/configs/**/*.yaml`` of a checkout: it loads through the adapter, the clas-all preset
resolves on it as the CLI resolves it (trainer facts asked of this checkout's ppcls, every tuned path
checked), the written file loads in that checkout's own ``ppcls.utils.config.get_config`` with the value
where the preset put it, and the knobs act: the checkout's own ``build_optimizer`` builds a schedule and
an optimizer that hold the values tuned (learning rate, warm-up, momentum, weight decay; batch size,
label smoothing and mixup are read from the live Engine in each trial instead).
"""
import pathlib
import sys
import tempfile

import yaml

from paddle_autotune_plugins.trials import knobs

PRESET = "clas-all"
ACTS = "every knob acts (optimizer and schedule built by ppcls)"


def _search_strategy_file(path):
    """PULC's search.yaml and StrategySearch/*.yaml feed tools/search_strategy.py; they train nothing."""
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and "search_dict" in data and "Global" not in data


def walk_configs(adapter, root):
    root = pathlib.Path(root).resolve()
    sys.path.insert(0, str(root))  # the checkout's own ppcls reads the files back
    from ppcls.utils.config import get_config

    from . import hooks, readback

    hooks.install()  # the 0-D fixes: the checkout's builders run here as in a trial
    script = root / "tools" / "train.py"
    for name, ask in readback.FACTS.items():  # asked here, in-process, instead of once per config in a subprocess
        adapter.remember_fact(str(root), name, ask())

    counts = {"total": 0, "load": 0, f"preset {PRESET} resolved": 0, "written back and loaded by ppcls": 0, ACTS: 0,
              "fragments (search-strategy files, not training configs)": 0}
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for path, rel, task in adapter.doctor_tasks(script, sorted((root / "ppcls" / "configs").rglob("*.yaml")), root,
                                                    counts, failures, lambda path, rel: _search_strategy_file(path),
                                                    "fragments (search-strategy files, not training configs)"):
            out = pathlib.Path(tmp) / "written.yaml"
            trial = adapter.doctor_trial(task, PRESET, out, rel, counts, failures)
            if trial is None:
                continue
            params, cfg, expected = trial
            try:
                loaded = get_config(str(out), show=False)
                got = {p.name: p.current(loaded) for p in params}
                if got != expected:
                    raise ValueError(f"read back {got}, wrote {expected}")
            except Exception as e:  # any failure of the suite's own loader counts against us
                failures.append(f"{rel}: write back: {type(e).__name__}: {e}")
                continue
            counts["written back and loaded by ppcls"] += 1
            try:
                used = readback.built_values(loaded)
            except Exception as e:
                failures.append(f"{rel}: acts: ppcls's build_optimizer failed: {type(e).__name__}: {e}")
                continue
            paths = knobs.paths_of(params)
            wrong = knobs.check(cfg, used, paths)
            if wrong:
                failures.append(f"{rel}: acts: " + "; ".join(m.describe() for m in wrong))
                continue
            counts[ACTS] += 1
    return counts, failures
