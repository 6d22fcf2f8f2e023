"""A stand-in for a PaddleOCR checkout's tools/program.py, shared by the OCR tests of every layer."""
import types

import pytest

from paddle_autotune_plugins.adapters.paddleocr import hooks


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
