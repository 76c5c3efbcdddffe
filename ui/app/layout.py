"""Layouts that stay readable from 820 px wide up (with the sidebar open the page is ~490 px wide).

Streamlit lays columns side by side at any width above 640 px, so a row of five metric cards or a
chart beside a table is squeezed until its text is cut off. Two opt-in layouts fix that, each a
keyed container styled by ``style()`` (Streamlit gives a keyed container the CSS class
``st-key-<key>``):

- ``metric_cards``: st.metric cards in an even grid, as many per row as fit at ``CARD_MIN_PX``
  each (5 in a row at 1400 px, 3 + 2 at 820 px), so no label or value is truncated;
- dropdown options (every selectbox, in a portal outside the page) wrap instead of being cut;
- ``stacked(key)``: a container whose columns sit side by side on a wide page and one under
  the other once the main area is narrower than ``STACK_BELOW_PX`` (a CSS container query on
  the main area, so it also holds when the sidebar is collapsed).
"""

from __future__ import annotations

import streamlit as st

CARD_MIN_PX = 150
STACK_BELOW_PX = 700

_CSS = f"""<style>
[data-testid="stMainBlockContainer"] {{ container-type: inline-size; container-name: fmnist-main; }}
div[class*="st-key-cards_"] {{
  display: grid !important; gap: 0.75rem; align-items: stretch !important;
  grid-template-columns: repeat(auto-fit, minmax({CARD_MIN_PX}px, 1fr));
}}
div[class*="st-key-cards_"] > div {{ width: auto !important; min-width: 0; }}
/* Cards of a row are as tall as the tallest, values aligned at their bottom. */
div[class*="st-key-cards_"] [data-testid="stMetric"] {{ height: 100%; }}
div[class*="st-key-cards_"] [data-testid="stMetric"] > div {{
  height: 100%; display: flex; flex-direction: column; justify-content: space-between; }}
/* A label too long for its card wraps onto a second line instead of ending in "…". */
div[class*="st-key-cards_"] [data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"],
div[class*="st-key-cards_"] [data-testid="stMetricLabel"] p {{
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }}
/* Dropdown options wrap onto more lines instead of ending in "…" (model labels carry title, task,
   accuracy and origin; at 820 px the longest were cut). Options are in normal flow, not virtualized. */
div:has(> [role="listbox"]), [role="listbox"] {{ height: auto !important; max-height: 320px; }}
[role="listbox"] [role="option"] {{ height: auto !important; min-height: 40px; padding-top: 6px; padding-bottom: 6px; }}
[role="listbox"] [role="option"] > div {{ white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; }}
@container fmnist-main (max-width: {STACK_BELOW_PX}px) {{
  div[class*="st-key-stack_"] > div > [data-testid="stHorizontalBlock"] {{ flex-direction: column; }}
  div[class*="st-key-stack_"] > div > [data-testid="stHorizontalBlock"] > [data-testid="stColumn"] {{
    width: 100% !important; flex: 1 1 auto !important; }}
}}
</style>"""


def style() -> None:
    """Add the layouts' CSS to the page (a style-only st.html takes no space); once per page run."""
    st.html(_CSS)


def metric_cards(cards: list[tuple], key: str) -> None:
    """A grid of bordered st.metric cards. ``cards``: (label, value) or (label, value, help) tuples."""
    style()
    with st.container(key=f"cards_{key}"):
        for label, value, *rest in cards:
            st.metric(label, value, border=True, help=rest[0] if rest else None)


def stacked(key: str):
    """A container whose st.columns stack on a narrow page: ``with layout.stacked("x"): a, b = st.columns(2)``."""
    style()
    return st.container(key=f"stack_{key}")
