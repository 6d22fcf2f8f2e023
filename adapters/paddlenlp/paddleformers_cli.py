"""``paddleformers-cli train CONFIG.yaml [key=value ...]`` as a tuned command (coordinator side).

The YAML maps PaddleFormers' argument names (model, data, fine-tuning and ``TrainingArguments`` fields) to
values: it is the task's config, as a JSON of training arguments is for PaddleNLP, so the space's paths are
those names (``learning_rate``, ``warmup_steps``, ``per_device_train_batch_size``, ``lora_rank``, ...).
``key=value`` items after it win, as paddleformers-cli merges them (OmegaConf).

paddleformers-cli itself starts ``python -m paddle.distributed.launch .../cli/launcher.py train CONFIG``, a
child the trial's hooks would not reach (and a ``python`` from PATH). A trial runs that ``launcher.py``
itself, in-process on one device, with the trial's own config file (its ``output_dir`` in the trial's
folder); ``launcher.py train --help`` lists the arguments it takes.
"""
import os
import pathlib
import subprocess

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import data_paths as paths

PROGRAM = "paddleformers-cli"
USAGE = f"{PROGRAM} train CONFIG.yaml [key=value ...] --autotune ..."
DATA_KEYS = ("train_dataset_path", "eval_dataset_path")  # each a comma-separated list of files


def is_program(name):
    return bool(name) and os.path.basename(name) == PROGRAM


def parse_command(argv):
    """(the YAML's path, {key: value} of the items after it) of ``train CONFIG.yaml key=value ...``."""
    if argv[:1] != ["train"]:
        what = f"'{argv[0]}'" if argv else "no sub-command"
        raise UsageError(f"{PROGRAM} {what}: only 'train' is tuned; write {USAGE}")
    if len(argv) < 2 or not argv[1].endswith((".yaml", ".yml", ".json")):
        raise UsageError(f"{PROGRAM} train needs a YAML config first; write {USAGE}")
    for item in argv[2:]:
        key, eq, _ = item.partition("=")
        if not eq or not key or key.startswith("-"):
            raise UsageError(f"{PROGRAM} train {argv[1]} {item}: items after the config are key=value; write {USAGE}")
    from omegaconf import OmegaConf  # read as paddleformers-cli reads them (2e-4 is a number there)

    return argv[1], OmegaConf.to_container(OmegaConf.from_cli(argv[2:]))


def launcher(python):
    """Path of paddleformers' cli/launcher.py in the environment of ``python`` (found without importing
    paddleformers there: finding a top-level package does not run it)."""
    code = ("import importlib.util, os; s = importlib.util.find_spec('paddleformers'); "
            "print(os.path.join(s.submodule_search_locations[0], 'cli', 'launcher.py') if s else '')")
    found = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120).stdout.strip()
    if not found or not pathlib.Path(found).is_file():
        raise UsageError(f"{python} has no paddleformers with cli/launcher.py; run 'make setup-paddleformers'")
    return found


def data_paths(cfg, cwd):
    """The data files the config names, from the working directory (where the CLI opens them)."""
    found = []
    for key in DATA_KEYS:
        for value in str(cfg.get(key) or "").split(","):
            if value.strip():
                found.append(paths.DataPath(key, value.strip(), paths.resolve(cwd, value.strip()),
                                            f"{key}: PATH in the config (or {key}=PATH after it)"))
    return found
