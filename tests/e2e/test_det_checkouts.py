"""The compatibility matrix, PaddleDetection rows: each upstream checkout's own tools/train.py through the plugin.

Checkouts come from $PADDLE_AUTOTUNE_CHECKOUTS (conftest.checkout_root skips without it) and every run
trains from a writable copy. What differs between them and is checked here:

- where the best checkpoint lands: 2.6 `save_dir/<config stem>/best_model.*`, release/2.7 and develop
  `save_dir/best_model.*` (develop with uniform_output_enabled: `save_dir/best_model/best_model.*`);
- what `import ppdet` needs: release/2.7 and develop import `imgaug` (their requirements.txt);
- whether the checkout trains on Paddle 3 unaided: v2.6.0 crashes in YOLOv3's eval (0-D tensors), so its
  best_config is re-trained through the plugin's hooks (run_trial), the others with plain tools/train.py;
- that every knob a study tunes acts: the trial's hooks read the built Trainer's objects, and doctor
  --configs builds each config's objects with the checkout's own ppdet.
"""
import json
import os
import subprocess
import sys
import time

from conftest import PYTHON, checkout_root, copy_checkout, read_trials
import pytest

from paddle_autotune_plugins.adapters.paddledet import config_io
from paddle_autotune_plugins.trials import knobs

# checkout -> whether its own tools/train.py trains our YOLOv3 on Paddle 3 without the plugin's fixes
CHECKOUTS = {
    "PaddleDetection-v2.6.0": False,  # 0-D tensors in BBoxPostProcess (docs/suites.md)
    "PaddleDetection-release-2.7.1": True,
    "PaddleDetection-develop": True,
}
TIMINGS = {}


# The detection demo's data (one class, one large digit a canvas) at a small scale: even a YOLOv3 that has
# trained 2 warm-up steps finds some of the digits (bbox AP at epoch 1: 0.001-0.006 in 3 of 3 runs on 8 val
# canvases, 0.027 through release/2.7.1 on these 16), so a trial that detects nothing scores strictly below
# the baseline at the first rung and ASHA can prune it.
SMALL_DATA = {"classes": 1, "max_objects": 1, "canvas_size": (56, 72), "digit_size": (28, 44)}


def tiny_yolov3(folder, epochs=2, size=64, num_val=8, data=None):
    """Our YOLOv3-MobileNetV1 x0.25 on 16 digit canvases (`num_val` for eval) at `size` px: 2 steps an epoch."""
    from paddle_autotune_plugins.adapters.paddledet.digits_det import write_demo_config

    path = write_demo_config(folder, config="yolov3_mobilenet_v1_digits", epochs=epochs, num_train=16,
                             num_val=num_val, **(data or {}))
    cfg = config_io.load(path)
    for op in cfg["TrainReader"]["batch_transforms"]:
        if "BatchRandomResize" in op:
            op["BatchRandomResize"]["target_size"] = [size]
    for reader in ("EvalReader", "TestReader"):
        for op in cfg[reader]["sample_transforms"]:
            if "Resize" in op:
                op["Resize"]["target_size"] = [size, size]
    cfg["TestReader"]["inputs_def"]["image_shape"] = [3, size, size]
    cfg["EvalReader"]["batch_size"] = min(num_val, 16)
    config_io.dump(cfg, path)
    return path


def test_a_checkout_whose_ppdet_cannot_import_stops_before_trial_0(tmp_path):
    """release/2.7's ppdet imports imgaug. With imgaug not importable (a stand-in package on PYTHONPATH that
    raises as a missing one does; nothing is uninstalled), the study stops with exit 2 and one line."""
    checkout = copy_checkout("PaddleDetection-release-2.7.1", tmp_path)
    blocker = tmp_path / "no_imgaug" / "imgaug"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'imgaug'\", name='imgaug')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(blocker.parent), os.environ.get("PYTHONPATH")) if p))
    out = tmp_path / "out"
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", "tools/train.py", "-c", str(tiny_yolov3(tmp_path)),
                           "--eval", "--autotune", "--preset", "det-nms", "--trials", "1", "--out", str(out)],
                          cwd=checkout, env=env, capture_output=True, text=True, timeout=300)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(err) == 1 and "imgaug" in err[0] and err[0].endswith("pip install imgaug"), err
    assert not list(out.glob("trial_*"))


# Configs present in all three checkouts, one per known way a knob could be accepted and do nothing
DOCTOR_CONFIGS = [
    "configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.yml",  # every R-CNN knob, the dropout head swapped in
    "configs/gn/faster_rcnn_r50_fpn_gn_2x_coco.yml",  # XConvNormHead: no dropout (the swap would replace it)
    "configs/mot/jde/jde_darknet53_30e_576x320.yml",  # anchors scaled in the head and in Gt2JDETargetThres
    "configs/convnext/ppyoloe_convnext_tiny_36e_coco.yml",  # milestone 36 of 36 epochs: no gamma
    "configs/mot/mcfairmot/mcfairmot_hrnetv2_w18_dlafpn_30e_576x320_bdd100k_mcmot.yml",  # use_warmup: false
    "configs/ppyoloe/ppyoloe_crn_s_300e_coco.yml",  # LinearWarmup by epochs
    "configs/yolov3/yolov3_mobilenet_v1_270e_coco.yml",
    "configs/ssd/ssd_mobilenet_v1_300_120e_voc.yml",  # gamma a list, one factor per stage: no one-number gamma
    "configs/sniper/ppyolo_r50vd_dcn_1x_sniper_visdrone.yml",  # gamma 0: inside the range, which is not log
]


def _base_closure(root, rel):
    """A config and every file its _BASE_ chain reads, relative to the checkout."""
    path = root / rel
    bases = config_io.load_text(path.read_text()).get("_BASE_") or []
    files = [rel]
    for base in [bases] if isinstance(bases, str) else bases:
        files += _base_closure(root, os.path.relpath(os.path.normpath(path.parent / base), root))
    return files


DOCTOR_RUN = """
import json, sys
from paddle_autotune_plugins.adapters.paddledet.adapter import DetAdapter
counts, failures = DetAdapter().doctor_configs(sys.argv[1])
print("DOCTOR " + json.dumps([counts, failures]))
"""


@pytest.mark.parametrize("name", list(CHECKOUTS))
def test_doctor_counts_a_config_only_where_every_preset_knob_acts(name, tmp_path):
    root = checkout_root(name)
    keep = {f for rel in DOCTOR_CONFIGS for f in _base_closure(root, rel)}
    mini = tmp_path / name  # the checkout's ppdet, and only these configs
    (mini / "configs").mkdir(parents=True)
    os.symlink(root / "ppdet", mini / "ppdet")
    for rel in keep:
        (mini / rel).parent.mkdir(parents=True, exist_ok=True)
        (mini / rel).write_text((root / rel).read_text())
    proc = subprocess.run([PYTHON, "-c", DOCTOR_RUN, str(mini)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=900)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("DOCTOR ")), None)
    assert line, proc.stderr[-3000:]
    counts, failures = json.loads(line[7:])
    assert "the checkout's ppdet" in failures[0]
    acts = next(v for k, v in counts.items() if k.startswith("every preset knob acts"))
    # the configs and the full configs their _BASE_ chains include (ppyoloe_crn_s reads ppyoloe_crn_l's)
    assert acts == counts["total"] >= len(DOCTOR_CONFIGS) and len(failures) == 1, failures
    assert counts["a preset range misses the config's value (goal 0)"] == 0  # issue 28: counted, and none


def _reports(trial_dir):
    lines = [json.loads(l) for l in (trial_dir / "metrics.jsonl").read_text().splitlines() if l.strip()]
    used = {}
    for line in lines:
        used.update(line.get("used", {}))
    return [l for l in lines if "metrics" in l], used


# On top of det-nms-anchor: the score threshold may go up to 0.99, and the trial right after the baseline
# is the clearly bad config that keeps only detections scored 0.99 or more (none, after one epoch: AP 0).
PRUNE_SPACE = """\
BBoxPostProcess.nms.score_threshold: {low: 0.001, high: 0.99, log: true}
enqueue:
  - {BBoxPostProcess.nms.score_threshold: 0.99}
"""


@pytest.mark.parametrize("name", list(CHECKOUTS))
def test_short_study_through_the_checkouts_own_train_py(name, tmp_path):
    checkout = copy_checkout(name, tmp_path)
    config = tiny_yolov3(tmp_path / "cfg", epochs=2, num_val=16, data=SMALL_DATA)
    space = tmp_path / "prune_space.yaml"
    space.write_text(PRUNE_SPACE)
    out = tmp_path / "out"
    start = time.time()
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", "tools/train.py", "-c", str(config), "--eval",
                           "-o", "epoch=2", "--autotune", "--preset", "det-nms-anchor", "--space", str(space),
                           "--trials", "3", "--pruner", "asha:1", "--seed", "0", "--out", str(out)],
                          cwd=checkout, capture_output=True, text=True, timeout=1200)
    TIMINGS[f"{name} study"] = round(time.time() - start, 1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "knob does not act" not in proc.stderr, proc.stderr[-3000:]
    rows = read_trials(out)
    assert len(rows) == 3 and all(r["state"] in ("COMPLETE", "PRUNED") for r in rows), rows
    by_number = {int(r["number"]): r for r in rows}
    first = {n: _reports(out / f"trial_{n:04d}")[0][0]["metrics"]["bbox_ap"] for n in (0, 1)}
    # the baseline found digits at epoch 1; the enqueued threshold-0.99 trial found none, was cut by ASHA
    # at its first rung (asha:1) and never trained its second epoch: with pruning doing nothing it would
    # be COMPLETE with 2 evaluations
    assert by_number[0]["state"] == "COMPLETE" and first[0] > 0.0, (rows, first)
    used_1 = _reports(out / "trial_0001")[1]
    assert used_1["BBoxPostProcess.nms.score_threshold"] == pytest.approx(0.99)
    assert by_number[1]["state"] == "PRUNED" and first[1] < first[0], (rows, first)
    assert len(_reports(out / "trial_0001")[0]) == 1
    TIMINGS[f"{name} bbox_ap at epoch 1 (baseline, threshold-0.99 trial)"] = (round(first[0], 4), first[1])
    for r in rows:
        trial = out / f"trial_{int(r['number']):04d}"
        assert f"{checkout}/tools/train.py" in (trial / "command.txt").read_text()
        evals, used = _reports(trial)
        assert [e["step"] for e in evals] == list(range(1, len(evals) + 1))  # a metric at every eval
        assert len(evals) == 2 if r["state"] == "COMPLETE" else 1 <= len(evals) < 2
        written = config_io.load(trial / "config.yml")
        tuned = ["BBoxPostProcess.nms.nms_threshold", "BBoxPostProcess.nms.score_threshold", "YOLOv3Head.anchors",
                 "TrainReader.batch_transforms.6.Gt2YoloTarget.anchors", "LearningRate.base_lr",
                 "LearningRate.schedulers.1.steps"]
        assert not knobs.unchecked(used, tuned), used  # the trainer's own values, every knob of the study
        assert knobs.check(written, used, tuned) == [], used
        assert used["TrainReader.batch_size"] == 8
    assert (out / "best" / "best_model.pdparams").exists()
    assert not list(out.glob("trial_*/**/*.pdparams"))  # the other trials' weights are gone
    # best_config.yaml trains with this checkout: its own tools/train.py where it runs on Paddle 3 unaided
    run = ([PYTHON, "tools/train.py"] if CHECKOUTS[name] else
           [PYTHON, "-m", "paddle_autotune_plugins.run_trial", "det", "tools/train.py"])
    (tmp_path / "retrain_eval").mkdir()
    start = time.time()
    retrain = subprocess.run(run + ["-c", str(out / "best_config.yaml"), "--eval", "-o", "epoch=1",
                                    f"save_dir={tmp_path / 'retrain'}", f"output_eval={tmp_path / 'retrain_eval'}"],
                             cwd=checkout, capture_output=True, text=True, timeout=600,
                             env={k: v for k, v in os.environ.items() if not k.startswith("PADDLE_AUTOTUNE")})
    TIMINGS[f"{name} retrain"] = round(time.time() - start, 1)
    assert retrain.returncode == 0, retrain.stderr[-3000:]
    assert "Average Precision" in retrain.stdout + retrain.stderr
    print(f"\n[timing] {TIMINGS}", file=sys.stderr)
