"""AutoTuner.run() from a caller that has initialised CUDA: a forked trial cannot use CUDA again, so run()
stops before any trial with one line naming start_method="import", and "import" runs the trials.

There is no GPU here: CUDA being initialised is faked at the narrowest point, the framework's own query
(torch.cuda.is_initialized; for Paddle, a CUDA build that sees a GPU), in a real caller process."""

import pytest

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.trials import run_function


def test_torch_imported_without_cuda_is_no_reason_to_stop(monkeypatch):
    import torch

    assert not torch.cuda.is_initialized()  # this machine's CPU build
    assert run_function.cuda_initialised() is None
    run_function.check_fork_after_cuda("fork")
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    assert run_function.cuda_initialised() == "PyTorch"
    with pytest.raises(UsageError, match='start_method="import"'):
        run_function.check_fork_after_cuda("fork")
    run_function.check_fork_after_cuda("import")  # a fresh process per trial: nothing to stop
