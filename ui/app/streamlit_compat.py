"""The app's only reliance on Streamlit's internals, in one place. Importing this module changes
nothing: ``streamlit_app.py`` calls its functions (the server once, each script run), and
``tests/test_streamlit_compat.py`` fails as soon as a Streamlit release moves what is used here.

1. A ``pages/`` folder (the design card's) makes Streamlit start a server in its old pages-directory
   mode, until some session calls ``st.navigation``: a fresh server's first request for /dataset
   would run pages/dataset.py alone, without streamlit_app.py's sidebar, layout and page list.
   Streamlit documents that "as soon as any session executes st.navigation, the app ignores the
   pages/ directory (across all sessions)", and has no setting for it. ``route_through_entry_point``
   calls the public ``st.navigation`` once when the server imports the app, before any session,
   which (Streamlit 1.67) switches that mode off for the whole process.
2. After every script run, fragment reruns included, Streamlit calls ``keras.backend.clear_session()``
   (``script_runner._clean_problem_modules``, no setting either): a full ``gc.collect()`` (py-spy: 29%
   of the server's CPU while drawing on Classify, ~0.2 s per stroke) and a cleared kernel cache, after
   which the next prediction took ~4x as long (16 -> 72 ms, a loaded 2-core machine), for nothing:
   Keras 3 keeps no global graph and our models live in ``st.cache_resource``. (``gc.freeze()`` would
   make the collection cheap, not the kernel cache.)
   ``keep_keras_session`` replaces that function by one that only closes Matplotlib's figures, the
   other half of what it does.
3. ``requested_page_name``: the page name the browser's address asked for (no public API yet), so a
   mistyped address gets a "Page not found" page instead of Home.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import streamlit as st

_SCRIPT_RUN_CONTEXT_LOGGER = "streamlit.runtime.scriptrunner_utils.script_run_context"


def route_through_entry_point(home: Path) -> None:
    """Switch the server out of the pages-directory mode: call at server start, outside any session."""
    quiet = logging.getLogger(_SCRIPT_RUN_CONTEXT_LOGGER)
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "missing ScriptRunContext": expected here, there is no session yet
    try:
        st.navigation([st.Page(home, default=True)], position="hidden")
    finally:
        quiet.setLevel(level)


def keep_keras_session() -> None:
    """Stop Streamlit from clearing the Keras session after every script run (idempotent)."""
    from streamlit.runtime.scriptrunner import script_runner

    if getattr(script_runner._clean_problem_modules, "keeps_keras_session", False):
        return

    def clean_problem_modules() -> None:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")

    clean_problem_modules.keeps_keras_session = True
    script_runner._clean_problem_modules = clean_problem_modules


def requested_page_name() -> str | None:
    """The page name in the browser's address when it names no page of the navigation (no page hash),
    else None; read before ``st.navigation`` falls back to the default page."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None or ctx.pages_manager.intended_page_script_hash:
        return None
    return ctx.pages_manager.intended_page_name or None
