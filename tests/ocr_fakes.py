"""Stand-ins shared by the OCR tests of every layer: the shape of a PaddleOCR checkout with a detection
config, and its tools/program.py."""
import textwrap
import types

import pytest

from paddle_autotune_plugins.adapters.paddleocr import hooks

DET = """
Global: {use_gpu: true, epoch_num: 10, save_model_dir: ./output/det/, save_epoch_step: 100,
         eval_batch_step: [0, 50], save_res_path: ./output/det.txt}
Architecture: {model_type: det, algorithm: DB, Backbone: {name: MobileNetV3}}
Optimizer:
  name: Adam
  lr: {name: Cosine, learning_rate: 0.001, warmup_epoch: 2}
  regularizer: {name: L2, factor: 5.0e-05}
PostProcess: {name: DBPostProcess, thresh: 0.3, box_thresh: 0.6, max_candidates: 1000, unclip_ratio: 1.5}
Metric: {name: DetMetric, main_indicator: hmean}
Train:
  dataset: {name: SimpleDataSet, data_dir: ./train_data/, label_file_list: [./train_data/train.txt]}
  loader: {shuffle: true, drop_last: false, batch_size_per_card: 8, num_workers: 4}
Eval:
  dataset: {name: SimpleDataSet, data_dir: ./train_data/, label_file_list: [./train_data/val.txt]}
  loader: {shuffle: false, drop_last: false, batch_size_per_card: 1, num_workers: 2}
"""


@pytest.fixture()
def checkout(tmp_path):
    """The shape of a PaddleOCR checkout (ppocr/, tools/train.py) with a detection config and its data list."""
    root = tmp_path / "PaddleOCR"
    (root / "ppocr").mkdir(parents=True)
    (root / "tools").mkdir()
    (root / "tools" / "train.py").write_text("raise SystemExit('not run by these tests')\n")
    (root / "configs" / "det").mkdir(parents=True)
    (root / "configs" / "det" / "db.yml").write_text(textwrap.dedent(DET))
    (root / "train_data").mkdir()
    (root / "train_data" / "train.txt").write_text("".join(f"img_{i}.jpg\t[]\n" for i in range(100)))
    return root


class Loader:
    def __init__(self, batch_size):
        self.batch_sampler = types.SimpleNamespace(batch_size=batch_size)
        self.dataset = types.SimpleNamespace(need_reset=False)

    def __iter__(self):
        return iter(range(3))

    def __len__(self):
        return 3


@pytest.fixture()
def fake_program(monkeypatch, tmp_path):
    """A stand-in for a checkout's tools/program.py: its train loop calls the module's eval at two
    evaluation steps and logs each result twice (cur and best metric), as PaddleOCR's does."""
    report = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("PADDLE_AUTOTUNE_REPORT", str(report))
    module = types.ModuleType("tools.program")
    results = iter([{"acc": 0.25, "norm_edit_dis": 0.5, "fps": 180.0}, {"acc": 0.5, "norm_edit_dis": 0.75,
                                                                        "fps": 200.0}])

    def eval(model, valid_dataloader, post_process_class, eval_class, model_type=None):
        return next(results)

    def train(config, train_dataloader, valid_dataloader, device, model, loss_class, optimizer, lr_scheduler,
              post_process_class, eval_class, pre_best_model_dict, logger, step_pre_epoch, log_writer=None):
        best = {}
        for global_step in (50, 100):  # an epoch each
            assert not train_dataloader.dataset.need_reset
            assert [batch for batch in train_dataloader] == [0, 1, 2]
            cur_metric = module.eval(model, valid_dataloader, post_process_class, eval_class)
            best.update(cur_metric)  # "best metric" is logged from this: no evaluation of its own

    module.train, module.eval = train, eval
    hooks._hook_program(module)
    return module, report
