"""The parameters a study tunes, built from --preset, --space and --param on the task's config, and the notes
that say how (the config as the prior, a spec that replaces another)."""
import argparse
import pathlib
from typing import Any

from paddle_autotune_plugins.errors import UsageError
from paddle_autotune_plugins.search_space import dotpath, presets, rescale, space
from paddle_autotune_plugins.suites.adapter import Task


def build_params(task: Task, opts: argparse.Namespace) -> tuple[list[space.Param], list[str]]:
    """Presets, then the --space file on top, then each --param (a path given twice takes the later spec)."""
    inline: dict[str, tuple[str, space.Param]] = {}
    for text in getattr(opts, "param", None) or []:  # read first: a misspelt range fails before anything runs
        p = space.parse_inline(text)
        if p.name in inline:
            raise UsageError(f"--param {p.name} given twice ({inline[p.name][0]} and {text}); keep one")
        inline[p.name] = (text, p)
    rescaled = rescale.rescale(task, rescale.trial_devices(task.adapter, getattr(opts, "gpus_per_trial", 1)),
                               reference=getattr(opts, "reference_devices", None))
    resolved = presets.resolve(opts.preset, task.adapter.name, task.config, task.adapter.architecture(task.config),
                               data_choices=task.adapter.data_choices,
                               facts=lambda name: task.adapter.trainer_fact(task, name),
                               accepts=lambda path: task.adapter.accepts(task, path), centred_cfg=rescaled.config)
    by_name = {p.name: p for p in resolved.params}
    source = dict.fromkeys(by_name, "--preset")
    enqueue: list[Any] = []
    if opts.space:
        path = pathlib.Path(opts.space)
        if not path.is_file():
            raise UsageError(f"space file not found: {path}")
        data = space.load_yaml(path)
        enqueue = data.pop("enqueue", None) or [] if isinstance(data, dict) else []
        for p in space.parse_space(data):
            by_name[p.name] = p
            source[p.name] = "--space"
    replaced = []
    for text, p in inline.values():
        if p.name in by_name:
            replaced.append(f"--param {text} replaces the {source[p.name]} spec "
                            f"{by_name[p.name].describe().split(': ', 1)[1]}")
        by_name[p.name] = p
        source[p.name] = "--param"
    params = list(by_name.values())
    # the user's own specs (a preset's conditions may name keys that only some configs have)
    space.check_links([p for p in params if source.get(p.name) != "--preset"], task.config,
                      lambda path: task.adapter.accepts(task, path))
    params = space.centre_on(params, task.config, rescaled.config)
    if not params:
        raise UsageError("nothing to tune: give --preset NAME (see 'paddle-autotune presets'), --space FILE.yaml "
                         "or --param PATH=LOW:HIGH")
    notes = list(resolved.notes) + replaced + list(task.adapter.check_space(task, params) or [])
    opts.enqueue = space.check_enqueue(enqueue, params)
    return params, prior_notes(task, opts, params, rescaled) + notes


def prior_notes(task: Task, opts: argparse.Namespace, params: list[space.Param],
                rescaled: rescale.Rescaled) -> list[str]:
    """The config as the prior (issue 28): the centres the prior sampler draws around, and trial 1 = the
    config rescaled to the user's devices where its learning rate moved and is tuned. Returns the lines that
    say so (set on opts: centres, rescaled_trial, rescaled)."""
    opts.rescaled = rescaled
    opts.centres = {name: value for name, value in rescale.centres(params, rescaled.config).items()
                    if task.known_value(name)}
    tuned_lr = [p.name for p in params if {p.name, *(p.also or [])} & set(rescaled.paths)]
    opts.rescaled_trial = opts.centres if rescaled.moved and tuned_lr else None
    line = rescaled.line()
    lines = [line] if line else []
    defaults = [name for name in opts.centres if not dotpath.has(task.config, name)]  # from values_in_effect
    if defaults:
        lines.append(f"the command does not give {', '.join(defaults)}: the search starts from the trainer's own "
                     f"default{'s' if len(defaults) > 1 else ''} ("
                     f"{', '.join(f'{k} {rescale._fmt(dotpath.get(rescaled.config, k))}' for k in defaults)})")
    if opts.rescaled_trial:
        lines.append(f"trial {1 + len(getattr(opts, 'enqueue', None) or [])} runs the config rescaled to {rescaled.devices} device(s) ({', '.join(tuned_lr)} = "
                     f"{rescale._fmt(dotpath.get(rescaled.config, tuned_lr[0]))}); trial 0 runs it as given")
    elif rescaled.moved:
        lines.append("the learning rate is not tuned here: trials keep the config's own; tune it (e.g. a "
                     "*-lr preset) to start from the rescaled one")
    return lines
