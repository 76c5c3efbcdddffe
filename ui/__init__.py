"""Streamlit helpers shared by the pages: the frame and sidebar (``frame``), the model picker
(``catalog``), image galleries (``tiles``), run widgets (``run_widgets``), the live view (``live``),
background tasks (``tasks``) and the hand-offs between pages (``handoff``). Imports Streamlit and
``fmnist_core``; never a page. Pages import from here, never from each other. Importing any of it
changes nothing in Streamlit (``streamlit_compat`` holds the app's two workarounds, applied by
streamlit_app.py).
"""
