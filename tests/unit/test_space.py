"""Space parsing: every spelling docs/search-spaces.md lists, and the errors for bad ranges."""
import optuna
import pytest

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import space


@pytest.mark.parametrize("spec, kind, low, high, log, step", [
    ({"type": "float", "low": 1e-4, "high": 0.1, "log": True}, "float", 1e-4, 0.1, True, None),
    ({"type": "int", "low": 2, "high": 8, "step": 2}, "int", 2, 8, False, 2),
    ({"bounds": [1e-5, 1e-2], "scale": "log"}, "float", 1e-5, 1e-2, True, None),
    ({"min": 0.5, "max": 0.9}, "float", 0.5, 0.9, False, None),
    ({"min": 1, "max": 5}, "int", 1, 5, False, None),
    ({"type": "continuous", "bounds": [0.0, 1.0]}, "float", 0.0, 1.0, False, None),
    ({"type": "discrete", "min": 1, "max": 4}, "int", 1, 4, False, None),
    ({"type": "loguniform", "low": "1e-4", "high": "1e-2"}, "float", 1e-4, 1e-2, True, None),
    ({"_type": "loguniform", "_value": [1e-4, 1e-2]}, "float", 1e-4, 1e-2, True, None),
    ({"_type": "randint", "_value": [1, 5]}, "int", 1, 4, False, None),
    ({"_type": "quniform", "_value": [0.0, 1.0, 0.25]}, "float", 0.0, 1.0, False, 0.25),
])
def test_range_spellings(spec, kind, low, high, log, step):
    p = space.parse_spec("a.b", spec)
    assert (p.kind, p.low, p.high, p.log, p.step) == (kind, low, high, log, step)


@pytest.mark.parametrize("spec", [
    {"type": "categorical", "choices": [16, 32]},
    {"values": [16, 32]},
    {"type": "discrete", "values": [16, 32]},
    {"_type": "choice", "_value": [16, 32]},
    [16, 32],
])
def test_categorical_spellings(spec):
    p = space.parse_spec("a.b", spec)
    assert p.kind == "categorical" and p.choices == [16, 32]


def test_conditional_needs_when_and_is_sampled_only_when_parent_allows():
    with pytest.raises(UsageError, match="when"):
        space.parse_spec("x", {"type": "conditional", "values": [1, 2]})
    params = space.parse_space({
        "Optimizer.name": {"values": ["Momentum", "Adam"]},
        "Optimizer.momentum": {"type": "conditional", "bounds": [0.8, 0.99], "when": {"Optimizer.name": "Momentum"}},
    })
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        values = space.sample(trial, params, {})
        assert ("Optimizer.momentum" in values) == (values["Optimizer.name"] == "Momentum")
        seen.add(values["Optimizer.name"])
        study.tell(trial, 0.0)
    assert seen == {"Momentum", "Adam"}


@pytest.mark.parametrize("spec, message", [
    ({"low": 0.1, "high": 0.01}, "low 0.1 > high 0.01"),
    ({"low": 0.1, "high": 0.1}, "empty range"),
    ({"low": 0.0, "high": 1.0, "log": True}, "log range needs low > 0"),
    ({"type": "categorical", "choices": []}, "non-empty list"),
    ({"type": "weird", "low": 0, "high": 1}, "unknown type 'weird'"),
    ({"low": 0, "hihg": 1}, "unknown key"),
    ({"type": "float", "low": 0.0}, "needs low and high"),
    ({"type": "int", "low": 0.5, "high": 3}, "whole numbers"),
    ({"low": "abc", "high": 1.0}, "must be a number"),
])
def test_bad_specs_name_the_problem(spec, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        space.parse_spec("Optimizer.lr.learning_rate", spec)
    assert "Optimizer.lr.learning_rate" in str(err.value)


def test_list_choices_round_trip_through_optuna():
    p = space.parse_spec("RPNHead.anchor_generator.anchor_sizes", {"values": [[[32], [64]], [[16], [32]]]})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    assert p.suggest(trial) in p.choices
    assert p.contains([[16], [32]]) and not p.contains([[8]])


def test_scale_list_keeps_ratios():
    cfg = {"Optimizer": {"lr": {"name": "Piecewise", "values": [0.1, 0.01, 0.001]}}}
    p = space.parse_spec("Optimizer.lr.values", {"low": 1e-3, "high": 1.0, "log": True, "apply": "scale_list"})
    assert p.current(cfg) == 0.1
    p.apply_to(cfg, 0.4)
    assert cfg["Optimizer"]["lr"]["values"] == pytest.approx([0.4, 0.04, 0.004])


def test_grid_values():
    assert space.parse_spec("a", {"type": "int", "low": 1, "high": 3}).grid_values() == [1, 2, 3]
    logs = space.parse_spec("a", {"low": 1e-4, "high": 1e-0, "log": True}).grid_values()
    assert logs[0] == pytest.approx(1e-4) and logs[-1] == pytest.approx(1.0) and len(logs) == 5


def test_check_paths_suggests_the_nearest_path():
    cfg = {"Optimizer": {"lr": {"learning_rate": 0.1}}, "Loss": {"Train": [{"CELoss": {"weight": 1.0}}]}}
    with pytest.raises(UsageError, match="did you mean Optimizer.lr.learning_rate"):
        space.check_paths(space.parse_space({"Optimizer.lr.learning_rat": {"low": 0.01, "high": 0.1}}), cfg)
    # a new key is fine when marked new and its parent exists; not when the parent is missing too
    space.check_paths(space.parse_space({"Loss.Train.0.CELoss.epsilon": {"low": 0.0, "high": 0.2, "new": True}}), cfg)
    with pytest.raises(UsageError, match="unknown path"):
        space.check_paths(space.parse_space({"Loss.Train.1.CELoss.epsilon": {"low": 0.0, "high": 0.2, "new": True}}),
                          cfg)


def test_space_file_reads_plain_exponents_and_env_interpolation(tmp_path, monkeypatch):
    monkeypatch.setenv("MAX_LR", "0.5")
    path = tmp_path / "space.yaml"
    path.write_text("Optimizer.lr.learning_rate: {low: 1e-4, high: '${oc.env:MAX_LR}', log: true}\n")
    (p,) = space.parse_space(space.load_yaml(path))
    assert (p.low, p.high, p.log) == (1e-4, 0.5, True)
    path.write_text("a: {low: [1, \n")
    with pytest.raises(UsageError, match="not a valid space file"):
        space.load_yaml(path)


def test_linear_lr_scaling_is_derived_from_the_total_batch():
    params = space.parse_space({
        "per_device_train_batch_size": {"values": [16, 64]},
        "learning_rate": {"low": 2e-5, "high": 5e-5, "log": True, "reference": 32,
                          "scale_with": ["per_device_train_batch_size", "gradient_accumulation_steps"]},
    })
    cfg = {"gradient_accumulation_steps": 2}
    space.apply_all(params, {"learning_rate": 3e-5, "per_device_train_batch_size": 64}, cfg)
    assert cfg["learning_rate"] == pytest.approx(3e-5 * 64 * 2 / 32)
    with pytest.raises(UsageError, match="reference > 0"):
        space.parse_spec("learning_rate", {"low": 1e-5, "high": 1e-4, "scale_with": "per_device_train_batch_size"})


# issue 28: ranges relative to the config's own value
def test_around_config_is_centred_on_the_value_and_bounded_by_low_high():
    p = space.parse_spec("Optimizer.lr.learning_rate", {"around": "config", "factor": 10, "log": True, "high": 1.0})
    (resolved,) = space.centre_on([p], {"Optimizer": {"lr": {"learning_rate": 0.32}}})
    assert (resolved.low, resolved.high, resolved.log) == (pytest.approx(0.032), 1.0, True)
    assert resolved.distribution().low == pytest.approx(0.032)
    # the config's own value stays inside even where it passes the bound
    (over,) = space.centre_on([p], {"Optimizer": {"lr": {"learning_rate": 1.3}}})
    assert over.high == 1.3 and over.contains(1.3)


def test_around_config_int_and_fallback_where_the_config_has_no_value():
    p = space.parse_spec("warmup", {"type": "int", "around": "config", "factor": 3, "low": 0,
                                    "otherwise": {"low": 0, "high": 5}})
    assert [(q.low, q.high) for q in space.centre_on([p], {"warmup": 5})] == [(1, 15)]
    assert [(q.low, q.high) for q in space.centre_on([p], {"warmup": 0})] == [(0, 5)]
    bare = space.parse_spec("wd", {"around": "config"})
    with pytest.raises(UsageError, match="otherwise"):
        space.centre_on([bare], {"wd": 0.0})


def test_around_config_on_the_command_line():
    p = space.parse_inline("LearningRate.base_lr=log:around:10:1e-6:1")
    assert (p.around, p.factor, p.log, p.domain) == ("config", 10, True, [1e-6, 1])
    (q,) = space.centre_on([p], {"LearningRate": {"base_lr": 1e-4}})
    assert (q.low, q.high) == (pytest.approx(1e-5), pytest.approx(1e-3))
    for bad, message in (("x=around:1", "factor must be > 1"), ("x=around:10:1", "around takes a factor")):
        with pytest.raises(UsageError, match=message):
            space.parse_inline(bad)
