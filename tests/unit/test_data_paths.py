"""A study whose data is missing stops before trial 0 (exit 2, one line, nothing in --out): each suite's
data keys, resolved as its trainer resolves them (issue 27)."""
from types import SimpleNamespace

from conftest import REPO
from data_paths_checks import assert_refused, tune
import pytest

from paddle_autotune_plugins.adapters.paddleocr.adapter import OcrAdapter
from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import data_paths

CONFIGS = REPO / "adapters"


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


def test_det_checks_a_voc_label_list_under_dataset_dir(tmp_path):
    """VOCDataSet opens label_list under dataset_dir and raises where it is missing: said before trial 0."""
    from paddle_autotune_plugins.adapters.paddledet.adapter import DetAdapter

    (tmp_path / "voc").mkdir()
    (tmp_path / "voc" / "train.txt").write_text("a.jpg a.xml\n")
    cfg = {"TrainDataset": {"dataset_dir": "voc", "anno_path": "train.txt", "label_list": "label_list.txt"}}
    paths = DetAdapter().data_paths(SimpleNamespace(config=cfg, cwd=str(tmp_path), override_flag="-o"))
    with pytest.raises(UsageError) as e:
        data_paths.check(paths)
    assert "TrainDataset.label_list = label_list.txt" in str(e.value), e.value
    assert f"{tmp_path}/voc/label_list.txt" in str(e.value)
    (tmp_path / "voc" / "label_list.txt").write_text("zero\n")
    data_paths.check(paths)  # found: nothing said
