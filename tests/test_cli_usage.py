"""The command line as the suites' users type it: ranges inline (--param), a command under
paddle.distributed.launch pasted before --autotune, the help texts, the closing summary, and exports
that point output_dir where best_config.yaml does.

Studies here run a small argparse script through the generic adapter (real processes, seconds); the
launcher's trials run the real paddle.distributed.launch, which runs on the CPU build too, with GPU ids
that Paddle is told it sees (as on a GPU machine): what is checked is what a trial is given, its
command.txt and CUDA_VISIBLE_DEVICES.
"""
import argparse
import json
import re
import shlex

import optuna
import pytest
import yaml

from conftest import REPO, autotune, read_trials
from paddle_autotune_plugins import adapter as adapter_module
from paddle_autotune_plugins import cli, results, space

SCRIPT = '''
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--momentum", type=float, default=0.9)
parser.add_argument("--batch_size", type=int, default=32)
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--output_dir", default="./ckpt")
args = parser.parse_args()
for epoch in range(1, args.epochs + 1):
    acc = 1 - (args.lr - 0.03) ** 2 - abs(args.batch_size - 32) / 1000 - (args.momentum - 0.9) ** 2
    print(f"epoch {epoch} val_acc: {acc:.6f}", flush=True)
os.makedirs(args.output_dir, exist_ok=True)
with open(os.path.join(args.output_dir, "model.pdparams"), "w") as f:
    f.write(str(args.lr))
'''


def _script(folder):
    path = folder / "train.py"
    path.write_text(SCRIPT)
    return path


@pytest.fixture(scope="module")
def inline_study(tmp_path_factory):
    """--param beside a --space file that tunes one of the same paths: the --param range wins there."""
    root = tmp_path_factory.mktemp("inline")
    _script(root)
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


def test_inline_spec_reads_as_the_space_file_entry():
    """Each spelling gives the same Param as its space-file entry (the table in the README)."""
    pairs = {
        "Optimizer.momentum=0.8:0.99": {"low": 0.8, "high": 0.99},
        "Global.epochs=2:6:2": {"low": 2, "high": 6, "step": 2},
        "Optimizer.lr.learning_rate=log:1e-4:1e-1": {"low": 1e-4, "high": 1e-1, "log": True},
        "Global.epochs=int:2:6": {"type": "int", "low": 2, "high": 6},
        "x=float:1:10": {"type": "float", "low": 1, "high": 10},
        "DataLoader.Train.sampler.batch_size=choice:32,64,128": {"values": [32, 64, 128]},
        "o=choice:adam,sgd": {"values": ["adam", "sgd"]},
        "f=choice:true,false": {"values": [True, False]},
        "m=choice:[8, 11],[16, 22]": {"values": [[8, 11], [16, 22]]},
        "w=choice:1e-4,1e-3": {"values": [1e-4, 1e-3]},
        "Optimizer.lr.warmup_epoch=new:int:0:5": {"type": "int", "low": 0, "high": 5, "new": True},
        "n=int:log:1:64": {"type": "int", "low": 1, "high": 64, "log": True},
    }
    for text, spec in pairs.items():
        name = text.split("=", 1)[0]
        assert space.parse_inline(text) == space.parse_spec(name, spec), text
    assert space.parse_inline("Global.epochs=2:6").kind == "int" and space.parse_inline("x=2.0:6").kind == "float"


def test_inline_clash_with_a_preset_takes_the_param(digits_config):
    """A path in a preset and in --param: the --param range is the one tuned, with a note saying so."""
    from paddle_autotune_plugins.adapters.paddleclas.adapter import ClasAdapter

    task = ClasAdapter().load(None, ["-c", str(digits_config)])
    opts = argparse.Namespace(preset=["clas-momentum"], space=None,
                              param=["Optimizer.momentum=0.5:0.6", "Optimizer.lr.learning_rate=log:1e-3:1e-2"])
    params, notes = cli.build_params(task, opts)
    by_name = {p.name: p for p in params}
    assert (by_name["Optimizer.momentum"].low, by_name["Optimizer.momentum"].high) == (0.5, 0.6)
    assert by_name["Optimizer.lr.learning_rate"].log and by_name["Optimizer.lr.learning_rate"].high == 1e-2
    assert any(n.startswith("--param Optimizer.momentum=0.5:0.6 replaces the --preset spec float [") for n in notes)
    alone, _ = cli.build_params(task, argparse.Namespace(preset=["clas-momentum"], space=None, param=[]))
    assert {p.name: (p.low, p.high) for p in alone}["Optimizer.momentum"] != (0.5, 0.6)


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


def test_summary_of_a_study_in_a_storage_names_it():
    study = optuna.create_study(direction="maximize", study_name="shared")
    study.add_trial(optuna.trial.create_trial(value=0.123456789, params={"lr": 0.000123456789},
                                              distributions={"lr": optuna.distributions.FloatDistribution(1e-5, 1)}))
    text = results.summary(study, "acc", 0, "trials", out="tune out", where="--storage journal:///s.log --study shared")
    assert "acc = 0.1235" in text and "lr = 0.0001235" in text
    assert "paddle-autotune report --out 'tune out' --storage journal:///s.log --study shared" in text
    assert "paddle-autotune export --out 'tune out' --storage" in text
    assert "Next:" not in results.summary(study, "acc", 0, "trials")


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


def _fake_study(out, suite, adapter, task, cfg):
    """A study as a run of `suite` leaves it: its command, trial 0's folder and config, best_config.yaml."""
    trial_dir = out / "trial_0000"
    trial_dir.mkdir(parents=True)
    cfg = adapter.prepare_trial(cfg, trial_dir, 0)
    adapter.write_config(cfg, trial_dir / adapter.config_filename)
    adapter.write_best(adapter.export_config(cfg, task), out)  # what the coordinator's keep_best writes
    study = optuna.create_study(storage=f"sqlite:///{out / 'study.db'}", study_name="autotune", direction="maximize")
    study.set_user_attr("command", {"suite": suite, "script": None, "argv": task.argv, "cwd": task.cwd})
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"dir": str(trial_dir)}))
    return trial_dir


DET_CONFIG = REPO / "adapters" / "paddledet" / "configs" / "faster_rcnn_r18_digits.yml"


@pytest.mark.parametrize("suite, key", [("clas", "Global.output_dir"), ("det", "save_dir")])
def test_suite_exports_keep_the_users_output_dir(suite, key, digits_config, tmp_path, capsys):
    from paddle_autotune_plugins import dotpath
    from paddle_autotune_plugins.adapter import get_adapter

    adapter = get_adapter(suite)
    config = digits_config if suite == "clas" else DET_CONFIG
    argv = ["-c", str(config), "-o", ("Global.output_dir=./mine/" if suite == "clas" else "save_dir=mine")]
    task = adapter.load(None, argv)
    task.argv = argv
    out = tmp_path / "out"
    trial_dir = _fake_study(out, suite, adapter, task, task.fresh_config())
    assert str(trial_dir) in str(dotpath.get(adapter.read_config(trial_dir / adapter.config_filename), key))
    assert cli.main(["export", "--out", str(out), "--trial", "0"]) == 0
    exported = adapter.read_config(out / "export" / f"trial_0000_{adapter.config_filename}")
    best = adapter.read_config(out / "best_config.yaml")
    assert dotpath.get(exported, key) == dotpath.get(best, key) == ("./mine/" if suite == "clas" else "mine")
    assert exported == best
    assert "trial 0 COMPLETE" in capsys.readouterr().out


# --- a command under paddle.distributed.launch ----------------------------------------------------------
@pytest.fixture()
def sees_gpus(monkeypatch):
    """Paddle is told it sees 4 GPUs (no GPU here: trials run on the CPU build, under the real launcher)."""
    monkeypatch.setattr(adapter_module, "visible_gpus", lambda: 4)


def _launched(tmp_path, monkeypatch, launcher, tuning):
    monkeypatch.chdir(tmp_path)
    _script(tmp_path)
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
    _script(tmp_path)
    proc = autotune(["-m", "paddle.distributed.launch", "--gpus", "0,1", "train.py", "--autotune", "--param",
                     "lr=0.01:0.1", "--metric", "val_acc", "--out", str(tmp_path / "out")], cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--gpus 0,1: this Paddle build has no CUDA" in proc.stderr
    assert not (tmp_path / "out" / "trial_0000").exists()


@pytest.mark.parametrize("command, message", [
    (["-m", "torch.distributed.run", "train.py"], "-m torch.distributed.run: only paddle.distributed.launch is taken"),
    (["-m", "paddle.distributed.launch", "--gpus", "0,1"], "no training script after paddle.distributed.launch's"),
    (["-m", "paddle.distributed.launch", "--ips", "10.0.0.1,10.0.0.2", "train.py"],
     "paddle.distributed.launch --ips 10.0.0.1,10.0.0.2: trials run on this machine only"),
    (["-m", "paddle.distributed.launch", "--gpus", "a,b", "train.py"], "the launcher's --gpus takes GPU ids"),
    (["-m", "paddle.distributed.launch", "--gpus", "0,1,2", "train.py", "--autotune", "--gpus", "0,1"],
     "the launcher's --gpus 0,1,2 gives each trial 3 GPUs, more than --gpus 0,1 has"),
])
def test_bad_launcher_commands(command, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _script(tmp_path)
    argv = command + ([] if "--autotune" in command else ["--autotune"]) + ["--param", "lr=0.01:0.1", "--metric",
                                                                            "val_acc", "--out", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("paddle-autotune: error: ") and message in err, err


def test_split_launcher_keeps_the_launchers_options():
    launcher, gpus, rest = cli.split_launcher(["-m", "paddle.distributed.launch", "--devices", "2,3", "--log_dir",
                                               "x", "--nnodes", "1", "--job_id=j", "tools/train.py", "-c", "a.yml"])
    assert launcher == {"module": "paddle.distributed.launch", "options": ["--nnodes", "1", "--job_id", "j"]}
    assert gpus == ["2", "3"] and rest == ["tools/train.py", "-c", "a.yml"]
    cmd = adapter_module.launch_command([adapter_module.python(), "-m", "paddle_autotune_plugins.run_trial", "x"],
                                        "0,1", "/t/launch_log", launcher)
    assert cmd[1:] == ["-m", "paddle.distributed.launch", "--nnodes", "1", "--job_id", "j", "--devices", "0,1",
                       "--log_dir", "/t/launch_log", cmd[-2], "x"]


# --- help texts ------------------------------------------------------------------------------------------
def _help(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv + ["--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def _described(text, option):
    """The help entry of an option (as argparse shows it, metavar included) carries a description: on
    its own line after the option, or on the next line, indented."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  ") and line.strip().startswith(option + " ") or line.strip() == option:
            if line.strip()[len(option):].strip():
                return True
            return i + 1 < len(lines) and lines[i + 1].startswith(" " * 20) and bool(lines[i + 1].strip())
    return False


def test_tune_help_lists_the_suite_command(capsys):
    text = _help(["tune"], capsys)
    assert text.startswith("usage: paddle-autotune tune --suite SUITE -c CONFIG [-o KEY=VALUE ...]")
    assert re.search(r"^\s+-c CONFIG, --config CONFIG\n\s+the config to tune", text, re.M)
    assert re.search(r"^\s+-o KEY=VALUE \[KEY=VALUE \.\.\.\]\n\s+config values set before tuning", text, re.M)
    assert "--param PATH=SPEC" in text and "log:1e-4:1e-1" in text and "choice:32,64" in text


def test_no_raw_rst_in_any_help(capsys):
    texts = [_help([], capsys)] + [_help([c], capsys) for c in ("tune", "worker", "show", "report", "export",
                                                                 "presets", "train", "doctor", "demo")]
    for text in texts:
        assert "``" not in text and "`" not in text, text[:300]
    assert "paddle-autotune SUB-COMMAND" in texts[0]


def test_demo_help_describes_every_option_and_suite(capsys):
    text = _help(["demo"], capsys)
    # every adapter with a demo_summary is listed, none is named in the core
    assert list(cli.demo_suites()) == ["clas", "det", "nlp", "ocr", "seg"]
    for option in ("--out", "--trials", "--suite"):
        assert _described(text, option + (" OUT" if option == "--out" else " TRIALS" if option == "--trials" else
                                          " {clas,det,nlp,ocr,seg}")), option
    for suite, words in (("clas", "PaddleClas"), ("det", "PaddleDetection"), ("nlp", "PaddleNLP"),
                         ("ocr", "PaddleOCR"), ("seg", "PaddleSeg")):
        assert re.search(rf"^\s+{suite}\s+{words}: ", text, re.M), suite
    assert "tuning option" in text
    assert _described(_help(["tune"], capsys), "--param PATH=SPEC")
