"""Issue 28: the user's config as the prior - rescaled to the user's devices, ranges centred on it."""
import math

import pytest
import yaml
from conftest import autotune, checkout_root, read_trials

from paddle_autotune_plugins import rescale
from paddle_autotune_plugins.adapter import Task, get_adapter

MOBILENET = "ppcls/configs/ImageNet/MobileNetV3/MobileNetV3_small_x0_35.yaml"


def clas_task(optimizer, lr, schedule="Cosine"):
    cfg = {"Global": {"epochs": 4}, "Arch": {"name": "MobileNetV3_small_x0_35"},
           "Optimizer": {"name": optimizer, "lr": {"name": schedule, "learning_rate": lr}},
           "DataLoader": {"Train": {"sampler": {"batch_size": 512}}}}
    return Task(get_adapter("clas"), cfg)


@pytest.mark.parametrize("optimizer, reference, factor", [
    ("Momentum", 4, 0.25),  # linear: a quarter of the total batch, a quarter of the rate
    ("AdamW", 8, math.sqrt(1 / 8)),  # square root for the Adam family, whose configs ppcls writes for 8 GPUs
])
def test_clas_config_rescaled_to_one_device(optimizer, reference, factor):
    result = rescale.rescale(clas_task(optimizer, 1.3), devices=1)
    assert (result.reference, result.devices, result.paths) == (reference, 1, ["Optimizer.lr.learning_rate"])
    assert result.config["Optimizer"]["lr"]["learning_rate"] == pytest.approx(1.3 * factor)
    assert result.given["Optimizer"]["lr"]["learning_rate"] == 1.3  # the task's config is left as given
    assert f"-> {1.3 * factor:.4g}" in result.line()


def test_no_rescale_on_the_reference_devices_or_without_a_known_rule():
    same = rescale.rescale(clas_task("Momentum", 1.3), devices=4)
    assert not same.moved and "stays as configured" in same.line()
    unknown = rescale.rescale(clas_task("Ftrl", 1.3), devices=1)
    assert not unknown.moved and "no known scaling rule" in unknown.line()
    nlp = rescale.rescale(Task(get_adapter("nlp"), {"learning_rate": 5e-5}), devices=1)
    assert not nlp.moved and nlp.line() is None  # PaddleNLP names no reference device count


def test_det_adamw_config_rescaled_by_square_root():
    cfg = {"LearningRate": {"base_lr": 1e-4}, "OptimizerBuilder": {"optimizer": {"type": "AdamW"}}}
    result = rescale.rescale(Task(get_adapter("det"), cfg), devices=2)
    assert result.config["LearningRate"]["base_lr"] == pytest.approx(1e-4 * 0.5)  # sqrt(2 / 8)


def test_mobilenetv3_on_one_device_dry_run_and_trial_1(tmp_path):
    """PaddleClas develop's MobileNetV3_small_x0_35 (lr 1.3, batch 512 a GPU, 4 GPUs) on the CPU: the range
    is centred on 1.3 x 1/4 = 0.325 (linear rule, Momentum) and trial 1 trains that config."""
    root = checkout_root("PaddleClas-develop")
    command = ["tools/train.py", "-c", MOBILENET, "--autotune", "--preset", "clas-lr", "--out", str(tmp_path / "dry"),
               "--dry-run"]
    dry = autotune(command, cwd=root, timeout=300)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "Optimizer.lr.learning_rate: float [0.0325, 3.25] log; centred on 0.325 (the config's 1.3, rescaled)" \
        in dry.stdout
    assert "learning rate 1.3 -> 0.325 (x0.25, linear rule for Momentum" in dry.stdout
    assert "trial 0 (the config as given)" in dry.stdout and not (tmp_path / "dry" / "trial_0000").exists()
    # two trials that stop at once (no image list there): what matters is what each was written with
    out = tmp_path / "study"
    run = autotune(["tools/train.py", "-c", MOBILENET, "-o", "DataLoader.Train.dataset.cls_label_path=/nonexistent",
                    "--autotune", "--preset", "clas-lr", "--out", str(out), "--trials", "2"], cwd=root, timeout=600)
    assert "trial 1 runs the config rescaled to 1 device(s)" in run.stderr, run.stderr[-2000:]
    written = [yaml.safe_load((out / f"trial_000{n}" / "config.yaml").read_text()) for n in (0, 1)]
    assert [w["Optimizer"]["lr"]["learning_rate"] for w in written] == [1.3, pytest.approx(0.325)]
    assert [r["drawn_from"] for r in read_trials(out)] == ["config", "rescaled config"]
