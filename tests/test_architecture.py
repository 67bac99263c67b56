"""The layering docs/topics/architecture.rst documents is the code's.

Every import of every djws module -- at module level, inside functions, and for
type checking alike -- is read from the source (nothing is imported) and
checked against the table of layers in the architecture topic: imports point
down the table or sideways within a row. And there is no import cycle.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "djws"
TOPIC = ROOT / "docs" / "topics" / "architecture.rst"


def layers() -> dict[str, int]:
    """Module prefix -> row, from the ``layers`` block of the architecture topic."""
    text = TOPIC.read_text()
    block = text[text.index(":name: layers") :].split("\n\n", 2)[1]
    rows = {}
    for line in block.splitlines():
        row, *prefixes = line.split()
        rows.update((prefix, int(row)) for prefix in prefixes)
    return rows


def module_names() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = module_names()


def imports(name: str, path: Path) -> Iterator[str]:
    """The djws modules ``name`` imports (a package's submodule where one is named)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            submodules = [f"{module}.{alias.name}" for alias in node.names]
            targets = [m for m in submodules if m in MODULES]
            if len(targets) < len(submodules):
                targets.append(module)  # names defined in the module itself
        else:
            continue
        for target in targets:
            if target.split(".")[0] == "djws" and target != name:
                while target not in MODULES:  # a name inside a module: the module
                    target = target.rpartition(".")[0]
                yield target


GRAPH = {name: set(imports(name, path)) for name, path in MODULES.items()}


def row_of(module: str, rows: dict[str, int]) -> int:
    matches = [p for p in rows if module == p or module.startswith(p + ".")]
    assert matches, f"{module} is in no row of the layers table in {TOPIC.name}"
    return rows[max(matches, key=len)]


def test_the_layers_table_names_every_module() -> None:
    rows = layers()
    assert {row_of(module, rows) for module in MODULES if module != "djws"} <= set(rows.values())


def test_imports_point_down_the_layers_table() -> None:
    rows = layers()
    upward = [
        f"{module} (row {row_of(module, rows)}) imports {target} (row {row_of(target, rows)})"
        for module, targets in GRAPH.items()
        if module != "djws"  # the package's face: imports nothing until a name is used
        for target in targets
        if target != "djws" and row_of(target, rows) > row_of(module, rows)
    ]
    assert upward == []


def test_there_is_no_import_cycle() -> None:
    graph = {m: {t for t in targets if t != "djws"} for m, targets in GRAPH.items() if m != "djws"}
    cycles = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append(" -> ".join([*path[path.index(module) :], module]))
            return
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert cycles == []


def test_every_module_is_under_400_lines() -> None:
    long = {
        name: n
        for name, path in MODULES.items()
        if (n := len(path.read_text().splitlines())) >= 400
    }
    assert long == {}


def test_the_server_and_broadcast_do_not_import_each_other() -> None:
    def half(module: str) -> str:
        return module.split(".")[1] if module.count(".") else ""

    crossing = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if {half(module), half(target)} == {"server", "broadcast"}
    ]
    assert crossing == []


def test_the_architecture_topic_lists_modules_that_exist() -> None:
    listed = re.findall(r"^   (djws/[\w/]+(?:\.py|/))", TOPIC.read_text(), re.MULTILINE)
    assert listed
    missing = [p for p in listed if not (ROOT / p).exists()]
    assert missing == []
