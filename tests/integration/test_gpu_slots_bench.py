"""benchmarks/gpu_slots.py --dry-run: the GPU benchmark's CPU mode, so that the one run it gets on a GPU
machine does not fail on a mistake of the script or of its study commands."""
import json
import subprocess
import sys

from conftest import REPO
import pytest

sys.path.insert(0, str(REPO / "benchmarks"))


def test_dry_run_runs_the_slot_study_and_the_api_caller_and_checks_the_other_commands(tmp_path):
    data_file = tmp_path / "run.json"
    proc = subprocess.run([sys.executable, "benchmarks/gpu_slots.py", "--dry-run", "--json", str(data_file)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    skip_lines = [l for l in proc.stdout.splitlines() if l.startswith("gpu_slots: no CUDA here")]
    assert len(skip_lines) == 1 and "skipped" in skip_lines[0]
    data = json.loads(data_file.read_text())
    checked, ran = [s for s in data["slots"] if "skipped" in s], [s for s in data["slots"] if "skipped" not in s]
    assert [s["trials_per_gpu"] for s in checked] == [1, 4]
    assert "1 workers" in checked[0]["skipped"] and "4 workers" in checked[1]["skipped"]
    assert len(ran) == 1 and ran[0]["trials_per_gpu"] == 2 and ran[0]["states"] == ["COMPLETE", "COMPLETE"]
    assert [t["cvd"] for t in ran[0]["trials"]] == ["0", "0"]  # --gpus 0 reached both trials
    assert ran[0]["most_at_once"] == 2  # two trials shared the one slot's GPU
    api = data["api"]
    assert api["exit_code"] == 0 and api["cuda_initialised"] is False
    assert api["default"]["states"] == ["COMPLETE"] and api["import"]["states"] == ["COMPLETE"]
    assert "command was checked" in data["stop_skipped"]
    assert not (REPO / "benchmarks" / "RESULTS.md").read_text().count("gpu_slots: trial slots")  # a dry run writes none


def test_a_malformed_study_command_is_caught_without_running_it(tmp_path):
    import gpu_slots

    from paddle_autotune_plugins.errors import UsageError

    sizes = dict(gpu_slots.CPU_SIZES)
    good = gpu_slots.study_command(tmp_path, "s", sizes, 4, 2)
    assert gpu_slots.check_study_command(good, tmp_path) == (["lr"], 2)
    with pytest.raises(UsageError, match="--trial-timeout"):
        gpu_slots.check_study_command(good + ["--trial-timeout", "-1s"], tmp_path)
    with pytest.raises(UsageError, match="not a flag of the command"):
        gpu_slots.check_study_command(gpu_slots.study_command(tmp_path, "s", sizes, 4, 2) + ["--param", "lrr=0.1:0.2"],
                                      tmp_path)
    assert not (tmp_path / "s").exists()  # nothing ran
