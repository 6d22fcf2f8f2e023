"""PaddleDetection groundwork: the digits detection set, the bundled configs, the Paddle 3 compat fixes.

Every run that imports ppdet happens in a subprocess: ppdet keeps its config in one module-level
global_config, and the compat fixes must not leak into this process. The e2e tests train each bundled
architecture for one epoch on 60 images and evaluate on 20 (about 10-45 s each on 2 shared cores);
``pytest -s`` prints the measured times and AP values.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

import conftest
from det_boot import BOOT, REPO, import_det
import pytest

TESTS = str(conftest.TESTS)  # det_quickrun.py, test scaffolding


compat = import_det("compat")


def _run_python(code, args=(), env_extra=None, cwd=REPO, timeout=600):
    env = dict(os.environ)
    env.pop("PADDLE_AUTOTUNE_REPORT", None)
    env.update(env_extra or {})
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", BOOT + code, *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=cwd)
    return proc, time.time() - start


def _tagged_json(proc, prefix):
    for line in proc.stdout.splitlines():
        if line.startswith(prefix):
            return json.loads(line[len(prefix):])
    raise AssertionError(f"no {prefix!r} line; exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


LOAD_CONFIGS = """
import json
sys.path.insert(0, TESTS)
from paddle_autotune_plugins.adapters.paddledet import compat
import det_quickrun as quickrun
compat.install()
from ppdet.core.workspace import load_config, global_config
out = {}
for name in quickrun.bundled_configs():
    quickrun.reset_global_config()
    cfg = load_config(quickrun.config_path(name))
    lr = cfg["LearningRate"]
    out[name] = {
        "architecture": cfg["architecture"], "metric": cfg["metric"], "num_classes": cfg["num_classes"],
        "use_gpu": cfg["use_gpu"], "pretrain_weights": cfg.get("pretrain_weights"),
        "schedulers": [type(s).__name__ for s in lr["schedulers"]],
        "milestones": getattr(lr["schedulers"][0], "milestones", None),
        "train_dataset": dict(cfg["TrainDataset"]), "eval_collate": cfg["EvalReader"].get("collate_batch"),
        "resnet_depth": cfg["ResNet"].get("depth"),
        "head_anchors": cfg["YOLOv3Head"].get("anchors"),
        "target_anchors": [list(t.values())[0].get("anchors") for t in cfg["TrainReader"]["batch_transforms"]
                           if "Gt2YoloTarget" in t],
    }
print("CONFIGS " + json.dumps(out))
""".replace("TESTS", repr(TESTS), 1)


def test_bundled_configs_load_through_base_chains_with_tagged_schedulers():
    proc, _ = _run_python(LOAD_CONFIGS)
    configs = _tagged_json(proc, "CONFIGS ")
    assert set(configs) >= {"faster_rcnn_r18_digits", "ppyoloe_tiny_digits", "picodet_tiny_digits",
                            "yolov3_mobilenet_v1_digits", "yolov3_mobilenet_v1_digits_voc"}
    for name, c in configs.items():
        assert c["num_classes"] == 10 and c["use_gpu"] is False and not c["pretrain_weights"], name
        assert c["schedulers"][-1] == "LinearWarmup", name  # !Tag objects, built by ppdet's loader
    frcnn = configs["faster_rcnn_r18_digits"]
    assert frcnn["architecture"] == "FasterRCNN" and frcnn["resnet_depth"] == 18  # from _base_/faster_rcnn_r18_fpn.yml
    assert frcnn["schedulers"] == ["PiecewiseDecay", "LinearWarmup"] and frcnn["milestones"] == [8, 11]
    assert frcnn["train_dataset"]["name"] == "COCODataSet" and frcnn["metric"] == "COCO"
    # no key leaks from one load to the next: only YOLOv3 configs have YOLOv3Head anchors
    assert frcnn["head_anchors"] is None and configs["picodet_tiny_digits"]["head_anchors"] is None
    yolo = configs["yolov3_mobilenet_v1_digits"]
    assert yolo["head_anchors"] == yolo["target_anchors"][0] and len(yolo["head_anchors"]) == 9
    voc = configs["yolov3_mobilenet_v1_digits_voc"]  # two-level _BASE_ chain
    assert voc["metric"] == "VOC" and voc["train_dataset"]["name"] == "VOCDataSet"
    assert voc["train_dataset"]["image_dir"] == "" and "is_crowd" not in voc["train_dataset"]["data_fields"]
    assert voc["eval_collate"] is False and voc["head_anchors"] == yolo["head_anchors"]

def test_fix_registry():
    assert [name for name, _, _ in compat.FIXES] == ["zero-d-concat", "assigner-int-mix", "pkg-resources"]
    for name, description, applies in compat.FIXES:
        assert description and isinstance(applies(), bool)
    # the pinned environment (paddledet 2.6.0 on Paddle 3) needs both Paddle fixes
    assert dict((n, a()) for n, _, a in compat.FIXES)["zero-d-concat"] is True
    assert dict((n, a()) for n, _, a in compat.FIXES)["assigner-int-mix"] is True
    with pytest.raises(ValueError):
        compat.install(["no-such-fix"])


PROBE = r"""
import json, sys
from paddle_autotune_plugins.adapters.paddledet import compat
compat.install(json.loads(sys.argv[1]))
import numpy as np
import paddle
paddle.set_device("cpu")
results = {}

def attempt(name, fn):
    try:
        fn()
        results[name] = "ok"
    except Exception as e:
        results[name] = f"{type(e).__name__}: {e}"[:400]

def post_process():  # Faster R-CNN / YOLOv3 eval path, two images
    from ppdet.modeling.post_process import BBoxPostProcess
    bboxes = paddle.to_tensor(np.array([[1, .9, 10, 10, 30, 30], [2, .8, 5, 5, 20, 20], [3, .7, 0, 0, 8, 8]], "float32"))
    _, pred, num = BBoxPostProcess(num_classes=10).get_pred(
        bboxes, paddle.to_tensor(np.array([2, 1], "int32")),
        paddle.to_tensor(np.array([[128, 128], [64, 64]], "float32")),
        paddle.to_tensor(np.array([[1., 1.], [.5, .5]], "float32")))
    assert list(pred.shape) == [3, 6] and num.numpy().tolist() == [2, 1]
    assert np.allclose(pred.numpy()[2, 2:], [0, 0, 16, 16])  # rescaled by the second image's factor

def grid(n=4, stride=8):
    xs = (np.arange(n) + 0.5) * stride
    return np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2).astype("float32")

def gts():
    labels = paddle.to_tensor(np.array([[[1], [2]], [[0], [0]]], "int32"))  # int32, as ppdet's readers give
    boxes = paddle.to_tensor(np.array([[[0, 0, 16, 16], [12, 12, 30, 30]], [[4, 4, 28, 28], [0, 0, 0, 0]]], "float32"))
    mask = paddle.to_tensor(np.array([[[1], [1]], [[1], [0]]], "float32"))
    return labels, boxes, mask

def task_aligned_cr():  # no bundled architecture uses it: call it directly
    from ppdet.modeling.assigners.task_aligned_assigner_cr import TaskAlignedAssigner_CR
    pts = grid(); L = len(pts); labels, boxes, mask = gts()
    pred = np.concatenate([pts - 6, pts + 6], -1)[None].repeat(2, 0)
    out = TaskAlignedAssigner_CR(topk=4)(paddle.rand([2, L, 3]), paddle.to_tensor(pred), paddle.to_tensor(pts),
                                         paddle.full([L, 1], 8.0), labels, boxes, mask, 3)
    assert out[0].dtype == labels.dtype and list(out[0].shape) == [2, L]

def fcosr():
    from ppdet.modeling.assigners.fcosr_assigner import FCOSRAssigner
    pts = grid(); L = len(pts); labels, boxes, mask = gts()
    b = boxes.numpy()
    rboxes = np.concatenate([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2] + 1, b[..., :1] * 0], -1)
    out = FCOSRAssigner(num_classes=3, score_type="gaussian")(
        paddle.to_tensor(pts[None]), paddle.full([1, L, 1], 8.0), [L], labels, boxes,
        paddle.to_tensor(rboxes.astype("float32")), mask, 3)
    assert out[0].dtype == labels.dtype and list(out[0].shape) == [2, L]

attempt("post_process", post_process)
attempt("task_aligned_cr", task_aligned_cr)
attempt("fcosr", fcosr)
import ppdet
results["ppdet_file"] = ppdet.__file__
results["status"] = compat.status()
print("PROBE " + json.dumps(results))
"""


def _probe(fixes, checkout=None):
    env = {"PYTHONPATH": os.pathsep.join(p for p in (checkout, os.environ.get("PYTHONPATH")) if p)}
    proc, _ = _run_python(PROBE, [json.dumps(fixes)], env_extra=env)
    return _tagged_json(proc, "PROBE ")


@pytest.fixture(scope="module")
def ppdet_checkout(tmp_path_factory):
    """A source checkout of v2.6: the installed package's files copied onto a folder put first on sys.path."""
    import importlib.util
    spec = importlib.util.find_spec("ppdet")
    if spec is None:
        pytest.skip("ppdet not installed")
    root = tmp_path_factory.mktemp("checkout")
    shutil.copytree(os.path.dirname(spec.origin), root / "ppdet", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_fixes_reach_a_checkout_and_are_needed(ppdet_checkout):
    broken = _probe(["pkg-resources"], str(ppdet_checkout))
    assert broken["ppdet_file"].startswith(str(ppdet_checkout))
    assert "The axis is expected to be in range of [0, 0)" in broken["post_process"]
    for name in ("task_aligned_cr", "fcosr"):
        assert "int64" in broken[name] and "int32" in broken[name], broken[name]
    assert set(broken["status"].values()) == {"not patched"}

    fixed = _probe(None, str(ppdet_checkout))
    assert fixed["ppdet_file"].startswith(str(ppdet_checkout))
    assert (fixed["post_process"], fixed["task_aligned_cr"], fixed["fcosr"]) == ("ok", "ok", "ok")
    assert set(fixed["status"].values()) == {"patched"}


def test_fixes_stand_aside_where_upstream_fixed(ppdet_checkout, tmp_path):
    """A checkout edited the way upstream fixed the bugs: nothing is patched, and it still works."""
    fixed = tmp_path / "fixed"
    shutil.copytree(ppdet_checkout, fixed)
    edits = {
        "modeling/proposal_generator/rpn_head.py": [(r"(paddle\.shape\(\w+\))\[0\]\)", r"\1[0:1])")],
        "modeling/proposal_generator/target.py": [(r"(paddle\.shape\(\w+\))\[0\]\)", r"\1[0:1])")],
        "modeling/post_process.py": [
            (r"bbox_num_i = bbox_num\[i\]$", "bbox_num_i = bbox_num[i:i + 1]"),
            (r"scale_factor\[i\]\[0\], scale_factor\[i\]\[1\]", "scale_factor[i, 0:1], scale_factor[i, 1:2]")],
    }
    for module in compat.ASSIGNER_CLASSES:
        edits[module.split(".", 1)[1].replace(".", "/") + ".py"] = [
            (r"\+ batch_ind \* num_max_boxes", "+ (batch_ind * num_max_boxes).astype(assigned_gt_index.dtype)")]
    for rel, subs in edits.items():
        path = fixed / "ppdet" / rel
        text = path.read_text()
        for pattern, repl in subs:
            text, n = re.subn(pattern, repl, text, flags=re.MULTILINE)
            assert n, (rel, pattern)
        path.write_text(text)

    result = _probe(None, str(fixed))
    assert result["ppdet_file"].startswith(str(fixed))
    assert set(result["status"].values()) == {"not patched"}
    assert (result["post_process"], result["task_aligned_cr"], result["fcosr"]) == ("ok", "ok", "ok")
