"""A trial that writes its own metrics.jsonl lines, as the README invites any script to: --mode ok writes a
good one, the other modes one the coordinator cannot use (then a good one, which must not count)."""
import argparse
import json
import os

BAD = {
    "notjson": b"val_acc: 0.5\n",
    "abc": json.dumps({"step": 1, "metrics": {"val_acc": "abc"}}).encode() + b"\n",
    "list": b"[1, 2]\n",
    "nostep": json.dumps({"metrics": {"val_acc": 0.5}}).encode() + b"\n",
    "badstep": json.dumps({"step": "one", "metrics": {"val_acc": 0.5}}).encode() + b"\n",
    "metricslist": json.dumps({"step": 1, "metrics": [0.5]}).encode() + b"\n",
    "used": json.dumps({"used": 5}).encode() + b"\n",
    "binary": b"\xff\xfe\x00garbage\n",
}

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--mode", default="ok")
args = parser.parse_args()
with open(os.environ["PADDLE_AUTOTUNE_REPORT"], "ab") as f:
    f.write(BAD.get(args.mode, b""))
    f.write(json.dumps({"step": 2, "metrics": {"val_acc": 1 - (args.lr - 0.3) ** 2}}).encode() + b"\n")
