"""`paddle-autotune doctor --configs ROOT` for PaddleDetection: every shipped config through the adapter.

For each training config under ``configs/`` of a checkout (fragments: files under ``_base_/`` and files
with no ``architecture`` after ``_BASE_`` resolution, such as ``datasets/`` files, are counted apart): it loads
through the adapter (`_BASE_` chain and tags), the det-nms-anchor preset resolves on it or says which
knobs the architecture lacks, and with the trial values applied the flattened file loads in ppdet's own
``load_config`` with the values where the preset put them. ppdet is the checkout's when it imports here,
else the installed one (said in the output).
"""
import pathlib
import sys
import tempfile

from paddle_autotune_plugins import dotpath, presets, space
from paddle_autotune_plugins.errors import UsageError

PRESET = "det-nms-anchor"
FRAGMENTS = "fragments (files under _base_/, and files with no architecture: datasets, runtime)"


def _import_ppdet(root):
    """load_config and the SchemaDict class of the checkout's ppdet, or of the installed one."""
    from . import hooks

    hooks.install()
    sys.path.insert(0, str(root))
    try:
        from ppdet.core.workspace import load_config

        where = "the checkout's ppdet" if str(root) in str(sys.modules["ppdet"].__file__) else "installed ppdet"
    except Exception as e:  # a checkout needing packages this machine lacks: use the installed ppdet
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == "ppdet" or m.startswith("ppdet.")]:
            del sys.modules[name]
        from ppdet.core.workspace import load_config

        where = f"installed ppdet (the checkout's failed to import: {type(e).__name__}: {e})"
    return load_config, where


def _reset():
    from ppdet.core.config.schema import SchemaDict
    from ppdet.core.workspace import global_config

    for key in list(global_config):  # keys one config sets must not leak into the next
        if isinstance(global_config[key], SchemaDict):
            dict.clear(global_config[key])
        else:
            del global_config[key]


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return _plain(vars(value))
    return value


def walk_configs(adapter, root):
    root = pathlib.Path(root).resolve()
    load_config, where = _import_ppdet(root)
    counts = {"total": 0, "load": 0, f"preset {PRESET} resolved (or lacking knobs named)": 0,
              "written back and loaded by ppdet": 0}
    failures = [f"note: write-back checked with {where}"]
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted((root / "configs").rglob("*.yml")):
            rel = path.relative_to(root)
            if "_base_" in rel.parts:  # PaddleDetection's include fragments, never trained on their own
                counts[FRAGMENTS] = counts.get(FRAGMENTS, 0) + 1
                continue
            counts["total"] += 1
            try:
                task = adapter.load(None, ["-c", str(path)])
            except UsageError as e:
                if "no 'architecture'" in str(e):
                    counts["total"] -= 1
                    counts[FRAGMENTS] = counts.get(FRAGMENTS, 0) + 1
                    continue
                failures.append(f"{rel}: load: {e}")
                continue
            counts["load"] += 1
            try:
                resolved = presets.resolve([PRESET], adapter.name, task.config, adapter.architecture(task.config))
                adapter.check_space(task, resolved.params)
            except UsageError as e:
                if "has no place in" in str(e):  # the architecture lacks a required knob, and the error says which
                    counts[f"preset {PRESET} resolved (or lacking knobs named)"] += 1
                failures.append(f"{rel}: preset: {e}")
                continue
            counts[f"preset {PRESET} resolved (or lacking knobs named)"] += 1
            cfg = task.fresh_config()
            values = {p.name: (p.low if p.kind != "categorical" else p.choices[0]) for p in resolved.params}
            space.apply_all(resolved.params, values, cfg)
            expected = {p.name: dotpath.get(cfg, p.name, None) for p in resolved.params
                        if p.name != "TwoFCHead.dropout"}
            cfg = adapter.prepare_trial(cfg, pathlib.Path(tmp) / "trial", seed=0)
            written = pathlib.Path(tmp) / "config.yml"
            adapter.write_config(cfg, written)
            try:
                _reset()
                loaded = _plain(dict(load_config(str(written))))
                for name, value in expected.items():
                    got = dotpath.get(loaded, name, None)
                    # ppdet's tagged objects may expand an argument: PiecewiseDecay keeps gamma as a list
                    if got != _plain(value) and not (isinstance(got, list) and got and got[0] == value):
                        raise ValueError(f"{name}: read back {got!r}, wrote {value!r}")
            except Exception as e:  # any failure of ppdet's own loader counts against us
                failures.append(f"{rel}: write back: {type(e).__name__}: {str(e)[:200]}")
                continue
            counts["written back and loaded by ppdet"] += 1
    return counts, failures
