"""ui/app/streamlit_compat.py holds the app's only uses of Streamlit internals. These tests fail loudly
when a Streamlit release moves them, and check that importing ui.* changes nothing in Streamlit."""

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner

ROOT = Path(__file__).resolve().parent.parent


def run_fresh(code: str) -> dict:
    """Run ``code`` in a fresh interpreter at the project root; it prints one JSON line, returned."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


SNAPSHOT = """
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner
def snapshot():
    return {"uses_pages_directory": repr(PagesManager.uses_pages_directory),
            "clean": script_runner._clean_problem_modules.__qualname__ + str(id(script_runner._clean_problem_modules)),
            "runner": sorted((k, id(v)) for k, v in vars(script_runner).items()),
            "manager": sorted((k, id(v)) for k, v in vars(PagesManager).items()),
            "st": sorted((k, id(v)) for k, v in vars(st).items())}
"""


def test_importing_every_ui_module_changes_nothing_in_streamlit():
    result = run_fresh(
        SNAPSHOT
        + """
import json, pkgutil, importlib, ui
before = snapshot()
names = [m.name for m in pkgutil.walk_packages(ui.__path__, "ui.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"same": snapshot() == before, "n": len(names)}))
"""
    )
    assert result["same"] and result["n"] > 25


def test_live_state_imports_no_streamlit():
    assert run_fresh("import json, sys, ui.training.live_state; print(json.dumps('streamlit' in sys.modules))") is False


def test_only_streamlit_compat_reaches_into_streamlit_internals():
    private = re.compile(r"streamlit\.(runtime|web)\b|\bst\.runtime\b|\bst(\.\w+)*\._\w")
    files = [
        ROOT / "streamlit_app.py",
        *ROOT.glob("ui/**/*.py"),
        *ROOT.glob("pages/*.py"),
        *ROOT.glob("fmnist_core/**/*.py"),
    ]
    found = [
        f"{f.relative_to(ROOT)}:{i}: {line.strip()}"
        for f in files
        if f.name != "streamlit_compat.py"
        for i, line in enumerate(f.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert not found, found


# ---------------------------------------------------------------- what the workarounds rely on


def test_streamlit_still_clears_the_keras_session_through_the_function_we_replace():
    """If this fails, Streamlit changed its post-run cleanup: see whether keep_keras_session is still
    needed (it may be obsolete) or must follow the new hook."""
    clean = script_runner._clean_problem_modules
    if getattr(clean, "keeps_keras_session", False):  # already replaced in this process: read the original
        clean = None
    if clean is not None:
        assert not inspect.signature(clean).parameters
        assert "clear_session" in inspect.getsource(clean)
    # The runner looks the function up by its module-global name after each run, so replacing it works.
    assert "_log_if_error(_clean_problem_modules)" in inspect.getsource(script_runner.ScriptRunner)


def test_pages_directory_mode_is_the_class_flag_that_st_navigation_clears():
    assert "uses_pages_directory" in vars(PagesManager)
    assert '/ "pages"' in inspect.getsource(PagesManager.__init__)  # set from the folder's existence
    import streamlit.commands.navigation as nav

    source = inspect.getsource(nav.navigation)
    assert source.index("PagesManager.uses_pages_directory = False") < source.index("return _navigation(")


def test_the_requested_page_name_is_still_on_the_page_manager():
    assert isinstance(vars(PagesManager)["intended_page_name"], property)
    assert isinstance(vars(PagesManager)["intended_page_script_hash"], property)


def test_the_server_import_routes_every_url_through_the_entry_point_and_keeps_the_keras_session():
    """What ``streamlit run`` does (it imports streamlit_app.py to find ``app``), in a fresh process:
    afterwards a session's page manager for this project (which has pages/) is not in pages-directory mode."""
    result = run_fresh(
        SNAPSHOT
        + """
import json, importlib
first = PagesManager.uses_pages_directory
importlib.import_module("streamlit_app")
PagesManager("streamlit_app.py")
from ui.app import streamlit_compat
replaced = script_runner._clean_problem_modules
streamlit_compat.keep_keras_session()
print(json.dumps({"first": first, "after": PagesManager.uses_pages_directory,
                  "kept": getattr(replaced, "keeps_keras_session", False),
                  "idempotent": script_runner._clean_problem_modules is replaced}))
"""
    )
    assert result == {"first": None, "after": False, "kept": True, "idempotent": True}
