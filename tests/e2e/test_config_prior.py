"""Issue 28: the user's config as the prior - rescaled to the user's devices, ranges centred on it."""

import textwrap

from conftest import autotune, checkout_root, read_trials
import pytest
import yaml

MOBILENET = "ppcls/configs/ImageNet/MobileNetV3/MobileNetV3_small_x0_35.yaml"


def test_mobilenetv3_on_one_device_dry_run_and_trial_1(tmp_path):
    """PaddleClas develop's MobileNetV3_small_x0_35 (lr 1.3, batch 512 a GPU, 4 GPUs) on the CPU: the range
    is centred on 1.3 x 1/4 = 0.325 (linear rule, Momentum) and trial 1 trains that config."""
    from paddle_autotune_plugins.adapters.paddleclas.digits import ensure_digits

    root = checkout_root("PaddleClas-develop")
    command = ["tools/train.py", "-c", MOBILENET, "--autotune", "--preset", "clas-lr", "--out", str(tmp_path / "dry"),
               "--dry-run"]
    dry = autotune(command, cwd=root, timeout=300)  # no ImageNet here: shown in full, then refused as a study would be
    assert dry.returncode == 2 and "error: data not found: DataLoader.Train.dataset.image_root" in dry.stderr
    assert "Optimizer.lr.learning_rate: float [0.0325, 3.25] log; centred on 0.325 (the config's 1.3, rescaled)" \
        in dry.stdout
    assert "learning rate 1.3 -> 0.325 (x0.25, linear rule for Momentum" in dry.stdout
    assert "trial 0 (the config as given)" in dry.stdout and not (tmp_path / "dry" / "trial_0000").exists()
    # two short trainings on 32 digits (a missing data set, or a failing baseline, would stop the study before
    # trial 1): what matters is what each was written with
    digits = ensure_digits()
    small = tmp_path / "digits_32.txt"
    small.write_text("".join((digits / "train_list.txt").read_text().splitlines(True)[:32]))
    data = [f"DataLoader.{mode}.dataset.{key}={value}" for mode in ("Train", "Eval")
            for key, value in (("image_root", digits), ("cls_label_path", small))]
    out = tmp_path / "study"
    run = autotune(["tools/train.py", "-c", MOBILENET, "-o", "Global.epochs=1"] + [a for d in data for a in ("-o", d)]
                   + ["--autotune", "--preset", "clas-lr", "--out", str(out), "--trials", "2"], cwd=root, timeout=600)
    assert "trial 1 runs the config rescaled to 1 device(s)" in run.stderr, run.stderr[-2000:]
    written = [yaml.safe_load((out / f"trial_000{n}" / "config.yaml").read_text()) for n in (0, 1)]
    assert [w["Optimizer"]["lr"]["learning_rate"] for w in written] == [1.3, pytest.approx(0.325)]
    assert [r["drawn_from"] for r in read_trials(out)] == ["config", "rescaled config"]


def test_rtdetr_dry_run_prints_the_rescaled_config_in_ppdets_own_yaml(tmp_path):
    """PaddleDetection develop's RT-DETR (AdamW 1e-4, 8 GPUs) on one device: the rescaled config keeps its
    `!PiecewiseDecay` / `!LinearWarmup` objects (a plain YAML dump could not write them and the dry run
    ended in a traceback), is written where it can be trained from, and the data check still has the last word."""
    root = checkout_root("PaddleDetection-develop")
    out = tmp_path / "dry"
    dry = autotune(["tools/train.py", "-c", "configs/rtdetr/rtdetr_r18vd_6x_coco.yml", "--eval", "--autotune",
                    "--preset", "det-nms-anchor", "--out", str(out), "--dry-run"], cwd=root, timeout=300)
    assert dry.returncode == 2 and "error: data not found: TrainDataset.dataset_dir" in dry.stderr, dry.stderr[-2000:]
    assert "learning rate 0.0001 -> 3.536e-05 (x0.3536, square root rule for AdamW" in dry.stdout
    rescaled = out / "dry-run" / "rescaled" / "config.yml"
    assert f"written to {rescaled}" in dry.stdout
    text = rescaled.read_text()
    assert "- !PiecewiseDecay" in text and "!LinearWarmup" in text and textwrap.indent(text, "    ") in dry.stdout
    assert "base_lr: 3.535533905932738e-05" in text
