"""End to end: real PaddleClas trainings (the 2.4.2 wheel's Engine on Paddle 3) on scikit-learn's digits."""
import os
import signal
import subprocess
import time

from conftest import CHROMIUM, PYTHON, REPO, assert_renders, autotune, read_trials, trial_lines
import pytest
import yaml


def write_space(tmp_path, spec):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_real_study_prunes_and_exports_a_config_ppcls_trains(digits_config, tmp_path):
    out = tmp_path / "out"
    space = write_space(tmp_path, {"Optimizer.lr.learning_rate": {"low": 1e-4, "high": 1.0, "log": True}})
    proc = autotune(["tune", "--suite", "clas", "-c", str(digits_config), "-o", "Global.epochs=3",
                     "--space", space, "--trials", "6", "--pruner", "asha", "--seed", "1", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_trials(out)
    assert [int(r["number"]) for r in rows] == list(range(6))
    assert {r["state"] for r in rows} <= {"COMPLETE", "PRUNED", "FAIL"}
    assert rows[0]["reason"].startswith("baseline") and float(rows[0]["Optimizer.lr.learning_rate"]) == 0.003
    assert rows[0]["state"] == "COMPLETE"
    assert sum(r["state"] == "PRUNED" for r in rows) >= 1, rows
    assert "improvement" in proc.stdout and "baseline (trial 0)" in proc.stdout
    # every eval was reported, one JSON line per epoch, until the trial ended
    for r in rows:
        evals, used = trial_lines(out / f"trial_{int(r['number']):04d}")
        steps = [e["step"] for e in evals]
        assert used and "Optimizer.lr.learning_rate" in used[0]  # the trainer's own values, read once built
        assert steps == list(range(1, len(steps) + 1)) and steps
        assert len(steps) == 3 if r["state"] == "COMPLETE" else len(steps) < 3
    # only the best trial keeps weights, in best/
    assert (out / "best" / "best_model.pdparams").exists()
    assert not list(out.glob("trial_*/**/*.pdparams"))
    best = max((r for r in rows if r["state"] == "COMPLETE"), key=lambda r: float(r["value"]))
    assert (out / "best" / "trial.txt").read_text().split() == ["trial", best["number"]]
    # best_config.yaml: ppcls's own get_config loads it with the best trial's value, and it trains 1 epoch
    check = (
        "import sys; from paddle_autotune_plugins.adapters.paddleclas import hooks;"
        "sys.path.insert(0, hooks.wheel_ppcls_root()); from ppcls.utils.config import get_config;"
        f"c = get_config({str(out / 'best_config.yaml')!r}, show=False);"
        "print(c['Optimizer']['lr']['learning_rate'])")
    loaded = subprocess.run([PYTHON, "-c", check], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert float(loaded.stdout.split()[-1]) == pytest.approx(float(best["Optimizer.lr.learning_rate"]), rel=1e-5)
    # the report of this real study: HTML with its plots embedded, rendered by headless Chromium
    report = autotune(["report", "--out", str(out)])
    assert report.returncode == 0, report.stderr[-2000:]
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4 and "baseline" in page  # history, curves, parallel, slice
    if os.path.exists(CHROMIUM):
        assert_renders(out / "report.html", tmp_path)
    retrain = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins.adapters.paddleclas.train", "-c",
                              str(out / "best_config.yaml"), "-o", "Global.epochs=1"],
                             capture_output=True, text=True, cwd=tmp_path)
    assert retrain.returncode == 0, retrain.stderr[-2000:]
    assert "[Eval][Epoch 1][Avg]" in retrain.stdout + retrain.stderr


def test_interrupted_study_resumes_without_redoing_trials(digits_config, tmp_path):
    out = tmp_path / "out"
    space = write_space(tmp_path, {"Optimizer.lr.learning_rate": {"low": 0.01, "high": 0.2, "log": True}})
    args = ["tune", "--suite", "clas", "-c", str(digits_config), "-o", "Global.epochs=2", "--space", space,
            "--trials", "3", "--pruner", "none", "--out", str(out)]
    first = subprocess.Popen([PYTHON, "-m", "paddle_autotune_plugins"] + args, cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             # Ctrl-C as in a terminal, even when the tests themselves run as a background
                             # job (the shell then starts them with SIGINT ignored, and Python keeps it so)
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    progress = out / "trial_0001" / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (progress.exists() and progress.read_text().strip()):
        time.sleep(0.5)  # wait until trial 1 is mid-training (its first eval is in)
    assert progress.exists() and progress.read_text().strip(), "trial 1 never reported"
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err[-2000:]
    assert "run the same command to resume" in err
    rows = read_trials(out)
    assert [(r["number"], r["state"]) for r in rows] == [("0", "COMPLETE"), ("1", "FAIL")]
    assert "interrupted" in rows[1]["reason"]
    interrupted_lr = rows[1]["Optimizer.lr.learning_rate"]
    baseline_stamp = os.stat(out / "trial_0000" / "metrics.jsonl").st_mtime_ns

    second = autotune(args)
    assert second.returncode == 0, second.stderr[-3000:]
    rows = read_trials(out)
    numbers = [r["number"] for r in rows]
    assert len(numbers) == len(set(numbers)) == 4  # trial 1 was interrupted; its parameters ran again as 2
    counted = [r for r in rows if "interrupted" not in r["reason"]]
    assert len(counted) == 3 and all(r["state"] == "COMPLETE" for r in counted)
    assert rows[2]["Optimizer.lr.learning_rate"] == interrupted_lr
    assert os.stat(out / "trial_0000" / "metrics.jsonl").st_mtime_ns == baseline_stamp  # not run twice
    assert sorted(p.name for p in out.glob("trial_*")) == [f"trial_{i:04d}" for i in range(4)]


def test_crashing_trial_is_recorded_and_the_study_goes_on(digits_config, tmp_path):
    out = tmp_path / "out"
    space = write_space(tmp_path, {"Optimizer.lr.name": {"values": ["Cosine", "NoSuchSchedule"]}})
    proc = autotune(["tune", "--suite", "clas", "-c", str(digits_config), "-o", "Global.epochs=1",
                     "--space", space, "--sampler", "grid", "--trials", "3", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_trials(out)
    failed = [r for r in rows if r["state"] == "FAIL"]
    assert len(failed) == 1 and failed[0]["Optimizer.lr.name"] == "NoSuchSchedule"
    assert failed[0]["reason"].startswith("exit code 1: ") and "NoSuchSchedule" in failed[0]["reason"]
    assert sum(r["state"] == "COMPLETE" for r in rows) == 2
    assert "1 failed" in proc.stdout


def test_suite_checkout_tools_train_runs_each_trial(digits_config, tmp_path):
    """`python -m paddle_autotune_plugins tools/train.py -c ... --autotune` from a PaddleClas-style checkout.

    The checkout is built here from the wheel's ppcls plus a tools/train.py doing what PaddleClas's does
    (parse -c/-o, get_config, Engine(...).train()), so CI needs no network."""
    from paddle_autotune_plugins.adapters.paddleclas import hooks

    checkout = tmp_path / "PaddleClas"
    (checkout / "tools").mkdir(parents=True)
    os.symlink(os.path.join(hooks.wheel_ppcls_root(), "ppcls"), checkout / "ppcls")
    (checkout / "tools" / "train.py").write_text(
        "import os, sys\n"
        "sys.path.append(os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))\n"
        "from ppcls.utils import config\n"
        "from ppcls.engine.engine import Engine\n"
        "if __name__ == '__main__':\n"
        "    args = config.parse_args()\n"
        "    cfg = config.get_config(args.config, overrides=args.override, show=False)\n"
        "    cfg.profiler_options = args.profiler_options\n"
        "    Engine(cfg, mode='train').train()\n")
    out = tmp_path / "out"
    proc = autotune(["tools/train.py", "-c", str(digits_config), "-o", "Global.epochs=2", "--autotune",
                     "--preset", "clas-lr", "--trials", "2", "--pruner", "none", "--out", str(out)], cwd=checkout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"]
    command = (out / "trial_0001" / "command.txt").read_text()
    assert "paddle_autotune_plugins.run_trial paddle_autotune_plugins.adapters.paddleclas.adapter:ClasAdapter" in command and str(checkout / "tools" / "train.py") in command
    assert len(trial_lines(out / "trial_0001")[0]) == 2


def test_accuracy_and_latency_pareto_front(digits_config, tmp_path):
    """Two objectives: top1 and the trained model's latency on a fixed batch (measured in the trial)."""
    import optuna

    out = tmp_path / "out"
    space = write_space(tmp_path, {"Arch.name": {"values": ["MobileNetV1_x0_25", "MobileNetV1"]}})
    proc = autotune(["tune", "--suite", "clas", "-c", str(digits_config), "-o", "Global.epochs=1",
                     "--space", space, "--metric", "top1", "--metric", "latency_ms",
                     "--constraint", "latency_ms<=1000", "--pruner", "none", "--sampler", "grid", "--trials", "3",
                     "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Pareto front (top1, latency_ms)" in proc.stdout
    report = trial_lines(out / "trial_0001")[0][0]["metrics"]
    assert report["latency_ms"] > 0 and 0 < report["params_m"] < 5
    study = optuna.load_study(study_name="autotune", storage=f"sqlite:///{out / 'study.db'}")
    front = study.best_trials
    for a in front:
        for b in front:
            assert a is b or not (a.values[0] >= b.values[0] and a.values[1] <= b.values[1]
                                  and (a.values[0] > b.values[0] or a.values[1] < b.values[1]))
    assert sorted(p.name for p in (out / "pareto").iterdir()) == sorted(
        f"trial_{t.number:04d}_config.yaml" for t in front)


def _losses(log):
    """The training log's loss figures per logged iteration (times and speeds left out)."""
    import re

    return [re.sub(r"(batch_cost|reader_cost|ips|eta)[^,]*,?", "", line.split("ppcls INFO:")[1])
            for line in log.read_text().splitlines() if "[Train][Epoch" in line and "ppcls INFO:" in line]


def test_warm_started_trials_train_exactly_as_cold_ones(digits_config, tmp_path):
    """--warm-start forks trials 1 and 2 from a process that imported Paddle and ppcls once; trial 0 starts
    cold (before that process is ready). All three train the same config and must log the same losses."""
    out = tmp_path / "out"
    space = write_space(tmp_path, {"Global.seed": {"type": "categorical", "choices": [42]}})  # the config's own
    proc = autotune(["tune", "--suite", "clas", "-c", str(digits_config), "-o", "Global.epochs=1",
                     "-o", "Global.print_batch_step=3",  # a loss line every 3 of the epoch's 30 steps
                     "--space", space, "--trials", "3", "--sampler", "random", "--pruner", "none", "--warm-start",
                     "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    dirs = [out / f"trial_{n:04d}" for n in range(3)]
    warm = ["started warm" in (d / "command.txt").read_text() for d in dirs]
    assert warm == [False, True, True], warm
    metrics = [[e["metrics"] for e in trial_lines(d)[0]] for d in dirs]
    assert metrics[0] and metrics[1] == metrics[0] and metrics[2] == metrics[0]
    losses = [_losses(d / "train.log") for d in dirs]
    assert len(losses[0]) >= 9 and losses[1] == losses[0] and losses[2] == losses[0]
    assert (out / "warm_start.log").exists()
