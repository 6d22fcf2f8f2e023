"""The seam between the core and a suite. One subclass per suite lives in adapters/.

Adapters are found through the ``paddle_autotune.adapters`` entry-point group (pyproject.toml), so a
new suite is one new folder plus one line there, and no change to the core.

:class:`Adapter` is abstract: a suite writes its abstract methods (``load``, ``metric_names``,
``trial_command``); every other method has a working default. What a suite can do beyond that is declared
on its class (``abilities``, ``hooks_module``, ``doctor_module``, ``readback_module``), and what it learns
about one task is kept in its own dataclass (``state_class``). Methods that take a task take it first:
``(task, cfg, ...)``.
"""
import abc
import ast
import copy
import dataclasses
import enum
import importlib
import importlib.metadata
import os
import pathlib
import shutil
import sys
import types
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Sequence, Union

import yaml

from paddle_autotune_plugins.errors import UsageError

if TYPE_CHECKING:  # imported for annotations only: trial processes import this module and need no Optuna
    from paddle_autotune_plugins.search_space.data_paths import DataPath
    from paddle_autotune_plugins.search_space.space import Param

GROUP = "paddle_autotune.adapters"
Config = dict[str, Any]  # a suite's native config, as data (nested mappings and lists)
PathLike = Union[str, "os.PathLike[str]"]


@dataclasses.dataclass
class TaskState:
    """What an adapter finds out about one task (a script's --help, the study's seed ...). Each adapter
    declares a subclass as its ``state_class``; this empty one is for adapters that keep nothing."""


@dataclasses.dataclass
class Task:
    """One suite command as the user gave it, resolved: what every trial starts from."""

    adapter: "Adapter"
    config: Config  # the resolved native config (overrides applied); never mutated
    config_path: Optional[str] = None
    script: Optional[str] = None  # the user's training script, or None for the plugin's own train entry
    script_args: list[str] = dataclasses.field(default_factory=list)  # the script's other flags, passed on as is
    cwd: Optional[str] = None
    argv: Optional[list[str]] = None  # the suite command's arguments as given (a worker on another machine loads
    # them again)
    set_by_files: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # names a file of the script may
    # set over the values above (script_yaml.py): the baseline cannot know what it trains with for these
    launcher: Optional[dict[str, Any]] = None  # the user's own `-m paddle.distributed.launch ...` (cli.split_launcher)
    state: Any = None  # what the adapter found for this task, an instance of its state_class (made here when
    # not given): adapters keep no task's facts on themselves

    def __post_init__(self) -> None:
        if self.state is None:
            self.state = self.adapter.state_class()

    def known_value(self, name: str) -> bool:
        return name not in self.set_by_files

    def fresh_config(self) -> Config:
        return copy.deepcopy(self.config)


class Ability(enum.Enum):
    """What a suite may do beyond the abstract methods. An adapter lists its own in ``abilities``; the
    contract test (tests/unit/test_adapter_contract.py) checks it implements each one it lists, and no other."""

    COMPRESS_SCHEDULE = "compress_schedule"  # --fidelity schedule: compress_schedule()
    DOCTOR_CONFIGS = "doctor_configs"  # doctor --configs ROOT: owns_checkout(), doctor_configs() (doctor_module)
    DEMO = "demo"  # paddle-autotune demo --suite NAME: demo() and demo_summary
    WARM_START = "warm_start"  # --warm-start: warm_preload()


# The methods each ability overrides (the contract test compares them with Adapter's defaults)
ABILITY_METHODS = {Ability.COMPRESS_SCHEDULE: ("compress_schedule",),
                   Ability.DOCTOR_CONFIGS: ("doctor_configs", "owns_checkout"),
                   Ability.DEMO: ("demo",),
                   Ability.WARM_START: ("warm_preload",)}


class Adapter(abc.ABC):
    """Base class. Subclasses set ``name`` (the --suite key), implement the abstract methods below, and
    declare their optional abilities."""

    name: ClassVar[Optional[str]] = None
    default_metric: Optional[str] = None
    direction = "maximize"
    config_filename = "config.yaml"
    train_entry: ClassVar[Optional[str]] = None  # module of the plugin's own train entry (python -m ...), for
    # pip-only installs
    stops_cooperatively = False  # True: a pruned trial ends its own training loop when asked (reporting.py)
    runs_paddle = True  # trials train with Paddle, so --gpus must name GPUs this Paddle build sees
    step_unit = "step"  # what a report's step counts, as the console names it: epoch, iteration or step
    metric_from_result = False  # True: a trial's declared result names the metrics (the Python API's return)
    config_help: ClassVar[Optional[str]] = None  # one line for the CLI: what -c names for this suite (which YAML,
    # a JSON of arguments ...)
    override_example: ClassVar[Optional[str]] = None  # how the suite's command changes one value, e.g.
    # "-o Global.epochs=5"

    # --- what the suite declares --------------------------------------------------------------
    abilities: ClassVar[frozenset[Ability]] = frozenset()  # the optional abilities it implements (Ability)
    state_class: ClassVar[type] = TaskState  # the dataclass of task.state (a TaskState subclass)
    # Modules of the suite's package (beside adapter.py), by their name there; None: the suite has none
    hooks_module: ClassVar[Optional[str]] = None  # its install() runs in the trial process first (install_hooks)
    doctor_module: ClassVar[Optional[str]] = None  # its walk_configs(adapter, root) is doctor --configs ROOT
    readback_module: ClassVar[Optional[str]] = None  # reads what the built trainer uses for the tuned knobs
    # (the trial's hooks and doctor --configs import it)

    @classmethod
    def quiet_imports(cls) -> None:
        """Silence what importing the suite prints on the coordinator's console (not its warnings or
        errors); the core calls it for every installed adapter, once per process."""

    @classmethod
    def suite_module(cls, name: str) -> types.ModuleType:
        """A module of the suite's own package (hooks, doctor, readback ... beside adapter.py)."""
        return importlib.import_module(f"{cls.__module__.rpartition('.')[0]}.{name}")

    # --- what every suite writes --------------------------------------------------------------
    @abc.abstractmethod
    def load(self, script: Optional[str], argv: Sequence[str]) -> Task:
        """Parse the suite's own command (config file, -o overrides) into a Task. script: the user's
        training script (None: the plugin's own train entry); argv: the command's arguments after it."""

    def load_command(self, script: Optional[str], argv: Sequence[str]) -> Task:
        """load(), the arguments kept on the task: the study records them, so that a worker, `export` and a
        resumed run load the same command (a demo's too)."""
        task = self.load(script, argv)
        task.argv = list(argv)
        return task

    @abc.abstractmethod
    def metric_names(self, task: Task) -> Optional[list[str]]:
        """Metrics the trials will report; --metric must be one of them. None: not known before a run."""

    @abc.abstractmethod
    def trial_command(self, task: Task, config_path: PathLike, cfg: Optional[Config] = None) -> list[str]:
        """argv that trains one trial (run with the trial folder's env); cfg: what prepare_trial returned
        and config_path holds (read back from there when not given)."""

    # --- coordinator side -------------------------------------------------------------------
    @classmethod
    def detects(cls, script: PathLike) -> bool:
        """True when a training script belongs to this suite (e.g. tools/train.py beside ppcls/)."""
        return False

    @classmethod
    def runs_program(cls, name: Optional[str]) -> bool:
        """True when a command's first word is this suite's own program rather than a script (e.g.
        paddleformers-cli): load() then gets that name as its script."""
        return False

    def architecture(self, cfg: Config) -> Optional[str]:
        return None

    def default_metric_for(self, task: Task) -> Optional[str]:
        """The metric tuned when --metric is not given (may depend on the config, e.g. COCO vs VOC)."""
        return self.default_metric

    def data_choices(self, path: str, cfg: Config) -> list[Any]:
        """Choices computed from the training data for a preset knob with `choices: from_data`."""
        raise UsageError(f"the {self.name} suite cannot compute choices for '{path}' from the data")

    def direction_for(self, metric: str) -> str:
        lower = metric.lower()
        return "minimize" if any(w in lower for w in ("loss", "latency", "params", "flops", "time", "cost", "size", "memory")) else self.direction

    def trainer_fact(self, task: Task, name: str) -> Any:
        """What the installed trainer does, for a preset place's ``when: {trainer.NAME: value}``
        (presets.py): found by running the trainer's own code, never from its version number."""
        raise UsageError(f"the {self.name} suite knows no trainer fact '{name}' (a preset's when: trainer.{name})")

    def accepts(self, task: Task, path: str) -> bool:
        """True when the trainer takes this setting though the config does not name it (e.g. a flag the
        script's --help lists): a preset knob may then be added there."""
        return False

    def values_in_effect(self, task: Task) -> Config:
        """The config as the trainer trains with it: the task's config and, for what it leaves out, the
        trainer's own defaults where the adapter can read them (a script's argparse defaults). The prior is
        centred on it and trial 0's values come from it; trial commands still pass only the config's own."""
        return task.config

    def data_paths(self, task: Task) -> list["DataPath"]:
        """The data files and folders the task's config names, as its trainer resolves them
        (data_paths.DataPath); checked before trial 0. None listed: nothing checked."""
        return []

    def check_space(self, task: Task, params: Sequence["Param"]) -> Optional[list[str]]:
        """Refuse tuned paths the config does not have, before any trial runs. May return notes to show."""
        # here, not at the top: trial processes import this module and need no Optuna
        from paddle_autotune_plugins.search_space import space

        space.check_paths(params, task.config)
        return None

    def step_unit_for(self, task: Task) -> str:
        """What this task's report steps count ("epoch", "iteration", "step"): the console says "pruned at
        epoch 2" where the trainer evaluates each epoch."""
        return self.step_unit

    def max_steps(self, task: Optional[Task], cfg: Config) -> Optional[int]:
        """The last evaluation step a trial reaches (e.g. its epochs), or None if unknown."""
        return None

    # --- the config's hardware (rescale.py) --------------------------------------------------
    def reference_devices(self, cfg: Config) -> Optional[int]:
        """How many devices the suite's shipped configs are written for (their learning rate goes with that
        total batch), or None where the suite does not say: then nothing is rescaled."""
        return None

    def optimizer_name(self, cfg: Config) -> Optional[str]:
        """The optimizer's name as the config spells it (picks the learning rate's scaling rule)."""
        return None

    def learning_rate_paths(self, cfg: Config) -> list[str]:
        """Dotted paths of the config's learning rate (numbers or lists of them), moved when rescaled."""
        return []

    def compress_schedule(self, task: Task, cfg: Config, epochs: int) -> Config:
        """A copy of cfg whose whole schedule (epochs, milestones, warm-up, decay horizon) runs in `epochs`
        epochs: a short but complete training, for --fidelity schedule. A config the suite's compression
        cannot rescale raises ValueError saying why (fidelity.compressed turns it into a usage error).
        Ability.COMPRESS_SCHEDULE."""
        raise UsageError(f"--fidelity schedule: the {self.name} suite cannot compress its schedule; use --fidelity "
                         f"truncate")

    def prepare_trial(self, task: Optional[Task], cfg: Config, trial_dir: PathLike, seed: int) -> Config:
        """Point outputs into the trial folder, set the device and seed. Returns the config to write."""
        return cfg

    def write_config(self, cfg: Config, path: PathLike) -> None:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f, sort_keys=False, allow_unicode=True)

    def read_config(self, path: PathLike) -> Config:
        """A config write_config wrote (a trial's), back as data: for `paddle-autotune export`."""
        import json

        text = pathlib.Path(path).read_text()
        return json.loads(text) if str(path).endswith(".json") else (yaml.safe_load(text) or {})

    def write_best(self, task: Optional[Task], cfg: Config, out: PathLike) -> None:
        """best_config.yaml in --out (an adapter may add the suite's own format beside it)."""
        self.write_config(cfg, pathlib.Path(out) / "best_config.yaml")

    def script_command(self, script: str) -> list[str]:
        """argv that runs the user's own training script with this adapter's hooks installed first."""
        return [python(), "-m", "paddle_autotune_plugins.run_trial", f"{type(self).__module__}:{type(self).__name__}",
                script]

    def warm_preload(self, task: Task) -> Optional[str]:
        """``"module:function"`` that imports what this task's trials import, for --warm-start (trials are
        forks of a process that ran it, see warm_start.py); None: the trials start cold. Ability.WARM_START."""
        return None

    def start_trial(self, task: Task, config_path: PathLike, env: dict[str, str], cwd: Optional[PathLike],
                    log_path: PathLike) -> Any:
        """Start the trial's process itself: a handle with what the coordinator uses of a Popen (pid, poll,
        wait; the process leads its own session so stopping it stops its group), or None (the default): the
        coordinator runs trial_command. The Python API forks its caller here (api.py)."""
        return None

    def stops_cooperatively_for(self, task: Task) -> bool:
        """Whether this task's pruned trials end their own training loop when asked (reporting.py)."""
        return self.stops_cooperatively

    def best_checkpoint(self, task: Optional[Task], cfg: Config, trial_dir: Optional[PathLike] = None
                        ) -> Optional[list[str]]:
        """Files or folder holding the trial's best weights, or None."""
        return None

    def trial_outputs(self, task: Optional[Task], cfg: Config, trial_dir: Optional[PathLike] = None
                      ) -> Sequence[PathLike]:
        """Folders of the trial that hold weights, deleted once the trial is not the best."""
        return []

    def export_config(self, task: Task, cfg: Config) -> Config:
        """The best trial's config as the user should train it (user's own output paths back)."""
        return cfg

    def config_to_store(self, cfg: Config) -> Any:
        """A config as the study stores it on its trial (JSON): what config_from_store turns back into a config
        that write_config writes as the suite reads it."""
        from paddle_autotune_plugins.optuna_glue.storages import jsonable  # not at the top: trials import this module

        return jsonable(cfg)

    def config_from_store(self, stored: Any) -> Config:
        """The config config_to_store stored (best_config.yaml on resume, export, the Pareto front)."""
        return stored

    def doctor(self) -> list[str]:
        """Lines about versions and run-time fixes, for `paddle-autotune doctor`."""
        return []

    def owns_checkout(self, root: PathLike) -> bool:
        """True when a folder is a source checkout of this suite (for doctor --configs).
        Ability.DOCTOR_CONFIGS."""
        return False

    demo_summary: ClassVar[Optional[str]] = None  # what `paddle-autotune demo --suite NAME` trains, for adapters
    # that have a demo (Ability.DEMO)

    def demo(self, out: pathlib.Path) -> Optional[tuple[Task, list[str]]]:
        """(Task, tuning options) of a small real study on bundled offline data, or None. Ability.DEMO."""
        return None

    def doctor_configs(self, root: PathLike) -> tuple[dict[str, int], list[str]]:
        """Walk a suite checkout's shipped configs; returns (counts dict, failures list).
        Ability.DOCTOR_CONFIGS."""
        raise UsageError(f"doctor --configs is not supported for the {self.name} suite")

    # --- trial side -------------------------------------------------------------------------
    def install_hooks(self) -> None:
        """In the trial process, before the suite is imported: compat fixes and metric reporting (the
        hooks_module's install(), where the suite declares one)."""
        if self.hooks_module:
            self.suite_module(self.hooks_module).install()

    def script_import_paths(self, script: str) -> list[str]:
        """In the trial process (run_trial.py): folders the user's script imports from beyond its own folder,
        placed right after it on sys.path (e.g. a checkout whose package the suite's guide installs editable)."""
        return []


def literal(text: str) -> Any:
    """A command-line value as the suites read it (ppcls evals -o values), without running code:
    numbers, lists, True/False/None become Python values, anything else stays the string it was."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def check_override(cfg: Config, key: str, source: str = "-o") -> None:
    """An override must name a path of the config: its parent must exist, and a last key the config
    lacks must not be a near-miss of one it has (``Global.epoch=1`` beside ``Global.epochs`` would add a
    key that nothing reads and train as if the override had not been given). A key with no near sibling
    is taken as a new one, as the suites take it."""
    from paddle_autotune_plugins.search_space import dotpath

    if not dotpath.has(cfg, dotpath.parent_path(key)):
        hint = dotpath.nearest(cfg, key)
        raise UsageError(f"{source} {key}: no such path in the config"
                         + (f"; did you mean {' or '.join(hint)}?" if hint else ""))
    typo = dotpath.sibling_typo(cfg, key)
    if typo:
        raise UsageError(f"{source} {key}: the config has no '{key.rsplit('.', 1)[-1]}' there; did you mean {typo}?")


def weight_files(folder: PathLike) -> list[pathlib.Path]:
    """Every weight file a Paddle training left under folder (what trials drop once they are not the best)."""
    root = pathlib.Path(folder)
    return [p for ext in ("pdparams", "pdopt", "pdstates", "pdema") for p in root.rglob(f"*.{ext}")]


def python() -> str:
    return sys.executable


def remove(path: PathLike) -> None:
    target = pathlib.Path(path)
    if target.is_dir():
        shutil.rmtree(target, ignore_errors=True)
    elif target.exists():
        target.unlink()


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=GROUP)}


def suite_names() -> list[str]:
    return sorted(_entry_points())


def adapter_classes() -> list[type[Adapter]]:
    """Every installed adapter's class, by suite name (for class-level hooks such as quiet_imports)."""
    return [ep.load() for _, ep in sorted(_entry_points().items())]


def get_adapter(name: str) -> Adapter:
    eps = _entry_points()
    if name not in eps:
        raise UsageError(f"unknown suite '{name}'; choose one of {', '.join(sorted(eps))}")
    return eps[name].load()()


def detect_program(name: Optional[str]) -> Optional[Adapter]:
    """The adapter whose suite's own program a command's first word names, or None."""
    for ep in _entry_points().values():
        if ep.load().runs_program(name):
            return ep.load()()
    return None


def detect_adapter(script: PathLike) -> Adapter:
    """The adapter whose suite owns this script; the generic adapter when none claims it."""
    eps = _entry_points()
    for name, ep in eps.items():
        if name != "generic" and ep.load().detects(script):
            return ep.load()()
    if "generic" in eps:
        return eps["generic"].load()()
    raise UsageError(f"cannot tell which suite {script} belongs to; use 'paddle-autotune tune --suite NAME'")


_DEVICE: Optional[str] = None


def available_device() -> str:
    """'gpu' when this Paddle build sees a GPU, else 'cpu' (asked once). The CPU wheel (`paddlepaddle`
    without `paddlepaddle-gpu`) is known from its package metadata, which spares the coordinator the
    second or so that importing Paddle takes; other builds are asked through Paddle itself."""
    global _DEVICE
    if _DEVICE is None:
        if _installed("paddlepaddle") and not _installed("paddlepaddle-gpu"):
            _DEVICE = "cpu"
        else:
            import paddle

            _DEVICE = "gpu" if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0 else "cpu"
    return _DEVICE


def visible_gpus() -> int:
    """How many GPUs this Paddle build sees: 0 for the CPU wheel (known from its metadata, no import)."""
    if _installed("paddlepaddle") and not _installed("paddlepaddle-gpu"):
        return 0
    try:
        import paddle
    except ImportError:
        return 0
    return paddle.device.cuda.device_count() if paddle.device.is_compiled_with_cuda() else 0


def check_gpus(gpus: Optional[Sequence[str]], gpus_per_trial: int, runs_paddle: bool) -> None:
    """--gpus must name GPUs Paddle sees wherever Paddle places the trials (the suites; any multi-GPU trial,
    which runs paddle.distributed.launch): otherwise every trial fails late with a distributed-init error."""
    if not gpus or not (runs_paddle or gpus_per_trial > 1):
        return
    seen = visible_gpus()
    if seen == 0:
        raise UsageError(f"--gpus {','.join(gpus)}: this Paddle build has no CUDA (or sees no GPU); drop --gpus to "
                         f"train on the CPU, or install paddlepaddle-gpu as Paddle's install guide says")
    wrong = [g for g in gpus if int(g) >= seen]
    if wrong:
        raise UsageError(f"--gpus names GPU {', '.join(wrong)} but Paddle sees {seen} (ids 0..{seen - 1}); "
                         f"name only those")


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def launch_command(cmd: Sequence[str], devices: Optional[str], log_dir: PathLike,
                   launcher: Optional[dict[str, Any]] = None) -> list[str]:
    """Turn `python -m module args` into paddle.distributed.launch over several GPUs of one trial. A
    launcher of the user's command (``{"module": ..., "options": [...]}``, cli.split_launcher) keeps its
    module and options; its GPUs are the trial's (``devices``, none: the launcher's own choice)."""
    import importlib.util

    if len(cmd) < 3 or cmd[1] != "-m":
        raise ValueError(f"cannot distribute {cmd}")
    spec = importlib.util.find_spec(cmd[2])
    assert spec is not None and spec.origin is not None, cmd[2]  # the trial's own module, importable here
    script = spec.origin  # launch runs a file
    module = (launcher or {}).get("module", "paddle.distributed.launch")
    return [cmd[0], "-m", module] + list((launcher or {}).get("options", [])) + \
        (["--devices", devices] if devices else []) + ["--log_dir", str(log_dir), script] + list(cmd[3:])


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CPU_NUM")  # what Paddle's math reads


def cpu_threads(workers: int) -> int:
    """Threads per trial so W concurrent trials do not oversubscribe the cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))
