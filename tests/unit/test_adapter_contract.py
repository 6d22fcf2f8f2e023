"""The adapter seam's contract, checked on every registered adapter (the ``paddle_autotune.adapters`` entry
points): what the core may count on without knowing the suite."""
import ast
import dataclasses
import importlib.metadata
import importlib.util
import inspect

import pytest
from conftest import REPO

from paddle_autotune_plugins.suites.adapter import ABILITY_METHODS, GROUP, Ability, Adapter, Task, TaskState

ADAPTERS = {ep.name: ep.load() for ep in importlib.metadata.entry_points(group=GROUP)}
ADAPTER_DIR = REPO / "adapters"
PACKAGE = "paddle_autotune_plugins.adapters"
each_adapter = pytest.mark.parametrize("cls", list(ADAPTERS.values()), ids=list(ADAPTERS))


def _seam_methods():
    """The methods of the base class the core calls (public, not the abilities' data)."""
    return [name for name, value in vars(Adapter).items()
            if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, classmethod))]


def _parameters(function):
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


def _defines(module_name, function):
    """Whether a module of the adapters' packages defines a top-level function, read without importing it
    (a hooks module may import the suite)."""
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        return False
    tree = ast.parse(open(spec.origin, encoding="utf-8").read())
    return any(isinstance(node, ast.FunctionDef) and node.name == function for node in tree.body)


def test_every_suite_is_registered():
    assert sorted(ADAPTERS) == ["clas", "det", "generic", "nlp", "ocr", "seg"]


@each_adapter
def test_it_is_a_concrete_subclass_of_the_base(cls):
    assert issubclass(cls, Adapter)
    assert not inspect.isabstract(cls), f"{cls.__name__} leaves abstract: {sorted(cls.__abstractmethods__)}"
    assert cls.name in ADAPTERS and ADAPTERS[cls.name] is cls


@each_adapter
def test_it_takes_the_base_signatures(cls):
    """Every seam method it implements (the abstract ones included) takes the base's parameters in the
    base's order: the task first, then the config."""
    assert set(Adapter.__abstractmethods__) <= set(_seam_methods())
    for name in _seam_methods():
        ours, base = getattr(cls, name), getattr(Adapter, name)
        if ours is not base:
            assert _parameters(ours) == _parameters(base), f"{cls.__name__}.{name}"


def test_the_seam_takes_the_task_first():
    for name in _seam_methods():
        names = [p for p, _ in _parameters(getattr(Adapter, name))]
        if "task" in names:
            assert names[names[0] in ("self", "cls"):][0] == "task", name
        if "cfg" in names and "task" in names:
            assert names.index("task") < names.index("cfg"), name


@each_adapter
@pytest.mark.parametrize("ability", list(Ability), ids=lambda a: a.value)
def test_it_declares_its_abilities_as_it_implements_them(cls, ability):
    declared = ability in cls.abilities
    implemented = [getattr(cls, m) is not getattr(Adapter, m) for m in ABILITY_METHODS[ability]]
    assert implemented == [declared] * len(implemented), f"{cls.__name__}: {ability} declared {declared}"
    if ability is Ability.DEMO:
        assert (cls.demo_summary is not None) == declared
    if ability is Ability.DOCTOR_CONFIGS:
        assert (cls.doctor_module is not None) == declared


@each_adapter
def test_its_declared_modules_are_there(cls):
    package = cls.__module__.rpartition(".")[0]
    for attr, function in (("hooks_module", "install"), ("doctor_module", "walk_configs"), ("readback_module", None)):
        module = getattr(cls, attr)
        if module is None:
            continue
        assert importlib.util.find_spec(f"{package}.{module}") is not None, f"{cls.__name__}.{attr} = {module!r}"
        if function:
            assert _defines(f"{package}.{module}", function), f"{package}.{module} has no {function}()"


@each_adapter
def test_its_task_state_is_a_dataclass(cls):
    assert issubclass(cls.state_class, TaskState) and dataclasses.is_dataclass(cls.state_class)
    task = Task(cls(), {})  # a task built without load() gets the adapter's state, with its defaults
    assert type(task.state) is cls.state_class


@each_adapter
def test_it_claims_no_script_it_should_not(cls, tmp_path, monkeypatch):
    """An empty script name, or a plain script in an empty folder, belongs to no suite."""
    folder = tmp_path / "a" / "b" / "c"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    plain = folder / "train.py"
    plain.write_text("print('hello')\n")
    assert not cls.detects("")
    assert not cls.detects(str(plain))
    assert not cls.runs_program("")
    assert not cls.runs_program(str(plain))


def test_the_base_cannot_be_used_unfinished():
    class Unfinished(Adapter):
        name = "unfinished"

    with pytest.raises(TypeError, match="abstract"):
        Unfinished()


def _imported_modules(path):
    """Absolute names of the modules a file imports (relative imports resolved from its package)."""
    package = f"{PACKAGE}.{path.parent.name}"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


@pytest.mark.parametrize("path", sorted(ADAPTER_DIR.glob("*/*.py")), ids=lambda p: str(p.relative_to(ADAPTER_DIR)))
def test_no_adapter_imports_another(path):
    """What two suites share lives in suites/kit/, not in one of them."""
    own = f"{PACKAGE}.{path.parent.name}"
    others = [m for m in _imported_modules(path)
              if m.startswith(PACKAGE + ".") and not (m == own or m.startswith(own + "."))]
    assert not others, f"{path.relative_to(ADAPTER_DIR)} imports {others}"


def test_the_import_check_sees_another_adapter(tmp_path):
    folder = tmp_path / "paddledet"
    folder.mkdir()
    (folder / "schedule.py").write_text(f"from {PACKAGE}.paddleclas.schedule import x\nfrom ..generic import hooks\n"
                                        "from . import compat\n")
    assert sorted(_imported_modules(folder / "schedule.py")) == sorted([
        f"{PACKAGE}.paddleclas.schedule", f"{PACKAGE}.paddleclas.schedule.x", f"{PACKAGE}.generic",
        f"{PACKAGE}.generic.hooks", f"{PACKAGE}.paddledet", f"{PACKAGE}.paddledet.compat"])
