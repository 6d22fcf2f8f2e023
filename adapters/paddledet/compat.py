"""Run-time fixes that let paddledet 2.6 (the newest on PyPI, or a v2.6 checkout) train on Paddle 3.

Nothing on disk is edited. ``install()`` registers each fix with ``when_imported``, so it reaches whichever
``ppdet`` the process imports (site-packages or a checkout on sys.path), right after the module body runs.
Every fix first reads the module's own source and stands aside when the buggy line is not there
(release/2.6 head, release/2.7 and develop fixed some or all of them), and when the running Paddle does
not have the behaviour the bug trips on.

The two Paddle 3 bugs (see docs/suites.md):

* ``zero-d-concat``: since Paddle 2.5, ``paddle.shape(x)[0]``, ``bbox_num[i]`` and ``scale_factor[i][0]`` are
  0-D tensors, and ``paddle.concat`` refuses 0-D inputs ("The axis is expected to be in range of [0, 0)").
  Fix: inside the three affected modules only, the name ``paddle`` is bound to a thin stand-in whose
  ``concat`` reshapes 0-D inputs to shape [1] (what they were before 0-D tensors existed); every other
  attribute is the real ``paddle``. A concat of 0-D tensors can only fail, so no working call changes.
* ``assigner-int-mix``: ``assigned_gt_index`` (int64, from argmax) + ``batch_ind * num_max_boxes`` (the
  labels' int32) is refused by Paddle 3's type promotion. Fix: the assigner's ``forward`` is wrapped so
  it sees int64 labels (then ``batch_ind`` is int64 too) and the assigned labels are cast back to the
  caller's dtype. Label values are small integers: results are identical.

And one fix that is not about Paddle:

* ``pkg-resources``: ``ppdet/model_zoo/model_zoo.py`` (every version, develop included) does
  ``import pkg_resources``, which setuptools 82 removed (and new venvs may have no setuptools at all):
  ``import ppdet`` fails. Fix: while that one module body runs, and only if the real package cannot be
  found, ``pkg_resources`` is a stand-in with the one function it uses (``resource_filename``); it is taken
  out of ``sys.modules`` again afterwards, so nothing else ever sees it.

``FIXES`` lists ``(name, description, applies)`` for ``doctor``; ``applies()`` says whether the fix is
needed by the ppdet this process would import, without importing it.
"""
import functools
import importlib.util
import inspect
import os
import re
import sys
import types

from paddle_autotune_plugins.suites.kit.zero_d import PaddleWith1DConcat
from paddle_autotune_plugins.trials.import_hooks import around_import, when_imported

_MARK = "__paddle_autotune_compat__"  # set on patched objects, so installing twice patches once

# module -> patterns of the buggy lines; a module without any of them is already fixed
ZERO_D_MODULES = {
    "ppdet.modeling.proposal_generator.rpn_head": [r"\.append\(paddle\.shape\(\w+\)\[0\]\)"],
    "ppdet.modeling.proposal_generator.target": [r"\.append\(paddle\.shape\(\w+\)\[0\]\)"],
    "ppdet.modeling.post_process": [r"bbox_num_i\s*=\s*bbox_num\[i\]\s*$", r"scale_factor\[i\]\[0\]"],
}

# module -> assigner class whose forward adds int64 to the labels' dtype
ASSIGNER_CLASSES = {
    "ppdet.modeling.assigners.atss_assigner": "ATSSAssigner",
    "ppdet.modeling.assigners.task_aligned_assigner": "TaskAlignedAssigner",
    "ppdet.modeling.assigners.task_aligned_assigner_cr": "TaskAlignedAssigner_CR",
    "ppdet.modeling.assigners.fcosr_assigner": "FCOSRAssigner",
    "ppdet.modeling.assigners.rotated_task_aligned_assigner": "RotatedTaskAlignedAssigner",
}
# develop writes `+ (batch_ind * num_max_boxes).astype(...)`, which this does not match
INT_MIX_PATTERN = r"assigned_gt_index\s*\+\s*batch_ind\s*\*\s*num_max_boxes"


# ---- what the running Paddle does (probed once, on CPU so no GPU is touched) ----

@functools.lru_cache(maxsize=None)
def paddle_makes_0d_shapes():
    try:
        import paddle
        x = paddle.to_tensor([0.0, 0.0], dtype="float32", place=paddle.CPUPlace())
        return len(paddle.shape(x)[0].shape) == 0
    except Exception:  # no paddle: nothing to fix
        return False


@functools.lru_cache(maxsize=None)
def paddle_refuses_int_mix():
    try:
        import paddle
        a = paddle.to_tensor([1], dtype="int64", place=paddle.CPUPlace())
        b = paddle.to_tensor([1], dtype="int32", place=paddle.CPUPlace())
    except Exception:
        return False
    try:
        a + b
        return False
    except Exception:
        return True


# ---- reading the source that would run ----

def _has_pattern(source, patterns):
    return any(re.search(p, source, re.MULTILINE) for p in patterns)


def _module_source(module):
    try:
        return inspect.getsource(module)
    except (OSError, TypeError):
        return None  # no source (bytecode only): assume the bug, the fix is harmless if it is not there


def _source_file(module_name):
    """The file `module_name` would load from, found without importing ppdet (importing it takes seconds)."""
    parts = module_name.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        path = os.path.join(base, *parts[1:]) + ".py"
        if os.path.isfile(path):
            return path
    return None


def _file_has_pattern(module_name, patterns):
    path = _source_file(module_name)
    if path is None:
        return False
    with open(path, encoding="utf-8", errors="replace") as f:
        return _has_pattern(f.read(), patterns)


# ---- fix 1: concat of 0-D tensors ----

def _patch_zero_d(module):
    if isinstance(module.__dict__.get("paddle"), PaddleWith1DConcat):
        return
    source = _module_source(module)
    if source is not None and not _has_pattern(source, ZERO_D_MODULES[module.__name__]):
        return  # already fixed upstream
    if not paddle_makes_0d_shapes() or "paddle" not in module.__dict__:
        return
    module.paddle = PaddleWith1DConcat(module.paddle)


# ---- fix 2: int64 + int32 in the assigners ----

def _with_int64_labels(forward):
    signature = inspect.signature(forward)

    @functools.wraps(forward)
    def wrapper(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        labels = bound.arguments.get("gt_labels")
        if labels is None or labels.dtype == _int64():
            return forward(*bound.args, **bound.kwargs)
        bound.arguments["gt_labels"] = labels.astype("int64")
        out = forward(*bound.args, **bound.kwargs)
        # assigned_labels comes first in every assigner's result: give it the caller's dtype back
        return (out[0].astype(labels.dtype),) + tuple(out[1:])

    setattr(wrapper, _MARK, True)
    return wrapper


def _int64():
    import paddle
    return paddle.int64


def _patch_assigner(module):
    cls = getattr(module, ASSIGNER_CLASSES[module.__name__], None)
    forward = getattr(cls, "forward", None)
    if forward is None or getattr(forward, _MARK, False):
        return
    try:
        source = inspect.getsource(forward)
    except (OSError, TypeError):
        source = None
    if source is not None and not re.search(INT_MIX_PATTERN, source):
        return  # already fixed upstream
    if not paddle_refuses_int_mix():
        return
    cls.forward = _with_int64_labels(forward)


# ---- fix 3: pkg_resources gone from setuptools >= 82 ----

MODEL_ZOO_MODULE = "ppdet.model_zoo.model_zoo"


def pkg_resources_missing():
    return "pkg_resources" not in sys.modules and importlib.util.find_spec("pkg_resources") is None


def _pkg_resources_stand_in():
    module = types.ModuleType("pkg_resources")
    module.__doc__ = "paddle-autotune stand-in: only resource_filename, lent to ppdet.model_zoo while it imports"

    def resource_filename(package, resource):
        package = importlib.import_module(package)
        base = list(package.__path__)[0] if hasattr(package, "__path__") else os.path.dirname(package.__file__)
        return os.path.join(base, *resource.split("/"))

    module.resource_filename = resource_filename
    setattr(module, _MARK, True)
    return module


def _lend_pkg_resources(run_body, module):
    """While ppdet.model_zoo.model_zoo's body runs (and only if pkg_resources is missing), lend it the stand-in."""
    if not pkg_resources_missing():
        return run_body()
    stand_in = sys.modules["pkg_resources"] = _pkg_resources_stand_in()
    try:
        run_body()
    finally:
        if sys.modules.get("pkg_resources") is stand_in:
            del sys.modules["pkg_resources"]


def pkg_resources_applies():
    path = _source_file(MODEL_ZOO_MODULE)
    if path is None or not pkg_resources_missing():
        return False
    with open(path, encoding="utf-8", errors="replace") as f:
        return re.search(r"^\s*import pkg_resources", f.read(), re.MULTILINE) is not None


# ---- registry ----

def zero_d_concat_applies():
    return paddle_makes_0d_shapes() and any(
        _file_has_pattern(name, patterns) for name, patterns in ZERO_D_MODULES.items())


def assigner_int_mix_applies():
    return paddle_refuses_int_mix() and any(
        _file_has_pattern(name, [INT_MIX_PATTERN]) for name in ASSIGNER_CLASSES)


FIXES = [
    ("zero-d-concat",
     "ppdet 2.6 concatenates 0-D tensors (paddle.shape(x)[0], bbox_num[i], scale_factor[i][0]) in "
     "rpn_head.py, proposal_generator/target.py and post_process.py (BBoxPostProcess.get_pred): "
     "Faster/Cascade/Mask R-CNN training and eval fail with 'The axis is expected to be in range of [0, 0)'. "
     "Fix: concat in those modules treats 0-D inputs as shape [1].",
     zero_d_concat_applies),
    ("assigner-int-mix",
     "ppdet 2.6 adds int64 to int32 (assigned_gt_index + batch_ind * num_max_boxes) in the ATSS, "
     "TaskAligned, TaskAligned_CR, FCOSR and rotated TaskAligned assigners: PP-YOLOE and PicoDet training "
     "fail with a type promotion error. Fix: the assigners see int64 labels.",
     assigner_int_mix_applies),
    ("pkg-resources",
     "ppdet imports pkg_resources (ppdet/model_zoo/model_zoo.py), which setuptools >= 82 no longer ships: "
     "'import ppdet' fails with ModuleNotFoundError. Fix: that module alone is given a stand-in with "
     "resource_filename while it imports (pinning setuptools<82 also works).",
     pkg_resources_applies),
]

_installed = set()


def install(fixes=None):
    """Register the fixes (all, or the named ones); each applies when (or if already) its module is imported."""
    names = {name for name, _, _ in FIXES}
    wanted = names if fixes is None else set(fixes)
    unknown = wanted - names
    if unknown:
        raise ValueError(f"unknown compat fix {sorted(unknown)}; known: {sorted(names)}")
    if "zero-d-concat" in wanted - _installed:
        for name in ZERO_D_MODULES:
            when_imported(name, _patch_zero_d)
    if "assigner-int-mix" in wanted - _installed:
        for name in ASSIGNER_CLASSES:
            when_imported(name, _patch_assigner)
    if "pkg-resources" in wanted - _installed:
        around_import(MODEL_ZOO_MODULE, _lend_pkg_resources)
    _installed.update(wanted)


def status():
    """{module: 'patched' | 'not patched' | 'not imported'} for the ppdet modules loaded in this process."""
    result = {}
    for name in ZERO_D_MODULES:
        module = sys.modules.get(name)
        if module is None:
            result[name] = "not imported"
        else:
            patched = isinstance(module.__dict__.get("paddle"), PaddleWith1DConcat)
            result[name] = "patched" if patched else "not patched"
    for name, cls_name in ASSIGNER_CLASSES.items():
        module = sys.modules.get(name)
        if module is None:
            result[name] = "not imported"
        else:
            forward = getattr(getattr(module, cls_name, None), "forward", None)
            result[name] = "patched" if getattr(forward, _MARK, False) else "not patched"
    return result
