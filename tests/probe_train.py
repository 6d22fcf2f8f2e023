"""A probe 'training' for the generic adapter's tests: prints `val_acc: x` per epoch and misbehaves on
request (--mode sigkill | memory | nan | sleep | crash), recording what it saw in --record.
With --config FILE --dataset NAME it reads its YAML after its flags, the way ERNIE 3.0's run_seq_cls.py does."""
import argparse
import json
import os
import signal
import time

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--mode", default="ok")
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--record", default="")
parser.add_argument("--config", default="", help="a YAML applied after the flags, as ERNIE 3.0's run_seq_cls.py does")
parser.add_argument("--dataset", default="")
args = parser.parse_args()
if args.config:  # the file's DefaultArgs names, taken from the --dataset section, win over the flags
    import yaml

    with open(args.config) as f:
        config = yaml.safe_load(f)
    for name in config["DefaultArgs"]:
        if name in config[args.dataset]:
            setattr(args, name, config[args.dataset][name])
started = time.time()
for epoch in range(1, args.epochs + 1):
    time.sleep(args.sleep)
    if args.mode == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if args.mode == "memory":
        hog = bytearray(600 * 2**20)  # well past the test's --trial-memory
        time.sleep(30)
    if args.mode == "crash":
        raise RuntimeError("probe crashed on purpose")
    if args.mode == "sleep":
        time.sleep(60)
    value = float("nan") if args.mode == "nan" else 1.0 - (args.lr - 0.3) ** 2 - 0.05 / epoch
    print(f"epoch {epoch} loss {1 - value:.3f} val_acc: {value:.4f}", flush=True)
if args.record:
    with open(args.record, "a") as f:
        f.write(json.dumps({"cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": started, "end": time.time(),
                            "omp": os.environ.get("OMP_NUM_THREADS")}) + "\n")
