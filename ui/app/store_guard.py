"""The run store on a page: a fault of the store file is one clear message, not a traceback.

A damaged store (corrupt, truncated, empty) is kept as it is; the page offers to move it aside
and start a fresh, empty one, and does so only when the user ticks that they agree. A
read-only home, a full disk or a store from a newer app gets its message and no offer.
"""

from __future__ import annotations

import streamlit as st

from fmnist_core.runs import store as store_mod
from ui.app.text import plain


def show_and_stop(exc: store_mod.StoreError, key: str = "store_reset"):
    """Explain the store fault, offer the consent-gated reset for a damaged store, and stop the page."""
    st.error(plain(exc), icon=":material/database:")
    if isinstance(exc, store_mod.StoreDamagedError):
        agree = st.checkbox(
            "I understand: keep the damaged file aside (runs.sqlite.damaged-<time>) and start a "
            "fresh, empty run store. Saved models are not touched.",
            key=f"{key}_agree",
        )
        if st.button("Start a fresh run store", disabled=not agree, key=f"{key}_go", type="primary"):
            aside = store_mod.quarantine()
            st.cache_resource.clear()
            st.success(f"Kept the damaged store as {plain(aside.name)}; a fresh one starts now.")
            st.rerun()
    st.stop()
