"""The warm-start zygote (warm_start.py) with small trial modules: what a fork must give a trial that a fresh
process would have, and that stopping, exit codes and the zygote's end work as for cold trials.
The real PaddleClas check (warm and cold trials train identically) is in test_clas_e2e.py."""
import sys

from paddle_autotune_plugins.trials import warm_start


def test_only_python_dash_m_commands_are_forked():
    assert warm_start.can_fork([sys.executable, "-m", "pkg.train", "-c", "x.yaml"])
    assert not warm_start.can_fork([sys.executable, "tools/train.py", "-c", "x.yaml"])
    assert not warm_start.can_fork(["/other/python", "-m", "pkg.train"])
