"""Streamlit helpers shared by the pages: the frame and sidebar (``frame``), the model picker
(``catalog``), image galleries (``tiles``), run widgets (``run_widgets``) and the live view (``live``).
Imports Streamlit and ``fmnist_core``; never a page. Pages import from here, never from each other.
"""
from ui import frame  # noqa: F401  (its import sends a direct page URL on a fresh server through streamlit_app.py)
