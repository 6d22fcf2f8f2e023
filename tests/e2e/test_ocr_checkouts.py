"""PaddleOCR end to end, on the release/2.10 and main checkouts (copies, as a user's clone): a short study of
the small CRNN on rendered digit strings through the checkout's own tools/train.py, then its
best_config.yaml trained again with that tools/train.py, unaided.

The reports in each trial's metrics.jsonl are checked against the trainer's own "cur metric" lines (one
report per evaluation; the "best metric" lines and fps are no evaluations), the knobs read back from the
live trainer against the trial's config. `doctor --configs` on each copy (no training) finds every preset
knob acting in at least 95% of the shipped configs. The shipped DB detector, shrunk, reports hmean per
evaluation and proves its post-process thresholds act.
"""
import json
import os
import re
import subprocess

from conftest import PYTHON, copy_checkout, read_trials, trial_lines
import pytest
import yaml

from paddle_autotune_plugins.adapters.paddleocr.digits_ocr import write_demo_config

CUR_METRIC = re.compile(r"cur metric, acc: ([\d.e-]+), norm_edit_dis: ([\d.e-]+), fps")
EVERY = 2  # evaluations every 2 iterations: 64 images at batch 16 evaluate at 2, 4, 6, 8; at batch 32 at 2, 4
TUNED = ["Optimizer.lr.learning_rate", "Optimizer.regularizer.factor", "Train.loader.batch_size_per_card"]


@pytest.fixture(scope="module", params=["PaddleOCR-release-2.10", "PaddleOCR-main"])
def study(request, tmp_path_factory):
    base = tmp_path_factory.mktemp("ocr")
    root = copy_checkout(request.param, base)
    config = write_demo_config(base / "cfg", epochs=2, num_train=64, num_val=20)
    space = base / "space.yaml"  # the batch size too, read from the trainer's live loader
    space.write_text(yaml.safe_dump({"Train.loader.batch_size_per_card": {"choices": [16, 32]}}))
    out = base / "out"
    cmd = [PYTHON, "-m", "paddle_autotune_plugins", "tools/train.py", "-c", str(config), "-o",
           f"Global.eval_batch_step=[0,{EVERY}]", "Train.loader.batch_size_per_card=16", "--autotune",
           "--preset", "ocr-lr", "--preset", "ocr-regularization", "--space", str(space), "--trials", "3",
           "--pruner", "none", "--seed", "0", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=900)
    return {"root": root, "out": out, "proc": proc, "base": base}


def _at(cfg, path):
    for key in path.split("."):
        cfg = cfg[key]
    return cfg


def test_study_reports_each_evaluation_once_checks_knobs_and_keeps_the_best(study):
    out, proc = study["out"], study["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "knob does not act" not in proc.stderr, proc.stderr[-3000:]
    rows = read_trials(out)
    assert len(rows) == 3 and rows[0]["reason"].startswith("baseline")
    assert all(name in rows[0] for name in TUNED), list(rows[0])
    for row in rows:
        trial = out / f"trial_{int(row['number']):04d}"
        assert row["state"] == "COMPLETE", row
        cfg = yaml.safe_load((trial / "config.yml").read_text())
        assert cfg["Global"]["save_model_dir"] == str(trial / "output")
        assert cfg["Global"]["save_res_path"] == str(trial / "output" / "predicts.txt")
        assert (trial / "output" / "config.yml").is_file()  # PaddleOCR saved where the trial's config said
        assert (trial / "output" / "latest.states").is_file()
        own_log = (trial / "train.log").read_text()  # the trainer's own output
        logged = [tuple(float(x) for x in m.groups()) for m in CUR_METRIC.finditer(own_log)]
        reports, used = trial_lines(trial)
        iters = 64 // cfg["Train"]["loader"]["batch_size_per_card"] * 2
        assert [r["step"] for r in reports] == list(range(EVERY, iters + 1, EVERY)), (row, reports)
        assert len(logged) == len(reports) and "best metric" in own_log
        for rep, (acc, ned) in zip(reports, logged):
            assert set(rep["metrics"]) == {"acc", "norm_edit_dis"}  # no fps
            assert (rep["metrics"]["acc"], rep["metrics"]["norm_edit_dis"]) == pytest.approx((acc, ned), abs=1e-6)
        lines = [json.loads(line) for line in (trial / "metrics.jsonl").read_text().splitlines()]
        assert [x["progress"]["epoch"] for x in lines if x.get("progress", {}).get("end")] == [1, 2]  # for the ETA
        seen = {k: v for u in used for k, v in u.items()}
        for path in TUNED:  # every tuned knob read back from the live trainer equals the trial's config
            assert seen[path] == pytest.approx(_at(cfg, path), rel=1e-5), (path, seen)
    # trial 1: the config rescaled from PaddleOCR's 8 GPUs to the one CPU device (square root rule for its Adam)
    assert [r["drawn_from"] for r in rows[:2]] == ["config", "rescaled config"]
    rates = [yaml.safe_load((out / f"trial_000{n}" / "config.yml").read_text())["Optimizer"]["lr"]["learning_rate"]
             for n in (0, 1)]
    assert rates[1] == pytest.approx(rates[0] * (1 / 8) ** 0.5)
    assert "the config is written for 8 devices, a trial trains on 1" in proc.stderr
    best = out / "best"
    assert (best / "best_accuracy.pdparams").is_file() and (best / "trial.txt").is_file()
    best_number = int((best / "trial.txt").read_text().split()[1])
    assert float(rows[best_number]["value"]) == max(float(r["value"]) for r in rows)
    assert not list(out.glob("trial_*/output/*.pdparams")), "weights of trials that are not the best remain"


def test_best_config_trains_with_the_checkouts_own_train_py(study):
    assert study["proc"].returncode == 0, study["proc"].stderr[-3000:]
    root, out = study["root"], study["out"]
    best = yaml.safe_load((out / "best_config.yaml").read_text())
    assert best["Global"]["save_model_dir"] == "./output/rec_digits_crnn/"  # the user's own, back
    env = dict(os.environ)
    env.pop("PADDLE_AUTOTUNE_REPORT", None)
    retrain = subprocess.run([PYTHON, "tools/train.py", "-c", str(out / "best_config.yaml")], cwd=root,
                             capture_output=True, text=True, env=env, timeout=900)
    assert retrain.returncode == 0, retrain.stderr[-3000:]
    assert CUR_METRIC.search(retrain.stdout + retrain.stderr)
    assert (root / "output" / "rec_digits_crnn" / "best_accuracy.pdparams").is_file()
    assert "[autotune]" not in retrain.stdout + retrain.stderr  # no hook of the plugin was involved


@pytest.mark.parametrize("name", ["PaddleOCR-release-2.10", "PaddleOCR-main"])
def test_doctor_finds_every_preset_knob_acting_in_most_shipped_configs(name, tmp_path):
    """No training: every config's optimizer, schedule and DB post-process built by the checkout's ppocr, and
    no preset range that leaves out the config's own value."""
    from conftest import autotune

    root = copy_checkout(name, tmp_path)
    proc = autotune(["doctor", "--configs", str(root)], timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    total = int(re.search(r"ocr configs under .*: (\d+)", proc.stdout).group(1))
    acting = int(re.search(r"every knob acts [^:]*: (\d+)/", proc.stdout).group(1))
    missed = int(re.search(r"a preset range misses the config's value [^:]*: (\d+)/", proc.stdout).group(1))
    assert total > 100 and acting >= 0.95 * total, proc.stdout[-3000:]
    assert missed == 0, proc.stdout[-3000:]  # every range around the config's own value (ocr-all, ocr-det-all)


def _det_data(folder, rng):
    """Digit strings drawn at known places on 160 px canvases, in PaddleOCR's detection label format."""
    from PIL import Image, ImageDraw, ImageFont

    (folder / "img").mkdir(parents=True)
    for split, count in (("train", 24), ("val", 6)):
        lines = []
        for i in range(count):
            image = Image.new("RGB", (160, 160), (220, 220, 220))
            draw, boxes = ImageDraw.Draw(image), []
            for row in range(2):
                text = "".join(str(d) for d in rng.randint(0, 10, size=rng.randint(2, 5)))
                at = (int(rng.randint(5, 70)), 10 + 70 * row + int(rng.randint(0, 30)))
                font = ImageFont.load_default(size=int(rng.randint(20, 30)))
                left, top, right, bottom = draw.textbbox(at, text, font=font)
                draw.text(at, text, fill=(20, 20, 20), font=font)
                boxes.append({"transcription": text, "points": [[left, top], [right, top], [right, bottom],
                                                                [left, bottom]]})
            image.save(folder / f"img/{split}_{i}.png")
            lines.append(f"img/{split}_{i}.png\t{json.dumps(boxes)}\n")
        (folder / f"{split}.txt").write_text("".join(lines))
    return folder


def test_db_detector_reports_hmean_and_its_post_process_thresholds_act(tmp_path):
    """The shipped det_mv3_db.yml (release/2.10) on drawn digit strings, shrunk with -o to 160 px: each
    evaluation's precision/recall/hmean reported once, the DB thresholds read back from the live post-process."""
    import numpy as np

    root = copy_checkout("PaddleOCR-release-2.10", tmp_path)
    data = _det_data(tmp_path / "det", np.random.RandomState(0))
    out = tmp_path / "out"
    items = ["Global.use_gpu=False", "Global.epoch_num=2", "Global.eval_batch_step=[0,6]",
             "Global.pretrained_model=null", f"Train.dataset.data_dir={data}",
             f"Train.dataset.label_file_list=[{data}/train.txt]", f"Eval.dataset.data_dir={data}",
             f"Eval.dataset.label_file_list=[{data}/val.txt]",
             "Train.dataset.transforms.3.EastRandomCropData.size=[160,160]",
             "Eval.dataset.transforms.2.DetResizeForTest.image_shape=[160,160]", "Train.loader.batch_size_per_card=4",
             "Train.loader.num_workers=0", "Eval.loader.num_workers=0"]
    command = ["tools/train.py", "-c", "configs/det/det_mv3_db.yml", "-o"] + items + [
        "--autotune", "--preset", "ocr-db-postprocess", "--trials", "2", "--pruner", "none", "--seed", "0",
        "--out", str(out)]
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins"] + command, cwd=root, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "hmean" in proc.stderr and "knob does not act" not in proc.stderr, proc.stderr[-3000:]
    for row in read_trials(out):
        trial = out / f"trial_{int(row['number']):04d}"
        reports, used = trial_lines(trial)
        assert [r["step"] for r in reports] == [6, 12]  # 24 images at batch 4: 6 iterations an epoch
        assert all(set(r["metrics"]) == {"precision", "recall", "hmean"} for r in reports)
        assert (trial / "train.log").read_text().count("cur metric") == 2
        cfg = yaml.safe_load((trial / "config.yml").read_text())
        seen = {k: v for u in used for k, v in u.items()}
        for knob in ("thresh", "box_thresh", "unclip_ratio"):
            assert seen[f"PostProcess.{knob}"] == pytest.approx(cfg["PostProcess"][knob]), (knob, seen)
    assert (out / "best" / "best_accuracy.pdparams").is_file()
