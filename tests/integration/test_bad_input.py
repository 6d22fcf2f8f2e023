"""Bad input fails before any trial starts: exit code 2 and one line that names the problem and the fix."""
import subprocess

from conftest import PYTHON, REPO


def test_launcher_exit_code_and_single_line(digits_config, tmp_path):
    """The real `python -m paddle_autotune_plugins SCRIPT ... --autotune` path, as a user runs it."""
    script = tmp_path / "train.py"
    script.write_text("print('never runs')\n")
    proc = subprocess.run([PYTHON, "-m", "paddle_autotune_plugins", str(script), "-c", str(digits_config),
                           "--autotune", "--preset", "clas-lr", "--trials", "3", "--samplr", "tpe"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "unrecognized arguments: --samplr" in proc.stderr
