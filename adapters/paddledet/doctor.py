"""`paddle-autotune doctor --configs ROOT` for PaddleDetection: every shipped config through the adapter.

For each training config under ``configs/`` of a checkout (fragments: files under ``_base_/`` and files
with no ``architecture`` after ``_BASE_`` resolution, such as ``datasets/`` files, are counted apart):

1. it loads through the adapter (`_BASE_` chain and tags);
2. the det-nms-anchor preset resolves on it as the CLI resolves it (a config counts only where the CLI
   would accept it; knobs the architecture lacks are skipped with a note, as in a study);
3. with trial values applied (each differing from the config's own, so a knob that does nothing cannot
   pass by chance), the flattened file loads in ppdet's own ``load_config`` with the values in place;
4. every preset knob acts: from that file ppdet's own builders make the objects a Trainer trains with
   (``create()`` of the architecture, under ``paddle.LazyGuard`` so no weights are initialised, the
   LearningRate schedule, the OptimizerBuilder, the TrainReader's transform ops; no data, no training),
   the same readers as the trial hooks (live.py) read the knobs' values back from them, and
   ``knobs.check`` compares them with the values written.

ppdet is the checkout's when it imports here, else the installed one (said in the output).
"""
import argparse
import copy
import gc
import pathlib
import signal
import sys
import tempfile

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import dotpath, space
from paddle_autotune_plugins.trials import knobs

from . import live

PRESET = "det-nms-anchor"
FRAGMENTS = "fragments (files under _base_/, and files with no architecture: datasets, runtime)"
LOAD = "load"
RESOLVED = f"preset {PRESET} resolved (the CLI accepts it)"
WRITTEN = "written back and loaded by ppdet"
ACTS = "every preset knob acts (objects built by ppdet hold the trial values)"
STEPS_PER_EPOCH = 100  # a notional data set size: the schedule is built in steps, read back in epochs
BUILD_SECONDS = 120  # a builder that hangs (e.g. a backbone fetching weights with no network) is cut off


def _import_ppdet(root):
    """load_config of the checkout's ppdet, or of the installed one; and which it is."""
    from . import hooks

    hooks.install()  # the Paddle 3 fixes, and the dropout RoI head the trial configs may name
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


def resolve_like_cli(adapter, task):
    """The params a study with --preset det-nms-anchor tunes on this config (UsageError where it refuses)."""
    from paddle_autotune_plugins.search_space.build import build_params

    params, _notes = build_params(task, argparse.Namespace(preset=[PRESET], space=None))
    return params


def trial_values(params, cfg):
    """A value per knob that differs from the config's own (a no-op knob then shows as a mismatch)."""
    values = {}
    for p in params:
        current = p.current(cfg)
        if p.kind == "categorical":
            values[p.name] = next((c for c in reversed(p.choices) if c != current), p.choices[-1])
        else:
            low, high = (p.low, p.high) if p.kind == "float" else (int(p.low), int(p.high))
            same = current is not None and not knobs.check({"v": low}, {"v": current}, ["v"])
            values[p.name] = high if same else low
    return values


class _Timeout(BaseException):
    """Not an Exception: the build's own fallbacks must not swallow it."""


def _alarm(signum, frame):
    raise _Timeout(f"building took over {BUILD_SECONDS} s")


def build_objects(cfg):
    """What a Trainer would train with, built by ppdet from the loaded config: {model, scheduler,
    train_reader} (each None where its builder fails) and the reasons of those failures."""
    from ppdet.core.workspace import create

    built, errors = {"model": None, "scheduler": None, "train_reader": None}, []
    steps = [("model", lambda: build_model(cfg)),
             ("scheduler", lambda: _scheduler(create, built["model"])),
             ("train_reader", lambda: create("TrainReader"))]
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for name, make in steps:
            signal.alarm(BUILD_SECONDS)
            try:
                built[name] = make()
            except (Exception, _Timeout) as e:  # noqa: BLE001 - the suite's builder failing is the finding
                errors.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}")
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return built, errors


def build_model(cfg):
    """The architecture as ppdet's create() makes it. First under paddle.LazyGuard (layers and parameter
    shapes, no weights initialised: fast); architectures that compute on their weights while they are built
    need a real build. Weight downloads fail at once (no network), and a backbone that fetches `pretrained`
    weights while it is built (ViT, Swin, ConvNeXt...) is built again without them, as None and as ''
    (Swin takes its default URL for None, ConvNeXt loads '' as a path): the knobs do not depend on weights."""
    import paddle
    from ppdet.core.workspace import create

    def make(lazy):
        with _no_downloads():
            if lazy:
                with paddle.LazyGuard():
                    return create(cfg["architecture"])
            return create(cfg["architecture"])

    first = None
    for lazy, pretrained in ((True, _KEEP), (False, _KEEP), (False, None), (False, "")):
        if pretrained is not _KEEP and not _set_pretrained(pretrained):
            break  # no section takes pretrained weights: nothing else to try
        try:
            return make(lazy)
        except Exception as e:  # noqa: BLE001 - the next way to build, or the first reason
            first = first or e
    raise first


_KEEP = object()


def _set_pretrained(value):
    """Every loaded section whose class takes `pretrained` gets this value; False when there is none."""
    from ppdet.core.config.schema import SchemaDict
    from ppdet.core.workspace import global_config

    sections = [s for s in global_config.values()
                if isinstance(s, SchemaDict) and "pretrained" in getattr(s, "schema", {})]
    for section in sections:
        section["pretrained"] = value
    return bool(sections)


class _no_downloads:
    """While a model is built: any weight download fails at once (offline machines would retry for minutes)."""

    def __enter__(self):
        import paddle.utils.download as download

        self.patched = [(m, n, getattr(m, n)) for m in [download] + _importers(download.get_weights_path_from_url)
                        for n in ("get_weights_path_from_url", "get_path_from_url") if hasattr(m, n)]
        for module, name, _ in self.patched:
            setattr(module, name, _refuse_download)
        return self

    def __exit__(self, *exc):
        for module, name, original in self.patched:
            setattr(module, name, original)


def _importers(function):
    """ppdet modules that imported a download function by name (clrnet_resnet does)."""
    return [m for name, m in list(sys.modules.items()) if name.startswith("ppdet.") and m is not None
            and getattr(m, "get_weights_path_from_url", None) is function]


def _refuse_download(url, *args, **kwargs):
    raise RuntimeError(f"doctor builds without downloading weights ({url})")


def _scheduler(create, model):
    """The LR scheduler the optimizer steps: through OptimizerBuilder where it builds on this model."""
    scheduler = create("LearningRate")(STEPS_PER_EPOCH)
    if model is None:
        return scheduler
    try:
        optimizer = create("OptimizerBuilder")(scheduler, model)
    except Exception:  # noqa: BLE001 - lazy parameters some optimizers refuse; the schedule is the same
        return scheduler
    return getattr(optimizer, "_learning_rate", scheduler)


def acts(cfg, params, built):
    """(True, '') when every tuned path reads back from the built objects as written; else (False, why)."""
    paths = knobs.paths_of(params)
    used = live.used_values(paths, cfg, model=built["model"], scheduler=built["scheduler"],
                            steps_per_epoch=STEPS_PER_EPOCH, train_reader=built["train_reader"])
    problems = [m.describe() for m in knobs.check(cfg, used, paths)]
    problems += [f"{path}: not held by any built object" for path in knobs.unchecked(used, paths)]
    problems += [f"{path} is not changed with YOLOv3Head.anchors (the targets would be built for other anchors)"
                 for path in untuned_anchor_ops(paths, built["train_reader"])]
    return not problems, "; ".join(problems)


def untuned_anchor_ops(paths, reader):
    """Train transform ops that hold anchors (Gt2YoloTarget, JDE's Gt2JDETargetThres...) which a study
    scaling YOLOv3Head.anchors leaves as they are: not inert but wrong, the targets no longer match the head."""
    if "YOLOv3Head.anchors" not in paths or reader is None:
        return []
    missing = []
    for kind in ("sample", "batch"):
        ops = getattr(getattr(reader, f"_{kind}_transforms", None), "transforms_cls", None) or []
        for i, op in enumerate(ops):
            path = f"TrainReader.{kind}_transforms.{i}.{type(op).__name__}.anchors"
            if getattr(op, "anchors", None) is not None and path not in paths:
                missing.append(path)
    return missing


def walk_configs(adapter, root):
    root = pathlib.Path(root).resolve()
    load_config, where = _import_ppdet(root)
    counts = {"total": 0, LOAD: 0, RESOLVED: 0, WRITTEN: 0, ACTS: 0, space.MISSES: 0}
    failures = [f"note: write-back and objects checked with {where}"]
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted((root / "configs").rglob("*.yml")):
            rel = path.relative_to(root)
            if "_base_" in rel.parts:  # PaddleDetection's include fragments, never trained on their own
                counts[FRAGMENTS] = counts.get(FRAGMENTS, 0) + 1
                continue
            counts["total"] += 1
            outcome = _check_config(adapter, path, pathlib.Path(tmp), load_config)
            if outcome == FRAGMENTS:
                counts["total"] -= 1
                counts[FRAGMENTS] = counts.get(FRAGMENTS, 0) + 1
                continue
            passed, failure = outcome
            for key in passed:
                counts[key] += 1
            if failure:
                failures.append(f"{rel}: {failure}")
    return counts, failures


def _check_config(adapter, path, tmp, load_config):
    """([columns passed], failure or None) for one config, or FRAGMENTS."""
    try:
        task = adapter.load(None, ["-c", str(path)])
    except UsageError as e:
        return FRAGMENTS if "no 'architecture'" in str(e) else ([], f"load: {e}")
    try:
        params = resolve_like_cli(adapter, task)
    except UsageError as e:
        return [LOAD], f"preset: {e}"
    missed = space.missing_config_value(params, task.config)
    if missed:
        return [LOAD, RESOLVED, space.MISSES], f"range: {', '.join(missed)} leaves out the config's value"
    cfg = task.fresh_config()
    space.apply_all(params, trial_values(params, cfg), cfg)
    given = copy.deepcopy(cfg)
    expected = {p.name: dotpath.get(cfg, p.name, None) for p in params if p.name != "TwoFCHead.dropout"}
    cfg = adapter.prepare_trial(None, cfg, tmp / "trial", seed=0)
    written = tmp / "config.yml"
    adapter.write_config(cfg, written)
    try:
        _reset()
        loaded = load_config(str(written))
        plain = _plain(dict(loaded))
        for name, value in expected.items():
            got = dotpath.get(plain, name, None)
            # ppdet's tagged objects may expand an argument: PiecewiseDecay keeps gamma as a list
            if got != _plain(value) and not (isinstance(got, list) and got and got[0] == value):
                raise ValueError(f"{name}: read back {got!r}, wrote {value!r}")
    except Exception as e:  # any failure of ppdet's own loader counts against us
        return [LOAD, RESOLVED], f"write back: {type(e).__name__}: {str(e)[:200]}"
    built, errors = build_objects(loaded)
    ok, why = acts(given, params, built)
    del built
    gc.collect()  # a few hundred models in one process: free each before the next
    if ok:
        return [LOAD, RESOLVED, WRITTEN, ACTS], None
    return [LOAD, RESOLVED, WRITTEN], f"knob check: {why}" + (f" (build: {'; '.join(errors)})" if errors else "")
