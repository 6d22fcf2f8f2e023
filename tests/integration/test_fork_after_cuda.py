"""AutoTuner.run() from a caller that has initialised CUDA: a forked trial cannot use CUDA again, so run()
stops before any trial with one line naming start_method="import", and "import" runs the trials.

There is no GPU here: CUDA being initialised is faked at the narrowest point, the framework's own query
(torch.cuda.is_initialized; for Paddle, a CUDA build that sees a GPU), in a real caller process."""
import json
import subprocess
import sys
import textwrap

import pytest

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.trials import run_function

CALLER = textwrap.dedent('''
    import json, pathlib, sys

    import torch

    from paddle_autotune_plugins import AutoTuner, report
    from paddle_autotune_plugins.errors import UsageError


    def train_evaluate(config):
        report(1, config["lr"])
        return config["lr"]


    if __name__ == "__main__":
        start_method, out = sys.argv[1] or None, pathlib.Path(sys.argv[2])
        torch.cuda.is_initialized = lambda: True  # what torch.cuda.init() leaves on a machine with a GPU
        tuner = AutoTuner(train_evaluate, search_space={"lr": {"min": 0.1, "max": 0.9}}, max_trials=2,
                          tuner_type="random", pruner="none", out=out, start_method=start_method)
        try:
            tuner.run()
        except UsageError as e:
            print("STOPPED " + json.dumps(str(e)))
            sys.exit(2)
        print("DONE " + json.dumps([t.state.name for t in tuner.study.trials]))
''')


def run_caller(tmp_path, start_method):
    script = tmp_path / "caller.py"
    script.write_text(CALLER)
    out = tmp_path / f"out_{start_method or 'default'}"
    proc = subprocess.run([sys.executable, str(script), start_method, str(out)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    lines = [l for l in proc.stdout.splitlines() if l.startswith(("STOPPED ", "DONE "))]
    assert len(lines) == 1, proc.stdout + proc.stderr
    word, _, payload = lines[0].partition(" ")
    return proc.returncode, word, json.loads(payload), out


@pytest.mark.parametrize("start_method", ["", "fork"])
def test_a_cuda_caller_is_stopped_before_any_trial(tmp_path, start_method):
    code, word, message, out = run_caller(tmp_path, start_method)
    assert (code, word) == (2, "STOPPED")
    assert "\n" not in message and 'start_method="import"' in message and "PyTorch" in message
    assert not out.exists(), "a study folder (or a trial) was made before the stop"


def test_a_cuda_caller_with_import_runs_its_trials(tmp_path):
    code, word, states, out = run_caller(tmp_path, "import")
    assert (code, word, states) == (0, "DONE", ["COMPLETE", "COMPLETE"])
    assert "caller.py:train_evaluate" in (out / "trial_0001" / "command.txt").read_text()


def test_a_paddle_cuda_build_that_sees_a_gpu_counts_as_initialised(monkeypatch):
    import paddle

    assert run_function.cuda_initialised() is None  # this machine's CPU build
    monkeypatch.setattr(paddle.device, "is_compiled_with_cuda", lambda: True)
    monkeypatch.setattr(paddle.device.cuda, "device_count", lambda: 0)
    assert run_function.cuda_initialised() is None  # a CUDA build on a machine without a GPU
    monkeypatch.setattr(paddle.device.cuda, "device_count", lambda: 1)
    assert run_function.cuda_initialised() == "Paddle"
    with pytest.raises(UsageError, match=r"\(Paddle\).*start_method=\"import\""):
        run_function.check_fork_after_cuda("fork")


def test_asking_imports_neither_framework():
    code = ("import sys\nfrom paddle_autotune_plugins.trials import run_function\n"
            "print(run_function.cuda_initialised(), 'torch' in sys.modules, 'paddle' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["None", "False", "False"], proc.stderr
