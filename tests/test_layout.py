"""The shape of course_lib itself: small modules, listed in the package docstring,
imports that never run in a circle, one GPT body, one token-id validator."""

import ast
import re
from pathlib import Path

import course_lib

PACKAGE = Path(course_lib.__file__).resolve().parent
MODULES = {p.stem: p for p in sorted(PACKAGE.glob("*.py")) if p.stem != "__init__"}


def imports_of(path: Path) -> set[str]:
    """Every course_lib module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "course_lib":  # from course_lib import viz, ...
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("course_lib."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("course_lib."):
                    found.add(alias.name.split(".")[1])
    return found & set(MODULES)


def test_every_module_reads_in_one_sitting():
    lines = {name: len(p.read_text().splitlines()) for name, p in MODULES.items()}
    assert max(lines.values()) <= 350, {n: k for n, k in lines.items() if k > 350}


def test_the_package_docstring_lists_every_module_once():
    listed = re.findall(r"^- ``(\w+)``", course_lib.__doc__, flags=re.M)
    assert sorted(listed) == sorted([*MODULES, "exercises"])


def test_no_import_runs_in_a_circle():
    graph = {name: imports_of(path) for name, path in MODULES.items()}
    done, path = set(), []

    def visit(name):
        assert name not in path, "import cycle: " + " -> ".join([*path, name])
        if name in done:
            return
        path.append(name)
        for other in sorted(graph[name]):
            visit(other)
        path.pop()
        done.add(name)

    for name in graph:
        visit(name)
    # the layering the design asks for
    assert "training" not in graph["batching"] | graph["distributed"]
    assert not graph["checks"]


def test_the_cycle_finder_finds_a_cycle():
    # the test above must be able to fail: a module that imports its importer
    source = "from course_lib.training import train\n"
    tree_imports = imports_of_text(source)
    assert tree_imports == {"training"}


def imports_of_text(source: str) -> set[str]:
    tmp = PACKAGE.parent / "tests" / "_layout_probe.py"
    try:
        tmp.write_text(source)
        return imports_of(tmp)
    finally:
        tmp.unlink()


def test_one_gpt_body_runs_the_blocks():
    """Only GPT.hidden_states calls a GPT block; everything else calls it."""
    calls = {
        name: len(re.findall(r"\bblock\(x", p.read_text()))
        for name, p in MODULES.items()
    }
    assert {n: k for n, k in calls.items() if k} == {"gpt": 1}
    source = MODULES["classification"].read_text()
    assert "gpt.hidden_states(" in source and ".blocks" not in source


def test_token_ids_are_validated_in_one_place():
    """``torch.aminmax`` on ids (the range check) lives in checks.py alone."""
    users = [n for n, p in MODULES.items() if "aminmax" in p.read_text()]
    assert users == ["checks"]
