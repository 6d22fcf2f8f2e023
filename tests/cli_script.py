"""The small argparse training script that the CLI tests of both layers tune through the generic adapter."""

SCRIPT = '''
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--momentum", type=float, default=0.9)
parser.add_argument("--batch_size", type=int, default=32)
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--output_dir", default="./ckpt")
args = parser.parse_args()
for epoch in range(1, args.epochs + 1):
    acc = 1 - (args.lr - 0.03) ** 2 - abs(args.batch_size - 32) / 1000 - (args.momentum - 0.9) ** 2
    print(f"epoch {epoch} val_acc: {acc:.6f}", flush=True)
os.makedirs(args.output_dir, exist_ok=True)
with open(os.path.join(args.output_dir, "model.pdparams"), "w") as f:
    f.write(str(args.lr))
'''


def write_script(folder):
    path = folder / "train.py"
    path.write_text(SCRIPT)
    return path
