"""`paddle-autotune doctor --configs ROOT` for PaddleOCR: every shipped config through the adapter.

For each ``configs/**/*.yml`` of a checkout:

1. it loads through the adapter as the checkout's tools/train.py would take it (an Eval section, an
   evaluation interval and a main indicator: what a study needs);
2. ocr-all resolves on it (ocr-det-all on a DB text detector, which adds the post-process thresholds), as
   the CLI resolves it, every tuned path checked;
3. the trial file loads in the checkout's own ``tools.program.load_config`` with each knob's value where
   the preset put it;
4. every knob acts: the checkout's own ``build_optimizer`` builds the scheduler and the optimizer (over a
   one-layer stand-in for the network) and ``build_post_process`` the post-process, and they hold the values
   written (learning rate or Piecewise values, warm-up, weight decay, DB thresholds); the batch size is read
   from the live train loader in each trial instead.
"""
import pathlib
import sys
import tempfile

import yaml

from paddle_autotune_plugins.errors import last_line
from paddle_autotune_plugins.trials import knobs

from .readback import DB_POST

PRESET, DET_PRESET = "ocr-all", "ocr-det-all"
ACTS = "every knob acts (optimizer, schedule and post-process built by ppocr)"
FRAGMENTS = "fragments (YAML files that are no training config: no Global section)"
READ_IN_TRIALS = {"Train.loader.batch_size_per_card"}  # read from the live loader in each trial, not built here



def _fragment(path, rel):
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - the load step says why
        return False
    return not (isinstance(data, dict) and "Global" in data)


def preset_for(cfg):
    post = cfg.get("PostProcess") or {}
    return DET_PRESET if post.get("name") in DB_POST else PRESET


def _import_checkout(root):
    """The checkout's own ppocr and tools first on the path (a copy imported before would answer instead)."""
    sys.path.insert(0, str(root))
    for name in [m for m in sys.modules if m.split(".")[0] in ("ppocr", "tools")]:
        del sys.modules[name]


def walk_configs(adapter, root):
    import logging

    root = pathlib.Path(root).resolve()
    _import_checkout(root)
    from tools.program import load_config

    from .readback import built_values

    logging.getLogger("ppocr").setLevel(logging.ERROR)
    counts = {"total": 0, "load": 0, f"preset {PRESET} resolved": 0, f"preset {DET_PRESET} resolved": 0,
              "written back and loaded by tools/program.py": 0, ACTS: 0, FRAGMENTS: 0}
    failures = []
    script = root / "tools" / "train.py"
    paths = sorted(p for ext in ("*.yml", "*.yaml") for p in (root / "configs").rglob(ext))
    with tempfile.TemporaryDirectory() as tmp:
        for path, rel, task in adapter.doctor_tasks(script, paths, root, counts, failures, _fragment, FRAGMENTS):
            out = pathlib.Path(tmp) / "written.yml"
            trial = adapter.doctor_trial(task, preset_for(task.config), out, rel, counts, failures)
            if trial is None:
                continue
            params, cfg, expected = trial
            try:
                loaded = load_config(str(out))
                got = {p.name: p.current(loaded) for p in params}
                if got != expected:
                    raise ValueError(f"read back {got}, wrote {expected}")
            except Exception as e:  # noqa: BLE001 - any failure of the suite's own loader counts against us
                failures.append(f"{rel}: write back: {last_line(e)}")
                continue
            counts["written back and loaded by tools/program.py"] += 1
            try:
                used = built_values(loaded)
            except Exception as e:  # noqa: BLE001 - nor may its builders fail on what the preset wrote
                failures.append(f"{rel}: acts: ppocr's builders failed: {last_line(e)}")
                continue
            tuned = [p for p in knobs.paths_of(params) if p not in READ_IN_TRIALS]
            wrong = knobs.check(cfg, used, tuned)
            unread = knobs.unchecked(used, tuned)
            if wrong or unread:
                failures.append(f"{rel}: acts: " + "; ".join([m.describe() for m in wrong]
                                                             + [f"{p}: not held by any built object" for p in unread]))
                continue
            counts[ACTS] += 1
    return counts, failures
