"""AutoTuner.run() from a caller that has trained on the GPU first (gpu_slots.py runs this in its own process).

    python benchmarks/gpu_api_caller.py OUT_DIR --epochs 4 --steps 200 --trials 2 [--device cpu --batch-size 32 --width 4]

The caller trains a few steps on CUDA (where there is a GPU), then: (1) without the plugin, a plain
os.fork() of it tries CUDA, which shows whether a forked trial could work at all; (2) AutoTuner with the
default start_method, which must stop before any trial naming start_method="import"; (3) the same study with
start_method="import". Prints one line ``RESULT {json}``. Without CUDA, (1) is skipped and (2) runs its
trials as forks on the CPU (nothing to stop). With GPU_SLOTS_RECORD=BASE.EXT set, the trials of (2) and (3)
record to BASE.default and BASE.import.
"""
import argparse
import json
import os
import pathlib
import select
import signal
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from gpu_trial import RECORD_ENV, train, train_evaluate  # noqa: E402

from paddle_autotune_plugins import AutoTuner  # noqa: E402
from paddle_autotune_plugins.errors import UsageError  # noqa: E402


def plain_fork_uses_cuda():
    """What a child os.fork()ed from this process gets when it uses CUDA: 'ok' or the error's first line."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            torch.zeros(1, device="cuda").sum().item()
            message = "ok"
        except Exception as e:  # noqa: BLE001 - the error is the finding
            message = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        os.write(write, message.encode()[:1000])
        os._exit(0)
    os.close(write)
    if select.select([read], [], [], 30)[0]:
        message = os.read(read, 1000).decode()
    else:  # a child that hangs in CUDA is a finding too
        message = "no answer in 30 s (killed)"
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return message


def tune(out, start_method, trials, base):
    """One study; its trials' states, or the one line it stopped with and whether anything was made first."""
    t0 = time.time()
    if RECORD_ENV in os.environ:  # each study's trials record to a file of its own
        os.environ[RECORD_ENV] = f"{os.environ[RECORD_ENV].rsplit('.', 1)[0]}.{out.name}"
    tuner = AutoTuner(train_evaluate, search_space={"lr": {"bounds": [0.005, 0.2], "scale": "log"}},
                      base_config=base, max_trials=trials, tuner_type="random", pruner="none", out=out,
                      start_method=start_method)
    try:
        tuner.run()
    except UsageError as e:
        return {"stopped": str(e), "study_folder_made": out.exists(), "s": round(time.time() - t0, 2)}
    return {"states": [t.state.name for t in tuner.study.trials], "s": round(time.time() - t0, 2),
            "values": [t.value for t in tuner.study.trials]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    cuda = args.device != "cpu" and torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    result = {"caller_pid": os.getpid(), "device": device}
    if cuda:
        torch.cuda.init()
        train(0.05, epochs=1, steps=20, device="cuda")  # the caller has trained on the GPU
        result["plain_fork"] = plain_fork_uses_cuda()
    result["cuda_initialised"] = torch.cuda.is_initialized()
    base = {"epochs": args.epochs, "steps": args.steps, "batch_size": args.batch_size, "width": args.width,
            "device": device}
    result["default"] = tune(out / "default", None, args.trials, base)
    result["import"] = tune(out / "import", "import", args.trials, base)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
