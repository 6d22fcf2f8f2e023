"""A study whose data is missing stops before trial 0 (exit 2, one line, nothing in --out): each suite's
data keys, resolved as its trainer resolves them (issue 27)."""
import os
import shutil
import subprocess
from types import SimpleNamespace

import pytest
from conftest import PYTHON, REPO, autotune, checkout_root

from paddle_autotune_plugins import cli, data_paths
from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.adapters.paddleocr.adapter import OcrAdapter

CONFIGS = REPO / "adapters"


def tune(capsys, monkeypatch, cwd, args):
    """`paddle-autotune tune ARGS` in cwd, in this process: (exit code, stderr lines)."""
    monkeypatch.chdir(cwd)
    code = cli.main(["tune"] + args)
    return code, capsys.readouterr().err.splitlines()


def assert_refused(code, lines, out, *parts):
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("paddle-autotune: error: data not found: ")
    for part in parts:
        assert part in lines[0], lines[0]
    assert not out.exists()


def test_clas_names_the_missing_list_file_and_its_override(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    (tmp_path / "dataset" / "digits_clas").mkdir(parents=True)  # image_root is there, the list file is not
    code, lines = tune(capsys, monkeypatch, tmp_path, ["--suite", "clas", "-c", str(CONFIGS / "paddleclas/configs/"
                                                       "digits_mobilenet.yaml"), "--preset", "clas-basic",
                                                       "--out", str(out)])
    assert_refused(code, lines, out, "DataLoader.Train.dataset.cls_label_path = dataset/digits_clas/train_list.txt",
                   f"looks for {tmp_path}/dataset/digits_clas/train_list.txt",
                   "-o DataLoader.Train.dataset.cls_label_path=PATH")


def test_det_joins_anno_path_under_dataset_dir(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    images = tmp_path / "dataset" / "digits_det" / "JPEGImages"
    images.mkdir(parents=True)
    code, lines = tune(capsys, monkeypatch, tmp_path, ["--suite", "det", "-c", str(CONFIGS / "paddledet/configs/"
                                                       "picodet_digits_demo.yml"), "--eval", "--preset", "det-nms",
                                                       "--out", str(out)])
    assert_refused(code, lines, out, "TrainDataset.anno_path = annotations/instances_train.json",
                   f"looks for {tmp_path}/dataset/digits_det/annotations/instances_train.json",
                   "-o TrainDataset.anno_path=PATH")
    code, lines = tune(capsys, monkeypatch, tmp_path, ["--suite", "det", "-c", str(CONFIGS / "paddledet/configs/"
                                                       "picodet_digits_demo.yml"), "--eval", "-o",
                                                       "TrainDataset.dataset_dir=/nowhere/coco", "--preset",
                                                       "det-nms", "--out", str(out)])
    assert_refused(code, lines, out, "TrainDataset.dataset_dir = /nowhere/coco;", "-o TrainDataset.dataset_dir=PATH")


def test_seg_names_its_opts(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    code, lines = tune(capsys, monkeypatch, tmp_path, ["--suite", "seg", "--config", str(CONFIGS / "paddleseg/configs/"
                                                       "pp_liteseg_stdc1_digits.yml"), "--preset", "seg-basic",
                                                       "--out", str(out)])
    assert_refused(code, lines, out, "train_dataset.dataset_root = data/digits_seg",
                   "--opts train_dataset.dataset_root=PATH")


def test_nlp_files_and_dataset_dir(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.txt").write_text("good\t1\n")
    code, lines = tune(capsys, monkeypatch, tmp_path, ["--suite", "nlp", "--dataset_dir", "data", "--param",
                                                       "learning_rate=1e-4:1e-2", "--out", str(out)])
    assert_refused(code, lines, out, "--dataset_dir = data (the trainer looks for "
                   f"{tmp_path}/data/dev.txt); point it at your data with --dataset_dir DIR")
    code, lines = tune(capsys, monkeypatch, tmp_path, ["--suite", "nlp", "--dataset_dir", "data", "--dev_file",
                                                       "gone.txt", "--param", "learning_rate=1e-4:1e-2", "--out",
                                                       str(out)])
    assert_refused(code, lines, out, "--dev_file = gone.txt", "--dev_file PATH")


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


def test_ocr_lists_each_label_file(tmp_path):
    """Every label file of label_file_list is checked (SimpleDataSet reads them all), by its index."""
    (tmp_path / "imgs").mkdir()
    (tmp_path / "a.txt").write_text("x.png\t1\n")
    cfg = {"Train": {"dataset": {"data_dir": "imgs", "label_file_list": ["a.txt", "b.txt"]}}}
    paths = OcrAdapter().data_paths(SimpleNamespace(config=cfg, cwd=str(tmp_path)))
    with pytest.raises(UsageError) as e:
        data_paths.check(paths)
    assert "Train.dataset.label_file_list.1 = b.txt" in str(e.value), e.value
    assert "-o Train.dataset.label_file_list=[PATH]" in str(e.value)
