"""The warm-start zygote (warm_start.py) with small trial modules: what a fork must give a trial that a fresh
process would have, and that stopping, exit codes and the zygote's end work as for cold trials.
The real PaddleClas check (warm and cold trials train identically) is in test_clas_e2e.py."""
import json
import os
import sys
import time

import psutil
import pytest

from paddle_autotune_plugins.trials import warm_start
from paddle_autotune_plugins.trials.trial_processes import stop_process

TRIAL_MODULE = '''
import json, os, sys, time
import warm_preloaded  # imported by the zygote's preload: must not run again
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "var": os.environ.get("TRIAL_VAR"),
                  "zygote_var": os.environ.get("ZYGOTE_ONLY"), "pid": os.getpid(), "ppid": os.getppid(),
                  "sid": os.getsid(0), "loads": warm_preloaded.LOADS}), flush=True)
print("to stderr", file=sys.stderr, flush=True)
if "--sleep" in sys.argv:
    time.sleep(600)
sys.exit(int(sys.argv[1]))
'''
PRELOAD_MODULE = '''
LOADS = 0
def preload():
    global LOADS
    LOADS += 1
'''


@pytest.fixture
def zygote(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "warm_trial.py").write_text(TRIAL_MODULE)
    (tmp_path / "lib" / "warm_preloaded.py").write_text(PRELOAD_MODULE)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "lib"), ZYGOTE_ONLY="1")
    z = warm_start.Zygote("warm_preloaded:preload", env, tmp_path, tmp_path / "zygote.log")
    deadline = time.time() + 60
    while not z.ready():
        assert time.time() < deadline and z.proc.poll() is None, (tmp_path / "zygote.log").read_text()
        time.sleep(0.02)
    z.env = dict(env, TRIAL_VAR="trial's own")
    del z.env["ZYGOTE_ONLY"]
    yield z
    z.close()


def start(z, tmp_path, *args):
    folder = tmp_path / "trial"
    folder.mkdir(exist_ok=True)
    proc = z.start([sys.executable, "-m", "warm_trial"] + list(args), z.env, folder, folder / "train.log")
    assert proc is not None
    return proc, folder


def wait_for_output(log):
    deadline = time.time() + 30
    while not (log.exists() and log.read_text()):
        assert time.time() < deadline
        time.sleep(0.05)


def test_a_forked_trial_runs_in_its_own_folder_env_log_and_session(zygote, tmp_path):
    proc, folder = start(zygote, tmp_path, "3", "--flag")
    assert proc.wait(60) == 3  # the module's exit code reaches the coordinator
    out, err = (folder / "train.log").read_text().splitlines()
    seen = json.loads(out)
    assert err == "to stderr"
    assert seen["argv"] == ["3", "--flag"] and seen["cwd"] == str(folder)
    assert seen["var"] == "trial's own" and seen["zygote_var"] is None  # the trial's env, not the zygote's
    assert seen["ppid"] == zygote.proc.pid and seen["sid"] == seen["pid"]  # a fork, in a session of its own
    assert seen["loads"] == 1  # the preload ran once, in the zygote


def test_stopping_a_warm_trial_stops_it_like_a_cold_one(zygote, tmp_path):
    proc, folder = start(zygote, tmp_path, "0", "--sleep")
    wait_for_output(folder / "train.log")
    assert proc.poll() is None
    stop_process(proc, grace=10)
    assert proc.returncode == -15  # SIGTERM to its process group, as the coordinator stops trials
    assert not psutil.pid_exists(proc.pid) or psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE


def test_trials_end_with_the_zygote(zygote, tmp_path):
    proc, folder = start(zygote, tmp_path, "0", "--sleep")
    wait_for_output(folder / "train.log")
    zygote.proc.kill()  # e.g. the coordinator died and took the zygote with it
    zygote.proc.wait()
    assert proc.wait(10) == -9
    deadline = time.time() + 10
    while psutil.pid_exists(proc.pid) and psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.time() < deadline, "the trial outlived its zygote"
        time.sleep(0.05)
    assert zygote.start([sys.executable, "-m", "warm_trial", "0"], zygote.env, tmp_path, tmp_path / "x.log") is None


def test_a_failing_preload_is_never_ready(tmp_path):
    z = warm_start.Zygote("no_such_module_here:preload", dict(os.environ), tmp_path, tmp_path / "zygote.log")
    assert z.proc.wait(60) != 0 and not z.ready()
    z.close()
    assert "No module named 'no_such_module_here'" in (tmp_path / "zygote.log").read_text()
