"""The training that gpu_slots.py tunes: a small CNN on scikit-learn's digits, in PyTorch.

    python benchmarks/gpu_trial.py --lr 0.01 --epochs 8 --steps 200 [--hold-mb 4096] [--device cuda]

Each epoch is --steps steps on random batches of the 1,437 training images (upscaled from 8x8 to 32x32 so
that a step is not all launch overhead), then one evaluation line on the 360 held-out images, which the
generic adapter reads as the metric: ``epoch: 3 val_acc: 0.9417``. --hold-mb keeps that much more GPU
memory for the whole run, so that its release after a stop shows clearly in the GPU's memory.

Where GPU_SLOTS_RECORD names a file, the run appends JSON lines to it (what gpu_slots.py measures): at the
start of training (pid, CUDA_VISIBLE_DEVICES as this process sees it, the device), when it gets SIGTERM, and
at the end (peak GPU memory of PyTorch's allocator, each epoch's seconds). ``train_evaluate(config)`` is the
same training for the Python API. Torch is imported only once the flags are read (``--help`` stays fast).
"""
import argparse
import json
import os
import signal
import time

STARTED = time.time()
RECORD_ENV = "GPU_SLOTS_RECORD"


def record(event, **fields):
    path = os.environ.get(RECORD_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(dict(event=event, pid=os.getpid(), t=time.time(), **fields)) + "\n")


def note_sigterm():
    """Record when the tuner asks this trial to stop, then let SIGTERM do what it did before (the plugin's
    trial handler, or the default: die of it)."""
    before = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame):
        record("sigterm")
        signal.signal(signal.SIGTERM, before if before is not None else signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, handler)


def pick_device(name):
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def load_digits(device):
    """(train x, train y, val x, val y) as tensors on the device: 1,437 / 360 images, 1x32x32, fixed split."""
    from sklearn.datasets import load_digits as sklearn_digits
    import torch
    import torch.nn.functional as F

    data = sklearn_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=32, mode="bilinear", align_corners=False)
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    train, val = order[:1437], order[1437:]
    return x[train].to(device), y[train].to(device), x[val].to(device), y[val].to(device)


def small_cnn(width):
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, 10))


def train(lr, epochs, steps, batch_size=256, width=32, hold_mb=0, device="auto", seed=0, on_epoch=None):
    """Train and return the last val accuracy; on_epoch(epoch, acc) after each evaluation."""
    import torch
    import torch.nn.functional as F

    device = pick_device(device)
    torch.manual_seed(seed)
    cuda = device.startswith("cuda")
    record("start", cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"), device=device,
           gpu=torch.cuda.get_device_name(0) if cuda else None, since_process_start_s=time.time() - STARTED)
    held = torch.empty(hold_mb * 2**20, dtype=torch.uint8, device=device) if hold_mb else None  # noqa: F841
    x, y, vx, vy = load_digits(device)
    model = small_cnn(width).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    acc, epoch_s = 0.0, []
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        model.train()
        for _ in range(steps):
            idx = torch.randint(0, len(y), (batch_size,), device=device)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = (model(vx).argmax(1) == vy).float().mean().item()  # .item() waits for the GPU
        epoch_s.append(round(time.time() - t0, 3))
        if on_epoch:
            on_epoch(epoch, acc)
    peaks = {}
    if cuda:
        peaks = dict(peak_allocated_mb=torch.cuda.max_memory_allocated() / 2**20,
                     peak_reserved_mb=torch.cuda.max_memory_reserved() / 2**20)
    record("end", epoch_s=epoch_s, acc=acc, **peaks)
    return acc


def train_evaluate(config):
    """The same training for AutoTuner (trials report each epoch's accuracy for the pruner)."""
    from paddle_autotune_plugins import report

    return train(config["lr"], config["epochs"], config["steps"], config.get("batch_size", 256),
                 config.get("width", 32), config.get("hold_mb", 0), config.get("device", "auto"), on_epoch=report)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=100, help="training steps an epoch")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--width", type=int, default=32, help="channels of the first convolutions")
    ap.add_argument("--hold-mb", type=int, default=0, help="extra GPU memory held for the whole run")
    ap.add_argument("--device", default="auto", help="auto (cuda when there is one), cpu or cuda")
    args = ap.parse_args()
    note_sigterm()
    train(args.lr, args.epochs, args.steps, args.batch_size, args.width, args.hold_mb, args.device,
          on_epoch=lambda epoch, acc: print(f"epoch: {epoch} val_acc: {acc:.4f}", flush=True))


if __name__ == "__main__":
    main()
