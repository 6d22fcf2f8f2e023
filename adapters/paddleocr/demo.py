"""`paddle-autotune demo --suite ocr`: PaddleOCR's text-direction classifier (its cls model: is the line
upside down?) on rendered digit strings, through a PaddleOCR checkout. (The small CRNN recognizer of
configs/ stays at CTC's all-blank plateau for hundreds of iterations on this data, longer than a demo.)

The pip wheels hold no PaddleOCR trainer, so the demo needs a source checkout: the folder named by
``$PADDLE_AUTOTUNE_PADDLEOCR``, else the first ``PaddleOCR*`` folder in ``$PADDLE_AUTOTUNE_CHECKOUTS`` (the
upstream copies the tests read). The checkout is only read: every trial writes into --out.
"""
import os
import pathlib

from paddle_autotune_plugins.errors import UsageError

CHECKOUT_ENV = "PADDLE_AUTOTUNE_PADDLEOCR"
CHECKOUTS_ENV = "PADDLE_AUTOTUNE_CHECKOUTS"


def is_checkout(folder):
    folder = pathlib.Path(folder)
    return (folder / "ppocr").is_dir() and (folder / "tools" / "train.py").is_file()


def find_checkout(environ=os.environ):
    """The PaddleOCR checkout the demo trains with, or a UsageError saying how to name one."""
    named = environ.get(CHECKOUT_ENV)
    if named:
        if not is_checkout(named):
            raise UsageError(f"${CHECKOUT_ENV}={named} is not a PaddleOCR checkout (no ppocr/ and tools/train.py); "
                             f"point it at a clone of github.com/PaddlePaddle/PaddleOCR")
        return pathlib.Path(named).resolve()
    base = environ.get(CHECKOUTS_ENV)
    found = sorted(p for p in pathlib.Path(base).glob("PaddleOCR*") if is_checkout(p)) if base else []
    if not found:
        raise UsageError(f"the ocr demo trains with a PaddleOCR checkout (the pip wheels have no trainer): clone "
                         f"github.com/PaddlePaddle/PaddleOCR and set {CHECKOUT_ENV}=/path/to/PaddleOCR")
    return found[0].resolve()


def demo_task(adapter, out):
    """(Task, tuning options) of the demo study; the config and data are written before any trial."""
    from .digits_ocr import DIRECTION_CONFIG, write_demo_config

    script = find_checkout() / "tools" / "train.py"
    config = write_demo_config(pathlib.Path(out), config=DIRECTION_CONFIG)
    return adapter.load_command(str(script), ["-c", str(config)]), [
        "--preset", "ocr-lr", "--preset", "ocr-regularization", "--pruner", "asha", "--seed", "0",
        "--reference-devices", "1"]  # the demo's config is written for the one CPU device it trains on
