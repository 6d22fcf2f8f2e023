"""Trial process of the Python API: import the user's function, call it with the trial's config.

    python -m paddle_autotune_plugins.run_function my_module:train_evaluate trial_0003/config.json [IMPORT_ROOT]
"""
import importlib
import json
import runpy
import sys

from paddle_autotune_plugins.reporting import report


def load(target):
    module, _, qualname = target.rpartition(":")
    if module.endswith(".py"):  # a script's __main__: its guarded block does not run under this name
        namespace = runpy.run_path(module, run_name="__autotune_trial__")
        obj = namespace[qualname.split(".")[0]]
        rest = qualname.split(".")[1:]
    else:
        obj = importlib.import_module(module)
        rest = qualname.split(".")
    for part in rest:
        obj = getattr(obj, part)
    return obj


def main():
    target, config_path = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 3 and sys.argv[3]:
        sys.path.insert(0, sys.argv[3])  # where the coordinator's process imported the function from
    with open(config_path) as f:
        config = json.load(f)
    result = load(target)(config)
    if result is not None:
        report(None, float(result), final=True)


if __name__ == "__main__":
    main()
