"""A trial for the process-tree tests: it starts a child that ignores SIGTERM and sleeps for minutes,
then reports val_acc once and exits (or, with --hang, sleeps past any --trial-timeout).

--child group: the child stays in the trial's process group; setsid: a session of its own; leave: a
process group of its own (setpgid); double: a grandchild in a session of its own whose parent exits."""
import argparse
import os
import signal
import time

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--child", default="group")
parser.add_argument("--hang", action="store_true")
args = parser.parse_args()


def linger():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(300)
    os._exit(0)


if os.fork() == 0:
    if args.child == "setsid":
        os.setsid()
    elif args.child == "leave":
        os.setpgid(0, 0)
    elif args.child == "double":
        os.setsid()
        if os.fork() != 0:
            os._exit(0)  # the grandchild is reparented away from the trial
    linger()
time.sleep(0.3)  # the child is running (and moved) before the trial goes on
print(f"val_acc: {1 - (args.lr - 0.3) ** 2:.4f}", flush=True)
if args.hang:
    time.sleep(300)
