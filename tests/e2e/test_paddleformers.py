"""PaddleFormers (issue 30): its Trainer scripts are nlp scripts that run in the second environment
(.venv-paddleformers, `make setup-paddleformers`); best/ keeps the final model in the format it was saved in."""
import json
import subprocess

from conftest import PYTHON, REPO, read_trials
import pytest
import yaml

from paddle_autotune_plugins.adapters.paddlenlp import paddleformers_env

SCRIPT = REPO / "adapters" / "paddlenlp" / "train_ernie45_cls.py"
PF_PYTHON = REPO / paddleformers_env.VENV / "bin" / "python"
SFT_MAKER = REPO / "adapters" / "paddlenlp" / "tiny_ernie45_sft.py"
needs_pf_env = pytest.mark.skipif(not PF_PYTHON.exists(), reason="make setup-paddleformers enables these tests")


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
    # the script trains the best config as PaddleFormers scripts take one: a JSON file, then flags
    retrain = subprocess.run([str(PF_PYTHON), str(SCRIPT), str(out / "best_config.json"), "--num_train_epochs", "1",
                              "--output_dir", str(tmp_path / "retrain")], capture_output=True, text=True, timeout=300)
    assert retrain.returncode == 0, retrain.stderr[-2000:]
    assert "eval_accuracy" in retrain.stdout + retrain.stderr


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
    # best_config.yaml trains with paddleformers' own launcher.py, with the plugin's run-time fixes (on a CPU,
    # paddleformers-cli 1.2.0 itself stops at its empty --devices, and its LoRA evaluation needs the GPTModel fix)
    from paddle_autotune_plugins.adapters.paddlenlp import paddleformers_cli

    retrain = subprocess.run([str(PF_PYTHON), "-m", "paddle_autotune_plugins.run_trial", "nlp",
                              paddleformers_cli.launcher(str(PF_PYTHON)), "train", str(out / "best_config.yaml"),
                              f"output_dir={tmp_path / 'retrain'}"], capture_output=True, text=True, cwd=tmp_path,
                             timeout=300)
    assert retrain.returncode == 0, retrain.stderr[-2000:]
    assert "eval_loss" in retrain.stdout + retrain.stderr and list((tmp_path / "retrain").glob("peft_model*"))
