"""What differs between PaddleDetection versions, without a checkout: where each saves its best checkpoint
(2.6 `save_dir/<config stem>/best_model.*`, release/2.7 and develop `save_dir/best_model.*`) and which
resolved knobs can act (tests/e2e/test_det_checkouts.py trains the checkouts themselves)."""
import pathlib

from conftest import REPO
import pytest

from paddle_autotune_plugins.adapters.paddledet.adapter import best_checkpoint_files


def _touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"w")


@pytest.mark.parametrize("layout", ["2.6", "2.7", "develop-uniform"])
def test_best_checkpoint_is_found_where_each_version_saves_it(tmp_path, layout):
    save_dir = tmp_path / "output"
    best = {"2.6": save_dir / "config", "2.7": save_dir, "develop-uniform": save_dir / "best_model"}[layout]
    _touch(save_dir / ("config" if layout == "2.6" else ""), "0.pdparams", "0.pdopt", "model_final.pdparams")
    _touch(best, "best_model.pdparams", "best_model.pdopt", "best_model.pdstates")
    if layout == "develop-uniform":  # develop also exports an inference model beside it
        _touch(best / "inference", "model.pdiparams")
    files = best_checkpoint_files(save_dir)
    assert [pathlib.Path(f).name for f in files] == ["best_model.pdopt", "best_model.pdparams", "best_model.pdstates"]
    assert all(pathlib.Path(f).parent == best for f in files)


def test_no_best_checkpoint_without_best_weights(tmp_path):
    """An eval with no detections saves no best_model.pdparams (2.7 may still write best_model.pdstates)."""
    _touch(tmp_path / "output", "0.pdparams", "best_model.pdstates")
    assert best_checkpoint_files(tmp_path / "output") is None
    assert best_checkpoint_files(tmp_path / "nothing") is None


def test_resolved_knobs_skip_the_ones_that_cannot_act():
    """The CLI's resolution leaves out a knob where the config makes it inert, and says so."""
    from argparse import Namespace

    from paddle_autotune_plugins.search_space.build import build_params
    from paddle_autotune_plugins.adapters.paddledet.adapter import DetAdapter

    adapter = DetAdapter()
    base = REPO / "adapters/paddledet/configs/faster_rcnn_r18_digits.yml"
    full = {p.name for p in build_params(adapter.load(None, ["-c", str(base)]),
                                             Namespace(preset=["det-nms-anchor"], space=None))[0]}
    assert {"LearningRate.schedulers.0.gamma", "LearningRate.schedulers.1.steps", "TwoFCHead.dropout"} <= full
    short = adapter.load(None, ["-c", str(base), "-o", "epoch=3"])  # milestones 8, 11: gamma never acts
    params, notes = build_params(short, Namespace(preset=["det-nms-anchor"], space=None))
    assert "LearningRate.schedulers.0.gamma" not in {p.name for p in params}
    assert any("decay_gamma" in n for n in notes)
