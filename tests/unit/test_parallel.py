"""Parallel trials, GPU placement, faults, shared storages (journal file, real PostgreSQL), hard kills.

Trials here run tests/probe_train.py through the generic adapter (a real script, real processes) so the
machinery is exercised in seconds; the suite trainers run in the e2e tests (one of them here, with 2 workers).
"""
import sys


def test_multi_gpu_trial_goes_through_paddle_distributed_launch(tmp_path):
    from paddle_autotune_plugins.suites.adapter import launch_command

    cmd = launch_command([sys.executable, "-m", "paddle_autotune_plugins.run_trial", "generic", "train.py", "--lr", "1"],
                         "0,1", tmp_path / "launch_log")
    assert cmd[1:5] == ["-m", "paddle.distributed.launch", "--devices", "0,1"]
    assert cmd[cmd.index("--log_dir") + 2].endswith("run_trial.py") and cmd[-4:] == ["generic", "train.py", "--lr", "1"]
