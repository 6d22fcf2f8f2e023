"""The two kinds of suite command, each written once; an adapter in adapters/ picks one and adds what is
its own (config checks, metric names, hooks, versions).

- ``YamlSuiteAdapter``: one YAML config given with ``-c FILE``, changed by ``-o key=value`` items, each
  trial written as one flattened YAML (e.g. PaddleClas's ``tools/train.py -c x.yaml -o Global.epochs=5``);
- ``FlagScriptAdapter``: a script driven by ``--flags``; the config is its flags, name to value, and a trial
  passes them back as flags (e.g. a PaddleNLP Trainer script, or any argparse script).

What an adapter learns about one task (a script's --help, its output flags, the study's seed) is kept in
``task.state`` (the adapter's ``state_class``), so one adapter object serves any number of tasks.
"""
import abc
import argparse
import copy
import dataclasses
import os
import pathlib
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Optional, Sequence

from paddle_autotune_plugins.errors import ArgumentParser, UsageError
from paddle_autotune_plugins.search_space import dotpath
from paddle_autotune_plugins.suites.adapter import (Adapter, Config, PathLike, Task, TaskState, available_device,
                                                    check_override, literal, python, weight_files)
from paddle_autotune_plugins.suites.flag_scripts import (Outputs, check_switches, source_defaults, switch_notes,
                                                         write_command)
from paddle_autotune_plugins.suites.flags import ScriptHelp, to_flags
from paddle_autotune_plugins.suites.script_yaml import ScriptYamls

if TYPE_CHECKING:  # for annotations only: trial processes import this module and need no Optuna
    from paddle_autotune_plugins.search_space.space import Param

_ABSENT = object()


def checkout_root(script: PathLike) -> pathlib.Path:
    """The suite checkout that holds a tools/train.py (its parent's parent): the trials' cwd."""
    return pathlib.Path(script).resolve().parent.parent


class YamlSuiteAdapter(Adapter):
    """A suite trained from one YAML config (``-c FILE``) that ``-o key=value`` items change. A subclass
    reads its config (``read_config_file``) and names the config's paths below; the rest is shared."""

    override_flag = "-o"  # the flag of key=value items, as error messages name it
    override_form = "key=value"
    # dotted path -> (its place in the trial folder, the suite's default or None: left out)
    output_paths: ClassVar[dict[str, tuple[str, Optional[str]]]] = {}
    trial_values: ClassVar[dict[str, Any]] = {}  # dotted path -> the value every trial trains with (e.g.
    # evaluation switched on)
    device_path: ClassVar[Optional[tuple[str, Any, Any]]] = None  # (dotted path, its GPU value, its CPU value):
    # trials fall back to the CPU build
    seed_path: ClassVar[Optional[str]] = None  # where the config takes a seed: the study's --seed when the config
    # leaves it empty
    checkout_folders: ClassVar[tuple[str, ...]] = ()  # folders every source checkout of the suite has (for doctor
    # --configs ROOT)

    # --- the command ----------------------------------------------------------------------------
    def command_parser(self, prog: str) -> argparse.ArgumentParser:
        """The suite command's own flags: -c FILE and -o items (dest ``overrides``); the rest passes on."""
        parser = ArgumentParser(prog=prog, allow_abbrev=False)
        parser.add_argument("-c", "--config", required=True)
        parser.add_argument("-o", "--override", dest="overrides", action="extend", default=[], nargs="+")
        return parser

    @abc.abstractmethod
    def read_config_file(self, path: str) -> Config:
        """The resolved config of a file, or a UsageError saying why it is not one of this suite."""

    def override_value(self, text: str) -> Any:
        return literal(text)

    def load(self, script: Optional[str], argv: Sequence[str]) -> Task:
        args, rest = self.command_parser(script or f"paddle-autotune tune --suite {self.name}").parse_known_args(argv)
        rest = self.passed_on(script, args, rest)
        cfg = self.read_config_file(args.config)
        self.apply_command(cfg, args)
        return Task(self, cfg, config_path=os.path.abspath(args.config),
                    script=os.path.abspath(script) if script else None, script_args=rest,
                    cwd=str(checkout_root(script)) if script else os.getcwd())

    def passed_on(self, script: Optional[str], args: argparse.Namespace, rest: list[str]) -> list[str]:
        """The command's other flags, passed on to the user's tools/train.py (the train entry takes none)."""
        if rest and not script:
            raise UsageError(f"unrecognized arguments: {' '.join(rest)}")
        return rest

    def apply_command(self, cfg: Config, args: argparse.Namespace) -> None:
        self.apply_overrides(cfg, args.overrides)

    def apply_overrides(self, cfg: Config, items: Sequence[str], source: Optional[str] = None) -> None:
        """``key=value`` items on the resolved config, each path checked first (check_override)."""
        source = source or self.override_flag
        for item in items:
            if "=" not in item:
                raise UsageError(f"{source} '{item}' must be {self.override_form}, e.g. {self.override_example}")
            key, value = item.split("=", 1)
            key = key.strip()
            if not key:  # '-o =1' would set nothing
                raise UsageError(f"{source} '{item}' names no key; write {self.override_form}, e.g. "
                                 f"{self.override_example}")
            if value.startswith("="):  # '==3' would reach the trainer as the text '=3'
                raise UsageError(f"{source} '{item}': one '=' goes between key and value; write {key}={value[1:]}")
            check_override(cfg, key, source)
            dotpath.set_(cfg, key, self.override_value(value))

    # --- a trial --------------------------------------------------------------------------------
    def prepare_trial(self, task: Optional[Task], cfg: Config, trial_dir: PathLike, seed: int) -> Config:
        for path, (place, _) in self.output_paths.items():
            dotpath.set_(cfg, path, str(pathlib.Path(trial_dir) / place))
        for path, value in self.trial_values.items():
            dotpath.set_(cfg, path, value)
        if self.device_path:
            path, gpu, cpu = self.device_path
            if dotpath.get(cfg, path, gpu) == gpu and available_device() == "cpu":
                dotpath.set_(cfg, path, cpu)
        if self.seed_path and dotpath.get(cfg, self.seed_path, None) is None:
            dotpath.set_(cfg, self.seed_path, seed)
        return cfg

    def trial_outputs(self, task: Optional[Task], cfg: Config, trial_dir: Optional[PathLike] = None
                      ) -> list[pathlib.Path]:
        """Every weight file under the trial's first output path (its save folder)."""
        return weight_files(dotpath.get(cfg, next(iter(self.output_paths))))

    def export_config(self, task: Task, cfg: Config) -> Config:
        """The trial's config with the user's own output paths back (the suite's default, or none)."""
        cfg = copy.deepcopy(cfg)
        for path, (_, default) in self.output_paths.items():
            given = dotpath.get(task.config, path, _ABSENT)
            if given is not _ABSENT or default is not None:
                dotpath.set_(cfg, path, default if given is _ABSENT else given)
            else:
                parent = dotpath.get(cfg, dotpath.parent_path(path)) if "." in path else cfg
                parent.pop(path.rsplit(".", 1)[-1], None)
        return cfg

    # --- doctor --configs (Ability.DOCTOR_CONFIGS: the doctor_module beside adapter.py) -----------------
    def owns_checkout(self, root: PathLike) -> bool:
        return bool(self.checkout_folders) and all((pathlib.Path(root) / f).is_dir() for f in self.checkout_folders)

    def doctor_configs(self, root: PathLike) -> tuple[dict[str, int], list[str]]:
        if not self.doctor_module:
            return super().doctor_configs(root)
        counts, failures = self.suite_module(self.doctor_module).walk_configs(self, root)
        return counts, failures

    def doctor_tasks(self, script: PathLike, paths: Sequence[pathlib.Path], root: PathLike, counts: dict[str, int],
                     failures: list[str], fragment: Callable[[pathlib.Path, pathlib.Path], bool],
                     fragments_key: str) -> Iterator[tuple[pathlib.Path, pathlib.Path, Task]]:
        """(path, path relative to root, task) for each shipped config that loads through the adapter as
        the checkout's tools/train.py would; counts it under "total" and "load" (a fragment under
        fragments_key, skipped); a config that fails to load is a line in failures."""
        for path in paths:
            rel = path.relative_to(root)
            if fragment(path, rel):
                counts[fragments_key] += 1
                continue
            counts["total"] += 1
            try:
                task = self.load(str(script), ["--config", str(path)])
            except UsageError as e:
                failures.append(f"{rel}: load: {e}")
                continue
            counts["load"] += 1
            yield path, rel, task

    def doctor_trial(self, task: Task, preset: str, written: PathLike, rel: pathlib.Path, counts: dict[str, int],
                     failures: list[str]) -> Optional[tuple[list["Param"], Config, dict[str, Any]]]:
        """A preset on one shipped config, written to written as a trial writes it: (params, config,
        {path: value}) with each knob at its low end (a choice knob at its first choice), counted under
        "preset NAME resolved"; None when the preset does not resolve or check on it (a line in failures)."""
        from paddle_autotune_plugins.search_space import (  # here: trial processes import this module and need no Optuna
            presets, rescale, space)

        try:
            params = presets.resolve([preset], self.name, task.config, self.architecture(task.config),
                                     facts=lambda name: self.trainer_fact(task, name),
                                     centred_cfg=rescale.rescale(task, devices=1).config).params
            space.check_paths(params, task.config)
            self.check_space(task, params)
        except UsageError as e:
            failures.append(f"{rel}: preset: {e}")
            return None
        counts[f"preset {preset} resolved"] += 1
        missed = space.missing_config_value(params, task.config)
        counts[space.MISSES] = counts.get(space.MISSES, 0) + bool(missed)
        if missed:
            failures.append(f"{rel}: range: {', '.join(missed)} leaves out the config's value")
        cfg = task.fresh_config()
        expected = {}
        for p in params:
            p.apply_to(cfg, p.low if p.kind != "categorical" else (p.choices or [None])[0])
            expected[p.name] = p.current(cfg)
        self.write_config(cfg, written)
        return params, cfg, expected


@dataclasses.dataclass
class FlagScriptState(TaskState):
    """What a flag-driven script's task keeps (FlagScriptAdapter.take_flags fills it)."""

    help: ScriptHelp = dataclasses.field(default_factory=lambda: ScriptHelp(set(), set()))  # its --help
    outputs: Optional[Outputs] = None  # its output-folder flags
    yamls: Optional[ScriptYamls] = None  # YAML files its flags name (script_yaml.py)
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)  # what it trains with for flags not given


class FlagScriptAdapter(Adapter):
    """A training script driven by ``--flags``. The script's ``--help`` (``script_help``) says which flags
    it takes and which are switches; output-folder flags point into each trial's folder; YAML files its
    flags name, that it reads after them, get the trial's values in a copy (script_yaml.py). task.state
    (FlagScriptState) holds ``help`` (a flags.ScriptHelp), ``outputs`` (flag_scripts.Outputs) and ``yamls``
    (ScriptYamls)."""

    state_class: ClassVar[type] = FlagScriptState

    def command(self, task: Task) -> list[str]:
        """argv before the trial's flags: the user's script with the hooks installed, else the train entry."""
        if task.script:
            return self.script_command(task.script)
        assert self.train_entry is not None  # a suite without one refuses a command without a script (load)
        return [python(), "-m", self.train_entry]

    def take_flags(self, task: Task, script_help: ScriptHelp, cfg: Config) -> Task:
        """The task's config is the command's flags (cfg); what the script's --help and those flags say is
        kept on the task. Returns the task."""
        task.config = cfg
        task.state.help = script_help
        task.state.outputs = Outputs.of(script_help.names, cfg)
        task.state.yamls = ScriptYamls.find(cfg, task.cwd)
        task.set_by_files = task.state.yamls.set_by()
        printed = {**source_defaults(task.script), **script_help.defaults}  # --help's, where it prints them
        task.state.defaults = {name: value for name, value in printed.items() if name in script_help.names
                               and name not in script_help.switches and name not in task.set_by_files}
        return task

    def values_in_effect(self, task: Task) -> Config:
        """The command's flags, and the script's own defaults for the flags it does not give."""
        return {**task.state.defaults, **task.config}

    @staticmethod
    def switches(task: Task) -> set[str]:
        return task.state.help.switches

    def accepts(self, task: Task, path: str) -> bool:
        """A flag the script's --help lists may be tuned though the command does not give it."""
        return path in task.state.help.names

    def script_notes(self, task: Task, params: Sequence["Param"]) -> list[str]:
        """Switch checks, and the notes for the start of a study about script YAMLs and switches."""
        check_switches(params, self.switches(task))
        return task.state.yamls.notes(p.name for p in params) + \
            switch_notes(params, task.config, self.switches(task))

    def prepare_trial(self, task: Optional[Task], cfg: Config, trial_dir: PathLike, seed: int) -> Config:
        assert task is not None  # the flags' meaning is the task's (its --help): the core always passes it
        task.state.outputs.point_into(cfg, trial_dir)
        cfg = self.trial_flags(task, cfg, seed)
        return task.state.yamls.write_copies(cfg, trial_dir)

    def trial_flags(self, task: Task, cfg: Config, seed: int) -> Config:
        """Flags every trial of the task gets (seed, device ...), beside its output folders."""
        return cfg

    def trial_command(self, task: Task, config_path: PathLike, cfg: Optional[Config] = None) -> list[str]:
        cfg = self.read_config(config_path) if cfg is None else cfg
        return self.command(task) + to_flags(cfg, self.switches(task))

    def writes_best_command(self, task: Task) -> bool:
        """Whether the script reads only flags, so best_command.txt is how to train the best trial."""
        return True

    def write_best(self, task: Optional[Task], cfg: Config, out: PathLike) -> None:
        """best_config.yaml (and the suite's own format beside it, when its trial config is not YAML); a
        rewritten script YAML as best_<name>; best_command.txt for a script that reads only flags."""
        assert task is not None  # the core always passes it
        folder = pathlib.Path(out)
        cfg = task.state.yamls.keep_copies(cfg, folder)
        Adapter.write_config(self, cfg, folder / "best_config.yaml")
        if self.config_filename != "config.yaml":
            self.write_config(cfg, folder / f"best_{self.config_filename}")
        if self.writes_best_command(task):
            write_command(task.script, cfg, self.switches(task), folder / "best_command.txt", task.cwd)

    def best_checkpoint(self, task: Optional[Task], cfg: Config, trial_dir: Optional[PathLike] = None
                        ) -> Optional[list[str]]:
        assert task is not None  # the core always passes it
        return task.state.outputs.best_files(cfg)

    def trial_outputs(self, task: Optional[Task], cfg: Config, trial_dir: Optional[PathLike] = None
                      ) -> list[str]:
        assert task is not None  # the core always passes it
        return task.state.outputs.folders(cfg)

    def export_config(self, task: Task, cfg: Config) -> Config:
        return task.state.outputs.restore(copy.deepcopy(cfg), task.config)
