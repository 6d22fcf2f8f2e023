"""`paddle-autotune doctor --configs ROOT` for PaddleSeg: every shipped config through the adapter.

For each ``configs/**/*.yml`` of a checkout that trains (fragments - files under ``_base_/`` folders and
files that lack a model, an optimizer... after their ``_base_`` chain - are counted apart):

1. it loads through the adapter, and the adapter's ``_base_`` merge gives the same dict as the checkout's
   own ``paddleseg.cvlibs.config.parse_from_yaml``;
2. the seg-all preset resolves on it as the CLI resolves it (every tuned path checked);
3. the flattened trial file loads in that checkout's own ``Config`` (its config checker included) with
   each knob's value where the preset put it;
4. every knob acts: the checkout's own ``SegBuilder`` builds the scheduler, the optimizer (over a one-layer
   stand-in for the network) and the losses, and they hold the values written (learning rate, PolynomialDecay
   power, weight decay, loss coefficients, OHEM threshold); the batch size is read from the live train
   loader in each trial instead.
"""
import pathlib
import sys
import tempfile

from paddle_autotune_plugins.errors import last_line
from paddle_autotune_plugins.trials import knobs

PRESET = "seg-all"
SAME_MERGE = "_base_ merged as the checkout's parse_from_yaml merges it"
ACTS = "every knob acts (scheduler, optimizer and losses built by paddleseg)"
FRAGMENTS = "fragments (_base_ files, configs without a model/optimizer/..., not training configs)"
READ_IN_TRIALS = {"batch_size"}  # read from the live loader in each trial, not built here



def _fragment(path, rel):
    """A piece of other configs (under a _base_ folder, or incomplete after its own _base_ chain)."""
    from .adapter import REQUIRED, read_chain

    try:
        merged = read_chain(path)
    except Exception:  # noqa: BLE001 - the load step says why
        merged = {}
    return "_base_" in rel.parts[:-1] or bool(merged and any(k not in merged for k in REQUIRED))


def walk_configs(adapter, root):
    root = pathlib.Path(root).resolve()
    sys.path.insert(0, str(root))  # the checkout's own paddleseg reads the files back
    for name in [m for m in sys.modules if m == "paddleseg" or m.startswith("paddleseg.")]:
        del sys.modules[name]  # a paddleseg imported before (the wheel) would answer instead
    from . import hooks

    hooks.install()  # the trial's fixes, as in a trial
    from paddleseg.cvlibs import Config
    from paddleseg.cvlibs.config import parse_from_yaml
    from paddleseg.utils import logger

    from .readback import built_values

    logger.info = logger.warning = logger.debug = lambda *a, **k: None  # one line per built object otherwise
    counts = {"total": 0, "load": 0, SAME_MERGE: 0, f"preset {PRESET} resolved": 0,
              "written back and loaded by paddleseg's Config": 0, ACTS: 0, FRAGMENTS: 0}
    failures = []
    script = root / "tools" / "train.py"
    with tempfile.TemporaryDirectory() as tmp:
        for path, rel, task in adapter.doctor_tasks(script, sorted((root / "configs").rglob("*.yml")), root, counts,
                                                    failures, _fragment, FRAGMENTS):
            try:
                theirs = parse_from_yaml(str(path))
            except Exception as e:  # noqa: BLE001
                theirs = f"{type(e).__name__}: {e}"
            if theirs == task.config:
                counts[SAME_MERGE] += 1
            else:
                failures.append(f"{rel}: merge: the checkout's parse_from_yaml gives another config")
            out = pathlib.Path(tmp) / "written.yml"
            trial = adapter.doctor_trial(task, PRESET, out, rel, counts, failures)
            if trial is None:
                continue
            params, cfg, expected = trial
            try:  # the checkout's own Config (its checker too) reads the trial file back
                got = {p.name: p.current(Config(str(out)).dic) for p in params}
                if got != expected:
                    raise ValueError(f"read back {got}, wrote {expected}")
            except Exception as e:  # noqa: BLE001 - any failure of the suite's own loader counts against us
                failures.append(f"{rel}: write back: {last_line(e)}")
                continue
            counts["written back and loaded by paddleseg's Config"] += 1
            try:
                _, used = built_values(out)
            except Exception as e:  # noqa: BLE001 - nor may its builders fail on what the preset wrote
                failures.append(f"{rel}: acts: paddleseg's builders failed: {last_line(e)}")
                continue
            paths = [p for p in knobs.paths_of(params) if p not in READ_IN_TRIALS]
            wrong = knobs.check(cfg, used, paths)
            unread = knobs.unchecked(used, paths)
            if wrong or unread:
                failures.append(f"{rel}: acts: " + "; ".join([m.describe() for m in wrong]
                                                             + [f"{p}: not held by any built object" for p in unread]))
                continue
            counts[ACTS] += 1
    return counts, failures
