"""Parallel trials, GPU placement, faults, shared storages (journal file, real PostgreSQL), hard kills.

Trials here run tests/probe_train.py through the generic adapter (a real script, real processes) so the
machinery is exercised in seconds; the suite trainers run in the e2e tests (one of them here, with 2 workers).
"""
import json
import signal
import subprocess
import time

from conftest import PYTHON, REPO, autotune, read_trials
import psutil
import pytest
import yaml

PROBE = str(REPO / "tests" / "probe_train.py")


def space_file(tmp_path, spec):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def probe(*flags):
    return [PROBE, "--lr", "0.1", "--epochs", "3"] + list(flags)


def test_generic_script_flags_and_printed_metric(tmp_path):
    out = tmp_path / "out"
    proc = autotune(probe() + ["--autotune", "--space", space_file(tmp_path, {"lr": {"low": 0.0, "high": 1.0}}),
                               "--metric", "val_acc", "--trials", "4", "--pruner", "none", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 4 and rows[0]["lr"] == "0.1"
    lines = [json.loads(line) for line in (out / "trial_0001" / "metrics.jsonl").read_text().splitlines()]
    reports = [r for r in lines if "metrics" in r]
    lr = float(rows[1]["lr"])
    assert [r["step"] for r in reports] == [1, 2, 3]
    assert [r["used"]["lr"] for r in lines if "used" in r] == [pytest.approx(lr)]  # the script parsed what it was given
    assert reports[-1]["metrics"]["val_acc"] == pytest.approx(1.0 - (lr - 0.3) ** 2 - 0.05 / 3, abs=1e-4)
    assert f"--lr {rows[1]['lr']}" in (out / "trial_0001" / "command.txt").read_text().replace("'", "") or \
        str(lr)[:6] in (out / "trial_0001" / "command.txt").read_text()


def test_script_yaml_that_overrides_flags_is_rewritten_per_trial(tmp_path):
    """The script reads --config after its flags (ERNIE 3.0 style), so --lr alone would change nothing."""
    (tmp_path / "default.yml").write_text("DefaultArgs:\n  lr: 0.1\n  epochs: 3\n"
                                          "reviews:\n  lr: 0.05\n  epochs: 2\nother:\n  lr: 0.9\n")
    out = tmp_path / "out"
    proc = autotune(probe("--config", "default.yml", "--dataset", "reviews") +
                    ["--autotune", "--space", space_file(tmp_path, {"lr": {"low": 0.2, "high": 0.4}}),
                     "--metric", "val_acc", "--trials", "3", "--pruner", "none", "--out", str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "default.yml sets lr" in proc.stderr
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3
    assert rows[0]["lr"] == ""  # the baseline trains with the file's lr, which the plugin cannot know
    base = [json.loads(line) for line in (out / "trial_0000" / "metrics.jsonl").read_text().splitlines()]
    base = [r for r in base if "metrics" in r]
    assert len(base) == 2 and base[-1]["metrics"]["val_acc"] == pytest.approx(1 - 0.25 ** 2 - 0.025, abs=1e-4)
    assert "--config default.yml" in (out / "trial_0000" / "command.txt").read_text()
    for r in rows[1:]:
        trial_dir = out / f"trial_{int(r['number']):04d}"
        lr = float(r["lr"])
        copy = yaml.safe_load((trial_dir / "config_default.yml").read_text())
        assert copy["reviews"]["epochs"] == 2 and copy["reviews"]["lr"] == copy["other"]["lr"] == pytest.approx(lr)
        assert f"--config {trial_dir / 'config_default.yml'}" in (trial_dir / "command.txt").read_text()
        reports = [json.loads(line) for line in (trial_dir / "metrics.jsonl").read_text().splitlines()]
        reports = [r for r in reports if "metrics" in r]
        assert reports[-1]["metrics"]["val_acc"] == pytest.approx(1 - (lr - 0.3) ** 2 - 0.025, abs=1e-4)
    best = yaml.safe_load((out / "best_config.yaml").read_text())
    assert best["config"] == str(out / "best_default.yml")
    assert yaml.safe_load((out / "best_default.yml").read_text())["reviews"]["lr"] == pytest.approx(best["lr"])

def test_generic_bad_input(tmp_path):
    no_metric = autotune(probe() + ["--autotune", "--space", space_file(tmp_path, {"lr": {"low": 0, "high": 1}})])
    assert no_metric.returncode == 2 and "give --metric NAME" in no_metric.stderr
    not_a_flag = autotune(probe() + ["--autotune", "--space", space_file(tmp_path, {"lrr": {"low": 0, "high": 1}}),
                                     "--metric", "val_acc"])
    assert not_a_flag.returncode == 2 and "'lrr' is not a flag of the command" in not_a_flag.stderr
    bad_url = autotune(probe() + ["--autotune", "--space", space_file(tmp_path, {"lr": {"low": 0, "high": 1}}),
                                  "--metric", "val_acc", "--storage", "postgre//tuner:hunter2x@host/db"])
    assert bad_url.returncode == 2 and "malformed storage URL" in bad_url.stderr
    assert "hunter2x" not in bad_url.stderr and "tuner:***@" in bad_url.stderr


def test_second_coordinator_on_the_same_out_is_refused(tmp_path):
    """The embedded study has one writer: a second command on the same --out stops before any trial."""
    out = tmp_path / "out"
    args = ["--autotune", "--space", space_file(tmp_path, {"lr": {"low": 0, "high": 1}}), "--metric", "val_acc",
            "--trials", "2", "--pruner", "none", "--out", str(out)]
    first = subprocess.Popen([PYTHON, "-m", "paddle_autotune_plugins"] +
                             probe("--sleep", "1") + args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.time() + 60
    while not (out / "trial_0000" / "command.txt").exists() and time.time() < deadline:
        time.sleep(0.1)
    second = autotune(probe() + args)
    assert second.returncode == 2, second.stderr[-2000:]
    assert f"another paddle-autotune (pid {first.pid}) is running the study in {out}" in second.stderr
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err[-2000:]
    assert [r["state"] for r in read_trials(out)] == ["COMPLETE", "COMPLETE"]
    again = autotune(probe() + args[:-4] + ["--trials", "3", "--out", str(out)])  # free again once it ended
    assert again.returncode == 0 and len(read_trials(out)) == 3, again.stderr[-2000:]

def test_gpu_slots_least_loaded_first(tmp_path):
    """--gpus 0,1 --trials-per-gpu 2: four trials at once, two per GPU, seen through CUDA_VISIBLE_DEVICES."""
    out, record = tmp_path / "out", tmp_path / "record.jsonl"
    proc = autotune(probe("--sleep", "1", "--record", str(record)) + [
        "--autotune", "--space", space_file(tmp_path, {"lr": {"low": 0.0, "high": 1.0}}), "--metric", "val_acc",
        "--trials", "8", "--pruner", "none", "--gpus", "0,1", "--trials-per-gpu", "2", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(seen) == 8 and {s["cuda"] for s in seen} == {"0", "1"}
    for s in seen:  # at every trial's midpoint: at most 2 trials per GPU, 4 in all
        mid = (s["start"] + s["end"]) / 2
        live = [o for o in seen if o["start"] <= mid <= o["end"]]
        assert len(live) <= 4 and all(sum(o["cuda"] == g for o in live) <= 2 for g in ("0", "1"))
    assert max(sum(o["start"] <= (s["start"] + s["end"]) / 2 <= o["end"] for o in seen) for s in seen) == 4
    assert {s["omp"] for s in seen} == {"1"}  # 4 workers on 2 cores: one thread each


def test_gpus_that_paddle_does_not_see_stop_before_any_trial(tmp_path):
    """On a Paddle build without CUDA every multi-GPU trial used to fail after 15 s ("Call
    paddle.distributed.init_parallel_env first") and the study exited 0."""
    from paddle_autotune_plugins.suites.adapter import visible_gpus

    if visible_gpus():
        pytest.skip("this Paddle build sees GPUs")
    out = tmp_path / "out"
    proc = autotune(probe() + ["--autotune", "--space", space_file(tmp_path, {"lr": {"low": 0.0, "high": 1.0}}),
                               "--metric", "val_acc", "--trials", "1", "--gpus", "2,3", "--gpus-per-trial", "2",
                               "--out", str(out)], timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "this Paddle build has no CUDA" in proc.stderr and "Traceback" not in proc.stderr
    assert not (out / "trial_0000").exists()


def test_faults_are_recorded_with_their_reason(tmp_path):
    out = tmp_path / "out"
    spec = {"mode": {"values": ["ok", "sigkill", "memory", "nan", "sleep", "crash"]}}
    proc = autotune(probe() + ["--mode", "ok", "--autotune", "--space", space_file(tmp_path, spec),
                               "--sampler", "grid", "--metric", "val_acc", "--trials", "7", "--pruner", "none",
                               "--trial-memory", "400MB", "--trial-timeout", "8", "--out", str(out)], timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    reasons = {r["mode"]: (r["state"], r["reason"]) for r in read_trials(out)[1:]}
    assert reasons["ok"][0] == "COMPLETE"
    assert reasons["sigkill"] == ("FAIL", "killed by SIGKILL (out of memory?)")
    assert reasons["memory"][0] == "FAIL" and reasons["memory"][1].startswith("out of memory: ")
    assert reasons["nan"] == ("FAIL", "val_acc is nan at step 1")
    assert reasons["sleep"] == ("FAIL", "timeout after 8 s")
    assert reasons["crash"] == ("FAIL", "exit code 1: RuntimeError: probe crashed on purpose")
    assert "5 failed" in proc.stdout


def test_retry_failed_requeues_the_parameters(tmp_path):
    out = tmp_path / "out"
    proc = autotune(probe("--mode", "crash") + ["--autotune", "--space", space_file(tmp_path, {"lr": {"low": 0, "high": 1}}),
                                                "--metric", "val_acc", "--trials", "3", "--retry-failed", "1",
                                                "--out", str(out)])
    assert proc.returncode == 1 and "no trial completed" in proc.stderr, proc.stderr[-2000:]  # every trial crashes
    rows = read_trials(out)
    # trial 1 is trial 0 again; the baseline failed on its retry too, so the study stopped there
    assert [r["state"] for r in rows] == ["FAIL"] * 2
    assert rows[1]["lr"] == rows[0]["lr"] == "0.1"
    assert "stopped by: the baseline (trial 1, your config as given) failed: exit code 1" in proc.stdout


def test_coordinator_killed_hard_then_resumed(tmp_path):
    out = tmp_path / "out"
    args = probe("--sleep", "1") + ["--autotune", "--space", space_file(tmp_path, {"lr": {"low": 0.0, "high": 1.0}}),
                                    "--metric", "val_acc", "--trials", "5", "--pruner", "none", "--out", str(out)]
    first = subprocess.Popen([PYTHON, "-m", "paddle_autotune_plugins"] + args, cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "trial_0002" / "metrics.jsonl").exists():
        time.sleep(0.2)
    report_file = str(out / "trial_0002" / "metrics.jsonl")
    running = [p for p in psutil.process_iter() if _environ(p).get("PADDLE_AUTOTUNE_REPORT") == report_file]
    assert running  # trial 2 is training
    first.send_signal(signal.SIGKILL)
    first.wait()
    time.sleep(1)  # it dies with its coordinator (PDEATHSIG), not seconds later when its epochs are done
    assert all(_status(p) in (None, psutil.STATUS_ZOMBIE) for p in running)
    second = autotune(args)
    assert second.returncode == 0, second.stderr[-2000:]
    rows = read_trials(out)
    numbers = [r["number"] for r in rows]
    assert len(numbers) == len(set(numbers))
    kept = [r for r in rows if "interrupted" not in r["reason"]]
    assert len(kept) == 5 and all(r["state"] == "COMPLETE" for r in kept)
    lost = [r for r in rows if "interrupted" in r["reason"]]
    assert len(lost) == 1 and lost[0]["lr"] in [r["lr"] for r in kept]  # its parameters ran again


def _status(proc):
    try:
        return proc.status()
    except psutil.Error:
        return None


def _environ(proc):
    try:
        return proc.environ()
    except psutil.Error:
        return {}


def _join_study(storage, tmp_path, workers=2, trials=8):
    """One `tune` and one `worker` process on the same study; returns the study's trials."""
    import optuna

    args = probe("--sleep", "0.5") + ["--autotune", "--space", space_file(tmp_path, {"lr": {"low": 0.0, "high": 1.0}}),
                                      "--metric", "val_acc", "--trials", str(trials), "--pruner", "none",
                                      "--storage", storage, "--study", "shared"]
    first = subprocess.Popen([PYTHON, "-m", "paddle_autotune_plugins"] + args + ["--out", str(tmp_path / "a")],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (tmp_path / "a" / "trial_0000").exists():
        time.sleep(0.2)
    second = autotune(["worker", "--storage", storage, "--study", "shared", "--out", str(tmp_path / "b")],
                      timeout=300)
    out_first, err_first = first.communicate(timeout=300)
    assert first.returncode == 0, err_first[-2000:]
    assert second.returncode == 0, second.stderr[-2000:]
    for text in (err_first, second.stderr, out_first, second.stdout):
        assert "s3cret-pw" not in text and "Traceback" not in text
    from paddle_autotune_plugins.optuna_glue.storages import open_storage

    study = optuna.load_study(study_name="shared", storage=open_storage(storage, tmp_path)[0])
    ran_here = {p.name for p in (tmp_path / "a").glob("trial_*")}, {p.name for p in (tmp_path / "b").glob("trial_*")}
    return study, ran_here


def _check_shared(study, ran_here, trials=8):
    real = [t for t in study.trials if not t.user_attrs.get("surplus") and not t.user_attrs.get("interrupted")]
    assert len(real) == trials and all(t.state.name == "COMPLETE" for t in real)
    assert len({t.number for t in study.trials}) == len(study.trials)
    a, b = ran_here
    assert a and b and not (a & b)  # both coordinators ran trials, never the same one
    assert len(a | b) == trials


def test_two_coordinators_share_a_journal_file(tmp_path):
    study, ran_here = _join_study(f"journal:///{tmp_path / 'study.log'}", tmp_path)
    _check_shared(study, ran_here)


def test_two_workers_share_a_postgresql_study(postgres_url, tmp_path):
    import optuna

    study, ran_here = _join_study(postgres_url, tmp_path)
    _check_shared(study, ran_here)
    # the plain URL a user pastes works in the results commands and in Optuna's own API alike
    for command in (["show"], ["report", "--out", str(tmp_path / "report")], ["export", "--out", str(tmp_path / "x")]):
        proc = autotune(command + ["--storage", postgres_url, "--study", "shared"], timeout=300)
        assert proc.returncode == 0 and "s3cret-pw" not in proc.stdout + proc.stderr, proc.stderr[-2000:]
    assert len(optuna.load_study(study_name="shared", storage=postgres_url).trials) == len(study.trials)


def test_a_study_that_completed_no_trial_exits_1_with_the_first_failure(tmp_path):
    out = tmp_path / "out"
    proc = autotune(probe("--mode", "crash") + ["--autotune", "--space", space_file(tmp_path, {"lr": {"low": 0.0, "high": 1.0}}),
                                                 "--metric", "val_acc", "--trials", "2", "--out", str(out)], timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "paddle-autotune: error: no trial completed; the first failure, trial 0: exit code 1: RuntimeError: " \
           "probe crashed on purpose" in proc.stderr
    assert "weights:" not in proc.stdout  # no best/ was kept, so none is named
