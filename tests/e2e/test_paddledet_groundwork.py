"""PaddleDetection groundwork: the digits detection set, the bundled configs, the Paddle 3 compat fixes.

Every run that imports ppdet happens in a subprocess: ppdet keeps its config in one module-level
global_config, and the compat fixes must not leak into this process. The e2e tests train each bundled
architecture for one epoch on 60 images and evaluate on 20 (about 10-45 s each on 2 shared cores);
``pytest -s`` prints the measured times and AP values.
"""
import os
import subprocess
import sys
import time

import conftest
from det_boot import BOOT, REPO, import_det
import pytest

TESTS = str(conftest.TESTS)  # det_quickrun.py, test scaffolding
MIRROR = "/work/.mirror/PaddlePaddle+PaddleDetection/repo"  # a git mirror of PaddleDetection, if present

digits_det = import_det("digits_det")
compat = import_det("compat")


def _run_python(code, args=(), env_extra=None, cwd=REPO, timeout=600):
    env = dict(os.environ)
    env.pop("PADDLE_AUTOTUNE_REPORT", None)
    env.update(env_extra or {})
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", BOOT + code, *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=cwd)
    return proc, time.time() - start


@pytest.fixture(scope="session")
def det_data(tmp_path_factory):
    return digits_det.ensure_dataset(tmp_path_factory.mktemp("digits_det") / "set", num_train=60, num_val=20)


def _git_show(ref, path):
    return subprocess.run(["git", "-C", MIRROR, "show", f"{ref}:{path}"], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.skipif(not os.path.isdir(MIRROR), reason="no PaddleDetection git mirror on this machine")
def test_fix_detection_follows_upstream_history():
    """The buggy-line patterns find the bugs in v2.6.0, and not where upstream fixed them."""
    def zero_d_buggy(ref):
        return {m: compat._has_pattern(_git_show(ref, m.replace(".", "/") + ".py"), p)
                for m, p in compat.ZERO_D_MODULES.items()}

    def int_mix_buggy(ref):
        return {m: compat._has_pattern(_git_show(ref, m.replace(".", "/") + ".py"), [compat.INT_MIX_PATTERN])
                for m in compat.ASSIGNER_CLASSES}

    assert all(zero_d_buggy("v2.6.0").values()) and all(int_mix_buggy("v2.6.0").values())
    # release/2.6 later got the 0-D fix (#8653) but kept the assigner bug; so did release/2.7
    for ref in ("release/2.6", "release/2.7"):
        assert not any(zero_d_buggy(ref).values()) and all(int_mix_buggy(ref).values()), ref
    assert not any(zero_d_buggy("develop").values()) and not any(int_mix_buggy("develop").values())


QUICKRUN = f"sys.path.insert(0, {TESTS!r}); import det_quickrun; sys.exit(det_quickrun.main(sys.argv[1:]))"


def _quickrun(config, det_data, out, *extra):
    args = [config, "--data-dir", det_data.dataset_dir, "--num-train", "60", "--num-val", "20",
            "--epochs", "1", "--out", str(out), *extra]
    return _run_python(QUICKRUN, args, cwd=str(out.parent))  # a stray bbox.json would land there


@pytest.mark.parametrize("config, error", [
    ("faster_rcnn_r18_digits", "The axis is expected to be in range of [0, 0)"),
    ("ppyoloe_tiny_digits", "But got different data type x: int64, y: int32"),
])
def test_training_fails_without_the_fixes(config, error, det_data, tmp_path):
    # only the pkg_resources stand-in, so that ppdet can be imported at all where setuptools >= 82
    proc, _ = _quickrun(config, det_data, tmp_path / "run", "--fixes", "pkg-resources")
    assert proc.returncode != 0
    assert error in proc.stderr, proc.stderr[-3000:]
    assert "QUICKRUN_RESULT" not in proc.stdout
