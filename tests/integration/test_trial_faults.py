"""Faults a trial's own process can cause, with real processes and real storages (round 3 of the reliability
work): whatever a trial forks ends with it, and whatever it writes can fail only that trial."""
import os
import pathlib
import signal
import subprocess
import time

from conftest import PYTHON, REPO, read_trials
from integration.test_faults import assert_nothing_lost, command, run, start, trial_processes, wait_for
import optuna
import psutil
import pytest
import yaml

from paddle_autotune_plugins.trials import process_tree

FORKING = str(REPO / "tests" / "forking_trial.py")


def forking_command(tmp_path, out, trials, *extra, child="group", hang=False):
    space = tmp_path / "space.yaml"
    space.write_text("lr: {low: 0.0, high: 1.0}\n")
    script = [FORKING, "--lr", "0.1", "--child", child] + (["--hang"] if hang else [])
    return [PYTHON, "-m", "paddle_autotune_plugins", *script, "--autotune", "--space", str(space), "--metric",
            "val_acc", "--trials", str(trials), "--pruner", "none", "--out", str(out), *extra]


@pytest.fixture(params=["cgroup", "process group"])
def tree_kind(request, monkeypatch):
    """Both ways of ending a trial's tree: a cgroup (where this machine lets us make one) and the fallback."""
    if request.param == "cgroup":
        if process_tree.cgroup_root() is None:
            pytest.skip("no writable cgroup v2 here (needs root and a cgroup2 mount)")
        monkeypatch.delenv(process_tree.NO_CGROUP_ENV, raising=False)
    else:
        monkeypatch.setenv(process_tree.NO_CGROUP_ENV, "1")
    return request.param


@pytest.mark.parametrize("child", ["group", "setsid", "leave", "double"])
def test_what_a_trial_forks_ends_with_the_trial(tmp_path, tree_kind, child):
    out = tmp_path / "out"
    proc = run(forking_command(tmp_path, out, 2, "--sampler", "random", child=child))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_nothing_lost(out, 2)  # no process that carries a trial's report path is left


def test_a_timed_out_trial_leaves_nothing_running(tmp_path, tree_kind):
    out = tmp_path / "out"
    proc = run(forking_command(tmp_path, out, 1, "--trial-timeout", "2s", child="setsid", hang=True))
    assert proc.returncode == 1, proc.stderr[-2000:]  # its only trial timed out
    assert "timeout after 2 s" in read_trials(out)[0]["reason"], read_trials(out)
    assert not trial_processes(out), "a timed-out trial's child outlived the study"


def test_what_a_trial_of_a_sigkilled_coordinator_forked_ends_when_the_command_runs_again(tmp_path, tree_kind):
    out = tmp_path / "out"
    cmd = forking_command(tmp_path, out, 2, child="double", hang=True)
    first = start(cmd)
    wait_for(out / "trials.csv")  # the study holds trial 0: the next run takes it back as trial 1
    deadline = time.time() + 60
    while len(trial_processes(out)) < 2:  # the trial and its grandchild
        assert time.time() < deadline, "the trial never forked"
        time.sleep(0.1)
    first.kill()  # SIGKILL: the trial's main process dies with it (PR_SET_PDEATHSIG), its grandchild does not
    first.wait()
    time.sleep(1)
    orphans = trial_processes(out)
    assert orphans, "nothing was left to end"
    again = start(cmd)
    try:
        wait_for(out / "trial_0001" / "train.log")
        deadline = time.time() + 10
        while any(psutil.pid_exists(pid) for pid in orphans) and time.time() < deadline:
            time.sleep(0.1)
        assert not any(psutil.pid_exists(pid) for pid in orphans), "the killed coordinator's trial's child lives on"
    finally:
        again.send_signal(signal.SIGINT)
        again.communicate(timeout=60)
    assert not trial_processes(out)


BAD_MODES = ["notjson", "abc", "list", "nostep", "badstep", "metricslist", "used", "binary"]


def test_a_report_line_the_coordinator_cannot_use_fails_only_its_trial(tmp_path):
    out = tmp_path / "out"
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"lr": {"low": 0.0, "high": 1.0}, "mode": {"values": ["ok"] + BAD_MODES},
                                     "enqueue": [{"lr": 0.2, "mode": mode} for mode in ["ok"] + BAD_MODES]}))
    proc = run([PYTHON, "-m", "paddle_autotune_plugins", str(REPO / "tests" / "bad_report_trial.py"), "--lr", "0.1",
                "--mode", "ok", "--autotune", "--space", str(space), "--metric", "val_acc", "--trials",
                str(2 + len(BAD_MODES)), "--sampler", "random", "--seed", "0", "--pruner", "none", "--out", str(out)])
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    rows = read_trials(out)
    by_mode = {r["mode"]: r for r in rows[1:]}  # trial 0 is the baseline (mode ok)
    assert set(by_mode) == {"ok"} | set(BAD_MODES), rows
    assert by_mode["ok"]["state"] == "COMPLETE"
    for mode in BAD_MODES:
        assert by_mode[mode]["state"] == "FAIL" and "metrics.jsonl" in by_mode[mode]["reason"], by_mode[mode]
    assert "not a number" in by_mode["abc"]["reason"] and "not JSON" in by_mode["notjson"]["reason"]


def test_ten_megabytes_without_a_newline_are_read_in_linear_time(tmp_path):
    out = tmp_path / "out"
    space = tmp_path / "space.yaml"
    space.write_text("lr: {low: 0.0, high: 1.0}\n")
    started = time.time()
    proc = run([PYTHON, "-m", "paddle_autotune_plugins", str(REPO / "tests" / "long_line_trial.py"), "--lr", "0.1",
                "--autotune", "--space", str(space), "--metric", "val_acc", "--trials", "1", "--out", str(out)],
               timeout=120)
    took = time.time() - started
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert read_trials(out)[0]["state"] == "COMPLETE"  # the metric after the long line is still read
    assert took < 30, f"a 10 MB line took {took:.0f} s"  # quadratic splitting took 70-95 s


def test_best_config_is_written_after_the_trial_is_told_and_resume_makes_it_agree(tmp_path):
    out = tmp_path / "out"
    cmd = command(tmp_path, out, 2, sleep="0.1")
    (out / "best_config.yaml").mkdir(parents=True)  # writing the best files fails once trial 0 has its result
    first = run(cmd)
    assert first.returncode == 1 and "IsADirectoryError" in first.stderr, first.stderr[-2000:]
    (out / "best_config.yaml").rmdir()
    assert read_trials(out)[0]["state"] == "COMPLETE"  # its result was told before its files were written
    again = run(cmd)
    assert again.returncode == 0, again.stderr[-2000:]
    assert_nothing_lost(out, 2)  # best_config.yaml is the best trial's


def test_resume_rewrites_a_best_config_that_names_another_trial(tmp_path):
    out = tmp_path / "out"
    cmd = command(tmp_path, out, 3, sleep="0.1")
    assert run(cmd).returncode == 0
    (out / "best_config.yaml").write_text("lr: 0.987\n")  # as a kill between a tell and the files leaves it
    again = run(cmd)
    assert again.returncode == 0, again.stderr[-2000:]
    assert_nothing_lost(out, 3)


def _killed_mid_write(db, sql):
    """A real SQLite writer SIGKILLed inside a transaction that ran `sql`: the file keeps a hot journal."""
    code = ("import os, signal, sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('PRAGMA journal_mode=DELETE'); c.execute('PRAGMA cache_size=1')\n"
            f"c.executescript({'BEGIN;' + sql!r})\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([PYTHON, "-c", code, str(db)])
    assert pathlib.Path(f"{db}-journal").exists()


@pytest.mark.parametrize("when", ["while the study was created", "mid-study"])
def test_a_coordinator_killed_with_a_hot_journal_resumes_with_the_same_command(tmp_path, when):
    out = tmp_path / "out"
    cmd = command(tmp_path, out, 3, sleep="0.1")
    junk = "CREATE TABLE junk (x TEXT);" + "INSERT INTO junk VALUES (hex(randomblob(300)));" * 2000
    if when == "mid-study":
        assert run(command(tmp_path, out, 2, sleep="0.1")).returncode == 0
    else:  # the early trial 0 had started when the schema's first transaction was cut off
        (out / "trial_0000").mkdir(parents=True)
        (out / "trial_0000" / "train.log").write_text("epoch 1\n")
    _killed_mid_write(out / "study.db", junk)
    again = run(cmd)
    assert again.returncode == 0, again.stderr[-2000:]
    assert_nothing_lost(out, 3)


def test_a_damaged_study_file_whose_check_spans_lines_is_one_line(tmp_path):
    out = tmp_path / "out"
    cmd = command(tmp_path, out, 2, sleep="0.1")
    assert run(cmd).returncode == 0
    db = (out / "study.db").read_bytes()  # a freelist that points at a used page: quick_check says so on 4 lines
    (out / "study.db").write_bytes(db[:32] + (5).to_bytes(4, "big") + (2).to_bytes(4, "big") + db[40:])
    again = run(cmd)
    lines = [line for line in again.stderr.splitlines() if not line.startswith("[autotune]")]
    assert again.returncode == 2 and len(lines) == 1, again.stderr[-2000:]
    assert "study.db is damaged or not a study (*** in database main *** Main freelist:" in lines[0], lines


def _two_on_a_journal(tmp_path, heartbeat, trials=6):
    storage = f"journal:///{tmp_path / 'study.log'}"
    return [command(tmp_path, tmp_path / name, trials, "--storage", storage, "--study", "s", "--heartbeat", heartbeat,
                    sleep="0.5") for name in ("a", "b")], storage


def _assert_study_whole(storage, trials, tmp_path):
    from paddle_autotune_plugins.optuna_glue.storages import open_storage

    study = optuna.load_study(study_name="s", storage=open_storage(storage, tmp_path)[0])
    real = [t for t in study.trials if not t.user_attrs.get("interrupted") and not t.user_attrs.get("surplus")]
    assert len(real) == trials and all(t.state == optuna.trial.TrialState.COMPLETE for t in real), study.trials
    assert optuna.trial.TrialState.RUNNING not in [t.state for t in study.trials]
    assert not trial_processes(tmp_path / "a") and not trial_processes(tmp_path / "b")


def _pause_outside(proc, lock):
    """SIGSTOP proc at a moment it does not hold the journal's lock file."""
    for _ in range(500):
        proc.send_signal(signal.SIGSTOP)
        while pathlib.Path(f"/proc/{proc.pid}/stat").read_text().split(") ")[1][0] not in "Tt":
            time.sleep(0.001)
        if not lock.exists():
            return
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError(f"{lock} stayed held")


def test_a_paused_coordinator_whose_trial_was_taken_back_stops_it_and_goes_on(tmp_path):
    # 12 trials: the other coordinator is still at work when the paused one's trial goes stale (6 heartbeats);
    # with 6, a quiet machine ran the other 5 trials before that and ended without taking it back
    (a, b), storage = _two_on_a_journal(tmp_path, "1s", trials=12)
    first = start(a)
    wait_for(tmp_path / "a" / "trial_0000" / "train.log")
    # paused past six heartbeats: the other one takes its trial back. Never while it holds the journal's file
    # lock: the other would wait for the lock's 30 s grace, break it, and this one's release would fail
    _pause_outside(first, pathlib.Path(storage[len("journal:///"):] + ".lock"))
    try:
        second = start(b)
        wait_for(tmp_path / "b" / "trial_*" / "train.log")
        time.sleep(8)
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0 and "Traceback" not in err, err[-2000:]
    assert "taken back by another coordinator" in err, err[-2000:]
    _, err = second.communicate(timeout=300)
    assert second.returncode == 0, err[-2000:]
    _assert_study_whole(storage, 12, tmp_path)


def test_two_coordinators_with_a_heartbeat_shorter_than_a_poll_finish_the_study(tmp_path):
    (a, b), storage = _two_on_a_journal(tmp_path, "0.01s")
    procs = [start(a), start(b)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and "UpdateFinishedTrialError" not in err, err[-2000:]
    _assert_study_whole(storage, 6, tmp_path)


def _one_line(proc, message):
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("[autotune]")]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert message in lines[0], lines[0]


def test_a_disk_full_before_the_study_starts_is_one_line(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        with open(disk / "filler", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        _one_line(run(command(tmp_path, disk / "out", 2)),
                  "No space left on device; free some disk space there, or use another --out")
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_study_file_this_user_may_not_open_is_one_line(tmp_path):
    import shutil

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv: root without CAP_DAC_OVERRIDE is held to file modes as a user is")
    out = tmp_path / "out"
    cmd = command(tmp_path, out, 2, sleep="0.1")
    assert run(cmd).returncode == 0
    (out / "study.db").chmod(0)
    _one_line(run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"] + cmd),
              "study.db: Permission denied; give this user read and write access to it")


def test_postgresql_restarted_mid_study_names_the_cause(postgres_server, tmp_path):
    out = tmp_path / "a"
    first = start(command(tmp_path, out, 5, "--storage", postgres_server.url, "--study", "faults", "--heartbeat", "1s",
                          sleep="1.0"))
    wait_for(out / "trial_0001" / "train.log")
    postgres_server.stop("fast")  # a restart: the server's connections close, and it is back at once
    postgres_server.start()
    _, err = first.communicate(timeout=300)
    assert "Traceback" not in err and "s3cret-pw" not in err, err[-2000:]
    if first.returncode == 0:  # the restart fell between two queries and the pool reconnected: nothing was lost
        assert not trial_processes(out)
        return
    assert first.returncode == 1, err[-2000:]
    line = err.strip().splitlines()[-1]
    # "failed mid-study: ();" named nothing: SQLAlchemy's pool error under the server's own
    assert "failed mid-study: ();" not in line and "after the database server is back" in line, line
    assert not trial_processes(out)


def test_a_trial_process_joins_its_cgroup_as_it_starts(tmp_path):
    """Before the coordinator's own move (after the start) can come late: what it forks first is in there too."""
    tree = process_tree.TrialTree(tmp_path / "out" / "trial_0000" / "metrics.jsonl")
    if tree.cgroup is None:
        pytest.skip("no writable cgroup v2 here (needs root and a cgroup2 mount)")
    folder = tree.cgroup
    try:
        shown = subprocess.run([PYTHON, "-c", "import paddle_autotune_plugins; print(open('/proc/self/cgroup').read())"],
                               env=dict(os.environ, **tree.env()), capture_output=True, text=True, check=True).stdout
        assert shown.rstrip().endswith(f"/{folder.name}"), shown
    finally:
        tree.kill()
    assert not folder.exists()


def test_an_empty_cgroup_of_a_dead_coordinator_is_removed_by_the_next_start(tmp_path):
    root = process_tree.cgroup_root()
    if root is None:
        pytest.skip("no writable cgroup v2 here (needs root and a cgroup2 mount)")
    dead = subprocess.Popen([PYTHON, "-c", "pass"])
    dead.wait()  # a pid no coordinator has any more
    left = root / f"{process_tree.PREFIX}{dead.pid}-{process_tree.out_tag(tmp_path / 'elsewhere')}-trial_0000-1"
    left.mkdir()
    try:
        assert run(command(tmp_path, tmp_path / "out", 1, sleep="0")).returncode == 0
        assert not left.exists()
    finally:
        if left.exists():
            left.rmdir()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_ctrl_c_right_after_a_trial_started_stops_that_trial(tmp_path, monkeypatch, signum):
    """Ctrl-C (or SIGTERM, which the coordinator takes as Ctrl-C) landing between a trial's process start and
    its registration among the running trials: the interrupt's clean-up must still find and stop it (before,
    that trial lived on)."""
    from fake_suite import X, make_task

    from paddle_autotune_plugins.search_space import space
    from paddle_autotune_plugins.settings.options import Settings
    from paddle_autotune_plugins.study.coordinator import Coordinator
    from paddle_autotune_plugins.trials.trial_processes import TrialProcesses

    started = []
    own_start = TrialProcesses.start_process

    def start_then_ctrl_c(self, *args, **kwargs):
        rt = own_start(self, *args, **kwargs)
        started.append(rt.proc)
        os.kill(os.getpid(), signum)  # as a terminal's Ctrl-C or a scheduler's stop arrives: at once
        return rt

    monkeypatch.setattr(TrialProcesses, "start_process", start_then_ctrl_c)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # a test runner's worker may ignore it
    try:
        task = make_task(tmp_path, steps=3, sleep=30.0)
        coordinator = Coordinator(task, space.parse_space(X), Settings(out=tmp_path / "out", trials=2, quiet=True))
        with pytest.raises(KeyboardInterrupt):
            coordinator.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert started, "no trial started"
    for proc in started:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the trial started just before Ctrl-C was left running")
