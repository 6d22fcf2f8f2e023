"""The generic adapter on an argparse script as people write them: metrics logged on stderr with colours,
a store_true switch, a --save_dir that every run would share, flags the command does not give."""
import json

from conftest import autotune, knob_text, read_trials
import pytest
import yaml

from paddle_autotune_plugins.suites.flags import to_flags

SCRIPT = '''
import argparse, os, sys

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--dropout", type=float, default=0.0)  # not on the command: tuned through --help
parser.add_argument("--flip", action="store_true")
parser.add_argument("--save_dir", default="./ckpt")
args = parser.parse_args()
for epoch in range(1, args.epochs + 1):
    print(f"step {epoch * 10} loss: 0.1 acc: 7.0", file=sys.stderr)  # a training line: not a report
    acc = 1 - (args.lr - 0.3) ** 2 - args.dropout / 10 + (0.05 if args.flip else 0) + epoch / 100
    print(f"\\x1b[32mepoch {epoch}\\x1b[0m \\x1b[1macc\\x1b[0m: {acc:.4f}", file=sys.stderr)  # coloured name
    os.makedirs(args.save_dir, exist_ok=True)
    with open(os.path.join(args.save_dir, "model.pdparams"), "w") as f:
        f.write(f"{args.lr} {args.dropout} {args.flip}")
'''


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _knob_verdicts(out):
    """{trial number: the coordinator's knob check}, as `paddle-autotune show` reads it from the study."""
    from paddle_autotune_plugins.report.load import load_study

    return {t.number: knob_text(t) for t in load_study(out).trials}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("generic")
    (root / "train.py").write_text(SCRIPT)
    (root / "space.yaml").write_text(yaml.safe_dump({
        "lr": {"low": 0.2, "high": 0.4}, "dropout": {"low": 0.0, "high": 0.5},
        "flip": {"type": "categorical", "choices": [True, False]},
        "enqueue": [{"flip": True}, {"flip": False}]}))
    out = root / "out"
    proc = autotune(["train.py", "--lr", "0.1", "--autotune", "--space", "space.yaml", "--metric", "acc",
                     "--trials", "3", "--pruner", "none", "--out", str(out)], cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, out


def test_metric_read_from_stderr_without_colours_or_training_lines(study):
    _, out = study
    for n in range(3):
        reports = [r for r in _jsonl(out / f"trial_{n:04d}" / "metrics.jsonl") if "step" in r]
        assert [r["step"] for r in reports] == [1, 2]
        assert all(r["metrics"]["acc"] < 2 for r in reports)


def test_flag_listed_by_help_is_tuned_without_new(study):
    _, out = study
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3
    assert float(rows[0]["dropout"]) == 0.0  # not given: trial 0 trains with the script's default=0.0
    assert "--dropout" in (out / "trial_0001" / "command.txt").read_text()


def test_switch_passed_bare_or_left_out(study):
    _, out = study
    for n, on in ((1, True), (2, False)):
        tokens = (out / f"trial_{n:04d}" / "command.txt").read_text().split()
        assert ("--flip" in tokens) is on and "true" not in tokens and "false" not in tokens


def test_save_dir_per_trial_and_best_weights_kept(study):
    root, out = study
    assert not (root / "ckpt").exists()
    assert not list(out.glob("trial_*/save_dir"))
    best = int((out / "best" / "trial.txt").read_text().split()[1])
    cfg = yaml.safe_load((out / f"trial_{best:04d}" / "config.yaml").read_text())
    assert cfg["save_dir"] == str(out / f"trial_{best:04d}" / "save_dir")
    assert (out / "best" / "model.pdparams").read_text().split()[0] == str(cfg["lr"])
    exported = yaml.safe_load((out / "best_config.yaml").read_text())
    assert "save_dir" not in exported
    assert (out / "best_command.txt").read_text().splitlines()[-1].endswith(" ".join(to_flags(exported, {"flip"})))


def test_parsed_flags_reported_as_used(study):
    _, out = study
    for row in read_trials(out)[1:]:
        trial = out / f"trial_{int(row['number']):04d}"
        used = [r["used"] for r in _jsonl(trial / "metrics.jsonl") if "used" in r]
        params = json.loads((trial / "params.json").read_text())
        assert used == [{"lr": pytest.approx(params["lr"]), "dropout": pytest.approx(params["dropout"]),
                         "flip": params["flip"]}]
        assert _knob_verdicts(out)[int(row["number"])] == "ok (3 read)" and "knob" not in row["reason"], row


def test_flag_the_help_does_not_list_exits_2(tmp_path):
    (tmp_path / "train.py").write_text(SCRIPT)
    (tmp_path / "space.yaml").write_text("dropuot: {low: 0.0, high: 0.5}\n")
    proc = autotune(["train.py", "--autotune", "--space", "space.yaml", "--metric", "acc"], cwd=tmp_path)
    assert proc.returncode == 2 and "'dropuot' is not a flag of the command" in proc.stderr
    assert "its --help does not list it" in proc.stderr


def test_one_adapter_serves_two_tasks_with_their_own_outputs_and_switches(tmp_path, monkeypatch):
    """Per-task facts (the script's --help, its output flags) live on the task, so an adapter object that
    loaded a second task still runs the first one's trials as the first one's."""
    from paddle_autotune_plugins.adapters.generic.adapter import GenericAdapter

    (tmp_path / "train.py").write_text(SCRIPT)
    (tmp_path / "other.py").write_text("import sys\nprint('acc: 1.0')\n")  # not argparse: no --help asked
    monkeypatch.chdir(tmp_path)
    adapter = GenericAdapter()
    first = adapter.load("train.py", ["--lr", "0.1", "--flip"])
    second = adapter.load("other.py", ["--lr", "0.2"])
    cfg = adapter.prepare_trial(first, first.fresh_config(), tmp_path / "trial_0001", 0)
    assert cfg["save_dir"] == str(tmp_path / "trial_0001" / "save_dir")
    cmd = adapter.trial_command(first, str(tmp_path / "trial_0001" / "config.yaml"), cfg=cfg)
    assert cmd[-5:] == ["--lr", "0.1", "--flip", "--save_dir", str(tmp_path / "trial_0001" / "save_dir")]
    assert adapter.trial_outputs(first, cfg) == [str(tmp_path / "trial_0001" / "save_dir")]
    assert adapter.export_config(first, cfg) == {"lr": 0.1, "flip": True}  # the script's own default back
    other = adapter.prepare_trial(second, second.fresh_config(), tmp_path / "trial_0002", 0)
    assert other == {"lr": 0.2} and adapter.trial_outputs(second, other) == []


def test_a_study_says_when_pruning_waits_for_the_baselines_length(tmp_path):
    (tmp_path / "train.py").write_text(SCRIPT)
    for pruner, noted in (("asha", True), ("asha:2", False)):
        proc = autotune(["train.py", "--autotune", "--param", "lr=float:0.2:0.4", "--metric", "acc", "--trials", "1",
                         "--pruner", pruner, "--out", str(tmp_path / pruner.replace(":", "_"))], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert ("no trial is pruned until the baseline (trial 0) has finished" in proc.stderr) == noted, \
            (pruner, proc.stderr[-2000:])


def test_a_study_whose_baseline_fails_stops_there(tmp_path):
    """A script that cannot work (its data file is missing) fails the baseline: the study stops after it,
    exit 1 with the reason, and suggests no report of a study with nothing to report."""
    (tmp_path / "train.py").write_text("import argparse\np = argparse.ArgumentParser()\n"
                                       "p.add_argument('--lr', type=float, default=0.1)\np.parse_args()\n"
                                       "open('./dataset/train_list.txt')\n")
    proc = autotune(["train.py", "--lr", "0.1", "--autotune", "--param", "lr=0.01:1", "--metric", "acc",
                     "--trials", "10", "--out", str(tmp_path / "out")], cwd=tmp_path, timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert [r["state"] for r in read_trials(tmp_path / "out")] == ["FAIL"]
    assert "stopped by: the baseline (trial 0, your config as given) failed: exit code 1: FileNotFoundError" \
           in proc.stdout
    assert "paddle-autotune report" not in proc.stdout and "Next:" not in proc.stdout
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "paddle-autotune: error: no trial completed; the first failure, trial 0: exit code 1: FileNotFoundError")


def test_a_resumed_study_moves_the_best_trials_weights_it_had_not_kept(tmp_path):
    """A coordinator stopped between the best trial's tell and moving its weights to best/ (simulated: the
    weights put back in the trial's save_dir, best/ holding another trial's): the same command again moves them."""
    (tmp_path / "train.py").write_text(SCRIPT)
    command = ["train.py", "--autotune", "--param", "lr=0.2:0.4", "--metric", "acc", "--trials", "3",
               "--pruner", "none", "--out", str(tmp_path / "out")]
    assert autotune(command, cwd=tmp_path).returncode == 0
    out = tmp_path / "out"
    best = int((out / "best" / "trial.txt").read_text().split()[1])
    other = next(n for n in range(3) if n != best)
    kept = (out / "best" / "model.pdparams").read_text()
    (out / f"trial_{best:04d}" / "save_dir").mkdir()
    (out / "best" / "model.pdparams").rename(out / f"trial_{best:04d}" / "save_dir" / "model.pdparams")
    (out / "best" / "model.pdparams").write_text("an older best's weights")
    (out / "best" / "trial.txt").write_text(f"trial {other}\n")

    proc = autotune(command, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"best/: the weights of trial {best}, the best, moved there now" in proc.stderr, proc.stderr
    assert (out / "best" / "model.pdparams").read_text() == kept
    assert (out / "best" / "trial.txt").read_text() == f"trial {best}\n"
    assert not (out / f"trial_{best:04d}" / "save_dir").exists()
    again = autotune(command, cwd=tmp_path)  # in agreement now: nothing moves, nothing said
    assert again.returncode == 0 and "best/:" not in again.stderr
