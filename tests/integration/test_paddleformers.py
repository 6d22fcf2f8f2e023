"""PaddleFormers (issue 30): its Trainer scripts are nlp scripts that run in the second environment
(.venv-paddleformers, `make setup-paddleformers`); best/ keeps the final model in the format it was saved in."""
import json
import os
import subprocess

from conftest import PYTHON, REPO
import pytest
import yaml

from paddle_autotune_plugins.adapters.paddlenlp import paddleformers_env

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


def test_no_paddleformers_python_exits_2_naming_the_setup(pf_script, tmp_path):
    env = dict(os.environ, **{paddleformers_env.ENV_VAR: str(tmp_path / "no-such-python")})
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", str(pf_script), "--output_dir", "o",
                           "--autotune", "--preset", "ernie-finetune", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "make setup-paddleformers" in lines[0] and paddleformers_env.ENV_VAR in lines[0]
    assert not (tmp_path / "out").exists()


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
