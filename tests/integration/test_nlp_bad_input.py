"""PaddleNLP: bad input to the ERNIE demo's command exits 2 with one line, before any trial."""
import re

import pytest

from paddle_autotune_plugins import cli
from paddle_autotune_plugins.adapters.paddlenlp.demo import demo_args


@pytest.fixture()
def ernie_args(tmp_path):
    return demo_args(tmp_path / "cfg", max_train=800, max_dev=200, epochs=3)


@pytest.mark.parametrize("extra, space, message", [
    (["--learning_rat", "1e-3"], None, r"unknown argument 'learning_rat' .*did you mean --learning_rate"),
    ([], "warmup_ratoi: {low: 0.1, high: 0.3}\n", r"unknown tuned argument 'warmup_ratoi'.*--warmup_ratio"),
    ([], "warmup_ratio: {low: 0.1, high: 1.5}\n", r"warmup_ratio = 1.5 is outside what the argument accepts"),
    ([], "learning_rate: {low: -1e-5, high: 1e-3}\n", r"learning_rate = -1e-05 is outside"),
    (["--metric", "eval_acc"], "learning_rate: {low: 1e-5, high: 1e-3}\n", r"unknown metric 'eval_acc'"),
])
def test_bad_nlp_input_exits_2(ernie_args, tmp_path, capsys, extra, space, message):
    args = ["tune", "--suite", "nlp", "-c", str(ernie_args), "--out", str(tmp_path / "out")]
    if space:
        (tmp_path / "space.yaml").write_text(space)
        args += ["--space", str(tmp_path / "space.yaml")]
    else:
        args += ["--preset", "ernie-finetune"]
    code = cli.main(args + extra)
    # a slow --help (a loaded machine) is announced first (flag_scripts.HELP_NOTICE): the error is one line
    err = "\n".join(line for line in capsys.readouterr().err.strip().splitlines()
                    if not line.startswith("[autotune] waiting for "))
    assert code == 2 and len(err.splitlines()) == 1 and re.search(message, err), err
    assert not (tmp_path / "out").exists()
