"""PaddleFormers (issue 30): its Trainer scripts are nlp scripts that run in the second environment
(.venv-paddleformers, `make setup-paddleformers`); best/ keeps the final model in the format it was saved in."""
import pathlib
import stat
import types

import pytest

from paddle_autotune_plugins.adapters.paddlenlp import paddleformers_env
from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.suites.adapter import detect_adapter, python
from paddle_autotune_plugins.suites.flag_scripts import Outputs

TRAINER_SCRIPT = """\
from paddleformers.trainer import PdArgumentParser, Trainer, TrainingArguments

args, = PdArgumentParser((TrainingArguments,)).parse_args_into_dataclasses()
"""


@pytest.fixture()
def pf_script(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAINER_SCRIPT)
    return script


def _executable(path):
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_script_importing_paddleformers_is_an_nlp_script(pf_script):
    assert detect_adapter(str(pf_script)).name == "nlp"


def test_paddleformers_python_is_the_env_var_then_the_project_venv(pf_script, tmp_path, monkeypatch):
    monkeypatch.setattr(paddleformers_env.importlib.util, "find_spec", lambda name: None)
    project = tmp_path / "checkout"
    monkeypatch.setattr(paddleformers_env, "project_root", lambda: project)
    with pytest.raises(UsageError, match="make setup-paddleformers"):
        paddleformers_env.python_for(str(pf_script))
    own = project / paddleformers_env.VENV / "bin" / "python"
    own.parent.mkdir(parents=True)
    _executable(own)
    assert paddleformers_env.python_for(str(pf_script)) == str(own)
    named = _executable(tmp_path / "python-pf")
    monkeypatch.setenv(paddleformers_env.ENV_VAR, str(named))
    assert paddleformers_env.python_for(str(pf_script)) == str(named)
    plain = tmp_path / "plain.py"
    plain.write_text("import paddle\n")
    assert paddleformers_env.python_for(str(plain)) == python()  # other scripts keep the coordinator's Python


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


@pytest.mark.parametrize("final", [["model_state/0_0.distcp", "model_state/0.metadata"],  # PaddleFormers
                                   ["model.safetensors", "config.json"],
                                   ["model_state.pdparams", "config.json"]])
def test_best_files_keep_the_final_model_beside_the_checkpoints(tmp_path, final):
    out = tmp_path / "output"
    for name in final + ["training_args.bin", "checkpoint-50/model_state/0_0.distcp",
                         "checkpoint-50/scheduler.pdparams", "checkpoint-100/model.safetensors"]:
        _touch(out / name)
    (out / "runs").mkdir()  # a log folder: no weights, not kept
    kept = {pathlib.Path(p).name for p in Outputs(["output_dir"], []).best_files({"output_dir": str(out)})}
    tops = {name.split("/")[0] for name in final}
    assert kept == tops | {"training_args.bin", "checkpoint-50", "checkpoint-100"}


def test_best_files_without_a_final_model_keep_the_checkpoints(tmp_path):
    out = tmp_path / "output"
    _touch(out / "checkpoint-50" / "model_state" / "0_0.distcp")
    _touch(out / "training_args.bin")  # the final model was not saved: a lone args file is not kept
    assert Outputs(["output_dir"], []).best_files({"output_dir": str(out)}) == [str(out / "checkpoint-50")]


def test_the_evaluate_after_training_is_not_one_more_report(tmp_path, monkeypatch):
    from paddle_autotune_plugins.adapters.paddlenlp import callback
    from paddle_autotune_plugins.trials.reporting import read_reports

    report_file = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("PADDLE_AUTOTUNE_REPORT", str(report_file))
    args = types.SimpleNamespace(evaluation_strategy="epoch")
    cb = callback.ReportingCallback()
    cb.on_train_begin(args, types.SimpleNamespace(epoch=0, global_step=0), None)
    for epoch in (1, 2):
        cb.on_evaluate(args, types.SimpleNamespace(epoch=float(epoch), global_step=10 * epoch), None,
                       metrics={"eval_accuracy": 0.5 + epoch / 10})
    cb.on_train_end(args, types.SimpleNamespace(epoch=2.0, global_step=20), None)
    cb.on_evaluate(args, types.SimpleNamespace(epoch=2.0, global_step=20), None, metrics={"eval_accuracy": 0.7})
    reports, _ = read_reports(str(report_file))
    assert [(r["step"], r["metrics"]["eval_accuracy"]) for r in reports] == [(1, 0.6), (2, 0.7)]

    # a script that evaluates only after training: that evaluation is its one report
    report_file.unlink()
    only_at_end = callback.ReportingCallback()
    only_at_end.on_train_begin(args, types.SimpleNamespace(epoch=0, global_step=0), None)
    only_at_end.on_train_end(args, types.SimpleNamespace(epoch=3.0, global_step=30), None)
    only_at_end.on_evaluate(args, types.SimpleNamespace(epoch=3.0, global_step=30), None,
                            metrics={"eval_accuracy": 0.8})
    reports, _ = read_reports(str(report_file))
    assert [r["step"] for r in reports] == [3]


def test_paddleformers_cli_command_is_train_a_config_then_items():
    from paddle_autotune_plugins.adapters.paddlenlp.paddleformers_cli import parse_command

    assert parse_command(["train", "sft.yaml", "learning_rate=2e-4", "lora_rank=4"]) == \
        ("sft.yaml", {"learning_rate": 2e-4, "lora_rank": 4})
    for argv, message in ((["export", "sft.yaml"], "only 'train' is tuned"), (["train"], "needs a YAML config"),
                          (["train", "sft.yaml", "--lr", "1"], "items after the config are key=value")):
        with pytest.raises(UsageError, match=message):
            parse_command(argv)
