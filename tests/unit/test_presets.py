"""Presets: resolution per config shape (the Piecewise trap), listing, and errors."""
import pytest

from paddle_autotune_plugins import cli
from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import presets

COSINE = {"Arch": {"name": "MobileNetV1"}, "Optimizer": {"name": "Momentum", "momentum": 0.9,
          "lr": {"name": "Cosine", "learning_rate": 0.1}, "regularizer": {"name": "L2", "coeff": 1e-4}},
          "DataLoader": {"Train": {"sampler": {"batch_size": 64}}},
          "Loss": {"Train": [{"CELoss": {"weight": 1.0}}]}}
PIECEWISE = {"Arch": {"name": "ResNet50"}, "Optimizer": {"name": "AdamW", "weight_decay": 0.05,
             "lr": {"name": "Piecewise", "learning_rate": 0.1, "decay_epochs": [30, 60], "values": [0.1, 0.01, 0.001]}},
             "DataLoader": {"Train": {"sampler": {"batch_size": 64}}}, "Loss": {"Train": [{"CELoss": {}}]}}


# What the installed trainer does, as the clas adapter finds out by running its code (readback.FACTS)
PPCLS_24 = {"piecewise_reads": "values", "schedule_takes_warmup": True}.get
PPCLS_252 = {"piecewise_reads": "learning_rate", "schedule_takes_warmup": True}.get


def test_learning_rate_goes_where_the_schedule_reads_it():
    cosine = presets.resolve(["clas-lr"], "clas", COSINE, facts=PPCLS_252).params
    assert [(p.name, p.apply) for p in cosine] == [("Optimizer.lr.learning_rate", None)]
    piecewise = presets.resolve(["clas-lr"], "clas", PIECEWISE, facts=PPCLS_24).params
    assert [(p.name, p.apply) for p in piecewise] == [("Optimizer.lr.values", "scale_list")]
    # ppcls 2.5.1 on rebuilds values from learning_rate when both are set: the knob follows
    rebuilt = presets.resolve(["clas-lr"], "clas", PIECEWISE, facts=PPCLS_252).params
    assert [(p.name, p.apply) for p in rebuilt] == [("Optimizer.lr.learning_rate", None)]
    values_only = dict(PIECEWISE, Optimizer=dict(PIECEWISE["Optimizer"], lr={"name": "Piecewise", "values": [0.1, 0.01],
                                                                             "decay_epochs": [30]}))
    asked = []
    params = presets.resolve(["clas-lr"], "clas", values_only, facts=lambda n: asked.append(n)).params
    assert [p.name for p in params] == ["Optimizer.lr.values"] and asked == []  # no key to choose: trainer not asked


def test_warmup_only_where_the_schedule_takes_it():
    """ppcls 2.4's MultiStepDecay takes no warmup_epoch: adding one there stops the trial with a TypeError."""
    assert [p.name for p in presets.resolve(["clas-warmup"], "clas", COSINE, facts=PPCLS_24).params] == [
        "Optimizer.lr.warmup_epoch"]
    with pytest.raises(UsageError, match="knob 'warmup_epoch' has no place"):
        presets.resolve(["clas-warmup"], "clas", COSINE, facts={"schedule_takes_warmup": False}.get)


def test_weight_decay_follows_the_optimizer_and_optional_knobs_leave_notes():
    resolved = presets.resolve(["clas-all"], "clas", PIECEWISE, facts=PPCLS_24)
    names = {p.name: p for p in resolved.params}
    # AdamW's decay, centred on the config's 0.05 (a factor of 10 either way), not the L2 coeff
    assert (names["Optimizer.weight_decay"].low, names["Optimizer.weight_decay"].high) == pytest.approx((0.005, 0.5))
    assert "Optimizer.regularizer.coeff" not in names
    assert "Loss.Train.0.CELoss.epsilon" in names
    assert "Optimizer.momentum" not in names and any("momentum" in n for n in resolved.notes)
    assert any("mixup_alpha" in n for n in resolved.notes)
    cosine = {p.name for p in presets.resolve(["clas-all"], "clas", COSINE, facts=PPCLS_24).params}
    assert {"Optimizer.momentum", "Optimizer.regularizer.coeff", "Optimizer.lr.warmup_epoch",
            "DataLoader.Train.sampler.batch_size"} <= cosine


def test_a_preset_typo_gets_a_suggestion():
    with pytest.raises(UsageError, match=r"unknown preset 'clas-basci'; did you mean clas-basic\? "
                                         r"\('paddle-autotune presets' lists"):
        presets.resolve(["clas-basci"], "clas", COSINE)
    # nothing near: no guess
    with pytest.raises(UsageError, match=r"unknown preset 'zzz'; run 'paddle-autotune presets' to list") as caught:
        presets.resolve(["zzz"], "clas", COSINE)
    assert "did you mean" not in str(caught.value)


def test_unknown_preset_and_wrong_suite():
    with pytest.raises(UsageError, match="unknown preset 'clas-lrr'.*paddle-autotune presets"):
        presets.resolve(["clas-lrr"], "clas", COSINE)
    with pytest.raises(UsageError, match="is for the clas suite"):
        presets.resolve(["clas-lr"], "det", COSINE)


def test_required_knob_missing_is_an_error():
    with pytest.raises(UsageError, match="knob 'batch_size' has no place"):
        presets.resolve(["clas-batch"], "clas", {"Optimizer": {}})


def test_presets_command_lists_paths(capsys):
    assert cli.main(["presets", "--suite", "clas"]) == 0
    out = capsys.readouterr().out
    for name in ("clas-lr", "clas-warmup", "clas-batch", "clas-weight-decay", "clas-momentum",
                 "clas-label-smoothing", "clas-mixup"):
        assert name in out
    assert "Optimizer.lr.values (if Optimizer.lr.name=Piecewise)" in out


def test_presets_are_found_in_each_suites_folder(tmp_path, monkeypatch):
    """space_presets/<adapter folder>/NAME.yaml is preset NAME of that adapter's suite: nothing lists them."""
    import importlib.metadata

    folder_of = {ep.name: ep.value.split(".")[2] for ep in importlib.metadata.entry_points(group="paddle_autotune.adapters")}
    files = presets.preset_files()
    assert {"clas-lr", "det-nms-anchor", "ernie-finetune"} <= set(files)
    for name, path in files.items():
        assert path.parent.name == folder_of[presets.available()[name]["suite"]], path
    # a new suite's folder is picked up as it is; two presets of one name are refused
    (tmp_path / "paddlenew").mkdir()
    (tmp_path / "paddlenew" / "new-lr.yaml").write_text("suite: new\nknobs: {}\n")
    monkeypatch.setattr(presets, "preset_dir", lambda: tmp_path)
    assert list(presets.available()) == ["new-lr"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "new-lr.yaml").write_text("suite: other\nknobs: {}\n")
    with pytest.raises(UsageError, match="two presets are named 'new-lr'"):
        presets.available()


# issue 28: a preset range is centred on the config's value and never excludes it
DETR = {"LearningRate": {"base_lr": 1e-4, "schedulers": [{"name": "PiecewiseDecay", "gamma": 0.1,
                                                          "milestones": [60]},
                                                         {"name": "LinearWarmup", "start_factor": 0.001, "steps": 2000}]}}
PICODET = {"LearningRate": {"base_lr": 0.32, "schedulers": [{"name": "CosineDecay", "max_epochs": 300},
                                                            {"name": "LinearWarmup", "start_factor": 0.1, "steps": 300}]}}


@pytest.mark.parametrize("cfg, lr, warmup", [(DETR, 1e-4, 2000), (PICODET, 0.32, 300)])
def test_det_lr_ranges_are_centred_on_the_config(cfg, lr, warmup):
    params = {p.name: p for p in presets.resolve(["det-lr"], "det", cfg, facts=lambda name: False).params}
    base = params["LearningRate.base_lr"]
    assert (base.low, base.high, base.log) == (pytest.approx(lr / 10), pytest.approx(lr * 10), True)
    assert base.centre == lr and "centred on the config's" in base.describe()
    steps = params["LearningRate.schedulers.1.steps"]
    assert steps.low <= warmup <= steps.high and (steps.low, steps.high) == (warmup // 4, warmup * 4)


def test_centre_moves_to_the_rescaled_config_and_keeps_the_config_value():
    rescaled = {"Optimizer": dict(COSINE["Optimizer"], lr={"name": "Cosine", "learning_rate": 0.025})}
    lr = presets.resolve(["clas-lr"], "clas", COSINE, facts=PPCLS_252, centred_cfg=rescaled).params[0]
    assert (lr.low, lr.high) == (pytest.approx(0.0025), pytest.approx(0.25)) and lr.contains(0.1)
    assert "centred on 0.025 (the config's 0.1, rescaled)" in lr.describe()


def test_fixed_preset_ranges_widen_to_take_the_config_value():
    odd = dict(COSINE, Optimizer=dict(COSINE["Optimizer"], momentum=0.5),
               DataLoader={"Train": {"sampler": {"batch_size": 512}}})
    params = {p.name: p for p in presets.resolve(["clas-momentum", "clas-batch"], "clas", odd, facts=PPCLS_24).params}
    assert params["Optimizer.momentum"].contains(0.5) and params["Optimizer.momentum"].high == 0.99
    assert params["DataLoader.Train.sampler.batch_size"].choices == [32, 64, 128, 256, 512]


def test_a_knob_the_config_lacks_takes_the_otherwise_range():
    no_decay = dict(PIECEWISE, Optimizer=dict(PIECEWISE["Optimizer"], weight_decay=0.0))
    wd = [p for p in presets.resolve(["clas-weight-decay"], "clas", no_decay).params][0]
    assert (wd.low, wd.high, wd.log) == (0.0, 0.1, False) and wd.contains(0.0)
