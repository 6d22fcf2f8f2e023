"""PaddleDetection groundwork: the digits detection set, the bundled configs, the Paddle 3 compat fixes.

Every run that imports ppdet happens in a subprocess: ppdet keeps its config in one module-level
global_config, and the compat fixes must not leak into this process. The e2e tests train each bundled
architecture for one epoch on 60 images and evaluate on 20 (about 10-45 s each on 2 shared cores);
``pytest -s`` prints the measured times and AP values.
"""
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(REPO, "tests")  # det_quickrun.py, test scaffolding
PACKAGE = "paddle_autotune_plugins.adapters.paddledet"
MIRROR = "/work/.mirror/PaddlePaddle+PaddleDetection/repo"  # a git mirror of PaddleDetection, if present

# Makes the adapter importable in a child process even before pyproject maps adapters/ (then it is a no-op).
BOOT = f"""
import importlib, sys, types
sys.path.insert(0, {REPO!r})
try:
    importlib.import_module({PACKAGE!r})
except ImportError:
    import paddle_autotune_plugins
    _pkg = types.ModuleType("paddle_autotune_plugins.adapters")
    _pkg.__path__ = [{os.path.join(REPO, "adapters")!r}]
    sys.modules[_pkg.__name__] = _pkg
    paddle_autotune_plugins.adapters = _pkg
"""


def _import(name):
    try:
        return importlib.import_module(f"{PACKAGE}.{name}")
    except ImportError:
        exec(BOOT, {})
        return importlib.import_module(f"{PACKAGE}.{name}")


digits_det = _import("digits_det")
compat = _import("compat")


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


@pytest.fixture(scope="session")
def det_data(tmp_path_factory):
    return digits_det.ensure_dataset(tmp_path_factory.mktemp("digits_det") / "set", num_train=60, num_val=20)


# ---------------------------------------------------------------- the data set

def test_dataset_coco_and_voc_agree(tmp_path):
    data = digits_det.ensure_dataset(tmp_path / "d", num_train=12, num_val=5, seed=3)
    assert data.num_classes == 10 and data.classes == [str(i) for i in range(10)]
    with open(data.path(data.label_list)) as f:
        assert f.read().split() == data.classes
    for coco_file, list_file, count in ((data.coco_train, data.voc_train, 12), (data.coco_val, data.voc_val, 5)):
        with open(data.path(coco_file)) as f:
            coco = json.load(f)
        assert [c["name"] for c in coco["categories"]] == data.classes
        assert len(coco["images"]) == count
        per_image = {im["id"]: [] for im in coco["images"]}
        for ann in coco["annotations"]:
            per_image[ann["image_id"]].append(ann)
        assert all(1 <= len(anns) <= 3 for anns in per_image.values())
        with open(data.path(list_file)) as f:
            lines = f.read().split("\n")[:-1]
        assert len(lines) == count
        for im, line in zip(coco["images"], lines):
            image, xml = line.split()
            assert os.path.isfile(data.path(image)) and image.endswith(im["file_name"])
            objects = re.findall(r"<name>(\d)</name>.*?<xmin>([\d.]+)</xmin><ymin>([\d.]+)</ymin>"
                                 r"<xmax>([\d.]+)</xmax><ymax>([\d.]+)</ymax>", open(data.path(xml)).read())
            anns = per_image[im["id"]]
            assert len(objects) == len(anns)
            for (name, x0, y0, x1, y1), ann in zip(objects, anns):
                x, y, w, h = ann["bbox"]
                assert int(name) == ann["category_id"] - 1
                assert [float(x0), float(y0), float(x1), float(y1)] == [x, y, x + w, y + h]
                assert 0 <= x and x + w <= im["width"] and 0 <= y and y + h <= im["height"]
                assert 8 <= h <= 33  # digits are pasted at 16-32 px; the box is the tight ink box
            assert 96 <= im["width"] <= 128 and 96 <= im["height"] <= 128


def test_dataset_is_deterministic_cached_and_rebuilt_when_half_written(tmp_path, monkeypatch):
    a = digits_det.ensure_dataset(tmp_path / "a", num_train=5, num_val=2, seed=7)
    b = digits_det.ensure_dataset(tmp_path / "b", num_train=5, num_val=2, seed=7)
    for rel in (a.coco_train, a.coco_val, "JPEGImages/train_000004.jpg", "Annotations/val_000001.xml"):
        with open(a.path(rel), "rb") as fa, open(b.path(rel), "rb") as fb:
            assert fa.read() == fb.read(), rel
    other = digits_det.ensure_dataset(tmp_path / "c", num_train=5, num_val=2, seed=8)
    assert open(a.path(a.coco_train)).read() != open(other.path(other.coco_train)).read()

    marker = os.path.join(a.dataset_dir, digits_det.MARKER)
    stamp = os.path.getmtime(a.path(a.coco_train))
    start = time.time()
    digits_det.ensure_dataset(tmp_path / "a", num_train=5, num_val=2, seed=7)
    assert time.time() - start < 0.5 and os.path.getmtime(a.path(a.coco_train)) == stamp  # not rewritten

    os.remove(marker)  # as if generation had stopped half way
    os.remove(a.path(a.coco_val))
    digits_det.ensure_dataset(tmp_path / "a", num_train=5, num_val=2, seed=7)
    assert os.path.isfile(marker) and os.path.isfile(a.path(a.coco_val))

    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "mine.txt").write_text("not a data set")
    with pytest.raises(FileExistsError):
        digits_det.ensure_dataset(tmp_path / "foreign", num_train=2, num_val=1)

    monkeypatch.setenv(digits_det.ENV_VAR, str(tmp_path / "cache"))
    default = digits_det.ensure_dataset(num_train=3, num_val=2)
    assert default.dataset_dir.startswith(str(tmp_path / "cache" / "digits_det"))
    assert not [p for p in os.listdir(tmp_path / "cache" / "digits_det") if ".tmp-" in p]


# ---------------------------------------------------------------- configs

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


# ---------------------------------------------------------------- compat fixes

def test_fix_registry():
    assert [name for name, _, _ in compat.FIXES] == ["zero-d-concat", "assigner-int-mix", "pkg-resources"]
    for name, description, applies in compat.FIXES:
        assert description and isinstance(applies(), bool)
    # the pinned environment (paddledet 2.6.0 on Paddle 3) needs both Paddle fixes
    assert dict((n, a()) for n, _, a in compat.FIXES)["zero-d-concat"] is True
    assert dict((n, a()) for n, _, a in compat.FIXES)["assigner-int-mix"] is True
    with pytest.raises(ValueError):
        compat.install(["no-such-fix"])


def _git_show(ref, path):
    return subprocess.run(["git", "-C", MIRROR, "show", f"{ref}:{path}"], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.skipif(not os.path.isdir(MIRROR), reason="no PaddleDetection git mirror on this machine")
def test_fix_detection_follows_upstream_history():
    """The buggy-line patterns find the bugs in v2.6.0, and not where upstream fixed them."""
    def zero_d_buggy(ref):
        return {m: compat._has_pattern(_git_show(ref, m.replace(".", "/") + ".py"), p)
                for m, p in compat.ZERO_D_MODULES.items()}

    def int_mix_buggy(ref):
        return {m: compat._has_pattern(_git_show(ref, m.replace(".", "/") + ".py"), [compat.INT_MIX_PATTERN])
                for m in compat.ASSIGNER_CLASSES}

    assert all(zero_d_buggy("v2.6.0").values()) and all(int_mix_buggy("v2.6.0").values())
    # release/2.6 later got the 0-D fix (#8653) but kept the assigner bug; so did release/2.7
    for ref in ("release/2.6", "release/2.7"):
        assert not any(zero_d_buggy(ref).values()) and all(int_mix_buggy(ref).values()), ref
    assert not any(zero_d_buggy("develop").values()) and not any(int_mix_buggy("develop").values())


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


# ---------------------------------------------------------------- end to end: train 1 epoch + eval

QUICKRUN = f"sys.path.insert(0, {TESTS!r}); import det_quickrun; sys.exit(det_quickrun.main(sys.argv[1:]))"
TIMINGS = {}


def _quickrun(config, det_data, out, *extra):
    args = [config, "--data-dir", det_data.dataset_dir, "--num-train", "60", "--num-val", "20",
            "--epochs", "1", "--out", str(out), *extra]
    return _run_python(QUICKRUN, args, cwd=str(out.parent))  # a stray bbox.json would land there


@pytest.mark.e2e
@pytest.mark.parametrize("config, error", [
    ("faster_rcnn_r18_digits", "The axis is expected to be in range of [0, 0)"),
    ("ppyoloe_tiny_digits", "But got different data type x: int64, y: int32"),
])
def test_training_fails_without_the_fixes(config, error, det_data, tmp_path):
    # only the pkg_resources stand-in, so that ppdet can be imported at all where setuptools >= 82
    proc, _ = _quickrun(config, det_data, tmp_path / "run", "--fixes", "pkg-resources")
    assert proc.returncode != 0
    assert error in proc.stderr, proc.stderr[-3000:]
    assert "QUICKRUN_RESULT" not in proc.stdout
