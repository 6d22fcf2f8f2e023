"""A PaddleDetection config changed by a trial and written flat loads in ppdet (in a subprocess) to the same
values plus the trial's changes."""
import json
import subprocess

from conftest import PYTHON, REPO

from paddle_autotune_plugins.adapters.paddledet import config_io
from paddle_autotune_plugins.adapters.paddledet.adapter import DetAdapter
from paddle_autotune_plugins.search_space import dotpath

ROUND_TRIP = """
import json, sys
from paddle_autotune_plugins.adapters.paddledet import hooks
hooks.install()
from ppdet.core.workspace import load_config
def plain(x):
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if hasattr(x, '__dict__') and not isinstance(x, type):
        return dict({'__class__': type(x).__name__}, **{k: plain(v) for k, v in vars(x).items()})
    return x
cfg = load_config(sys.argv[1])
print('CONFIG ' + json.dumps({k: plain(cfg[k]) for k in sorted(cfg) if k != 'filename'}, default=str))
"""


def _ppdet_view(path):
    proc = subprocess.run([PYTHON, "-c", ROUND_TRIP, str(path)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("CONFIG "))[7:])


def test_base_chain_and_tags_round_trip_through_ppdet(tmp_path):
    """A config with a _BASE_ chain and tagged schedulers, changed and written flat, loads in ppdet to the
    same values plus the trial's changes."""
    original = REPO / "adapters" / "paddledet" / "configs" / "faster_rcnn_r18_digits.yml"
    assert "_BASE_" in original.read_text() and "!PiecewiseDecay" in original.read_text()
    cfg = DetAdapter().load(None, ["-c", str(original)]).fresh_config()
    changes = {"LearningRate.base_lr": 0.005, "LearningRate.schedulers.0.milestones": [5, 7],
               "BBoxPostProcess.nms.nms_threshold": 0.6, "BBoxPostProcess.nms.score_threshold": 0.01,
               "RPNHead.anchor_generator.anchor_sizes": [[16], [32], [64], [128], [256]]}
    for path, value in changes.items():
        dotpath.set_(cfg, path, value)
    written = tmp_path / "trial.yml"
    config_io.dump(cfg, written)
    assert "_BASE_" not in written.read_text() and "!PiecewiseDecay" in written.read_text()
    before, after = _ppdet_view(original), _ppdet_view(written)
    assert after["LearningRate"]["base_lr"] == 0.005
    assert after["LearningRate"]["schedulers"][0]["__class__"] == "PiecewiseDecay"
    assert after["LearningRate"]["schedulers"][0]["milestones"] == [5, 7]
    assert after["BBoxPostProcess"]["nms"]["nms_threshold"] == 0.6
    assert after["BBoxPostProcess"]["nms"]["score_threshold"] == 0.01  # both nms keys kept (no -o clobber)
    assert after["RPNHead"]["anchor_generator"]["anchor_sizes"] == [[16], [32], [64], [128], [256]]
    for path in changes:  # everything else is exactly what ppdet read from the original chain
        for view in (before, after):
            dotpath.set_(view, path, None)
    assert before == after
