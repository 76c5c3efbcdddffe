"""The shipped models: read-only to every command and page.

They live in the repository's ``saved_models/``, which is also the user's home when $FMNIST_HOME is
unset, so "in that folder" does not make a file shipped: its name does. Every write of a model file
(publish, delete, rename) asks ``refuse_shipped`` first, so no path (CLI, page, a future one) can
change them. Only ``make models``, which rebuilds them, sets FMNIST_SHIP=1.
"""

from __future__ import annotations

from pathlib import Path

from fmnist_core.schema.settings import settings

REPO_ROOT = Path(__file__).resolve().parents[2]  # fmnist_core/modeling/shipped.py -> the repository
SHIPPED_DIR = REPO_ROOT / "saved_models"
SHIPPED_NAMES = frozenset({"fmnist_cnn", "shoes_cnn", "footwear_luggage_cnn", "footwear_luggage_transfer"})


def is_shipped(path) -> bool:
    """True if ``path`` (a model file, or a symlink to one) is one of the shipped models."""
    path = Path(path)
    for p in {path.absolute(), path.resolve()}:
        if p.parent.resolve() == SHIPPED_DIR.resolve() and p.suffix == ".keras" and p.stem in SHIPPED_NAMES:
            return True
    return False


def refuse_shipped(path, verb: str = "changed") -> None:
    """PermissionError (one line) if ``path`` is a shipped model and this is not ``make models``."""
    if is_shipped(path) and not settings().ship:
        raise PermissionError(
            f"{Path(path).stem!r} is a shipped model; it cannot be {verb}: "
            "copy it under another name instead (shipped models are rebuilt by `make models`)"
        )
