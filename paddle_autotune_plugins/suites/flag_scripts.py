"""A flag-driven training script, coordinator side: what suite_bases.FlagScriptAdapter reads of a script
(the nlp adapter's PaddleNLP scripts, the generic adapter's any script), so all read a script the same way.

- ``--help``: the flags a script lists and which take no value (switches), asked once per script version;
- output folders: ``--save_dir``, ``--output_dir``, ... point into each trial's own folder, so trials do not
  overwrite one another's model in the script's default ``./checkpoint``; the core moves the best trial's
  weights to ``out/best/`` (:meth:`Outputs.best_files`) and deletes every other trial's;
- switches in a space: tuned as present or absent, with a note when the space turns one on.
"""
import ast
import dataclasses
import os
import pathlib
import re
import shlex
import subprocess
import sys
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence, Union

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.suites.flags import ScriptHelp, parse_help, switch_on, to_flags

if TYPE_CHECKING:  # for annotations only: trial processes import this module and need no Optuna
    from paddle_autotune_plugins.search_space.space import Param

PathLike = Union[str, "os.PathLike[str]"]

HELP_TIMEOUT = 300  # seconds; a suite's script imports Paddle and the suite before it can answer
HELP_NOTICE = 10  # seconds of waiting for a --help before the console says what it waits for
# (command, script mtime) -> ScriptHelp: one --help per script version in a process
_ASKED: dict[tuple[tuple[str, ...], Optional[int]], ScriptHelp] = {}

# Flags that name where a script writes its model: always pointed into the trial's folder (the defaults,
# e.g. multi_class/train.py's ./checkpoint, are shared by every trial). In the order their folders are
# searched for the best weights.
WEIGHT_FLAGS = ("save_dir", "output_dir", "checkpoint_dir", "ckpt_dir")
# Flags that name log folders: pointed into the trial's folder when the command gives them (their
# defaults usually follow the output folder, as TrainingArguments' logging_dir does).
LOG_FLAGS = ("logging_dir", "log_dir", "vdl_log_dir", "output_signal_dir")
FOLDER_NAMES = {"output_dir": "output"}  # trial_NNNN/<name>; the flag's own name otherwise
WEIGHT_SUFFIXES = (".pdparams", ".pdopt", ".pdstates", ".pdema", ".safetensors", ".distcp")
FINAL_MODEL_DIRS = ("model_state",)  # PaddleFormers' save_model: model_state/*.distcp beside training_args.bin


def uses_argparse(script: PathLike) -> bool:
    """Whether a script parses its flags with argparse (PdArgumentParser is one), so that ``--help`` only
    prints help: asking a script that ignores --help would start a training."""
    try:
        text = pathlib.Path(script).read_text(errors="ignore")
    except OSError:
        return False
    return bool(re.search(r"\bargparse\b|ArgumentParser", text))


def source_defaults(script: Optional[PathLike]) -> dict[str, Any]:
    """{flag: default} that an argparse script writes as a literal, for scripts whose --help does not print
    defaults (PaddleNLP's multi_class/train.py: ``add_argument("--learning_rate", default=3e-5, type=float)``).
    A text default with ``type=int``/``float`` is converted, as argparse does; switches and None are left out.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
    ...     _ = f.write("p.add_argument('--lr', default='3e-5', type=float)\\np.add_argument('--warmup', action='store_true')")
    >>> source_defaults(f.name)
    {'lr': 3e-05}
    >>> os.remove(f.name)
    """
    try:
        tree = ast.parse(pathlib.Path(script).read_text(errors="ignore")) if script else None
    except (OSError, SyntaxError, ValueError):
        tree = None
    found: dict[str, Any] = {}
    for node in ast.walk(tree) if tree else ():
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument"):
            continue
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        flags = [a.value[2:] for a in node.args
                 if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith("--")]
        if not flags or "default" not in keywords or "action" in keywords:
            continue
        try:
            value = ast.literal_eval(keywords["default"])
        except ValueError:  # computed (os.getenv(...)): not known before the script runs
            continue
        kind = keywords.get("type")
        if isinstance(value, str) and isinstance(kind, ast.Name) and kind.id in ("int", "float"):
            try:
                value = int(value) if kind.id == "int" else float(value)
            except ValueError:
                continue
        if value is not None:
            found.update(dict.fromkeys(flags, value))
    return found


def ask_help(cmd: Sequence[str], cwd: Optional[PathLike], label: str, stamp: Optional[int] = None,
             timeout: float = HELP_TIMEOUT, otherwise: str = "the study stops") -> ScriptHelp:
    """The script's ``ScriptHelp`` from ``cmd --help``; UsageError when it cannot be read. otherwise: what
    the caller does when it cannot (said on the console while a slow --help is awaited)."""
    key = (tuple(cmd), stamp)
    if key not in _ASKED:
        _ASKED[key] = _run_help(list(cmd) + ["--help"], cwd, label, timeout, otherwise)
    return _ASKED[key]


def _run_help(cmd: list[str], cwd: Optional[PathLike], label: str, timeout: float, otherwise: str) -> ScriptHelp:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    try:
        try:
            stdout, stderr = proc.communicate(timeout=min(HELP_NOTICE, timeout))
        except subprocess.TimeoutExpired:  # a wait this long is said, not silent
            print(f"[autotune] waiting for '{label} --help' to list the script's flags: at most {timeout:g} s, "
                  f"then {otherwise}", file=sys.stderr, flush=True)
            stdout, stderr = proc.communicate(timeout=max(0, timeout - HELP_NOTICE))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise UsageError(f"'{' '.join(cmd)}' did not answer within {timeout:g} s") from None
    found = parse_help(stdout)
    if proc.returncode != 0 or not found.names:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"cannot read the arguments of {label} (its --help failed: {tail[:200]})")
    return found


def script_stamp(script: Optional[PathLike]) -> Optional[int]:
    return os.stat(script).st_mtime_ns if script and os.path.exists(script) else None


@dataclasses.dataclass
class Outputs:
    """A script's output flags: weight folders (always in the trial's folder; deleted once the trial is
    not the best) and log folders (moved there only when the command gives them; kept)."""

    weights: list[str]
    logs: list[str]

    @classmethod
    def of(cls, names: Iterable[str], given: dict[str, Any]) -> "Outputs":
        """From the flags the script takes (its --help, or the command's own flags when it has none)."""
        known = set(names) | set(given)
        return cls([f for f in WEIGHT_FLAGS if f in known], [f for f in LOG_FLAGS if f in given])

    def point_into(self, cfg: dict[str, Any], trial_dir: PathLike) -> dict[str, Any]:
        for flag in self.weights + self.logs:
            cfg[flag] = str(pathlib.Path(trial_dir) / FOLDER_NAMES.get(flag, flag))
        return cfg

    def folders(self, cfg: dict[str, Any]) -> list[str]:
        """The trial's weight folders (what the core deletes once the trial is not the best)."""
        return [cfg[f] for f in self.weights if cfg.get(f)]

    def best_files(self, cfg: dict[str, Any]) -> Optional[list[str]]:
        """What the best trial saved, from the first weight folder that holds weights: the final model in the
        format it was saved in (save_pretrained's weights at the top beside config.json, training_args.bin
        and the tokenizer files; PaddleFormers' model_state/ of .distcp shards), and the sub-folders that hold
        weights (checkpoint-N/, best_model/)."""
        for folder in map(pathlib.Path, self.folders(cfg)):
            entries = sorted(folder.iterdir()) if folder.is_dir() else []
            files = [p for p in entries if p.is_file()]
            holding = [p for p in entries if p.is_dir() and _holds_weights(p)]
            final = any(p.suffix in WEIGHT_SUFFIXES for p in files) or any(p.name in FINAL_MODEL_DIRS for p in holding)
            found = (files if final else []) + holding
            if found:
                return [str(p) for p in found]
        return None

    def restore(self, cfg: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
        """The user's own output folders back (or the script's defaults), for the exported best config."""
        for flag in self.weights + self.logs:
            if flag in given:
                cfg[flag] = given[flag]
            else:
                cfg.pop(flag, None)
        return cfg


def _holds_weights(folder: PathLike) -> bool:
    return any(p.suffix in WEIGHT_SUFFIXES for p in pathlib.Path(folder).rglob("*"))


def check_switches(params: Iterable["Param"], switches: set[str]) -> None:
    """A switch takes no value: only a choice between on and off can be tuned on it."""
    for p in params:
        if p.name in switches and (p.kind != "categorical" or not all(isinstance(c, bool) for c in p.choices or [])):
            raise UsageError(f"--{p.name} is a switch of the script (it takes no value): tune it as "
                             f"{{type: categorical, choices: [true, false]}}")


def switch_notes(params: Iterable["Param"], cfg: dict[str, Any], switches: set[str]) -> list[str]:
    """Lines for the start of a study: switches the space always turns on, and tuned flags whose switch
    (``--warmup`` for ``--warmup_proportion``) stays off, so they may not act."""
    tuned = {p.name: p for p in params}
    notes = []
    for name in sorted(switches):
        related = sorted(t for t in tuned if t.startswith(name + "_"))
        p = tuned.get(name)
        if p is not None and p.choices == [True]:
            acts = f", so that {', '.join(related)} act{'s' if len(related) == 1 else ''}" if related else ""
            notes.append(f"--{name} is passed to every sampled trial{acts}; trial 0 runs your command as given"
                         + ("" if switch_on(cfg.get(name)) else f", without --{name}"))
        elif p is None and related and not switch_on(cfg.get(name)):
            notes.append(f"{', '.join(related)} tuned while the switch --{name} is off: if the script uses them "
                         f"only with --{name}, add it to the command or tune it ({name}: {{choices: [true]}})")
    return notes


def write_command(script: Optional[str], cfg: dict[str, Any], switches: set[str], path: PathLike,
                  cwd: Optional[str] = None) -> None:
    """best_command.txt: the best trial as one command line of the script (an argparse script takes no
    config file, so best_config.yaml alone is not something it runs). Relative paths in it are the
    user's, so the file says where to run it from."""
    line = shlex.join(["python", str(script)] + to_flags(cfg, switches))
    where = f"# run from {cwd}\n" if cwd else ""
    pathlib.Path(path).write_text(f"# the best trial as a command of your script (paddle-autotune)\n{where}{line}\n")
