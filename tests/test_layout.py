"""The layers import one way: pages -> ui -> fmnist_core, and inside the core
cli -> runs/studies -> modeling/insight -> data -> schema. Parsed from the source, nothing imported:
every import counts, a function's too, and so do ``importlib.import_module("...")`` and
``__import__("...")`` with a literal name, so a lazy cycle is still a cycle.

``import_graph`` and ``violations`` take a root folder so the guard itself can be tested on a
small tree with a deliberate cycle (see the last tests).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Which core sub-packages each one may import (itself always allowed).
CORE_LAYERS = {
    "schema": set(),
    "data": {"schema"},
    "modeling": {"data", "schema"},
    "insight": {"modeling", "data", "schema"},
    "runs": {"modeling", "data", "schema"},
    "studies": {"runs", "modeling", "insight", "data", "schema"},
    "cli": {"runs", "studies", "modeling", "insight", "data", "schema"},
}


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _string_import(node) -> str | None:
    """The module a call ``importlib.import_module("m")``, ``import_module("m")`` or ``__import__("m")``
    loads, when it is named by a literal."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    arg = node.args[0]
    if name in ("import_module", "__import__") and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    return None


def _imports(root: Path, path: Path) -> list[tuple[str, int]]:
    """(absolute dotted target, line) for every import in a file, at any depth (inside functions too),
    relative ones resolved, and the modules loaded by name (``_string_import``)."""
    me = _module_name(root, path)
    package = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            out.append((base, node.lineno))
            out += [(f"{base}.{a.name}", node.lineno) for a in node.names]
        elif _string_import(node):
            out.append((_string_import(node), node.lineno))
    return out


def python_files(root: Path) -> list[Path]:
    return [p for d in ("fmnist_core", "ui", "pages") for p in sorted((root / d).rglob("*.py"))] + [
        p for p in [root / "streamlit_app.py"] if p.exists()
    ]


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the project modules it imports (a package's import of its own children is not an edge)."""
    files = python_files(root)
    mods = {_module_name(root, p): p for p in files}
    graph = {}
    for m, p in mods.items():
        targets = set()
        for t, _ in _imports(root, p):
            while t and t not in mods:  # `from a.b import func` -> a.b
                t = t.rpartition(".")[0]
            if t and t != m and not t.startswith(m + ".") and not m.startswith(t + "."):
                targets.add(t)
        graph[m] = targets
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], {}

    def visit(u, path):
        state[u] = 1
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                cycles.append(path[path.index(v) :] + [v])
            elif v not in state:
                visit(v, path + [v])
        state[u] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return cycles


def violations(root: Path) -> list[str]:
    """Every broken rule, as readable lines (empty when the layout holds)."""
    out = [f"import cycle: {' -> '.join(c)}" for c in find_cycles(import_graph(root))]
    for p in python_files(root):
        me = _module_name(root, p)
        layer = me.split(".")[0]
        for target, line in _imports(root, p):
            where = f"{p.relative_to(root)}:{line}"
            top = target.split(".")[0]
            if layer == "fmnist_core":
                if top == "streamlit":
                    out.append(f"{where}: fmnist_core imports streamlit")
                elif top in ("ui", "pages", "streamlit_app"):
                    out.append(f"{where}: fmnist_core imports {target}")
                elif top == "fmnist_core" and len(me.split(".")) > 2 and len(target.split(".")) > 1:
                    mine, theirs = me.split(".")[1], target.split(".")[1]
                    if (
                        theirs in CORE_LAYERS
                        and mine in CORE_LAYERS
                        and theirs != mine
                        and theirs not in CORE_LAYERS[mine]
                    ):
                        out.append(f"{where}: fmnist_core.{mine} may not import fmnist_core.{theirs}")
            elif layer == "ui" and top in ("pages", "streamlit_app"):
                out.append(f"{where}: ui imports {target}")
            elif layer == "pages" and top in ("pages", "streamlit_app"):
                out.append(f"{where}: a page imports another page ({target})")
    return out


def test_the_project_has_no_cycles_and_imports_one_way():
    assert violations(ROOT) == []


def test_every_subpackage_says_what_lives_there():
    for init in list((ROOT / "fmnist_core").glob("*/__init__.py")) + [ROOT / "ui" / "__init__.py"]:
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "import" in doc.lower(), f"{init.relative_to(ROOT)} must say what it may import"


@pytest.fixture
def tiny_tree(tmp_path):
    """A copy of the layout's shape, small enough to break on purpose."""

    def write(rel, text=""):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    write("fmnist_core/__init__.py")
    write("fmnist_core/data/__init__.py")
    write("fmnist_core/data/loader.py", "import numpy\n")
    write("fmnist_core/modeling/__init__.py")
    write("fmnist_core/modeling/train.py", "from fmnist_core.data.loader import x\n")
    write("fmnist_core/modeling/callbacks.py", "import math\n")
    write("ui/__init__.py")
    write("ui/app/frame.py", "import streamlit\nfrom fmnist_core.modeling import train\n")
    write("pages/home.py", "from ui import frame\n")
    write("pages/other.py", "import streamlit\n")
    return tmp_path


def test_guard_passes_a_clean_tree(tiny_tree):
    assert violations(tiny_tree) == []


def test_guard_catches_a_cycle(tiny_tree):
    (tiny_tree / "fmnist_core/modeling/callbacks.py").write_text("from fmnist_core.modeling.train import lr\n")
    (tiny_tree / "fmnist_core/modeling/train.py").write_text("from .callbacks import Cb\n")
    assert any("import cycle" in v and "callbacks" in v and "train" in v for v in violations(tiny_tree))


def test_guard_catches_a_cycle_through_a_function_level_import(tiny_tree):
    (tiny_tree / "fmnist_core/modeling/callbacks.py").write_text(
        "def later():\n    from fmnist_core.modeling import train\n    return train\n"
    )
    (tiny_tree / "fmnist_core/modeling/train.py").write_text("from fmnist_core.modeling.callbacks import later\n")
    assert any("import cycle" in v and "callbacks" in v for v in violations(tiny_tree))


@pytest.mark.parametrize(
    "call",
    [
        'importlib.import_module("fmnist_core.modeling.train")',
        'import_module("fmnist_core.modeling.train")',
        '__import__("fmnist_core.modeling.train")',
    ],
)
def test_guard_catches_a_cycle_through_an_import_by_name(tiny_tree, call):
    (tiny_tree / "fmnist_core/modeling/callbacks.py").write_text(
        f"import importlib\nfrom importlib import import_module\n\ndef later():\n    return {call}\n"
    )
    (tiny_tree / "fmnist_core/modeling/train.py").write_text("from fmnist_core.modeling import callbacks\n")
    assert any("import cycle" in v and "callbacks" in v for v in violations(tiny_tree))


def test_guard_catches_an_upward_import_by_name(tiny_tree):
    (tiny_tree / "fmnist_core/data/loader.py").write_text(
        "import importlib\nmod = importlib.import_module('fmnist_core.modeling.train')\n"
    )
    assert "fmnist_core.data may not import fmnist_core.modeling" in "\n".join(violations(tiny_tree))


def test_guard_catches_streamlit_in_the_core_an_upward_import_and_page_to_page(tiny_tree):
    (tiny_tree / "fmnist_core/data/loader.py").write_text(
        "import streamlit as st\nfrom fmnist_core.modeling import train\n"
    )
    (tiny_tree / "pages/home.py").write_text("from pages import other\n")
    found = "\n".join(violations(tiny_tree))
    assert "fmnist_core imports streamlit" in found
    assert "fmnist_core.data may not import fmnist_core.modeling" in found
    assert "a page imports another page" in found
