"""Model names: what a saved model, a transfer source (``init_from``) and ``-mn`` may be called."""

from __future__ import annotations

import re

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # always fullmatch: "$" would accept a trailing newline


def check_name(name: str) -> str:
    """Model names: 1-64 letters, digits, '-' or '_' (so '../x', 'a/b' or 'x\\n' are refused)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValueError(f"invalid model name {name!r}: use 1-64 letters, digits, '-' or '_'")
    return name
