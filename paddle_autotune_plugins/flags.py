"""A script's command-line flags as a config: ``--name value`` pairs in, the same flags out.

PaddleNLP scripts and any other flag-driven training script (the generic adapter) are tuned this way.

>>> parse_flags(["--learning_rate", "1e-3", "--save_strategy", "no", "--do_train"])
{'learning_rate': 0.001, 'save_strategy': 'no', 'do_train': True}
>>> to_flags({'learning_rate': 0.001, 'do_train': True})
['--learning_rate', '0.001', '--do_train', 'true']
"""
from .adapter import literal
from .errors import UsageError


def parse_flags(tokens):
    """``--name value``, ``--name=value``, bare ``--flag`` (True) and ``--name a b`` (a list), in order."""
    args, name = {}, None
    for token in tokens:
        if token.startswith("--"):
            name, _, value = token[2:].partition("=")
            args[name] = _value(value) if value else True
            if value:
                name = None
        elif name is None:
            raise UsageError(f"unexpected argument '{token}': give arguments as --name value")
        elif args[name] is True:
            args[name] = _value(token)
        else:
            args[name] = (args[name] if isinstance(args[name], list) else [args[name]]) + [_value(token)]
    return args


def _value(text):
    """Numbers become numbers (so ranges can be checked), true/false booleans; the rest stays text as
    argparse will read it ('no' is a save_strategy, not YAML's False)."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    value = literal(text)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else text


def to_flags(args):
    flags = []
    for name, value in args.items():
        if value is None:
            continue
        if isinstance(value, list):
            flags += [f"--{name}"] + [str(v) for v in value]
        else:
            flags += [f"--{name}", str(value).lower() if isinstance(value, bool) else str(value)]
    return flags
