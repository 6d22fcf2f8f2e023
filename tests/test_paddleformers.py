"""PaddleFormers (issue 30): its Trainer scripts are nlp scripts that run in the second environment
(.venv-paddleformers, `make setup-paddleformers`); best/ keeps the final model in the format it was saved in."""
import json
import os
import pathlib
import stat
import subprocess
import types

import pytest
import yaml

from conftest import PYTHON, REPO, read_trials
from paddle_autotune_plugins.adapter import detect_adapter, python
from paddle_autotune_plugins.adapters.paddlenlp import paddleformers_env
from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.flag_scripts import Outputs

SCRIPT = REPO / "adapters" / "paddlenlp" / "train_ernie45_cls.py"
PF_PYTHON = REPO / paddleformers_env.VENV / "bin" / "python"
needs_pf_env = pytest.mark.skipif(not PF_PYTHON.exists(), reason="make setup-paddleformers enables these tests")

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


# ---------------------------------------------------------------- detection and the interpreter

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


def test_no_paddleformers_python_exits_2_naming_the_setup(pf_script, tmp_path):
    env = dict(os.environ, **{paddleformers_env.ENV_VAR: str(tmp_path / "no-such-python")})
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", str(pf_script), "--output_dir", "o",
                           "--autotune", "--preset", "ernie-finetune", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "make setup-paddleformers" in lines[0] and paddleformers_env.ENV_VAR in lines[0]
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- the final model in best/

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


# ---------------------------------------------------------------- the callback: evaluations of train() only

def test_the_evaluate_after_training_is_not_one_more_report(tmp_path, monkeypatch):
    from paddle_autotune_plugins.adapters.paddlenlp import callback
    from paddle_autotune_plugins.reporting import read_reports

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


# ---------------------------------------------------------------- real trainings in the second environment

@pytest.mark.e2e
@needs_pf_env
def test_trainer_script_study_reports_each_epoch_and_keeps_the_final_model(tmp_path):
    """A tiny random-init ERNIE 4.5 on PaddleFormers' Trainer, three trials of three epochs: the nlp adapter with
    the ernie-finetune preset, one report per epoch (the script's final evaluate() and log_metrics table are
    not reports), no trial cut at its first evaluation, and best/ holding the model_state/*.distcp it saved."""
    out = tmp_path / "out"
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", str(SCRIPT), "--output_dir", "ckpt",
                           "--max_train", "160", "--max_dev", "80", "--learning_rate", "1e-3",
                           "--num_train_epochs", "3", "--evaluation_strategy", "epoch", "--save_strategy", "epoch",
                           "--amp_master_grad", "false", "--report_to", "none",
                           "--autotune", "--preset", "ernie-finetune", "--trials", "3", "--seed", "0",
                           "--out", str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "suite nlp" in proc.stderr
    rows = read_trials(out)
    assert len(rows) == 3 and rows[0]["reason"].startswith("baseline")
    for r in rows:
        lines = (out / f"trial_{int(r['number']):04d}" / "metrics.jsonl").read_text().splitlines()
        steps = [json.loads(line)["step"] for line in lines if '"step"' in line]
        assert steps == list(range(1, len(steps) + 1))  # epochs 1, 2, ... each once
        assert len(steps) == 3 if r["state"] == "COMPLETE" else 2 <= len(steps) < 3, (r, steps)
    best = out / "best"
    assert list((best / "model_state").glob("*.distcp")) and (best / "training_args.bin").exists()
    assert list(best.glob("checkpoint-*/model_state/*.distcp"))
    assert not (tmp_path / "ckpt").exists()  # trials wrote into their own folders


# ---------------------------------------------------------------- paddleformers-cli train CONFIG.yaml

SFT_MAKER = REPO / "adapters" / "paddlenlp" / "tiny_ernie45_sft.py"


def test_paddleformers_cli_command_is_train_a_config_then_items():
    from paddle_autotune_plugins.adapters.paddlenlp.paddleformers_cli import parse_command

    assert parse_command(["train", "sft.yaml", "learning_rate=2e-4", "lora_rank=4"]) == \
        ("sft.yaml", {"learning_rate": 2e-4, "lora_rank": 4})
    for argv, message in ((["export", "sft.yaml"], "only 'train' is tuned"), (["train"], "needs a YAML config"),
                          (["train", "sft.yaml", "--lr", "1"], "items after the config are key=value")):
        with pytest.raises(UsageError, match=message):
            parse_command(argv)


def test_paddleformers_cli_with_a_missing_config_exits_2(tmp_path):
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", "paddleformers-cli", "train", "nope.yaml",
                           "--autotune", "--preset", "ernie-sft", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "config file not found" in lines[0] and "nope.yaml" in lines[0]


def _write_sft_yaml(folder, **changes):
    from paddle_autotune_plugins.adapters.paddlenlp.tiny_ernie45_sft import sft_config

    cfg = dict(sft_config("./tiny_model", "./train.jsonl", "./dev.jsonl"), **changes)
    path = folder / "sft.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@needs_pf_env
def test_paddleformers_cli_dry_run_gives_each_trial_its_config_and_centres_the_preset(tmp_path):
    _write_sft_yaml(tmp_path)
    for name in ("train.jsonl", "dev.jsonl"):
        (tmp_path / name).write_text("")
    out = tmp_path / "out"
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", "paddleformers-cli", "train", "sft.yaml",
                           "learning_rate=2e-4", "--autotune", "--preset", "ernie-sft", "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    said = proc.stdout + proc.stderr
    for line in ("learning_rate: float [6.66667e-05, 0.0006] log; centred on the config's 0.0002",
                 "warmup_steps: int [0, 6]; centred on the config's 2",
                 "per_device_train_batch_size: int [4, 16] log; centred on the config's 8",
                 "lora_rank: int [2, 32] log; centred on the config's 8",
                 "lora_alpha: float [4, 64] log; centred on the config's 16"):
        assert line in said, said
    assert "metric eval_loss (minimize)" in said
    trial = out / "dry-run" / "trial_0000"
    cfg = json.loads((trial / "config.json").read_text())
    assert cfg["output_dir"] == str(trial / "output") and cfg["learning_rate"] == 2e-4
    assert f"cli/launcher.py train {trial / 'config.json'}" in said  # in-process, with the hooks


@needs_pf_env
def test_paddleformers_cli_missing_data_exits_2(tmp_path):
    _write_sft_yaml(tmp_path)
    (tmp_path / "train.jsonl").write_text("")
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", "paddleformers-cli", "train", "sft.yaml",
                           "--autotune", "--preset", "ernie-sft", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"paddle-autotune: error: data not found: eval_dataset_path = ./dev.jsonl (the trainer looks for "
        f"{tmp_path / 'dev.jsonl'}); point it at your data with eval_dataset_path: PATH in the config (or "
        f"eval_dataset_path=PATH after it)")
    assert not (tmp_path / "out").exists()


@needs_pf_env
def test_paddleformers_cli_config_key_typo_exits_2(tmp_path):
    path = _write_sft_yaml(tmp_path, learning_rat=1e-3)
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", "paddleformers-cli", "train", str(path),
                           "--autotune", "--preset", "ernie-sft", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2
    assert "unknown argument 'learning_rat'" in proc.stderr and "--learning_rate" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.e2e
@needs_pf_env
def test_paddleformers_cli_study_reports_each_evaluation_and_keeps_the_lora_model(tmp_path):
    """Two LoRA SFT trials of a tiny random-init ERNIE 4.5 through paddleformers-cli's own workflow: eval_loss
    at each evaluation step, best/ holding the saved adapter (peft_model*.safetensors) and its checkpoints,
    best_config.yaml with the user's output_dir back."""
    made = subprocess.run([str(PF_PYTHON), str(SFT_MAKER), str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    out = tmp_path / "out"
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", "paddleformers-cli", "train", "sft.yaml",
                           "--autotune", "--preset", "ernie-sft", "--trials", "2", "--seed", "0", "--out", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"], rows
    lines = (out / "trial_0000" / "metrics.jsonl").read_text().splitlines()
    reports = [json.loads(line) for line in lines if '"step"' in line]
    assert [r["step"] for r in reports] == [5, 10, 15, 20]  # each evaluation once; not the final evaluate()
    assert float(rows[0]["value"]) == pytest.approx(reports[-1]["metrics"]["eval_loss"], rel=1e-5)
    best = out / "best"
    assert list(best.glob("peft_model*.safetensors")) and list(best.glob("checkpoint-*"))
    assert yaml.safe_load((out / "best_config.yaml").read_text())["output_dir"] == "checkpoints"
    assert not (tmp_path / "checkpoints").exists()


def test_a_suite_preset_on_a_generic_script_names_the_fix_that_exists(tmp_path):
    """Issue 30: --preset ernie-finetune on a script the generic adapter takes pointed to 'generic presets',
    which do not exist."""
    script = tmp_path / "train.py"
    script.write_text("import argparse\nargparse.ArgumentParser().add_argument('--learning_rate').parse_args()\n")
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", str(script), "--learning_rate", "0.1",
                           "--autotune", "--preset", "ernie-finetune", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "the generic suite has no presets: give --space FILE.yaml or --param" in lines[0]
