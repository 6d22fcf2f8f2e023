"""`paddle-autotune doctor --configs ROOT` for PaddleClas: every shipped config through the adapter.

For each ``ppcls/configs/**/*.yaml`` of a checkout: it loads through the adapter, the clas-lr preset
resolves on it (and every tuned path exists), and, with a trial value applied, the written file loads in
that checkout's own ``ppcls.utils.config.get_config`` with the value where the preset put it.
"""
import pathlib
import sys
import tempfile

from paddle_autotune_plugins import presets, space
from paddle_autotune_plugins.errors import UsageError

PRESET = "clas-lr"


def walk_configs(adapter, root):
    root = pathlib.Path(root).resolve()
    sys.path.insert(0, str(root))  # the checkout's own ppcls reads the files back
    from ppcls.utils.config import get_config

    counts = {"total": 0, "load": 0, f"preset {PRESET} resolved": 0, "written back and loaded by ppcls": 0}
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted((root / "ppcls" / "configs").rglob("*.yaml")):
            counts["total"] += 1
            rel = path.relative_to(root)
            try:
                task = adapter.load(None, ["-c", str(path)])
            except UsageError as e:
                failures.append(f"{rel}: load: {e}")
                continue
            counts["load"] += 1
            try:
                params = presets.resolve([PRESET], adapter.name, task.config, adapter.architecture(task.config)).params
                space.check_paths(params, task.config)
            except UsageError as e:
                failures.append(f"{rel}: preset: {e}")
                continue
            counts[f"preset {PRESET} resolved"] += 1
            cfg = task.fresh_config()
            expected = {}
            for p in params:
                value = p.low if p.kind != "categorical" else p.choices[0]
                p.apply_to(cfg, value)
                expected[p.name] = p.current(cfg)
            out = pathlib.Path(tmp) / "written.yaml"
            adapter.write_config(cfg, out)
            try:
                loaded = get_config(str(out), show=False)
                got = {p.name: p.current(loaded) for p in params}
                if got != expected:
                    raise ValueError(f"read back {got}, wrote {expected}")
            except Exception as e:  # any failure of the suite's own loader counts against us
                failures.append(f"{rel}: write back: {type(e).__name__}: {e}")
                continue
            counts["written back and loaded by ppcls"] += 1
    return counts, failures
