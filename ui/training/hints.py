"""Over/underfitting hints under training curves (live view, Compare runs); the rules are in
``fmnist_core.insight.fit_hints``."""

from __future__ import annotations

import streamlit as st

ICONS = {"overfitting": ":material/trending_up:", "underfitting": ":material/school:", "unstable": ":material/bolt:"}


def show(history: list[dict]) -> None:
    from fmnist_core.insight.fit_hints import fit_hints

    for hint in fit_hints(history):
        # Plain text (st.warning renders Markdown, but these sentences are ours and hold no user text).
        st.warning(hint["text"], icon=ICONS.get(hint["kind"]))
