"""A trial that writes 10 MB without a newline, in 1 kB pieces (a progress bar gone wrong), then its metric."""
import argparse
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
args = parser.parse_args()
piece = "x" * 1000
for _ in range(10_000):
    sys.stdout.write(piece)
print()
print(f"val_acc: {1 - (args.lr - 0.3) ** 2:.4f}", flush=True)
