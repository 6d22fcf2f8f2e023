"""A script's command-line flags as a config: ``--name value`` pairs in, the same flags out.

PaddleNLP scripts and any other flag-driven training script (the generic adapter) are tuned this way.
A *switch* is a flag that takes no value (argparse's ``store_true``, e.g. ``--warmup``): it is true when
present and false when absent, so ``--warmup true`` would be an error (argparse exits 2). Which flags are
switches is read from the script's own ``--help`` (:func:`parse_help`).

>>> parse_flags(["--learning_rate", "1e-3", "--save_strategy", "no", "--do_train"])
{'learning_rate': 0.001, 'save_strategy': 'no', 'do_train': True}
>>> to_flags({'learning_rate': 0.001, 'do_train': True})
['--learning_rate', '0.001', '--do_train', 'true']
>>> to_flags({'warmup': True, 'early_stop': False, 'epochs': 2}, switches={'warmup', 'early_stop'})
['--warmup', '--epochs', '2']
>>> sorted(parse_help(HELP_EXAMPLE).switches)
['warmup']
"""
import dataclasses
import re
from typing import Any, Iterable, Mapping

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.suites.adapter import literal

HELP_EXAMPLE = """usage: train.py [-h] [--warmup] [--warmup_proportion WARMUP_PROPORTION]

options:
  -h, --help            show this help message and exit
  --warmup              whether use warmup strategy
  --warmup_proportion WARMUP_PROPORTION
                        Linear warmup proportion of learning rate.
"""

_NAME = r"[A-Za-z_](?:[\w-]*\w)?"
_FLAG = re.compile(rf"(?<![\w-])--({_NAME})")
# usage: `[--warmup]` (or `[--a | --b]`): listed with no value
_USAGE_SWITCH = re.compile(rf"[\[|]\s*--({_NAME})\s*(?=[\]|])")
# options: `  --warmup              help` or `  -w, --warmup`: no metavar after the last option string
_OPTION_SWITCH = re.compile(r"^\s+(-[^\s,]+(?:,\s+-[^\s,]+)*)(?:\s{2,}\S.*)?$")


# an option's entry in --help starts "  --name" (or "  -n, --name"); ArgumentDefaultsHelpFormatter, which
# PaddleNLP's PdArgumentParser uses, ends its help text with "(default: X)"
_OPTION_START = re.compile(rf"^\s+(?:-\w+,\s+)?--({_NAME})\b")
_DEFAULT = re.compile(r"\(default:\s*([^()]*?)\)\s*$")


@dataclasses.dataclass
class ScriptHelp:
    """What a script's ``--help`` says: every ``--flag`` it lists, which of them take no value, and the
    defaults it prints (``(default: X)``; None defaults left out)."""

    names: set[str]
    switches: set[str]
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)


def parse_help(text: str) -> ScriptHelp:
    """The flags an argparse ``--help`` lists and its switches (``-h/--help`` itself left out)."""
    names = set(_FLAG.findall(text)) - {"help"}
    switches = set(_USAGE_SWITCH.findall(text))
    for line in text.splitlines():
        match = _OPTION_SWITCH.match(line)
        if match:
            switches.update(o[2:] for o in re.split(r",\s+", match.group(1)) if o.startswith("--"))
    return ScriptHelp(names, (switches & names), _help_defaults(text))


def _help_defaults(text: str) -> dict[str, Any]:
    """{flag: default} where an option's help ends with "(default: X)", its lines joined (argparse wraps them).

    >>> _help_defaults("  --learning_rate LEARNING_RATE\\n      The rate. (default:\\n      5e-05)\\n  --out OUT  (default: None)")
    {'learning_rate': 5e-05}
    """
    entries: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        start = _OPTION_START.match(line)
        if start:
            entries.append((start.group(1), [line]))
        elif entries and line.startswith(" "):
            entries[-1][1].append(line.strip())
        else:  # a section title ("options:") or a blank line ends the entry
            entries.append(("", []))
    defaults = {}
    for name, lines in entries:
        found = _DEFAULT.search(" ".join(lines)) if name else None
        if found and found.group(1) != "None":
            defaults[name] = _value(found.group(1))
    return defaults


def parse_flags(tokens: Iterable[str], switches: Iterable[str] = ()) -> dict[str, Any]:
    """``--name value``, ``--name=value``, bare ``--flag`` (True) and ``--name a b`` (a list), in order.
    A switch never takes the token after it."""
    args: dict[str, Any] = {}
    name = None
    for token in tokens:
        if token.startswith("--"):
            name, _, value = token[2:].partition("=")
            args[name] = _value(value) if value else True
            if value or name in switches:
                name = None
        elif name is None:
            raise UsageError(f"unexpected argument '{token}': give arguments as --name value")
        elif args[name] is True:
            args[name] = _value(token)
        else:
            args[name] = (args[name] if isinstance(args[name], list) else [args[name]]) + [_value(token)]
    return args


def _value(text: str) -> Any:
    """Numbers become numbers (so ranges can be checked), true/false booleans; the rest stays text as
    argparse will read it ('no' is a save_strategy, not YAML's False)."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    value = literal(text)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else text


def switch_on(value: Any) -> bool:
    """Whether a switch's value in a config means 'pass the flag' (True, 'true', 1)."""
    return value is True or (not isinstance(value, bool) and str(value).strip().lower() in ("true", "1", "yes"))


def to_flags(args: Mapping[str, Any], switches: Iterable[str] = ()) -> list[str]:
    """The command-line form of args: a switch is passed bare when on and left out when off."""
    flags: list[str] = []
    for name, value in args.items():
        if value is None:
            continue
        if name in switches:
            flags += [f"--{name}"] if switch_on(value) else []
        elif isinstance(value, list):
            flags += [f"--{name}"] + [str(v) for v in value]
        else:
            flags += [f"--{name}", str(value).lower() if isinstance(value, bool) else str(value)]
    return flags
