"""User text on a page: always plain text, never Markdown or HTML.

Streamlit renders the body of ``st.markdown``, ``st.caption``, ``st.info``/``success``/
``warning``/``error``, expander and button labels as Markdown, so a run named
``![x](http://host/...)`` would make every viewer's browser fetch that URL, and ``:red[...]``
or ``$...$`` would restyle the page. Every run name, file name, class name or message that a
user typed goes through ``plain`` before it is put into such a string.
"""

from __future__ import annotations

# Markdown, Streamlit's own directives (:material/...:, :red[...]) and LaTeX ($) specials.
_SPECIAL = set("\\`*_{}[]()<>#+-.!|~$:&=")


def plain(text) -> str:
    """``text`` with every Markdown/HTML/Streamlit special character escaped; one line."""
    s = " ".join(str(text).split())  # no line breaks: a newline could start a heading or a list
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in s)
