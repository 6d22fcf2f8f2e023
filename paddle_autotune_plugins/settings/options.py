"""Every tuning option, once: its flag, help, default, how its value is read and checked, and where a
worker joining the study takes it from. The CLI's argument group (add_tuning_options), the Settings a
coordinator runs with (make_settings, build), the Python API's settings and the options a study stores for
its workers (STUDY_OPTIONS) all come from the fields of Settings, the way Hydra's Optuna sweeper keeps its
options in config dataclasses.

Adding an option is one field made with option(). Checks that need the suite (its metric names, the GPUs
Paddle sees) are the coordinator's.
"""
import argparse
import copy
import dataclasses
import functools
import math
import os
import pathlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional, Union

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.optuna_glue import pruners, samplers
from paddle_autotune_plugins.study import fidelity
from paddle_autotune_plugins.suites.adapter import Ability, get_adapter, suite_names

# Where `paddle-autotune worker` (a coordinator joining a study) takes an option from:
STUDY = "study"  # the study: the value it was started with
MACHINE = "machine"  # its own command line: each machine's folder, GPUs and storage URL
SPACE = "space"  # neither: what is tuned, a worker takes the study's stored search space instead

DIRECTIONS = ("maximize", "minimize")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
MAX_SEED = 2 ** 32 - 1  # NumPy's seeds, which Optuna's samplers use
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# Each parse_* reads one option's value as given (its flag names it in errors) into the value Settings holds.


def parse_duration(text: Union[str, float, None], option: str = "--time-budget") -> Optional[float]:
    """'24h', '90m', '45s', '1h30m', '2d', '1.5h' or plain seconds (a number, from the Python API) -> seconds (> 0).

    >>> parse_duration("1h30m"), parse_duration("90s"), parse_duration("2d"), parse_duration("3600"), parse_duration(1e-5)
    (5400.0, 90.0, 172800.0, 3600.0, 1e-05)
    """
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        spelled = str(text).strip().lower()
        parts = re.findall(r"(\d+(?:\.\d+)?|\.\d+)\s*([smhd]?)", spelled)
        if not spelled or not re.fullmatch(r"(?:\s*(?:\d+(?:\.\d+)?|\.\d+)\s*[smhd]?)+", spelled) or \
                (len(parts) > 1 and not all(unit for _, unit in parts)):
            raise UsageError(f"{option}: cannot read duration '{text}'; write it like 90s, 30m, 1h30m, 24h, 2d or 3600")
        seconds = sum(float(number) * _UNITS.get(unit, 1) for number, unit in parts)
    if seconds <= 0:
        raise UsageError(f"{option} must be longer than 0, got '{text}'; leave the option out for no limit")
    return seconds


def parse_size(text: Union[str, float, None], option: str = "--trial-memory") -> Optional[float]:
    """'8GB', '512MB', '1.5G' or plain bytes -> bytes (> 0).

    >>> parse_size("8GB"), parse_size("1.5k"), parse_size("512")
    (8589934592.0, 1536.0, 512.0)
    """
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([kmgt]?)i?b?\s*", str(text), re.IGNORECASE)
    if not match:
        raise UsageError(f"{option}: cannot read memory size '{text}'; write it like 8GB or 512MB")
    size = float(match.group(1)) * 1024 ** "bkmgt".index((match.group(2) or "b").lower())
    if size <= 0:
        raise UsageError(f"{option} must be more than 0, got '{text}'; leave the option out for no limit")
    return size


def at_least(option: str, value: Optional[float], low: float, meaning: str = "") -> Optional[float]:
    """Numeric options: a value below what the option can mean is an error, not a silent default."""
    if value is not None and value < low:
        raise UsageError(f"{option} must be >= {low}, got {value}" + (f"; {meaning}" if meaning else ""))
    return value


def parse_stages(text: Optional[str], option: str = "--stages") -> Optional[list[tuple[str, Optional[int]]]]:
    """'random:10,tpe' -> [('random', 10), ('tpe', None)]: each stage's sampler and trials; the last runs on.

    >>> parse_stages("random:10,tpe")
    [('random', 10), ('tpe', None)]
    """
    if not text:
        return None
    stages: list[tuple[str, Optional[int]]] = []
    for part in text.split(","):
        name, _, count = part.strip().partition(":")
        samplers.check_name(name)
        if count and not count.isdigit():
            raise UsageError(f"{option}: '{part}' must be SAMPLER:TRIALS, e.g. random:10,tpe")
        if count and int(count) < 1:
            raise UsageError(f"{option}: '{part}' runs no trial; give each stage at least 1, e.g. random:10,tpe")
        stages.append((name, int(count) if count else None))
    if len(stages) < 2 or any(c is None for _, c in stages[:-1]) or stages[-1][1] is not None:
        raise UsageError(f"{option} takes SAMPLER:TRIALS stages then a last SAMPLER, e.g. random:10,tpe")
    return stages


def parse_constraints(texts: Optional[Iterable[str]], option: str = "--constraint") -> list[tuple[str, str, float]]:
    """['latency_ms<=20'] -> [('latency_ms', '<=', 20.0)]: each a soft constraint on a reported metric."""
    constraints = []
    for text in texts or []:
        match = re.fullmatch(rf"\s*([\w.@-]+)\s*(<=|>=)\s*({_NUMBER})\s*", text)
        if not match:
            raise UsageError(f"{option} '{text}' must read METRIC<=VALUE or METRIC>=VALUE, e.g. latency_ms<=20")
        if not math.isfinite(float(match.group(3))):  # 1e999 is inf: a bound every value meets
            raise UsageError(f"{option} '{text}': {match.group(3)} is not a finite number; give a real bound")
        constraints.append((match.group(1), match.group(2), float(match.group(3))))
    return constraints


def parse_gpus(text: Optional[str], option: str = "--gpus") -> Optional[list[str]]:
    """'0,1' -> ['0', '1'].

    >>> parse_gpus("0, 1,3")
    ['0', '1', '3']
    """
    if not text:
        return None
    gpus = [g.strip() for g in str(text).split(",") if g.strip()]
    if not gpus or not all(g.isdigit() for g in gpus):
        raise UsageError(f"{option} takes GPU ids like 0,1,2,3, got '{text}'")
    return gpus


def parse_seed(value: Optional[int], option: str = "--seed") -> Optional[int]:
    if value is not None and value > MAX_SEED:
        raise UsageError(f"{option} must be <= {MAX_SEED} (2**32 - 1, NumPy's largest seed), got {value}")
    return value


def parse_fidelity_levels(text: Optional[str], option: str = "--fidelity-levels") -> Optional[str]:
    if text is not None:
        fidelity.read_levels(text)
    return text  # kept as given: fidelity.levels_for checks it against the training's length


MAX_STUDY_NAME = 512  # characters: Optuna's study_name column in a database storage


def parse_study(name: Optional[str], option: str = "--study") -> Optional[str]:
    """Checked before any storage is opened: a database refuses a longer name only once connected."""
    if name is not None and len(name) > MAX_STUDY_NAME:
        raise UsageError(f"{option} is {len(name)} characters long; Optuna keeps at most {MAX_STUDY_NAME}: "
                         f"give a shorter name")
    return name


def parse_sampler(text: str, option: str = "--sampler") -> str:
    return samplers.check_name(text)


def parse_pruner(text: str, option: str = "--pruner") -> pruners.Pruner:
    return pruners.parse(text)  # kept parsed: the coordinator builds the pruner from it


def parse_out(text: Union[str, "os.PathLike[str]"], option: str = "--out") -> pathlib.Path:
    return pathlib.Path(text)


@functools.lru_cache(maxsize=None)
def warm_start_help() -> str:
    """--warm-start's help, naming the suites whose trials can fork (their adapter has a warm_preload)."""
    forking = [name for name in suite_names() if Ability.WARM_START in get_adapter(name).abilities]
    return ("CPU trials fork from one process that imported the suite once: start-up drops from seconds to a "
            f"fraction of one ({', '.join(forking) or 'no installed suite'} with the plugin's train entry; "
            "others start cold)")


def option(flag: str, help: Union[str, Callable[[], str], None] = None, *, scope: str, default: Any = None,
           parse: Optional[Callable[[Any, str], Any]] = None, minimum: Optional[float] = None, meaning: str = "",
           **argparse_kwargs: Any) -> Any:
    """A field of Settings that is a tuning option.

    flag: its command-line flag; the flag's dest ('--time-budget' -> 'time_budget') names the option in
    argparse's namespace, in the study's stored options and in build(). help: argparse's help, or a function
    that returns it (a text that names the installed suites). scope: STUDY, MACHINE or SPACE (see above).
    default: the value as the user would give it ("10s"); read, it is the field's default. parse(value,
    flag): the given value -> the field's value, raising UsageError. minimum (and meaning, the fix to name):
    the lowest number the option can mean. The rest goes to argparse's add_argument (type, action, ...).
    """
    meta = {"flag": flag, "help": help, "scope": scope, "default": default, "parse": parse, "minimum": minimum,
            "meaning": meaning, "argparse": argparse_kwargs}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: read(meta, copy.copy(default)), metadata=meta)
    return dataclasses.field(default=read(meta, default), metadata=meta)


def read(meta: Mapping[str, Any], value: Any) -> Any:
    """One option's value as given -> the value its Settings field holds."""
    if meta["minimum"] is not None:
        at_least(meta["flag"], value, meta["minimum"], meta["meaning"])
    return meta["parse"](value, meta["flag"]) if meta["parse"] else value


@dataclasses.dataclass
class Settings:
    """What a coordinator runs with: the tuning options, read and checked, and a few fields set by code."""

    preset: list[str] = option("--preset", "a preset from space_presets/ (repeatable)", scope=SPACE, default=[],
                               action="append")
    space: Optional[str] = option("--space", "a YAML file mapping dotted config paths to specs (on top of --preset)",
                                  scope=SPACE)
    param: list[str] = option("--param", "one range without a file (repeatable; wins over --space and --preset for "
                                         "its path): PATH=LOW:HIGH[:STEP] (whole bounds: int), PATH=log:LOW:HIGH, "
                                         "PATH=int:LOW:HIGH, PATH=float:LOW:HIGH, PATH=choice:A,B,C; new: first for "
                                         "a key the config lacks, e.g. Optimizer.lr.learning_rate=log:1e-4:1e-1 "
                                         "DataLoader.Train.sampler.batch_size=choice:32,64",
                              scope=SPACE, default=[], action="append", metavar="PATH=SPEC")
    trials: int = option("--trials", "trials to finish, trial 0 (your config) included", scope=STUDY, default=20,
                         minimum=1, type=int)
    time_budget: Optional[float] = option("--time-budget", "no new trial starts after this long (e.g. 30m, 24h)",
                                          scope=STUDY, parse=parse_duration)  # seconds
    sampler: str = option("--sampler", f"{', '.join(samplers.NAMES)} (bayes = tpe)", scope=STUDY, default="tpe",
                          parse=parse_sampler)
    prior: str = option("--prior", "config: draw first around the config's values (rescaled to your devices), "
                                   "then hand over to --sampler as results arrive; greedy: PULC's pass from "
                                   "them first, one key at a time, then --sampler; none: --sampler alone",
                        scope=STUDY, default="config", choices=["config", "greedy", "none"])
    pruner: pruners.Pruner = option("--pruner", f"{', '.join(pruners.NAMES)}; asha first cuts at a third of the "
                                                f"epochs (half of a training under {pruners.THIRD_FROM}), asha:N "
                                                f"after N", scope=STUDY, default="asha", parse=parse_pruner)
    fidelity: str = option("--fidelity", "what a short evaluation is: truncate (a full-length training cut at the "
                                         "pruner's rungs) or schedule (complete trainings with the whole schedule "
                                         "compressed to fewer epochs; those that do well train again longer, up to "
                                         "the full length)", scope=STUDY, default="truncate",
                           choices=["truncate", "schedule"])
    min_epochs: Optional[int] = option("--min-epochs", "--fidelity schedule: the shortest training (default: a "
                                                       "third of the full length)", scope=STUDY, minimum=1, type=int)
    fidelity_levels: Optional[str] = option("--fidelity-levels", "--fidelity schedule: the training lengths, e.g. "
                                                                 "1,3,9 (each a whole multiple of the one before; "
                                                                 "the full length is added)",
                                            scope=STUDY, parse=parse_fidelity_levels)
    # [(sampler, trials), ..., (sampler, None)]: e.g. broad random, then TPE narrowed
    stages: Optional[list[tuple[str, Optional[int]]]] = option(
        "--stages", "a broad phase, then a narrowed one: e.g. random:10,tpe (replaces --sampler)", scope=STUDY,
        parse=parse_stages)
    early_stopping_rounds: Optional[int] = option("--early-stopping-rounds", "stop after K finished trials without "
                                                                             "improvement",
                                                  scope=STUDY, minimum=1, type=int)
    # the first --metric and --direction; build() pairs the others into extra_metrics
    metric: Optional[str] = option("--metric", "eval metric to optimise (default: the suite's, e.g. top1); repeat "
                                               "for several objectives", scope=STUDY, action="append")
    direction: Optional[str] = option("--direction", "one per --metric (default: minimize for losses and "
                                                     "latencies, else maximize)", scope=STUDY, action="append",
                                      choices=list(DIRECTIONS))
    # more objectives: [(name, direction)]
    extra_metrics: list[tuple[str, Optional[str]]] = dataclasses.field(default_factory=list)
    # [(metric, "<=" or ">=", bound)]: soft constraints (Optuna's constraints_func)
    constraints: list[tuple[str, str, float]] = option("--constraint", "soft constraint on a reported metric, e.g. "
                                                                       "'latency_ms<=20' (repeatable)", scope=STUDY,
                                                       default=[], parse=parse_constraints, action="append")
    # None (left out): every GPU slot with --gpus, else 1 (__post_init__)
    workers: int = option("--workers", "trials run at once (default 1, or every GPU slot with --gpus)",
                          scope=MACHINE, minimum=1, type=int)
    gpus: Optional[list[str]] = option("--gpus", "GPU ids to place trials on, e.g. 0,1,2,3 (CUDA_VISIBLE_DEVICES per "
                                                 "trial; default: the --gpus of a paddle.distributed.launch command)",
                                       scope=MACHINE, parse=parse_gpus)
    trials_per_gpu: int = option("--trials-per-gpu", "trials sharing one GPU", scope=MACHINE, default=1, type=int)
    gpus_per_trial: int = option("--gpus-per-trial", "GPUs of one trial, run under paddle.distributed.launch "
                                                     "(default 1, or as many as the launcher's --gpus of the "
                                                     "command)", scope=MACHINE, default=1, type=int)
    reference_devices: Optional[int] = option("--reference-devices", "devices the config was written for (default: "
                                                                     "what the suite's configs are written for, as "
                                                                     "the study's first lines say); the learning "
                                                                     "rate's centre is rescaled from it to a trial's "
                                                                     "devices", scope=MACHINE, minimum=1, type=int)
    storage: Optional[str] = option("--storage", "Optuna storage URL (default: SQLite file in --out)", scope=MACHINE)
    study: Optional[str] = option("--study", "study name (default: autotune)", scope=STUDY, parse=parse_study)
    heartbeat: float = option("--heartbeat", "how often running trials say they are alive in a shared --storage; a "
                                             "trial silent for six heartbeats, and at least 5 s, (its coordinator "
                                             "died) is taken back by another coordinator (default 10s)",
                              scope=STUDY, default="10s", parse=parse_duration)  # seconds
    stale_after: float = 60.0  # a trial with no heartbeat for this long was lost with its coordinator (6 heartbeats)
    out: pathlib.Path = option("--out", "output folder (default: autotune_out)", scope=MACHINE,
                               default="autotune_out", parse=parse_out)
    seed: int = option("--seed", "the study's seed: the sampler's draws, and each trial's seed where its config leaves "
                                 "it empty (default 42)", scope=STUDY, default=42, minimum=0, parse=parse_seed, type=int)
    max_failures: Optional[int] = option("--max-failures", "stop the study after this many failed trials",
                                         scope=STUDY, minimum=1,
                                         meaning="leave it out to let any number of trials fail", type=int)
    trial_timeout: Optional[float] = option("--trial-timeout", "stop a trial that runs longer than this (e.g. 2h)",
                                            scope=STUDY, parse=parse_duration)
    # bytes of resident memory (the trial's whole process tree)
    trial_memory: Optional[float] = option("--trial-memory", "stop a trial whose processes hold more memory than "
                                                             "this (e.g. 8GB)", scope=STUDY, parse=parse_size)
    retry_failed: int = option("--retry-failed", "run a failed trial's parameters again, N times", scope=STUDY,
                               default=0, minimum=0, type=int)
    # CPU trials are forks of a process that imported the suite once (warm_start.py)
    warm_start: bool = option("--warm-start", warm_start_help, scope=MACHINE, default=False, action="store_true")
    # a trial whose trainer uses another value than it was given fails (knobs.py)
    strict_knobs: bool = option("--strict-knobs", "fail a trial whose trainer uses another value than the one tuned "
                                                  "(default: a loud warning)", scope=STUDY, default=False,
                                action="store_true")
    # MLflow tracking URI, "" for a SQLite store in out (mlflow_tracking.py)
    mlflow: Optional[str] = option("--mlflow", "log each trial as an MLflow run nested under one run of the study, "
                                               "to a tracking URI (e.g. http://127.0.0.1:5000); without URI to a "
                                               "SQLite store in --out (mlflow.db)", scope=MACHINE, nargs="?",
                                   const="", metavar="URI")
    quiet: bool = option("--quiet", "no progress lines", scope=MACHINE, default=False, action="store_true")
    dry_run: bool = option("--dry-run", "resolve the space, the config rescaled to your devices and trial 0's "
                                        "command, print them and exit without training", scope=MACHINE,
                           default=False, action="store_true")
    baseline: bool = True  # trial 0 runs the config as given
    centres: dict[str, Any] = dataclasses.field(default_factory=dict)  # {path: the rescaled config's value}: the prior
    # trial 1's values: the config rescaled to the user's devices (None: not run)
    rescaled: Optional[dict[str, Any]] = None
    # known-good configs to run after the baseline
    enqueue: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    # how to rebuild the task, stored in the study for `paddle-autotune worker`
    command: Optional[dict[str, Any]] = None

    def __post_init__(self) -> None:
        if self.workers is None:  # every GPU slot, each trial on gpus_per_trial of them
            self.workers = len(self.gpus) * self.trials_per_gpu // self.gpus_per_trial if self.gpus else 1


def option_fields() -> list["dataclasses.Field[Any]"]:
    """The fields of Settings that are tuning options, in the order --help lists them."""
    return [f for f in dataclasses.fields(Settings) if "flag" in f.metadata]


def dest(field: "dataclasses.Field[Any]") -> str:
    """The option's name: its flag's dest in argparse ('--time-budget' -> 'time_budget')."""
    return field.metadata["flag"].lstrip("-").replace("-", "_")


def option_names(scope: str) -> tuple[str, ...]:
    return tuple(dest(f) for f in option_fields() if f.metadata["scope"] == scope)


# Options a `worker` joining the study takes from the study itself (the rest are its own, per machine).
STUDY_OPTIONS = option_names(STUDY)


def add_tuning_options(parser: argparse.ArgumentParser) -> "argparse._ArgumentGroup":
    g = parser.add_argument_group("tuning options")
    for f in option_fields():
        meta = f.metadata
        text = meta["help"]() if callable(meta["help"]) else meta["help"]
        g.add_argument(meta["flag"], default=copy.copy(meta["default"]), help=text, **meta["argparse"])
    return g


def make_settings(opts: argparse.Namespace, command: Optional[dict[str, Any]] = None) -> Settings:
    """Settings from parsed tuning options: argparse's, or a worker's with the study's options set on them."""
    given = {dest(f): getattr(opts, dest(f)) for f in option_fields() if hasattr(opts, dest(f))}
    return build(given, command=command, enqueue=getattr(opts, "enqueue", None) or [],
                 centres=getattr(opts, "centres", None) or {}, rescaled=getattr(opts, "rescaled_trial", None))


def build(given: Mapping[str, Any], **fixed: Any) -> Settings:
    """Settings from tuning options as the user gives them, by name (see dest): texts for durations, sizes and
    GPU lists, lists for the repeatable ones; one left out takes its default. ``fixed``: fields no option
    sets (baseline, enqueue, command), as they are. Bad values fail here, with the flag's name."""
    values = {f.name: read(f.metadata, given[dest(f)] if dest(f) in given else copy.copy(f.metadata["default"]))
              for f in option_fields()}
    if values["trials_per_gpu"] < 1 or values["gpus_per_trial"] < 1:
        raise UsageError("--trials-per-gpu and --gpus-per-trial must be >= 1")
    if values["fidelity"] != "schedule":
        flags = [flag for flag, key in (("--fidelity-levels", "fidelity_levels"), ("--min-epochs", "min_epochs"))
                 if values[key] is not None]
        if flags:
            raise UsageError(f"{' and '.join(flags)} set the trainings of --fidelity schedule; add --fidelity "
                             f"schedule, or drop {' and '.join(flags)}")
    gpus = values["gpus"]
    if gpus and values["gpus_per_trial"] > len(gpus):
        raise UsageError(f"--gpus-per-trial {values['gpus_per_trial']} needs at least that many --gpus "
                         f"(got {len(gpus)})")
    metrics = list(values["metric"] or [None])
    directions = list(values["direction"] or [])
    if len(directions) > len(metrics):
        raise UsageError(f"{len(directions)} --direction for {len(metrics)} --metric: give one per metric")
    directions += [None] * (len(metrics) - len(directions))
    values.update(metric=metrics[0], direction=directions[0], extra_metrics=list(zip(metrics[1:], directions[1:])),
                  stale_after=6 * values["heartbeat"])
    return Settings(**values, **fixed)
