"""YAML files that a script reads after its flags, so the file's values win over the command line.

ERNIE 3.0's ``run_seq_cls.py`` is the case in point: with ``--config configs/default.yml --dataset tnews``
it parses its flags, then sets ``learning_rate`` (and the other ``DefaultArgs``) from the file's ``tnews``
section, whatever ``--learning_rate`` said. Passing a trial's value as a flag would change nothing.

So a trial that changes an argument such a file names writes the value into a copy of the file, at
every place the file names it, and passes the copy in place of the original. The flag is passed too,
so the value wins whichever of the two the script reads last.

>>> files = ScriptYamls({"config": ("default.yml", {"DefaultArgs": {"learning_rate": 3e-5},
...                                                 "tnews": {"learning_rate": 5e-5, "num_train_epochs": 3}})})
>>> sorted(files.names())
['learning_rate', 'num_train_epochs']
>>> set_everywhere(files.files["config"][1], {"learning_rate": 1e-3})  # a new document
{'DefaultArgs': {'learning_rate': 0.001}, 'tnews': {'learning_rate': 0.001, 'num_train_epochs': 3}}
"""
import copy
import os
import pathlib
import shutil
from typing import Any, Iterable, Optional, Union

import yaml

YAML_SUFFIXES = (".yml", ".yaml")


def keys_of(data: Any) -> set[str]:
    """Every key anywhere in a loaded YAML document that holds a value (not a section)."""
    if isinstance(data, dict):
        own = {str(k) for k, v in data.items() if not isinstance(v, dict)}
        return own.union(*(keys_of(v) for v in data.values()))
    if isinstance(data, list):
        return set[str]().union(*(keys_of(v) for v in data))
    return set()


def set_everywhere(data: Any, values: dict[str, Any]) -> Any:
    """A copy of data (new mappings and lists) with each name in values set wherever a mapping holds it."""
    if isinstance(data, dict):
        return {k: values[k] if k in values and not isinstance(v, dict) else set_everywhere(v, values)
                for k, v in data.items()}
    if isinstance(data, list):
        return [set_everywhere(v, values) for v in data]
    return data


class ScriptYamls:
    """The YAML files a command's flags point to, and the command's arguments as given (what a trial's
    values are compared with)."""

    def __init__(self, files: dict[str, tuple[str, Any]], given: Optional[dict[str, Any]] = None) -> None:
        self.files = {flag: (path, data, keys_of(data)) for flag, (path, data) in files.items()}
        self.given = dict(given or {})

    @classmethod
    def find(cls, args: dict[str, Any], cwd: Optional[str]) -> "ScriptYamls":
        """Flags whose value is an existing YAML file holding a mapping (relative paths from cwd)."""
        files: dict[str, tuple[str, Any]] = {}
        for flag, value in args.items():
            if not (isinstance(value, str) and value.lower().endswith(YAML_SUFFIXES)):
                continue
            path = pathlib.Path(cwd or ".", value)
            try:
                data = yaml.safe_load(path.read_text())
            except (OSError, yaml.YAMLError):
                continue
            if isinstance(data, dict):
                files[flag] = (str(path.resolve()), data)
        return cls(files, copy.deepcopy(args))

    def names(self) -> set[str]:
        return set[str]().union(*(keys for _, _, keys in self.files.values()))

    def set_by(self) -> dict[str, list[str]]:
        """{argument: the flags whose file names it}, for Task.set_by_files."""
        return {name: [flag for flag, (_, _, keys) in self.files.items() if name in keys] for name in self.names()}

    def notes(self, tuned: Iterable[str]) -> list[str]:
        """One line per file that names tuned arguments, for the start of a study."""
        lines = []
        for flag, (path, _, keys) in self.files.items():
            named = sorted(set(tuned) & keys)
            if named:
                lines.append(f"--{flag} {os.path.basename(path)} sets {', '.join(named)}, which the script may "
                             f"apply over its flags: each trial writes its values into a copy of that file; "
                             f"the baseline runs it as given")
        return lines

    def write_copies(self, args: dict[str, Any], folder: Union[str, "os.PathLike[str]"]) -> dict[str, Any]:
        """Point args at rewritten copies (in folder) of the files that name an argument args changes."""
        changed = {k: v for k, v in args.items() if k not in self.files and self.given.get(k, object()) != v}
        for flag, (path, data, keys) in self.files.items():
            values = {k: v for k, v in changed.items() if k in keys}
            if not values:
                continue
            target = pathlib.Path(folder) / f"{flag}_{os.path.basename(path)}"
            with open(target, "w") as f:
                f.write(f"# {path} with this trial's {', '.join(sorted(values))} (paddle-autotune)\n")
                yaml.safe_dump(set_everywhere(data, values), f, sort_keys=False, allow_unicode=True)
            args[flag] = str(target)
        return args

    def keep_copies(self, args: dict[str, Any], out: Union[str, "os.PathLike[str]"]) -> dict[str, Any]:
        """Copy the trial's rewritten files into out as best_<name> and point args at them."""
        args = dict(args)
        for flag, (path, _, _) in self.files.items():
            copied = args.get(flag)
            if copied and copied != self.given.get(flag) and pathlib.Path(copied).is_file():
                target = pathlib.Path(out) / f"best_{os.path.basename(path)}"
                shutil.copyfile(copied, target)
                args[flag] = str(target.resolve())
        return args
