"""The command line as the suites' users type it: ranges inline (--param), a command under
paddle.distributed.launch pasted before --autotune, the help texts, the closing summary, and exports
that point output_dir where best_config.yaml does.

Studies here run a small argparse script through the generic adapter (real processes, seconds); the
launcher's trials run the real paddle.distributed.launch, which runs on the CPU build too, with GPU ids
that Paddle is told it sees (as on a GPU machine): what is checked is what a trial is given, its
command.txt and CUDA_VISIBLE_DEVICES.
"""
import json
import re
import shlex

from cli_script import write_script
from conftest import autotune, read_trials
import pytest
import yaml

from paddle_autotune_plugins import cli
from paddle_autotune_plugins.suites import adapter as adapter_module


@pytest.fixture(scope="module")
def inline_study(tmp_path_factory):
    """--param beside a --space file that tunes one of the same paths: the --param range wins there."""
    root = tmp_path_factory.mktemp("inline")
    write_script(root)
    (root / "space.yaml").write_text(yaml.safe_dump({"lr": {"low": 0.5, "high": 0.9},
                                                     "momentum": {"low": 0.8, "high": 0.95}}))
    out = root / "out"
    proc = autotune(["train.py", "--lr", "0.1", "--output_dir", "my_model", "--autotune", "--space", "space.yaml",
                     "--param", "lr=log:1e-3:1e-1", "--param", "batch_size=choice:16,32,64",
                     "--param", "epochs=int:1:3", "--metric", "val_acc", "--sampler", "random", "--prior", "none", "--trials", "6",
                     "--pruner", "none", "--out", str(out)], cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, out, proc


def test_inline_ranges_are_sampled_and_reach_the_trials(inline_study):
    _, out, proc = inline_study
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 6
    for row in rows[1:]:
        trial = out / f"trial_{int(row['number']):04d}"
        cfg = yaml.safe_load((trial / "config.yaml").read_text())
        assert 1e-3 <= cfg["lr"] <= 1e-1  # --param's range, not the file's [0.5, 0.9]
        assert cfg["batch_size"] in (16, 32, 64) and cfg["epochs"] in (1, 2, 3)
        assert isinstance(cfg["epochs"], int) and isinstance(cfg["batch_size"], int)
        assert 0.8 <= cfg["momentum"] <= 0.95  # the space file's other path is still tuned
        tokens = shlex.split((trial / "command.txt").read_text())
        assert float(tokens[tokens.index("--lr") + 1]) == pytest.approx(cfg["lr"])
        assert tokens[tokens.index("--batch_size") + 1] == str(cfg["batch_size"])
        assert json.loads((trial / "params.json").read_text())["lr"] == pytest.approx(cfg["lr"])
        reports = [json.loads(line) for line in (trial / "metrics.jsonl").read_text().splitlines() if line.strip()]
        assert len([r for r in reports if "metrics" in r]) == cfg["epochs"]  # the script trained that many
    assert len({r["lr"] for r in rows[1:]}) == 5
    err = proc.stderr
    assert "lr: float [0.001, 0.1] log" in err and "batch_size: categorical [16, 32, 64]" in err
    assert "--param lr=log:1e-3:1e-1 replaces the --space spec float [0.5, 0.9]" in err


# --- the summary and the exports ------------------------------------------------------------------------
def test_summary_rounds_and_names_the_next_commands(inline_study):
    _, out, proc = inline_study
    lines = proc.stdout.splitlines()
    best = yaml.safe_load((out / "best_config.yaml").read_text())
    shown = {m.group(1): m.group(2) for m in (re.match(r"\s+(\w+) = (\S+)$", line) for line in lines) if m}
    assert set(shown) == {"lr", "momentum", "batch_size", "epochs"}
    for name in ("lr", "momentum"):
        assert _significant(shown[name]) <= 4, shown[name]  # 4 significant digits on screen
        assert float(shown[name]) == pytest.approx(best[name], rel=1e-3)
        assert len(repr(best[name])) > len(shown[name])  # the file keeps every digit
    assert shown["batch_size"] == str(best["batch_size"])
    value = re.search(r"best\s+\(trial \d+\): val_acc = (\S+)$", proc.stdout, re.M).group(1)
    assert _significant(value) <= 4
    assert float(value) == pytest.approx(max(float(r["value"]) for r in read_trials(out)), rel=1e-3)
    for command in ("report", "dashboard", "export"):
        assert any(line.strip().startswith(f"paddle-autotune {command} --out {out}") for line in lines), command


def _significant(text):
    """Significant digits of a number as printed: 0.005612 -> 4, 1.235e-05 -> 4, 16 -> 2."""
    mantissa = text.lstrip("-+").split("e")[0].replace(".", "")
    return len(mantissa.lstrip("0")) or 1


def test_export_points_output_dir_where_best_config_does(inline_study):
    root, out, _ = inline_study
    best_number = int((out / "best" / "trial.txt").read_text().split()[1])
    other = next(int(r["number"]) for r in read_trials(out) if int(r["number"]) != best_number)
    assert yaml.safe_load((out / f"trial_{other:04d}" / "config.yaml").read_text())["output_dir"] == \
        str(out / f"trial_{other:04d}" / "output")
    for n in (best_number, other):
        proc = autotune(["export", "--out", str(out), "--trial", str(n)], cwd=root)
        assert proc.returncode == 0, proc.stderr[-2000:]
        exported = yaml.safe_load((out / "export" / f"trial_{n:04d}_config.yaml").read_text())
        trial_cfg = yaml.safe_load((out / f"trial_{n:04d}" / "config.yaml").read_text())
        assert exported["output_dir"] == "my_model"
        assert exported == dict(trial_cfg, output_dir="my_model")
    best = yaml.safe_load((out / "best_config.yaml").read_text())
    assert yaml.safe_load((out / "export" / f"trial_{best_number:04d}_config.yaml").read_text()) == best


# --- a command under paddle.distributed.launch ----------------------------------------------------------
@pytest.fixture()
def sees_gpus(monkeypatch):
    """Paddle is told it sees 4 GPUs (no GPU here: trials run on the CPU build, under the real launcher)."""
    monkeypatch.setattr(adapter_module, "visible_gpus", lambda: 4)


def _launched(tmp_path, monkeypatch, launcher, tuning):
    monkeypatch.chdir(tmp_path)
    write_script(tmp_path)
    out = tmp_path / "out"
    code = cli.main(["-m", "paddle.distributed.launch"] + launcher + ["train.py", "--lr", "0.1", "--autotune",
                    "--param", "lr=0.01:0.1", "--metric", "val_acc", "--pruner", "none", "--quiet",
                    "--out", str(out)] + tuning)
    assert code == 0
    rows = read_trials(out)
    assert rows and all(r["state"] == "COMPLETE" for r in rows), rows
    return out, [(out / f"trial_{int(r['number']):04d}" / "command.txt").read_text() for r in rows]


def test_launcher_kept_for_each_trial_with_its_gpus(tmp_path, monkeypatch, sees_gpus):
    out, commands = _launched(tmp_path, monkeypatch, ["--gpus", "0,1", "--log_dir", "shared_log",
                                                      "--log_level", "DEBUG"], ["--trials", "1"])
    env, _, line = commands[0].partition(" ")
    assert env == "CUDA_VISIBLE_DEVICES=0,1"
    argv = shlex.split(line)
    assert argv[1:3] == ["-m", "paddle.distributed.launch"]
    assert argv[argv.index("--devices") + 1] == "0,1" and "--gpus" not in argv
    assert argv[argv.index("--log_level") + 1] == "DEBUG"  # the user's other launcher options are kept
    assert argv[argv.index("--log_dir") + 1] == str(out / "trial_0000" / "launch_log")  # not one shared log
    script = argv.index(str(tmp_path / "train.py"))
    assert argv[script - 2].endswith("run_trial.py") and argv[script + 1:script + 3] == ["--lr", "0.1"]
    assert (out / "trial_0000" / "launch_log").is_dir() and not (tmp_path / "shared_log").exists()


def test_launcher_sets_are_placed_on_the_study_pool(tmp_path, monkeypatch, sees_gpus):
    """--gpus 0,1,2,3 of the tuning options and the launcher's --gpus 0,1: two trials at once, a pair each."""
    out, commands = _launched(tmp_path, monkeypatch, ["--gpus=0,1"], ["--gpus", "0,1,2,3", "--trials", "2"])
    seen = sorted(c.split()[0] for c in commands)
    assert seen == ["CUDA_VISIBLE_DEVICES=0,1", "CUDA_VISIBLE_DEVICES=2,3"]
    for c in commands:  # the launcher looks its --devices up in CUDA_VISIBLE_DEVICES: the same ids
        argv = shlex.split(c)
        assert argv[0] == f"CUDA_VISIBLE_DEVICES={argv[argv.index('--devices') + 1]}"
    assert all("'0' is not in list" not in (out / f"trial_{n:04d}" / "train.log").read_text() for n in (0, 1))


def test_launcher_without_gpus_is_kept_as_given(tmp_path, monkeypatch):
    """No --gpus anywhere (the launcher picks its devices, here the CPU): each trial still runs under it."""
    out, commands = _launched(tmp_path, monkeypatch, ["--nproc_per_node", "1"], ["--trials", "1"])
    argv = shlex.split(commands[0])
    assert argv[1:5] == ["-m", "paddle.distributed.launch", "--nproc_per_node", "1"]
    assert "--devices" not in argv and not commands[0].startswith("CUDA_VISIBLE_DEVICES")
    assert yaml.safe_load((out / "best_config.yaml").read_text())["lr"] == 0.1


def test_launcher_gpus_on_a_cpu_build_stop_before_any_trial(tmp_path):
    if adapter_module.visible_gpus():
        pytest.skip("this Paddle build sees GPUs")
    write_script(tmp_path)
    proc = autotune(["-m", "paddle.distributed.launch", "--gpus", "0,1", "train.py", "--autotune", "--param",
                     "lr=0.01:0.1", "--metric", "val_acc", "--out", str(tmp_path / "out")], cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--gpus 0,1: this Paddle build has no CUDA" in proc.stderr
    assert not (tmp_path / "out" / "trial_0000").exists()


def test_the_same_command_again_says_it_resumes(tmp_path):
    """Run again, a study's first lines say it goes on from the trials it holds (before, only the progress line's
    count "2/3 done" at its first trial told)."""
    write_script(tmp_path)
    command = ["train.py", "--lr", "0.1", "--autotune", "--param", "lr=log:1e-3:1", "--metric", "val_acc",
               "--pruner", "none", "--out", str(tmp_path / "out")]
    first = autotune(command + ["--trials", "2"], cwd=tmp_path)
    assert first.returncode == 0 and "resuming" not in first.stderr, first.stderr[-3000:]
    best = max(float(r["value"]) for r in read_trials(tmp_path / "out"))
    again = autotune(command + ["--trials", "3"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming: the study already holds 2 finished trial(s), best val_acc={best:.4f}; this run goes on " \
           f"to 3 trials" in again.stderr, again.stderr[-3000:]
