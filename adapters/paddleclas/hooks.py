"""Code that runs inside a PaddleClas trial process: Paddle 3 fixes and eval-metric reporting.

Both are attached with ``when_imported``, so they reach whichever ``ppcls`` the trial imports (the
2.4.2 wheel or a source checkout) without a file being edited.
"""
import importlib.util
import os
import re

from paddle_autotune_plugins.suites.kit.patching import is_patched, mark_patched
from paddle_autotune_plugins.suites.kit.zero_d import as_1d
from paddle_autotune_plugins.trials.import_hooks import when_imported
from paddle_autotune_plugins.trials.reporting import report, report_progress, report_used, wanted

_METRIC = re.compile(r"([A-Za-z_][\w.@-]*)\s*:\s*([-+]?[\d.]+(?:e[-+]?\d+)?|nan|inf)", re.IGNORECASE)


def wheel_ppcls_root():
    """The folder to put on sys.path so `import ppcls` finds the wheel (inside site-packages/paddleclas)."""
    spec = importlib.util.find_spec("paddleclas")  # finds it without importing: the import prints a model table
    if spec is None or not spec.submodule_search_locations:
        return None
    root = list(spec.submodule_search_locations)[0]
    return root if os.path.isdir(os.path.join(root, "ppcls")) else None


# --- Paddle >= 2.5: reductions return 0-D tensors; ppcls 2.4 indexes them with .numpy()[0] -------------
def _one_d(values):
    import paddle

    for key, value in list(values.items()):
        if isinstance(value, paddle.Tensor):
            values[key] = as_1d(value)  # differentiable; [1]-shaped code paths work unchanged
    return values


def _wrap(module, class_name, method, wrapper, mark="_autotune_fixed"):
    """module.class_name.method replaced by wrapper(original), once: a class that lacks it, or whose method
    carries mark already, is left as it is."""
    cls = getattr(module, class_name, None)
    if cls is None or is_patched(getattr(cls, method), mark):
        return
    wrapped = wrapper(getattr(cls, method))
    mark_patched(wrapped, mark)
    setattr(cls, method, wrapped)


def _one_d_call(original):
    def __call__(self, *args, **kwargs):
        return _one_d(original(self, *args, **kwargs))

    return __call__


def _one_d_update(original):
    import paddle

    def update(self, val, n=1):
        if isinstance(val, paddle.Tensor):
            val = as_1d(val)
        return original(self, val, n)

    return update


FIXES = [
    ("ppcls-0d-tensors", "losses, metrics and running averages made 1-D where ppcls 2.4 indexes .numpy()[0] "
                         "(Paddle >= 2.5 returns 0-D); harmless where ppcls already uses float()"),
]


def fixes_apply():
    import paddle

    major, minor = (int(x) for x in paddle.__version__.split(".")[:2])
    return (major, minor) >= (2, 5) or paddle.__version__.startswith("0.0")


# --- metric reporting ---------------------------------------------------------------------------------
def eval_metrics(engine, value):
    """All eval metrics of the epoch by name (top1, top5, ...), from the metric's own summary line."""
    metrics = {}
    metric_func = getattr(engine, "eval_metric_func", None)
    info = getattr(metric_func, "avg_info", "") if metric_func is not None else ""
    for name, number in _METRIC.findall(info if isinstance(info, str) else ""):
        metrics[name] = float(number)
    if not metrics:
        metrics["metric"] = float(value)
    return metrics


def latency_ms(model, config, batch=8, runs=10):
    """Milliseconds per forward pass of a fixed batch (zeros at Global.image_shape), eval mode, median."""
    import time

    import paddle

    shape = list(config["Global"].get("image_shape") or [3, 224, 224])
    x = paddle.zeros([batch] + shape, dtype="float32")
    model.eval()
    times = []
    with paddle.no_grad():
        model(x)  # warm-up
        for _ in range(runs):
            start = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - start) * 1000)
    model.train()
    return sorted(times)[len(times) // 2]


class _CountingLoader:
    """The train loader, saying after each batch how many of the epoch's are done (iterating it is all
    ppcls's train_epoch does with it; anything else goes to the loader itself)."""

    def __init__(self, loader, done):
        self._loader, self._done = loader, done

    def __iter__(self):
        for i, batch in enumerate(self._loader):
            yield batch
            self._done(i + 1)  # asked for the next one: this batch has trained

    def __len__(self):
        return len(self._loader)

    def __getattr__(self, name):
        return getattr(self._loader, name)


def _time_epochs(engine):
    """Progress lines as each training epoch starts and ends, and its batch i/n on the way (the
    coordinator's epoch k/N and ETA)."""
    train_epoch = engine.train_epoch_func
    epochs = engine.config["Global"].get("epochs")

    def train_epoch_reporting(engine, epoch_id, print_batch_step):
        report_progress(epoch_id, epochs)
        loader = engine.train_dataloader
        counting = _CountingLoader(loader, lambda i: report_progress(epoch_id, epochs, iter=i,
                                                                     iters=getattr(engine, "max_iter", None)))
        engine.train_dataloader = counting
        try:
            result = train_epoch(engine, epoch_id, print_batch_step)
        finally:
            if engine.train_dataloader is counting:  # (an epoch function may build a loader of its own)
                engine.train_dataloader = loader
        report_progress(epoch_id, epochs, end=True)
        return result

    engine.train_epoch_func = train_epoch_reporting


def _reporting_init(original_init):
    def __init__(self, config, mode="train", *args, **kwargs):
        original_init(self, config, mode, *args, **kwargs)
        if mode == "train":  # the optimizer, schedule and loader are built: say what they hold
            from .readback import engine_values

            report_used(engine_values(self))
            _time_epochs(self)

    return __init__


def _reporting_eval(original):
    def eval(self, epoch_id=0):
        value = original(self, epoch_id)
        value = float(value)  # a [1]/0-D tensor in ppcls 2.4: the engine compares and logs it as a number
        if self.mode == "train":  # evaluation during training: one report per eval epoch
            metrics = eval_metrics(self, value)
            metrics["params_m"] = sum(int(p.numel()) for p in self.model.parameters()) / 1e6
            if wanted("latency_ms"):
                metrics["latency_ms"] = latency_ms(self.model, self.config)
            report(epoch_id, metrics)
        return value

    return eval


def _hook_engine(module):
    _wrap(module, "Engine", "__init__", _reporting_init, "_autotune_hooked")
    _wrap(module, "Engine", "eval", _reporting_eval, "_autotune_hooked")


def install():
    if fixes_apply():
        when_imported("ppcls.loss", lambda m: _wrap(m, "CombinedLoss", "__call__", _one_d_call))
        when_imported("ppcls.metric", lambda m: _wrap(m, "CombinedMetrics", "__call__", _one_d_call))
        when_imported("ppcls.utils.misc", lambda m: _wrap(m, "AverageMeter", "update", _one_d_update))
    when_imported("ppcls.engine.engine", _hook_engine)
