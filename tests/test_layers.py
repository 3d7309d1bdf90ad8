"""The package layers hold: a module imports only from its own subpackage and those below it, and no
two modules import each other (read from the source, so late imports count too)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SENTINEL = Path(__file__).parent.parent / "sentinel"
LAYERS = ["core", "rules", "messaging", "programs", "jobs", "gateway", "daemon"]
MODULES = sorted(p for p in SENTINEL.rglob("*.py") if "_data" not in p.parts)


def module_name(path: Path) -> str:
    parts = path.relative_to(SENTINEL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every sentinel/transitions module this file imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] in ("sentinel", "transitions")}


def test_every_module_lives_in_a_layer():
    loose = [p.name for p in SENTINEL.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert loose == []
    assert sorted(p.name for p in SENTINEL.iterdir() if p.is_dir() and p.name not in ("_data", "__pycache__")) == sorted(LAYERS)


@pytest.mark.parametrize("path", [p for p in MODULES if p.parent.name in LAYERS], ids=module_name)
def test_a_module_imports_nothing_from_a_layer_above_its_own(path):
    mine = LAYERS.index(path.parent.name)
    above = set()
    for name in imports(path):
        parts = name.split(".")
        if parts[0] == "transitions" and path.parent.name != "daemon":
            above.add(name)  # the transitions are run by the daemon; nothing below it may import them
        if parts[0] == "sentinel" and len(parts) > 1 and parts[1] in LAYERS and LAYERS.index(parts[1]) > mine:
            above.add(name)
    assert above == set()


def test_no_two_modules_import_each_other():
    known = {module_name(p) for p in MODULES}
    graph = {module_name(p): {n for n in imports(p) if n in known} for p in MODULES}
    mutual = sorted((a, b) for a, deps in graph.items() for b in deps if a < b and a in graph.get(b, set()))
    assert mutual == []
