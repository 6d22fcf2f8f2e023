"""PaddleSeg adapter, without training: configs read with their _base_ chains as PaddleSeg's own Config reads
them, the command's flags and --opts, the presets, the trial command, the digits masks data set, the trial
hooks' metrics and knob readback, and the Paddle 3 fixes (against the installed paddleseg wheel)."""
import pytest
from seg_configs import BUNDLED, chain, write_file  # noqa: F401 - chain is a fixture
import yaml

from paddle_autotune_plugins.adapters.paddleseg import digits_seg
from paddle_autotune_plugins.adapters.paddleseg.adapter import SegAdapter, load_config
from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import presets


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
    trial = adapter.prepare_trial(task, task.fresh_config(), tmp_path / "trial_0003", seed=7)
    cmd = adapter.trial_command(task, str(tmp_path / "trial_0003" / "config.yml"))
    assert cmd[1:5] == ["-m", "paddle_autotune_plugins.run_trial",
                        "paddle_autotune_plugins.adapters.paddleseg.adapter:SegAdapter", str(script)]
    assert adapter.script_import_paths(str(script)) == [str(tmp_path / "PaddleSeg")]  # the checkout holds paddleseg/
    assert cmd[5:10] == ["--config", str(tmp_path / "trial_0003" / "config.yml"), "--do_eval", "--save_dir",
                        str(tmp_path / "trial_0003" / "output")]
    assert cmd[10:] == ["--save_interval", "10", "--seed", "7"]
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
    fragment = write_file(tmp_path, "frag.yml", "optimizer: {type: SGD}\n")
    with pytest.raises(UsageError, match="not a complete PaddleSeg training config after _base_: no batch_size"):
        load_config(fragment)
    broken = write_file(tmp_path, "child.yml", "_base_: missing.yml\niters: 3\n")
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
    cfg = adapter.prepare_trial(task, task.fresh_config(), folder, seed=0)
    assert adapter.best_checkpoint(task, cfg, trial_dir=folder) is None  # no evaluation saved a best model yet
    best = tmp_path / "trial_0001" / "output" / "best_model"
    best.mkdir(parents=True)
    (best / "model.pdparams").write_bytes(b"w")
    (tmp_path / "trial_0001" / "output" / "iter_10").mkdir()
    (tmp_path / "trial_0001" / "output" / "iter_10" / "model.pdopt").write_bytes(b"o")
    assert adapter.best_checkpoint(task, cfg, trial_dir=folder) == [str(best / "model.pdparams")]
    assert sorted(p.name for p in adapter.trial_outputs(task, cfg, trial_dir=folder)) == ["model.pdopt",
                                                                                             "model.pdparams"]
    adapter.write_config(cfg, tmp_path / "trial_0001" / "config.yml")
    exported = adapter.export_config(task, cfg)
    assert type(exported) is dict and exported == task.config
    assert yaml.safe_load((tmp_path / "trial_0001" / "config.yml").read_text()) == task.config
    # given the task and the trial folder, the adapter finds the same files whatever it loaded since
    adapter.load(None, ["--config", str(BUNDLED), "--iters", "20"])
    assert adapter.best_checkpoint(task, dict(cfg), trial_dir=folder) == [str(best / "model.pdparams")]


def test_one_adapter_serves_several_tasks(tmp_path):
    adapter = SegAdapter()
    first = adapter.load(None, ["--config", str(BUNDLED)])
    second = adapter.load(None, ["--config", str(BUNDLED), "--iters", "20"])
    cfg = adapter.prepare_trial(first, first.fresh_config(), tmp_path / "trial_0001", seed=3)
    adapter.prepare_trial(second, second.fresh_config(), tmp_path / "trial_0002", seed=9)
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
