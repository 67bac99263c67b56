"""The Python examples of the documentation are valid code.

Every ``.. code-block:: python`` in ``docs/`` must compile. A block that starts
with an import is a module a reader copies whole (a ``views.py``, a test
file): it must also define or import every name it uses, which ruff's
undefined-name rule (F821) checks. Fragments -- a settings line, a few
statements of a view -- only have to compile. The tutorial's files are real
and tested on their own (``tests/toolkit/test_toolkit_tutorial.py``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

DOCS = Path(__file__).resolve().parent.parent / "docs"
DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. code-block:: python\s*$")


def python_blocks() -> list[tuple[str, str]]:
    """Every Python code block of the docs: ``("path:line", source)``."""
    blocks = []
    for path in sorted(DOCS.rglob("*.rst")):
        if "_build" in path.parts:
            continue
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            match = DIRECTIVE.match(line)
            if match is None:
                continue
            indent = len(match.group("indent"))
            body = []
            for following in lines[number + 1 :]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                body.append(following)
            source = textwrap.dedent("\n".join(body)).strip("\n")
            source = "\n".join(s for s in source.splitlines() if not s.startswith(":"))
            blocks.append((f"{path.relative_to(DOCS)}:{number + 1}", source.strip() + "\n"))
    return blocks


BLOCKS = python_blocks()


def is_module(source: str) -> bool:
    """Tell whether a block is a whole module: its first statement is an import."""
    code = [line for line in source.splitlines() if line.strip() and not line.startswith("#")]
    return bool(code) and code[0].startswith(("import ", "from "))


def test_the_docs_have_python_examples() -> None:
    assert len(BLOCKS) > 10
    assert sum(is_module(source) for _where, source in BLOCKS) > 5


@pytest.mark.parametrize(("where", "source"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_every_python_example_compiles(where: str, source: str) -> None:
    compile(source, where, "exec")


def test_every_whole_module_example_imports_what_it_uses(tmp_path: Path) -> None:
    for n, (where, source) in enumerate(BLOCKS):
        if is_module(source):
            name = re.sub(r"\W", "_", where)
            (tmp_path / f"{name}_{n}.py").write_text(source)
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), "check", "--isolated", "--select", "F821", "--output-format", "concise", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    undefined = [line for line in result.stdout.splitlines() if "F821" in line]
    assert undefined == []
