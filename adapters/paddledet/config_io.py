"""PaddleDetection YAML without importing ppdet: `_BASE_` chains merged, `!Tag` objects kept as tagged
mappings, written back as one flattened file that ppdet's own ``load_config`` reads to the same values.

Merging follows ppdet: bases in order (a later base wins), then the file itself; mappings merge key by
key, while lists and tagged objects (``!PiecewiseDecay {...}``) are replaced whole.

>>> cfg = load_text("LearningRate:\\n  base_lr: 0.01\\n  schedulers:\\n  - !PiecewiseDecay {gamma: 0.1, milestones: [8, 11]}\\n")
>>> cfg["LearningRate"]["schedulers"][0].tag, cfg["LearningRate"]["schedulers"][0]["milestones"]
('PiecewiseDecay', [8, 11])
>>> "!PiecewiseDecay" in dump_text(cfg)
True
"""
import os

import yaml

BASE_KEY = "_BASE_"


class Tagged(dict):
    """A `!Tag` mapping: a dict (so dotted paths reach inside) that remembers its tag."""

    def __init__(self, tag, mapping=()):
        super().__init__(mapping)
        self.tag = tag

    def __deepcopy__(self, memo):
        import copy

        return Tagged(self.tag, {k: copy.deepcopy(v, memo) for k, v in self.items()})

    def __reduce__(self):
        return Tagged, (self.tag, dict(self))


class TaggedList(list):
    def __init__(self, tag, items=()):
        super().__init__(items)
        self.tag = tag

    def __deepcopy__(self, memo):
        import copy

        return TaggedList(self.tag, [copy.deepcopy(v, memo) for v in self])

    def __reduce__(self):
        return TaggedList, (self.tag, list(self))


class _Loader(yaml.SafeLoader):
    pass


def _construct_tagged(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        return Tagged(suffix, loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return TaggedList(suffix, loader.construct_sequence(node, deep=True))
    value = loader.construct_scalar(node)
    if value in ("", None):
        return Tagged(suffix)  # `!Tag` alone: an object with its defaults
    raise yaml.constructor.ConstructorError(None, None, f"!{suffix} with a scalar value is not supported",
                                            node.start_mark)


_Loader.add_multi_constructor("!", _construct_tagged)


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(Tagged, lambda d, v: d.represent_mapping("!" + v.tag, dict(v)))
_Dumper.add_representer(TaggedList, lambda d, v: d.represent_sequence("!" + v.tag, list(v)))


def load_text(text):
    return yaml.load(text, Loader=_Loader) or {}


def dump_text(cfg):
    return yaml.dump(cfg, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=None)


TAG_KEY = "__tag__"  # JSON has no tags: a `!Tag` object is stored as a mapping that names it
ITEMS_KEY = "__items__"


def to_json(cfg):
    """The config with its `!Tag` objects as plain mappings that name them, for a JSON store; from_json undoes it.

    >>> stored = to_json(load_text("schedulers:\\n- !CosineDecay {max_epochs: 8}\\n"))
    >>> stored
    {'schedulers': [{'__tag__': 'CosineDecay', 'max_epochs': 8}]}
    >>> from_json(stored)["schedulers"][0].tag
    'CosineDecay'
    """
    if isinstance(cfg, Tagged):
        return {TAG_KEY: cfg.tag, **{k: to_json(v) for k, v in cfg.items()}}
    if isinstance(cfg, TaggedList):
        return {TAG_KEY: cfg.tag, ITEMS_KEY: [to_json(v) for v in cfg]}
    if isinstance(cfg, dict):
        return {k: to_json(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [to_json(v) for v in cfg]
    return cfg


def from_json(stored):
    if isinstance(stored, dict):
        values = {k: from_json(v) for k, v in stored.items() if k != TAG_KEY}
        if TAG_KEY not in stored:
            return values
        if set(values) == {ITEMS_KEY}:
            return TaggedList(stored[TAG_KEY], values[ITEMS_KEY])
        return Tagged(stored[TAG_KEY], values)
    if isinstance(stored, list):
        return [from_json(v) for v in stored]
    return stored


def merge(base, override):
    """ppdet's merge: override wins; plain mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        if (key in out and type(out[key]) is dict and type(value) is dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load(path):
    """A config file with its `_BASE_` chain resolved (relative to each file), as ppdet resolves it."""
    with open(path) as f:
        cfg = load_text(f.read())
    bases = cfg.pop(BASE_KEY, None) or []
    merged = {}
    for base in ([bases] if isinstance(bases, str) else bases):
        base = os.path.expanduser(base)
        if not os.path.isabs(base):
            base = os.path.join(os.path.dirname(os.path.abspath(path)), base)
        merged = merge(merged, load(base))
    return merge(merged, cfg)


def dump(cfg, path):
    with open(path, "w") as f:
        f.write(dump_text(cfg))
