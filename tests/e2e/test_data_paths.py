"""A study whose data is missing stops before trial 0 (exit 2, one line, nothing in --out): each suite's
data keys, resolved as its trainer resolves them (issue 27)."""
import subprocess

from conftest import PYTHON, autotune, checkout_root
from data_paths_checks import assert_refused
import pytest


def test_the_readme_clas_command_on_a_checkout_without_imagenet(tmp_path):
    """The README's PaddleClas command as written, from a checkout that has no ./dataset/ILSVRC2012."""
    root = checkout_root("PaddleClas-develop")
    out = tmp_path / "tune_resnet18"
    proc = autotune(["tools/train.py", "-c", "ppcls/configs/ImageNet/ResNet/ResNet18.yaml", "-o", "Global.epochs=20",
                     "--autotune", "--preset", "clas-basic", "--trials", "30", "--out", str(out)], cwd=root,
                    timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert "data not found: DataLoader.Train.dataset.image_root = ./dataset/ILSVRC2012/" in lines[0]
    assert "-o DataLoader.Train.dataset.image_root=PATH" in lines[0] and not out.exists()


@pytest.mark.parametrize("config, key", [
    ("configs/rec/rec_mv3_none_bilstm_ctc.yml", "Train.dataset.data_dir = ./train_data/data_lmdb_release/training/"),
    ("configs/det/det_mv3_db.yml", "Train.dataset.data_dir = ./train_data/icdar2015/text_localization/")])
def test_ocr_names_the_missing_data_of_a_shipped_config(tmp_path, config, key):
    """PaddleOCR's shipped configs read ./train_data from the checkout: without it, one line before trial 0."""
    root = checkout_root("PaddleOCR-release-2.10")
    out = tmp_path / "out"
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", "tools/train.py", "-c", config, "--autotune",
                           "--preset", "ocr-lr", "--out", str(out)], cwd=root, capture_output=True, text=True,
                          timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert_refused(proc.returncode, lines[-1:], out, key, "-o Train.dataset.data_dir=PATH")
    assert not [line for line in lines if "Traceback" in line], proc.stderr
