"""The layout is the architecture: the core names no suite in its code (suites live in adapters/)."""
import ast

from conftest import REPO
import pytest

CORE = REPO / "paddle_autotune_plugins"
SUITE_WORDS = ("ppcls", "ppdet", "paddleseg", "paddlenlp", "paddleclas", "paddledet", "ernie", "picodet")


def _code_strings_and_names(tree):
    """Every string constant that is not a docstring, and every identifier and attribute name."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value
        elif isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                yield node.lineno, alias.name
            if isinstance(node, ast.ImportFrom) and node.module:
                yield node.lineno, node.module


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(CORE)))
def test_core_code_names_no_suite(path):
    found = [f"{path.relative_to(CORE)}:{line}: {text!r}" for line, text in _code_strings_and_names(ast.parse(path.read_text()))
             if any(word in text.lower() for word in SUITE_WORDS)]
    assert not found, "suite names belong in adapters/, not the core:\n" + "\n".join(found)


def test_the_check_sees_a_suite_name_in_code():
    tree = ast.parse('"""A docstring may say ppcls."""\nimport ppdet\nx = "paddlenlp.utils.log"\n')
    assert [t for _, t in _code_strings_and_names(tree) if any(w in t for w in SUITE_WORDS)] == \
        ["ppdet", "paddlenlp.utils.log"]
