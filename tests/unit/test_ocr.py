"""PaddleOCR adapter, without training: configs and -o items read as PaddleOCR's tools/program.py reads
them, detection from a checkout, the trial's config and command, the presets on a config of each kind,
bad input (one line, exit 2, nothing written), the trial hook's one report per evaluation, the knob
readback from built Paddle objects, and the rendered digit strings."""
import pathlib

from conftest import REPO
from ocr_fakes import checkout, fake_program  # noqa: F401 - fixtures: a checkout's shape, its tools/program.py
import pytest
import yaml

from paddle_autotune_plugins.adapters.paddleocr import digits_ocr, hooks
from paddle_autotune_plugins.adapters.paddleocr.adapter import OcrAdapter, last_eval_step, load_config, parse_override
from paddle_autotune_plugins.adapters.paddleocr.demo import demo_task, find_checkout
from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import presets, rescale, space

BUNDLED = REPO / "adapters" / "paddleocr" / "configs" / "rec_digits_crnn.yml"



def _load(root, *argv):
    """The adapter's task for `tools/train.py ARGV` run in the checkout (DB: its detection config)."""
    argv = [str(root / "configs" / "det" / "db.yml") if a == "DB" else a for a in argv]
    return OcrAdapter().load(str(root / "tools" / "train.py"), argv)


def test_detected_from_a_checkout_only(checkout, tmp_path):
    assert OcrAdapter.detects(str(checkout / "tools" / "train.py"))
    (tmp_path / "other" / "tools").mkdir(parents=True)
    assert not OcrAdapter.detects(str(tmp_path / "other" / "tools" / "train.py"))


def test_o_items_are_read_as_paddleocr_reads_them(checkout):
    task = _load(checkout, "-c", "DB", "-o", "Global.epoch_num=3",
                 "Train.dataset.label_file_list=[a.txt, b.txt]", "Optimizer.lr.learning_rate=1e-3",
                 "Global={use_gpu: false}")
    cfg = task.config
    assert cfg["Global"]["epoch_num"] == 3
    assert cfg["Train"]["dataset"]["label_file_list"] == ["a.txt", "b.txt"]  # a YAML list
    assert cfg["Optimizer"]["lr"]["learning_rate"] == "1e-3"  # YAML 1.1, as PaddleOCR's yaml.load reads it
    assert cfg["Global"]["use_gpu"] is False and cfg["Global"]["save_model_dir"] == "./output/det/"  # merged
    assert task.cwd == str(checkout.resolve())


def test_parse_override_refuses_a_second_equals_sign():
    assert parse_override("Global.character_dict_path=ppocr/utils/dict.txt") == \
        ("Global.character_dict_path", "ppocr/utils/dict.txt")
    with pytest.raises(UsageError, match="only '='"):
        parse_override("Global.x=a=b")


@pytest.mark.parametrize("argv, message", [
    (["-c", "configs/det/missing.yml"], "config file not found"),
    (["-c", "DB", "-o", "Optimizer.lr.learning_rat=0.1"], "did you mean"),
    (["-c", "DB", "-o", "Global.epoch_num=3", "-o", "Global.use_gpu=False"], "more than once"),
    (["-c", "DB", "--eval"], "unrecognized arguments"),
    (["-c", "DB", "-o", "Global.eval_batch_step=100"], "eval_batch_step"),
    (["-c", "DB", "-o", "Eval=null"], "no Eval section"),
])
def test_bad_commands_are_one_line_usage_errors(checkout, argv, message):
    with pytest.raises(UsageError, match=message) as info:
        _load(checkout, *argv)
    assert "\n" not in str(info.value)


def test_the_wheel_alone_cannot_train_and_says_so():
    with pytest.raises(UsageError, match="source checkout"):
        OcrAdapter().load(None, ["-c", str(BUNDLED)])


def test_a_trial_writes_into_its_own_folder_and_export_restores_the_users_paths(checkout, tmp_path):
    adapter = OcrAdapter()
    task = _load(checkout, "-c", "DB")
    trial = tmp_path / "trial_0003"
    cfg = adapter.prepare_trial(task, task.fresh_config(), trial, 7)
    assert cfg["Global"]["save_model_dir"] == str(trial / "output")
    assert cfg["Global"]["save_res_path"] == str(trial / "output" / "predicts.txt")
    assert cfg["Global"]["seed"] == 7
    adapter.write_config(cfg, trial / "config.yml")
    assert load_config(trial / "config.yml") == cfg  # written as one plain YAML, read back whole
    command = adapter.trial_command(task, str(trial / "config.yml"), cfg)
    assert command[-3:] == [str(checkout.resolve() / "tools" / "train.py"), "-c", str(trial / "config.yml")]
    exported = adapter.export_config(task, cfg)
    assert exported["Global"]["save_model_dir"] == "./output/det/"
    assert exported["Global"]["save_res_path"] == "./output/det.txt"
    (trial / "output").mkdir(parents=True)
    assert adapter.best_checkpoint(task, cfg, trial) is None
    for ext in ("pdparams", "pdopt", "states"):
        (trial / "output" / f"best_accuracy.{ext}").write_text("x")
    assert [pathlib.Path(p).name for p in adapter.best_checkpoint(task, cfg, trial)] == \
        ["best_accuracy.pdopt", "best_accuracy.pdparams", "best_accuracy.states"]


def test_default_metric_is_the_configs_main_indicator(checkout):
    adapter = OcrAdapter()
    task = _load(checkout, "-c", "DB")
    assert adapter.default_metric_for(task) == "hmean"
    assert adapter.metric_names(task) == ["hmean", "precision", "recall"]
    rec = adapter.load(str(checkout / "tools" / "train.py"), ["-c", str(BUNDLED)])
    assert adapter.default_metric_for(rec) == "acc" and adapter.metric_names(rec) == ["acc", "norm_edit_dis"]


def test_last_evaluation_step_from_the_data_list(checkout):
    task = _load(checkout, "-c", "DB")
    # 100 lines, batch 8, no drop_last: 13 iterations an epoch, 130 in all; evaluations every 50
    assert last_eval_step(task.config, task.cwd) == 100
    task = _load(checkout, "-c", "DB", "-o", "Train.dataset.label_file_list=[nothere.txt]")
    assert last_eval_step(task.config, task.cwd) is None


def test_presets_resolve_on_detection_and_recognition(checkout):
    task = _load(checkout, "-c", "DB")
    params = presets.resolve(["ocr-det-all"], "ocr", task.config, "DB").params
    by_name = {p.name: p for p in params}
    assert set(by_name) == {"Optimizer.lr.learning_rate", "Train.loader.batch_size_per_card",
                            "Optimizer.lr.warmup_epoch", "Optimizer.regularizer.factor", "PostProcess.thresh",
                            "PostProcess.box_thresh", "PostProcess.unclip_ratio"}
    assert by_name["Train.loader.batch_size_per_card"].high == 32  # detection's range
    for p in params:  # every range holds the config's own value
        assert p.low <= p.current(task.config) <= p.high, p.describe()
    rec = yaml.safe_load(BUNDLED.read_text())
    rec["Optimizer"]["lr"] = {"name": "Piecewise", "decay_epochs": [5], "values": [0.001, 0.0001]}
    params = presets.resolve(["ocr-lr"], "ocr", rec, "CRNN").params
    assert [(p.name, p.apply) for p in params] == [("Optimizer.lr.values", "scale_list")]
    with pytest.raises(UsageError, match="no place"):
        presets.resolve(["ocr-db-postprocess"], "ocr", rec, "CRNN")


def test_every_preset_knob_is_centred_on_the_configs_value(checkout):
    """ocr-det-all (learning rate, batch, warm-up, L2 factor, DB thresholds) around the config's own values."""
    task = _load(checkout, "-c", "DB")
    params = presets.resolve(["ocr-det-all"], "ocr", task.config, "DB").params
    assert len(params) == 7
    for p in params:
        assert p.centre == p.current(task.config) and p.low < p.centre < p.high, p.describe()


def test_preset_ranges_hold_values_far_from_the_usual_and_keep_thresholds_inside_0_1(checkout):
    """A rate of 1e-6, no weight decay (factor 0: many shipped configs), a batch of 1024, thresholds of 0.7:
    every range holds the config's value, and no DB threshold range leaves (0, 1)."""
    task = _load(checkout, "-c", "DB", "-o", "Optimizer.lr.learning_rate=1.0e-6", "Optimizer.regularizer.factor=0",
                 "Train.loader.batch_size_per_card=1024", "PostProcess.thresh=0.7", "PostProcess.box_thresh=0.7")
    params = presets.resolve(["ocr-det-all"], "ocr", task.config, "DB").params
    assert space.missing_config_value(params, task.config) == []
    by_name = {p.name: p for p in params}
    assert by_name["Optimizer.lr.learning_rate"].centre == pytest.approx(1e-6)
    for name in ("PostProcess.thresh", "PostProcess.box_thresh"):
        assert 0 < by_name[name].low < 0.7 < by_name[name].high < 1, by_name[name].describe()


@pytest.mark.parametrize("optimizer, lr, rule, factor", [
    ("Adam", "{name: Cosine, learning_rate: 0.001}", rescale.SQUARE_ROOT, (1 / 8) ** 0.5),
    ("Momentum", "{name: Piecewise, decay_epochs: [5], values: [0.01, 0.001]}", rescale.LINEAR, 1 / 8),
    ("AdamW", "{name: OneCycle, max_lr: 0.0007}", rescale.SQUARE_ROOT, (1 / 8) ** 0.5),
])
def test_learning_rate_rescaled_from_paddleocrs_8_gpus_to_one_device(checkout, optimizer, lr, rule, factor):
    task = _load(checkout, "-c", "DB", "-o", f"Optimizer.name={optimizer}", f"Optimizer.lr={lr}")
    result = rescale.rescale(task, devices=1)
    assert (result.reference, result.rule, result.factor) == (8, rule, pytest.approx(factor))
    (path,) = result.paths  # the one learning rate this schedule trains with
    key = path.rsplit(".", 1)[1]
    before, after = task.config["Optimizer"]["lr"][key], result.config["Optimizer"]["lr"][key]
    assert after == pytest.approx([v * factor for v in before] if isinstance(before, list) else before * factor)



def test_demo_says_its_config_is_written_for_one_device(tmp_path, monkeypatch):
    """The demo's config is the plugin's own, for the one CPU device it trains on: its learning rate is the
    centre as it stands, not rescaled from PaddleOCR's 8 GPUs."""
    from paddle_autotune_plugins import cli
    from paddle_autotune_plugins.search_space.build import build_params

    (tmp_path / "PaddleOCR" / "ppocr").mkdir(parents=True)
    (tmp_path / "PaddleOCR" / "tools").mkdir()
    (tmp_path / "PaddleOCR" / "tools" / "train.py").write_text("")
    monkeypatch.setenv("PADDLE_AUTOTUNE_PADDLEOCR", str(tmp_path / "PaddleOCR"))
    bundled = REPO / "adapters" / "paddleocr" / "configs"  # its data paths are not read here
    monkeypatch.setattr(digits_ocr, "write_demo_config", lambda out, config: bundled / config)
    task, options = demo_task(OcrAdapter(), tmp_path / "out")
    parser = cli._Parser(prog="demo")
    cli.add_tuning_options(parser)
    opts = parser.parse_args(["--out", str(tmp_path / "out")] + options)
    params, _ = build_params(task, opts)
    lr = next(p for p in params if p.name == "Optimizer.lr.learning_rate")
    assert not opts.rescaled.moved and lr.centre == task.config["Optimizer"]["lr"]["learning_rate"]




def test_eval_outside_the_training_loop_is_not_reported(fake_program):
    module, report = fake_program
    module.eval(None, None, None, None)  # as tools/eval.py calls it
    assert not report.exists()


def test_eval_metrics_keep_the_metric_class_numbers_only():
    assert hooks.eval_metrics({"precision": 0.5, "recall": 0.25, "hmean": 1 / 3, "fps": 12.0, "is_float16": False}) \
        == {"precision": 0.5, "recall": 0.25, "hmean": pytest.approx(1 / 3)}


def test_digit_strings_are_rendered_once_and_match_their_labels(tmp_path):
    root = digits_ocr.ensure_dataset(tmp_path / "d", num_train=6, num_val=2, seed=3)
    lines = (root / "train.txt").read_text().splitlines()
    assert len(lines) == 6 and all(l.split("\t")[1].isdigit() and 3 <= len(l.split("\t")[1]) <= 5 for l in lines)
    from PIL import Image

    image = Image.open(root / lines[0].split("\t")[0])
    assert image.size == (digits_ocr.WIDTH, digits_ocr.HEIGHT) and image.mode == "RGB"
    stamp = (root / digits_ocr.MARKER).stat().st_mtime_ns
    assert digits_ocr.ensure_dataset(tmp_path / "d", num_train=6, num_val=2, seed=3) == root
    assert (root / digits_ocr.MARKER).stat().st_mtime_ns == stamp  # not written again
    assert (root / "digits.txt").read_text().split() == [str(d) for d in range(10)]
    directions = [l.split("\t") for l in (root / "train_direction.txt").read_text().splitlines()]
    assert [label for _, label in directions] == ["0", "180"] * 3
    upright, turned = Image.open(root / directions[1][0].replace("_180", "")), Image.open(root / directions[1][0])
    assert list(turned.getdata()) == list(upright.rotate(180).getdata())


def test_demo_configs_point_at_the_data(tmp_path):
    rec = yaml.safe_load(digits_ocr.write_demo_config(tmp_path / "rec", num_train=4, num_val=2).read_text())
    cls = yaml.safe_load(digits_ocr.write_demo_config(tmp_path / "cls", config=digits_ocr.DIRECTION_CONFIG,
                                                      num_train=4, num_val=2).read_text())
    assert rec["Train"]["dataset"]["label_file_list"][0].endswith("train.txt")
    assert pathlib.Path(rec["Global"]["character_dict_path"]).is_file()
    assert cls["Eval"]["dataset"]["label_file_list"][0].endswith("val_direction.txt")
    assert all(pathlib.Path(c[s]["dataset"]["label_file_list"][0]).is_file() for c in (rec, cls)
               for s in ("Train", "Eval"))


def test_demo_names_the_checkout_it_needs(tmp_path):
    with pytest.raises(UsageError, match="PADDLE_AUTOTUNE_PADDLEOCR"):
        find_checkout({})
    with pytest.raises(UsageError, match="not a PaddleOCR checkout"):
        find_checkout({"PADDLE_AUTOTUNE_PADDLEOCR": str(tmp_path)})
    (tmp_path / "PaddleOCR-x" / "ppocr").mkdir(parents=True)
    (tmp_path / "PaddleOCR-x" / "tools").mkdir()
    (tmp_path / "PaddleOCR-x" / "tools" / "train.py").write_text("")
    assert find_checkout({"PADDLE_AUTOTUNE_CHECKOUTS": str(tmp_path)}) == (tmp_path / "PaddleOCR-x").resolve()


def test_linear_warmup_cosine_range_starts_above_its_start_lr(checkout):
    adapter = OcrAdapter()
    task = _load(checkout, "-c", "DB", "-o",
                 "Optimizer.lr={name: LinearWarmupCosine, learning_rate: 1e-4, start_lr: 1e-5, warmup_steps: 50}")
    params = presets.resolve(["ocr-lr"], "ocr", task.config, "DB").params
    notes = adapter.check_space(task, params)
    assert params[0].low == pytest.approx(1.01e-5) and "start_lr" in notes[0]  # "1e-5" is a YAML string


def test_without_main_indicator_the_metric_class_default_is_tuned(checkout):
    task = _load(checkout, "-c", "DB", "-o", "Metric={name: DetMetric, main_indicator: null}")
    assert OcrAdapter().default_metric_for(task) == "hmean"
