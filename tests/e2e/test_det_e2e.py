"""PaddleDetection through the adapter: real ppdet 2.6.0 trainings on Paddle 3 on the digits detection set."""
import json
import pathlib
import re
import subprocess
import sys
import time

from conftest import PYTHON, autotune, read_trials, trial_lines
import pytest
import yaml

from paddle_autotune_plugins.adapters.paddledet import config_io
from paddle_autotune_plugins.adapters.paddledet.digits_det import write_demo_config

ENTRY = "paddle_autotune_plugins.adapters.paddledet.train"
# The det demo test: its first 6 trials (base_lr 0.01, then with --seed 0: 0.047, 0.093, 0.059, 0.047 and
# one more, 0.005-0.24 as the two workers' trials finish). One training's bbox AP moves by about +-0.1 from one random init to the next: measured
# 2026-12-01 on 2 shared cores, 6 studies' baselines 0.127-0.294 (base_lr 0.01-0.03) and bests 0.271-0.485,
# best minus baseline 0.067-0.301, while detectors that learned nothing score at most 0.031 (chance_ap).
# So: the baseline above 2.5x chance, the best 0.05 above the baseline.
DEMO_TEST_TRIALS = 4
CHANCE_FACTOR = 2.5
BEST_MARGIN = 0.05


def small_config(tmp_path, name="faster_rcnn_r18_digits", epochs=2):
    return write_demo_config(tmp_path / "cfg", config=name, epochs=epochs, num_train=60, num_val=20)


def test_faster_rcnn_study_with_det_nms_anchor(tmp_path):
    out = tmp_path / "out"
    proc = autotune(["tune", "--suite", "det", "-c", str(small_config(tmp_path)), "--preset", "det-nms-anchor",
                     "--trials", "3", "--pruner", "asha", "--seed", "0", "--out", str(out)], timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_trials(out)
    assert len(rows) == 3 and rows[0]["reason"].startswith("baseline")
    assert all(r["state"] in ("COMPLETE", "PRUNED") for r in rows), rows
    for r in rows:  # bbox AP reported at every eval (every epoch here) until the trial ended
        reports, used = trial_lines(out / f"trial_{int(r['number']):04d}")
        assert used and "BBoxPostProcess.nms.nms_threshold" in used[0]  # the built trainer's own values
        assert [rep["step"] for rep in reports] == list(range(1, len(reports) + 1)) and reports
        assert all(0.0 <= rep["metrics"]["bbox_ap"] <= 1.0 for rep in reports)
        assert len(reports) == 2 if r["state"] == "COMPLETE" else len(reports) < 2
    heads = [yaml.safe_load(_untagged(out / f"trial_{i:04d}" / "config.yml"))["BBoxHead"]["head"] for i in range(3)]
    assert heads[0] == "TwoFCHead" and "TwoFCHeadDropout" in heads[1:]
    assert (out / "best" / "best_model.pdparams").exists()
    assert (out / "trial_0000" / "output" / "eval" / "bbox.json").exists()  # bbox.json stays in the trial folder
    assert not list(out.glob("trial_*/**/*.pdparams"))
    # best_config.yaml trains with ppdet's own Trainer (the plugin's entry registers the dropout head)
    (tmp_path / "retrain_eval").mkdir()
    retrain = subprocess.run([PYTHON, "-m", ENTRY, "-c", str(out / "best_config.yaml"), "--eval", "-o", "epoch=1",
                              f"save_dir={tmp_path / 'retrain'}", f"output_eval={tmp_path / 'retrain_eval'}"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert retrain.returncode == 0, retrain.stderr[-3000:]
    assert "Average Precision" in retrain.stdout + retrain.stderr


def chance_ap(data, boxes_per_image=(1, 10, 100), seed=0):
    """bbox AP of detectors that learned nothing, on the val set of `data` (pycocotools, as ppdet scores):
    boxes of the training boxes' sizes at random places, random scores, and the mean training box. The
    highest of these is what a trained detector must clearly beat."""
    import contextlib
    import io

    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    train = json.loads(pathlib.Path(data.path(data.coco_train)).read_text())
    size = {im["id"]: (im["width"], im["height"]) for im in train["images"]}
    rel = np.array([[a["bbox"][0] / size[a["image_id"]][0], a["bbox"][1] / size[a["image_id"]][1],
                     a["bbox"][2] / size[a["image_id"]][0], a["bbox"][3] / size[a["image_id"]][1]]
                    for a in train["annotations"]])
    rng = np.random.RandomState(seed)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(data.path(data.coco_val))
    guesses = {"mean box": lambda: [(rel.mean(0), 1.0)]}
    for k in boxes_per_image:
        def random_boxes(k=k):
            picked = rel[rng.randint(len(rel), size=k)]
            picked[:, 0] = rng.uniform(0, 1 - picked[:, 2])
            picked[:, 1] = rng.uniform(0, 1 - picked[:, 3])
            return [(b, float(rng.rand())) for b in picked]
        guesses[f"{k} random boxes"] = random_boxes
    scores = {}
    for name, guess in guesses.items():
        dets = [{"image_id": im["id"], "category_id": 1, "score": score,
                 "bbox": [b[0] * im["width"], b[1] * im["height"], b[2] * im["width"], b[3] * im["height"]]}
                for im in gt.dataset["images"] for b, score in guess()]
        with contextlib.redirect_stdout(io.StringIO()):
            ev = COCOeval(gt, gt.loadRes(dets), "bbox")
            ev.evaluate(), ev.accumulate(), ev.summarize()
        scores[name] = float(ev.stats[0])
    return scores


def _final_ap(trial_dir):
    reports = trial_lines(trial_dir)[0]
    return reports[-1]["metrics"]["bbox_ap"] if reports else None


def test_trials_of_one_config_train_alike_seeded_by_the_study(tmp_path):
    """A ppdet config has no seed key: the hooks seed each trial with the study's --seed (paddle, random,
    numpy, as ppdet's own --enable_ce seeds with 0) before the Trainer builds, so two trials of one config
    report the same AP. Unseeded, their random inits end apart."""
    from paddle_autotune_plugins.adapters.paddledet.digits_det import DEMO

    config = write_demo_config(tmp_path / "cfg", **dict(DEMO, epochs=2))  # the demo's data: it finds digits early
    lr = config_io.load(config)["LearningRate"]["base_lr"]
    space = tmp_path / "space.yaml"
    space.write_text(f"LearningRate.base_lr: {{values: [{lr}]}}\n")
    out = tmp_path / "out"
    proc = autotune(["tune", "--suite", "det", "-c", str(config), "--space", str(space), "--trials", "2",
                     "--pruner", "none", "--seed", "3", "--out", str(out)], timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    aps = [[rep["metrics"]["bbox_ap"] for rep in trial_lines(out / f"trial_{n:04d}")[0]] for n in (0, 1)]
    assert aps[0] and aps[0] == aps[1], aps
    assert any(ap > 0 for ap in aps[0]), aps  # it found digits: equal zeros would prove nothing


def test_det_demo_learns_and_the_tuning_beats_its_baseline(tmp_path):
    """`paddle-autotune demo --suite det` as a user runs it (fewer trials): the baseline learns well above
    chance, and the study finds a clearly better learning rate."""
    from paddle_autotune_plugins.adapters.paddledet.digits_det import DEMO, ensure_dataset

    out = tmp_path / "demo"
    start = time.time()
    proc = autotune(["demo", "--suite", "det", "--out", str(out), "--trials", str(DEMO_TEST_TRIALS)], timeout=1500)
    elapsed = time.time() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_trials(out)
    assert len(rows) == DEMO_TEST_TRIALS and rows[0]["reason"].startswith("baseline"), rows
    # the study's values (what its summary compares), read apart from the trials' own evaluations
    values = {int(r["number"]): float(r["value"]) for r in rows if r["state"] == "COMPLETE"}
    assert 0 in values, rows
    for number, value in values.items():
        reports = [rep["metrics"]["bbox_ap"] for rep in trial_lines(out / f"trial_{number:04d}")[0]]
        assert len(reports) == 8 and value == pytest.approx(max(reports), abs=1e-6), (number, reports)
    chance = chance_ap(ensure_dataset(**{k: v for k, v in DEMO.items() if k != "config"}))
    baseline, best = values[0], max(values.values())
    print(f"\n[det demo] {elapsed:.0f} s, chance {chance}, baseline {baseline:.3f} (last epoch "
          f"{_final_ap(out / 'trial_0000'):.3f}), best {best:.3f}, states {[r['state'] for r in rows]}",
          file=sys.stderr)
    assert baseline > CHANCE_FACTOR * max(chance.values()), (baseline, chance)
    assert best >= baseline + BEST_MARGIN, (baseline, values)
    assert (out / "best" / "best_model.pdparams").exists()
    # the demo's command is recorded whole, so `export` loads it (it stopped on `-c/--config is required`)
    exported = autotune(["export", "--out", str(out)])
    assert exported.returncode == 0, exported.stderr[-3000:]
    best_number = max(values, key=values.get)
    assert (out / "export" / f"trial_{best_number:04d}_config.yml").read_text() == \
        (out / "best_config.yaml").read_text()


def _untagged(path):
    """A flattened trial config as plain YAML (tags dropped) for simple reads in the tests."""
    return re.sub(r"!\w+", "", path.read_text())


ARCHITECTURES = {
    "faster_rcnn_r18_digits": ("LearningRate.base_lr", [], "bbox_ap"),
    "ppyoloe_tiny_digits": ("LearningRate.base_lr", [], "bbox_ap"),
    # TaskAligned assigner from the first epoch (PP-YOLOE already covers ATSS)
    "picodet_tiny_digits": ("LearningRate.base_lr", ["-o", "PicoHeadV2.static_assigner_epoch=0"], "bbox_ap"),
    "yolov3_mobilenet_v1_digits": ("LearningRate.base_lr", [], "bbox_ap"),
    "yolov3_mobilenet_v1_digits_voc": ("LearningRate.base_lr", [], "bbox_map"),
}


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_each_architecture_trains_and_evaluates_through_the_adapter(name, tmp_path):
    path, extra, metric = ARCHITECTURES[name]
    space = tmp_path / "space.yaml"
    space.write_text(f"{path}: {{values: [0.005]}}\n")
    out = tmp_path / "out"
    proc = autotune(["tune", "--suite", "det", "-c", str(small_config(tmp_path, name, epochs=1))] + extra +
                    ["--space", str(space), "--trials", "1", "--out", str(out)], timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_trials(out)
    assert rows[0]["state"] == "COMPLETE", rows
    reports = trial_lines(out / "trial_0000")[0]
    assert len(reports) == 1 and 0.0 <= reports[0]["metrics"][metric] <= 1.0


def test_a_resumed_study_and_export_keep_ppdets_tags(tmp_path):
    """The study stores each best trial's config as JSON, which has no `!Tag`: best_config.yaml rewritten on
    resume, and a trial exported where its folder is gone, came back with `- {max_epochs: 1}` where ppdet needs
    `- !CosineDecay {max_epochs: 1}`, a config the suite could not train."""
    out = tmp_path / "out"
    command = ["tune", "--suite", "det", "-c", str(small_config(tmp_path, "picodet_tiny_digits", epochs=1)),
               "--preset", "det-lr", "--trials", "1", "--out", str(out)]
    first = autotune(command, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    written = (out / "best_config.yaml").read_text()
    assert "!CosineDecay" in written and "!LinearWarmup" in written, written
    again = autotune(command, timeout=900)  # the same command: resumes, trains nothing, re-agrees best_config.yaml
    assert again.returncode == 0, again.stderr[-3000:]
    assert (out / "best_config.yaml").read_text() == written
    (out / "trial_0000" / "config.yml").unlink()  # as on a machine that has only the storage
    exported = autotune(["export", "--out", str(out), "--trial", "0"])
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert (out / "export" / "trial_0000_config.yml").read_text() == written
