"""Overrides (-o) without eval(), dotted-path edits, and the config export round trip through ppcls."""

import pytest

from paddle_autotune_plugins.adapters.paddleclas.adapter import ClasAdapter
from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import dotpath


def test_overrides_are_parsed_as_literals_never_evaluated():
    cfg = {"Global": {"epochs": 1, "device": "gpu", "eval_during_train": False, "output_dir": "o"},
           "Arch": {"name": "x"}, "Optimizer": {"lr": {"values": [1.0]}}}
    ClasAdapter().apply_overrides(cfg, ["Global.epochs=3", "Optimizer.lr.values=[0.1, 0.01]", "Global.device=cpu",
                                        "Global.eval_during_train=True", "Arch.name=__import__('os').getcwd()",
                                        "Global.output_dir=a=b"])
    assert cfg["Global"]["epochs"] == 3
    assert cfg["Optimizer"]["lr"]["values"] == [0.1, 0.01]
    assert cfg["Global"]["eval_during_train"] is True
    assert cfg["Arch"]["name"] == "__import__('os').getcwd()"  # a string, not code that ran
    assert cfg["Global"]["output_dir"] == "a=b"
    with pytest.raises(UsageError, match="-o 'Global.epochs' must be KEY=VALUE"):
        ClasAdapter().apply_overrides(cfg, ["Global.epochs"])


def test_overrides_reach_list_items_and_reject_unknown_parents():
    cfg = {"Global": {"epochs": 1}, "Loss": {"Train": [{"CELoss": {"weight": 1.0}}]}}
    ClasAdapter().apply_overrides(cfg, ["Loss.Train.0.CELoss.epsilon=0.1", "Global.epochs=5"])
    assert cfg["Loss"]["Train"][0]["CELoss"] == {"weight": 1.0, "epsilon": 0.1}
    assert cfg["Global"]["epochs"] == 5
    with pytest.raises(UsageError, match="did you mean Global"):
        ClasAdapter().apply_overrides(cfg, ["Globl.epochs=5"])


def test_dotpath_nearest_and_set():
    cfg = {"Optimizer": {"lr": {"learning_rate": 0.1, "name": "Cosine"}}}
    assert dotpath.nearest(cfg, "Optimizer.lr.learning_rat")[0] == "Optimizer.lr.learning_rate"
    dotpath.set_(cfg, "Optimizer.lr.learning_rate", 0.5)
    assert dotpath.get(cfg, "Optimizer.lr.learning_rate") == 0.5
    assert not dotpath.has(cfg, "Optimizer.momentum")


def test_nlp_flags_keep_words_as_argparse_reads_them():
    from paddle_autotune_plugins.suites.flags import parse_flags, to_flags

    args = parse_flags(["--save_strategy", "no", "--learning_rate", "1e-3", "--do_train", "--report_to", "none",
                        "visualdl", "--disable_tqdm", "True", "--output_dir=out", "--seed", "7"])
    assert args == {"save_strategy": "no", "learning_rate": 1e-3, "do_train": True,
                    "report_to": ["none", "visualdl"], "disable_tqdm": True, "output_dir": "out", "seed": 7}
    assert to_flags(args)[:4] == ["--save_strategy", "no", "--learning_rate", "0.001"]
    assert "--report_to" in to_flags(args) and to_flags(args)[-4:] == ["--output_dir", "out", "--seed", "7"]
