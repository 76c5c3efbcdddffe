"""Docs that match the code: every command the docs and the help texts name exists and answers ``-h``.

Read from the docs (README, BENCHMARKS, RELIABILITY outside its generated probe table, RESULTS,
docs/*.md; docs/history/ is an archive, kept verbatim), the Makefile, and every string in the
shipped code (fmnist_core, ui, pages, benchmarks: docstrings, messages, argparse ``prog``):

- each ``python -m MODULE`` exists; the project's own answer ``-h`` (usage, exit 0), and what that
  help names is read in turn;
- each ``python -m fmnist_core SUB`` is a subcommand whose ``-h`` answers, and each ``--flag`` written
  after a command is in that command's help;
- each ``python benchmarks/X.py`` exists and answers ``-h`` with the flags written after it;
- each ``make TARGET`` the docs name is a rule of the Makefile;
- README's "Where things live" names every package (from the tree, not a list kept here) and
  nothing that is not there.

``-h`` runs once per distinct command, in a subprocess with an empty $FMNIST_HOME.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("fmnist_core", "benchmarks", "ui")
CODE_DIRS = ("fmnist_core", "ui", "pages", "benchmarks")
PROBES = re.compile(r"<!-- probes:begin -->.*?<!-- probes:end -->", re.DOTALL)  # written by the harness

# `python -m X rest-of-command`, up to a backtick, the end of the line or a quote (in code)
MODULE_CMD = re.compile(r"(?:python3?|\$\(PY\)) -m ([A-Za-z_][\w.]*\w)([^`\n]*)")
SCRIPT_CMD = re.compile(r"python3? (benchmarks/[\w/]+\.py)([^`\n]*)")
FLAG = re.compile(r"(?:^|[\s\[(])(--?[A-Za-z][\w-]*)")
SUBCOMMAND = re.compile(r"\s*([a-z][a-z0-9-]*)(?=\s|$|\])")
MAKE = re.compile(r"(?<![\w/.-])make ([a-z][\w-]*)")
CODE_SPAN = re.compile(r"```.*?```|``[^`]+``|`[^`\n]+`", re.DOTALL)


def doc_files() -> list[Path]:
    docs = [ROOT / n for n in ("README.md", "BENCHMARKS.md", "RELIABILITY.md", "RESULTS.md")]
    return docs + sorted((ROOT / "docs").glob("*.md"))


def code_files() -> list[Path]:
    return [p for d in CODE_DIRS for p in sorted((ROOT / d).rglob("*.py"))] + [ROOT / "streamlit_app.py"]


def read(path: Path) -> str:
    return PROBES.sub("", path.read_text())


def command_text(rest: str, in_code: bool) -> str:
    """The command's own words: a comment, a table cell's end or (in code) a closing quote ends it."""
    for end in ("  #", " # ", " | ", ";", "&&") + (('"', "'", "\\n") if in_code else ()):
        rest = rest.split(end)[0]
    return rest


@functools.cache
def help_of(argv: tuple[str, ...]) -> tuple[int, str]:
    """(exit code, stdout + stderr) of ``python ARGV -h``, run once per distinct argv."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "FMNIST_HOME": home, "FMNIST_PREWARM_S": "0"}
        proc = subprocess.run(
            [sys.executable, *argv, "-h"], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
    return proc.returncode, proc.stdout + proc.stderr


def is_project(module: str) -> bool:
    return module.split(".")[0] in PROJECT


def commands_in(text: str, where: str, in_code: bool) -> list[tuple[tuple[str, ...], list[str], str]]:
    """(the argv to ask for help, the flags written after it, where) for each command in a text."""
    out = []
    for module, rest in MODULE_CMD.findall(text):
        rest = command_text(rest, in_code)
        argv = ("-m", module)
        sub = SUBCOMMAND.match(rest) if module == "fmnist_core" else None
        if sub:
            argv, rest = argv + (sub.group(1),), rest[sub.end() :]
        out.append((argv, FLAG.findall(rest) if is_project(module) else [], where))
    for script, rest in SCRIPT_CMD.findall(text):
        out.append(((script,), FLAG.findall(command_text(rest, in_code)), where))
    return out


@functools.cache
def all_commands() -> tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...]:
    """Every command named in the docs, the code and, transitively, the project's own -h texts."""
    found = [c for p in doc_files() + [ROOT / "Makefile"] for c in commands_in(read(p), p.name, False)]
    found += [c for p in code_files() for c in commands_in(p.read_text(), str(p.relative_to(ROOT)), True)]
    asked: set[tuple[str, ...]] = set()
    while True:
        todo = {argv for argv, _, _ in found if argv not in asked and (argv[0] != "-m" or is_project(argv[1]))}
        if not todo:
            return tuple((argv, tuple(flags), where) for argv, flags, where in found)
        for argv in sorted(todo):
            asked.add(argv)
            rc, text = help_of(argv)
            if rc == 0:
                found += commands_in(text, "`python " + " ".join(argv) + " -h`", False)


def report(problems: list[str | None], heading: str = "") -> None:
    """One line per problem, each saying where it is written (None: no problem)."""
    problems = sorted({p for p in problems if p})
    if problems:
        pytest.fail("\n".join(([heading] if heading else []) + problems), pytrace=False)


def no_help(argv: tuple[str, ...], where: str) -> str | None:
    """Why ``python ARGV -h`` does not print a usage and exit 0, or None when it does."""
    rc, text = help_of(argv)
    if rc != 0 or "usage:" not in text:
        return f"{where}: python {' '.join(argv)} -h: exit {rc}, {text.strip()[-300:]!r}"
    return None


def test_the_scan_finds_the_commands_the_readme_shows():
    """A guard on the guard: a scan that finds nothing would pass every test below."""
    argvs = {argv for argv, _, _ in all_commands()}
    assert {
        ("-m", "fmnist_core", "train"),
        ("-m", "fmnist_core", "fewshot"),
        ("-m", "fmnist_core.runs.worker"),
        ("benchmarks/probe_reliability.py",),
    } <= argvs
    flags = {f for argv, fl, _ in all_commands() if argv == ("-m", "fmnist_core", "train") for f in fl}
    assert {"--preset", "-mn", "--detach"} <= flags


def test_commands_in_reads_modules_subcommands_and_flags_and_stops_at_a_comment():
    text = "`python -m fmnist_core test -mn m [--json]`\npython -m fmnist_core runs   # --not-a-flag\n"
    assert commands_in(text, "t", False) == [
        (("-m", "fmnist_core", "test"), ["-mn", "--json"], "t"),
        (("-m", "fmnist_core", "runs"), [], "t"),
    ]
    assert commands_in('prog="python -m fmnist_core.x", description="--y"', "t", True) == [
        (("-m", "fmnist_core.x"), [], "t")
    ]


def test_every_module_named_exists_and_the_projects_answer_h():
    bad = []
    for argv, _, where in all_commands():
        module = argv[1] if argv[0] == "-m" else None
        if module is None:
            continue
        if not is_project(module):
            if find_spec(module.split(".")[0]) is None:
                bad.append(f"{where}: python -m {module}: no such module installed")
            continue
        bad.append(no_help(argv, where))
    report(bad)


def test_every_script_named_exists_and_answers_h():
    bad = [
        no_help(argv, where) if (ROOT / argv[0]).is_file() else f"{where}: {argv[0]}: no such file"
        for argv, _, where in all_commands()
        if argv[0] != "-m"
    ]
    report(bad)


def test_every_flag_written_after_a_command_is_in_its_help():
    bad = []
    for argv, flags, where in all_commands():
        if argv[0] == "-m" and not is_project(argv[1]):
            continue
        rc, text = help_of(argv)
        for flag in flags:
            if rc == 0 and not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text):
                bad.append(f"{where}: python {' '.join(argv)} {flag}: no such flag in its -h")
    report(bad)


def test_every_make_target_named_in_the_docs_is_in_the_makefile():
    makefile = (ROOT / "Makefile").read_text()
    rules = set(re.findall(r"^([\w.-]+)\s*:(?!=)", makefile, re.MULTILINE))
    bad = []
    for path in doc_files() + code_files():
        for span in CODE_SPAN.findall(read(path)):
            bad += [f"{path.relative_to(ROOT)}: make {t}" for t in MAKE.findall(span) if t not in rules]
    report(bad, "no such Makefile rule")


def layout_section(readme: str) -> str:
    """The fenced tree under README's "## Where things live"."""
    section = readme.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```\n(.*?)```", section, re.DOTALL).group(1)


def named_folders(tree: str) -> set[str]:
    """Folders the tree names (``name/`` at the start of a line), their path from the indentation."""
    stack: list[tuple[int, str]] = []
    out = set()
    for line in tree.splitlines():
        m = re.match(r"( *)([\w.-]+)/(?:\s|$)", line)
        if not m:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "/".join([p for _, p in stack] + [m.group(2)])
        stack.append((indent, m.group(2)))
        out.add(path)
    return out


def packages(root: Path) -> set[str]:
    found = {str(p.parent.relative_to(root)) for d in ("fmnist_core", "ui") for p in (root / d).rglob("__init__.py")}
    return found | {"pages", "tests", "benchmarks", "docs"}


def test_named_folders_follows_the_indentation():
    tree = "fmnist_core/   core\n  data/        x\n  runs/        y\n    sub/ z\nui/  helpers\n  live/\n"
    assert named_folders(tree) == {
        "fmnist_core",
        "fmnist_core/data",
        "fmnist_core/runs",
        "fmnist_core/runs/sub",
        "ui",
        "ui/live",
    }


def test_readme_layout_names_every_package_and_only_folders_that_exist():
    named = named_folders(layout_section((ROOT / "README.md").read_text()))
    missing = sorted(packages(ROOT) - named)
    assert not missing, f"README 'Where things live' does not name: {missing}"
    gone = sorted(n for n in named if not (ROOT / n).is_dir())
    assert not gone, f"README 'Where things live' names folders that do not exist: {gone}"


DOTTED = re.compile(r"(?<![\w./-])((?:fmnist_core|ui)(?:\.\w+)+)")
PATH = re.compile(r"(?<![\w./-])((?:fmnist_core|ui|pages|benchmarks|tests|docs)/\w[\w/.-]*\w)(?![*{<\w/.-])")


def top_level_names(path: Path) -> set[str]:
    """What a module defines or imports at its top level (inside if/try too)."""
    names, todo = set(), list(ast.parse(path.read_text()).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.If, ast.Try)):
            todo += (
                node.body
                + node.orelse
                + getattr(node, "finalbody", [])
                + [s for h in getattr(node, "handlers", []) for s in h.body]
            )
    return names


def stale_dotted(dotted: str) -> str | None:
    """Why ``a.b.c`` names nothing (the longest module prefix, then one name defined in it), else None."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:i])
        for file in (base.with_suffix(".py"), base / "__init__.py"):
            if file.is_file():
                rest = parts[i:]
                if not rest or rest[0].startswith("__") or rest[0] in top_level_names(file):
                    return None
                return f"{dotted}: {'.'.join(parts[:i])} has no {rest[0]}"
    return f"{dotted}: no such module"


def test_every_module_path_and_dotted_name_written_exists():
    bad = []
    for path in doc_files() + code_files() + [ROOT / "Makefile"]:
        text, where = read(path), path.relative_to(ROOT)
        bad += [f"{where}: {why}" for why in map(stale_dotted, set(DOTTED.findall(text))) if why]
        bad += [
            f"{where}: {p}: no such file or folder"
            for p in set(PATH.findall(text))
            if not (ROOT / p).exists() and not (ROOT / f"{p}.py").exists()
        ]
    report(bad)
