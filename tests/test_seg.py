"""PaddleSeg adapter, without training: configs read with their _base_ chains as PaddleSeg's own Config reads
them, the command's flags and --opts, the presets, the trial command, the digits masks data set, the trial
hooks' metrics and knob readback, and the Paddle 3 fixes (against the installed paddleseg wheel)."""
import pathlib
import subprocess
import textwrap

import pytest
import yaml

from conftest import PYTHON, REPO
from paddle_autotune_plugins import presets
from paddle_autotune_plugins.adapters.paddleseg import digits_seg, hooks
from paddle_autotune_plugins.adapters.paddleseg.adapter import SegAdapter, load_config
from paddle_autotune_plugins.errors import UsageError

CONFIGS = REPO / "adapters" / "paddleseg" / "configs"
BUNDLED = CONFIGS / "pp_liteseg_stdc1_digits.yml"


def _write(folder, name, text):
    path = pathlib.Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture()
def chain(tmp_path):
    """A child with two bases: the child wins, the first base wins over the second, mappings merge key by
    key, lists are replaced whole, `_inherited_: False` replaces the base's mapping."""
    _write(tmp_path, "_base_/a.yml", """
        batch_size: 2
        iters: 100
        optimizer: {type: SGD, momentum: 0.9, weight_decay: 4.0e-5}
        lr_scheduler: {type: PolynomialDecay, learning_rate: 0.01, power: 0.9}
        train_dataset: {type: Dataset, dataset_root: a, num_classes: 2, mode: train}
        """)
    _write(tmp_path, "_base_/b.yml", """
        batch_size: 16
        iters: 999
        extra_from_b: kept
        loss: {types: [{type: CrossEntropyLoss}], coef: [1, 0.4]}
        model: {type: PPLiteSeg, backbone: {type: STDC1, pretrained: x}, arm_out_chs: [32, 64, 128]}
        """)
    return _write(tmp_path, "configs/child.yml", """
        _base_: ['../_base_/a.yml', '../_base_/b.yml']
        iters: 40
        optimizer: {weight_decay: 1.0e-4}
        model: {backbone: {pretrained: null}, arm_out_chs: [16, 32, 64]}
        train_dataset: {_inherited_: False, type: Dataset, dataset_root: c, num_classes: 2, mode: train}
        """)


def test_base_chain_merges_as_paddleseg_merges_it(chain):
    cfg = load_config(chain)
    assert cfg["iters"] == 40 and cfg["batch_size"] == 2  # the file wins; the first base over the second
    assert cfg["extra_from_b"] == "kept" and cfg["loss"]["coef"] == [1, 0.4]
    assert cfg["optimizer"] == {"type": "SGD", "momentum": 0.9, "weight_decay": 1.0e-4}  # key by key
    assert cfg["model"]["backbone"] == {"type": "STDC1", "pretrained": None}
    assert cfg["model"]["arm_out_chs"] == [16, 32, 64]  # a list is replaced whole
    assert cfg["train_dataset"] == {"type": "Dataset", "dataset_root": "c", "num_classes": 2, "mode": "train"}
    from paddleseg.cvlibs.config import parse_from_yaml  # the installed paddleseg's own reader agrees

    assert parse_from_yaml(str(chain)) == cfg


def test_flags_then_opts_fold_into_the_config_and_are_not_passed_on(chain, tmp_path):
    script = tmp_path / "PaddleSeg" / "tools" / "train.py"
    (tmp_path / "PaddleSeg" / "paddleseg").mkdir(parents=True)
    script.parent.mkdir(parents=True)
    script.write_text("")
    adapter = SegAdapter()
    assert SegAdapter.detects(str(script))
    task = adapter.load(str(script), ["--config", str(chain), "--learning_rate", "0.02", "--batch_size", "4",
                                      "--opts", "lr_scheduler.learning_rate=0.03", "loss.coef=[1, 0.5]",
                                      "--save_interval", "10", "--save_dir", "elsewhere", "--do_eval"])
    cfg = task.config
    assert cfg["lr_scheduler"]["learning_rate"] == 0.03  # --opts after --learning_rate, as Config applies them
    assert cfg["batch_size"] == 4 and cfg["loss"]["coef"] == [1, 0.5]
    assert task.script_args == ["--save_interval", "10"]
    trial = adapter.prepare_trial(task.fresh_config(), tmp_path / "trial_0003", seed=7, task=task)
    cmd = adapter.trial_command(task, str(tmp_path / "trial_0003" / "config.yml"))
    assert cmd[1:4] == ["-m", "paddle_autotune_plugins.adapters.paddleseg.run", str(script)]
    assert cmd[4:9] == ["--config", str(tmp_path / "trial_0003" / "config.yml"), "--do_eval", "--save_dir",
                        str(tmp_path / "trial_0003" / "output")]
    assert cmd[9:] == ["--save_interval", "10", "--seed", "7"]
    assert type(trial) is dict and trial == task.config  # save_dir and seed are flags, not config keys


@pytest.mark.parametrize("opt, message", [
    ("batch_sise=2", "did you mean batch_size"),
    ("optimizer.weight_decai=0.1", "did you mean optimizer.weight_decay"),
    ("modle.type=UNet", "no such path"),
    ("iters", "must be key=value"),
])
def test_bad_overrides_are_refused_before_any_trial(chain, opt, message):
    with pytest.raises(UsageError, match=message):
        SegAdapter().load(None, ["--config", str(chain), "--opts", opt])


def test_incomplete_or_missing_configs_are_refused(tmp_path):
    fragment = _write(tmp_path, "frag.yml", "optimizer: {type: SGD}\n")
    with pytest.raises(UsageError, match="not a complete PaddleSeg training config after _base_: no batch_size"):
        load_config(fragment)
    broken = _write(tmp_path, "child.yml", "_base_: missing.yml\niters: 3\n")
    with pytest.raises(UsageError, match="a _base_ file is missing"):
        load_config(broken)
    with pytest.raises(UsageError, match="unrecognized arguments for the PaddleSeg train entry: --no_such_flag"):
        SegAdapter().load(None, ["--config", str(BUNDLED), "--no_such_flag"])


def test_bundled_config_and_presets_resolve():
    cfg = load_config(BUNDLED)
    assert cfg["model"]["type"] == "PPLiteSeg" and cfg["train_dataset"]["type"] == "Dataset"
    assert cfg["lr_scheduler"]["warmup_iters"] == 5  # from _base_/digits_seg.yml
    names = {p: sorted(x.name for x in presets.resolve([p], "seg", cfg, "PPLiteSeg").params)
             for p in ("seg-lr", "seg-batch", "seg-loss", "seg-basic")}
    assert names["seg-lr"] == ["lr_scheduler.learning_rate", "lr_scheduler.power"]
    assert names["seg-batch"] == ["batch_size"]
    assert names["seg-loss"] == ["loss.coef.1", "loss.types.0.coef.1"]
    assert names["seg-basic"] == ["batch_size", "lr_scheduler.learning_rate", "lr_scheduler.power",
                                  "optimizer.weight_decay"]
    loss = presets.resolve(["seg-loss"], "seg", cfg, "PPLiteSeg")
    aux = next(p for p in loss.params if p.name == "loss.coef.1")
    assert aux.also == ["loss.coef.2"]  # every auxiliary output alike
    assert any("ohem_thresh" in note and "skipped" in note for note in loss.notes)
    with pytest.raises(UsageError, match="is for the clas suite"):
        presets.resolve(["clas-lr"], "seg", cfg, "PPLiteSeg")


def test_presets_follow_the_optimizer_and_the_loss(tmp_path):
    cfg = load_config(BUNDLED)
    cfg["optimizer"] = {"type": "AdamW", "weight_decay": 0.01}
    cfg["loss"] = {"types": [{"type": "OhemCrossEntropyLoss", "min_kept": 1000}], "coef": [1, 1]}
    params = {p.name: p for p in presets.resolve(["seg-basic", "seg-loss"], "seg", cfg, "PPLiteSeg").params}
    # ranges centred on the config's values (issue 28): its rate 0.05, AdamW's decay 0.01, a factor of 10 each way
    lr, wd = params["lr_scheduler.learning_rate"], params["optimizer.weight_decay"]
    assert (lr.low, lr.high, wd.low, wd.high) == pytest.approx((0.005, 0.5, 1e-3, 0.1))
    assert params["loss.types.0.thresh"].new  # OHEM's default threshold, now tuned
    assert "loss.types.0.coef.1" not in params  # no MixedLoss


def test_learning_rate_range_starts_above_the_warmup_start(chain):
    adapter = SegAdapter()
    task = adapter.load(None, ["--config", str(BUNDLED), "--opts", "lr_scheduler.warmup_start_lr=0.01"])
    params = presets.resolve(["seg-lr"], "seg", task.config, "PPLiteSeg").params
    notes = adapter.check_space(task, params)
    lr = next(p for p in params if p.name == "lr_scheduler.learning_rate")  # [0.005, 0.5] around the config's 0.05
    assert lr.low == pytest.approx(0.0101) and lr.high == pytest.approx(0.5)
    assert any("LinearWarmup asserts end_lr > start_lr" in n for n in notes)
    task = adapter.load(None, ["--config", str(BUNDLED), "--opts", "lr_scheduler.warmup_start_lr=0.5"])
    with pytest.raises(UsageError, match="at or below the warm-up's start"):
        adapter.check_space(task, presets.resolve(["seg-lr"], "seg", task.config, "PPLiteSeg").params)


def test_best_weights_and_exported_config(tmp_path):
    adapter = SegAdapter()
    task = adapter.load(None, ["--config", str(BUNDLED)])
    folder = tmp_path / "trial_0001"
    cfg = adapter.prepare_trial(task.fresh_config(), folder, seed=0, task=task)
    assert adapter.best_checkpoint(cfg, task=task, trial_dir=folder) is None  # no evaluation saved a best model yet
    best = tmp_path / "trial_0001" / "output" / "best_model"
    best.mkdir(parents=True)
    (best / "model.pdparams").write_bytes(b"w")
    (tmp_path / "trial_0001" / "output" / "iter_10").mkdir()
    (tmp_path / "trial_0001" / "output" / "iter_10" / "model.pdopt").write_bytes(b"o")
    assert adapter.best_checkpoint(cfg, task=task, trial_dir=folder) == [str(best / "model.pdparams")]
    assert sorted(p.name for p in adapter.trial_outputs(cfg, task=task, trial_dir=folder)) == ["model.pdopt",
                                                                                             "model.pdparams"]
    adapter.write_config(cfg, tmp_path / "trial_0001" / "config.yml")
    exported = adapter.export_config(cfg, task)
    assert type(exported) is dict and exported == task.config
    assert yaml.safe_load((tmp_path / "trial_0001" / "config.yml").read_text()) == task.config
    # given the task and the trial folder, the adapter finds the same files whatever it loaded since
    adapter.load(None, ["--config", str(BUNDLED), "--iters", "20"])
    assert adapter.best_checkpoint(dict(cfg), task=task, trial_dir=folder) == [str(best / "model.pdparams")]


def test_one_adapter_serves_several_tasks(tmp_path):
    adapter = SegAdapter()
    first = adapter.load(None, ["--config", str(BUNDLED)])
    second = adapter.load(None, ["--config", str(BUNDLED), "--iters", "20"])
    cfg = adapter.prepare_trial(first.fresh_config(), tmp_path / "trial_0001", seed=3, task=first)
    adapter.prepare_trial(second.fresh_config(), tmp_path / "trial_0002", seed=9, task=second)
    config_path = str(tmp_path / "trial_0001" / "config.yml")
    assert adapter.trial_command(first, config_path, cfg)[-2:] == ["--seed", "3"]
    assert adapter.trial_command(second, config_path)[-2:] == ["--seed", "9"]


def test_digits_masks_are_real_deterministic_and_cached(tmp_path):
    import cv2
    import numpy as np

    a = digits_seg.ensure_dataset(tmp_path / "a", num_train=12, num_val=4)
    b = digits_seg.ensure_dataset(tmp_path / "b", num_train=12, num_val=4)
    lines = (a / "train.txt").read_text().splitlines()
    assert len(lines) == 12 and len((a / "val.txt").read_text().splitlines()) == 4
    for line in lines:
        image_rel, mask_rel = line.split(" ")
        assert (a / image_rel).read_bytes() == (b / image_rel).read_bytes()
        image, mask = cv2.imread(str(a / image_rel)), cv2.imread(str(a / mask_rel), cv2.IMREAD_UNCHANGED)
        assert image.shape == (64, 64, 3) and mask.shape == (64, 64) and set(np.unique(mask)) == {0, 1}
        assert image[mask == 1].mean() > image[mask == 0].mean() + 40  # the mask is where the ink is
    stamp = (a / "images" / "train_0000.png").stat().st_mtime_ns
    assert digits_seg.ensure_dataset(tmp_path / "a", num_train=12, num_val=4) == a
    assert (a / "images" / "train_0000.png").stat().st_mtime_ns == stamp  # cached, not rewritten
    (a / digits_seg.MARKER).unlink()  # half-written: rebuilt
    digits_seg.ensure_dataset(tmp_path / "a", num_train=12, num_val=4)
    assert (a / digits_seg.MARKER).exists()
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "mine.txt").write_text("x")
    with pytest.raises(FileExistsError, match="mine.txt"):
        digits_seg.ensure_dataset(tmp_path / "c", num_train=2, num_val=2)


def test_wheel_metrics_fixed_and_reported_dice_is_the_trainers_dice():
    """The 2.8 wheel's calculate_area fails on Paddle 3 until fixed; then dice_of turns the class IoU that
    evaluate returns into the Dice the trainer logs (paddleseg's own metrics.dice)."""
    import numpy as np
    import paddle
    from paddleseg.utils import metrics

    rng = np.random.RandomState(0)
    label = paddle.to_tensor(rng.randint(0, 3, (2, 1, 16, 16)))
    pred = paddle.to_tensor(np.where(rng.rand(2, 1, 16, 16) < 0.7, label.numpy(), rng.randint(0, 3, (2, 1, 16, 16))))
    assert hooks._concats_areas(metrics)  # the pinned wheel (2.8.0) concatenates 0-D sums
    with pytest.raises(ValueError, match="axis is expected to be in range"):
        metrics.calculate_area(pred, label, 3)
    hooks._METRICS.fix(metrics)
    inter, pred_area, label_area = metrics.calculate_area(pred, label, 3)
    class_iou, miou = metrics.mean_iou(inter, pred_area, label_area)
    _, mdice = metrics.dice(inter, pred_area, label_area)
    assert hooks.dice_of(class_iou) == pytest.approx(float(mdice), rel=1e-6)
    got = hooks.eval_metrics((miou, 0.9, class_iou, None, 0.3))
    assert got == {"mIoU": pytest.approx(miou), "Acc": 0.9, "Kappa": 0.3, "Dice": pytest.approx(float(mdice))}


def test_knobs_read_back_from_objects_paddleseg_builds(tmp_path):
    """The readback of the objects the installed paddleseg's SegBuilder builds from a trial config."""
    from paddle_autotune_plugins.adapters.paddleseg.readback import built_values

    cfg = load_config(BUNDLED)
    cfg["lr_scheduler"].update(learning_rate=0.0321, power=0.7)
    cfg["optimizer"]["weight_decay"] = 2.5e-4
    cfg["loss"]["coef"] = [1, 0.3, 0.3]
    cfg["loss"]["types"][0]["coef"] = [0.8, 0.45]
    SegAdapter().write_config(cfg, tmp_path / "t.yml")
    _, used = built_values(tmp_path / "t.yml")
    assert used["lr_scheduler.learning_rate"] == pytest.approx(0.0321)
    assert used["lr_scheduler.power"] == pytest.approx(0.7)
    assert used["lr_scheduler.warmup_iters"] == 5 and used["lr_scheduler.decay_steps"] == 35
    assert used["optimizer.weight_decay"] == pytest.approx(2.5e-4) and used["optimizer.momentum"] == 0.9
    assert [used[f"loss.coef.{i}"] for i in range(3)] == [1, 0.3, 0.3]
    assert used["loss.types.0.coef.1"] == pytest.approx(0.45)


_DICE_AFTER_CE = """
import sys
if sys.argv[1] == "fixed":
    from paddle_autotune_plugins.adapters.paddleseg import hooks
    hooks.install()
import paddle
import paddle.nn.functional as F
from paddleseg.models.losses import DiceLoss
logits = paddle.randn([2, 2, 8, 8]); logits.stop_gradient = False
labels = paddle.randint(0, 2, [2, 8, 8]).astype("int64")
labels[0, 0, 0] = 255
ce = F.cross_entropy(logits.transpose([0, 2, 3, 1]), labels.unsqueeze(-1), ignore_index=255)  # uses the labels
loss = ce + DiceLoss()(logits, labels)
loss.backward()
print("backward ok")
"""


def test_dice_loss_fix_is_needed_on_paddle_3_and_works():
    """DiceLoss beside another loss on the same labels: Paddle 3's backward fails without the fix."""
    runs = {mode: subprocess.run([PYTHON, "-c", _DICE_AFTER_CE, mode], capture_output=True, text=True, timeout=300)
            for mode in ("plain", "fixed")}
    assert runs["plain"].returncode != 0 and "modified by an inplace operation" in runs["plain"].stderr
    assert runs["fixed"].returncode == 0 and "backward ok" in runs["fixed"].stdout, runs["fixed"].stderr[-2000:]


def test_wheel_cross_entropy_fixed_for_paddle_3():
    """The 2.8 wheel's CrossEntropyLoss multiplies a float mask by int64 ones, which Paddle 3 refuses; once
    fixed it gives the mean per-pixel cross-entropy (paddle's own, over the non-ignored pixels)."""
    import paddle
    import paddle.nn.functional as F
    from paddleseg.models.losses import cross_entropy_loss

    paddle.seed(0)
    logits = paddle.randn([2, 3, 8, 8])
    labels = paddle.randint(0, 3, [2, 8, 8]).astype("int64")
    assert hooks._multiplies_int_ones(cross_entropy_loss)  # the pinned wheel (2.8.0) does
    with pytest.raises(TypeError, match="Type promotion"):
        cross_entropy_loss.CrossEntropyLoss()(logits, labels)
    hooks._CROSS_ENTROPY.fix(cross_entropy_loss)
    got = float(cross_entropy_loss.CrossEntropyLoss()(logits, labels))
    expected = float(F.cross_entropy(logits.transpose([0, 2, 3, 1]), labels.unsqueeze(-1)))
    assert got == pytest.approx(expected, rel=1e-4)
    assert not hooks._multiplies_int_ones(type("Fixed", (), {"CrossEntropyLoss": object}))  # stands aside
