"""The command line as the suites' users type it: ranges inline (--param), a command under
paddle.distributed.launch pasted before --autotune, the help texts, the closing summary, and exports
that point output_dir where best_config.yaml does.

Studies here run a small argparse script through the generic adapter (real processes, seconds); the
launcher's trials run the real paddle.distributed.launch, which runs on the CPU build too, with GPU ids
that Paddle is told it sees (as on a GPU machine): what is checked is what a trial is given, its
command.txt and CUDA_VISIBLE_DEVICES.
"""
import argparse
import re

from cli_script import write_script
from conftest import REPO
import optuna
import pytest

from paddle_autotune_plugins import cli
from paddle_autotune_plugins.output import summary
from paddle_autotune_plugins.search_space import space
from paddle_autotune_plugins.search_space.build import build_params
from paddle_autotune_plugins.suites import adapter as adapter_module


def test_inline_spec_reads_as_the_space_file_entry():
    """Each spelling gives the same Param as its space-file entry (the table in docs/search-spaces.md)."""
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
    params, notes = build_params(task, opts)
    by_name = {p.name: p for p in params}
    assert (by_name["Optimizer.momentum"].low, by_name["Optimizer.momentum"].high) == (0.5, 0.6)
    assert by_name["Optimizer.lr.learning_rate"].log and by_name["Optimizer.lr.learning_rate"].high == 1e-2
    assert any(n.startswith("--param Optimizer.momentum=0.5:0.6 replaces the --preset spec float [") for n in notes)
    alone, _ = build_params(task, argparse.Namespace(preset=["clas-momentum"], space=None, param=[]))
    assert {p.name: (p.low, p.high) for p in alone}["Optimizer.momentum"] != (0.5, 0.6)


def test_summary_of_a_study_in_a_storage_names_it():
    study = optuna.create_study(direction="maximize", study_name="shared")
    study.add_trial(optuna.trial.create_trial(value=0.123456789, params={"lr": 0.000123456789},
                                              distributions={"lr": optuna.distributions.FloatDistribution(1e-5, 1)}))
    text = summary.summary(study, "acc", 0, "trials", out="tune out", where="--storage journal:///s.log --study shared")
    assert "acc = 0.1235" in text and "lr = 0.0001235" in text
    assert "paddle-autotune report --out 'tune out' --storage journal:///s.log --study shared" in text
    assert "paddle-autotune export --out 'tune out' --storage" in text
    assert "Next:" not in summary.summary(study, "acc", 0, "trials")


def _fake_study(out, suite, adapter, task, cfg):
    """A study as a run of `suite` leaves it: its command, trial 0's folder and config, best_config.yaml."""
    trial_dir = out / "trial_0000"
    trial_dir.mkdir(parents=True)
    cfg = adapter.prepare_trial(None, cfg, trial_dir, 0)
    adapter.write_config(cfg, trial_dir / adapter.config_filename)
    adapter.write_best(None, adapter.export_config(task, cfg), out)  # what the coordinator's keep_best writes
    study = optuna.create_study(storage=f"sqlite:///{out / 'study.db'}", study_name="autotune", direction="maximize")
    study.set_user_attr("command", {"suite": suite, "script": None, "argv": task.argv, "cwd": task.cwd})
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"dir": str(trial_dir)}))
    return trial_dir


DET_CONFIG = REPO / "adapters" / "paddledet" / "configs" / "faster_rcnn_r18_digits.yml"


@pytest.mark.parametrize("suite, key", [("clas", "Global.output_dir"), ("det", "save_dir")])
def test_suite_exports_keep_the_users_output_dir(suite, key, digits_config, tmp_path, capsys):
    from paddle_autotune_plugins.search_space import dotpath
    from paddle_autotune_plugins.suites.adapter import get_adapter

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
    write_script(tmp_path)
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
