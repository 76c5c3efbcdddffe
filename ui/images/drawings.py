"""Classify's drawings survive a reload (a reload is a new session, so session state is gone): the
strokes are kept server-side under ``$FMNIST_HOME/drawings/<id>.json``, and the id in the page's
URL (``?drawing=<id>``). The store is bounded: at most ``MAX_DRAWINGS`` files (oldest dropped) of
at most ``MAX_DRAWING_BYTES`` each.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from fmnist_core.modeling import saving

QUERY_KEY = "drawing"  # ?drawing=<id> in the Classify URL
MAX_DRAWINGS = 200
MAX_DRAWING_BYTES = 256 * 1024  # a few hundred freehand strokes; a bigger drawing is not kept
_ID = re.compile(r"[0-9a-f]{16}")


def drawings_dir() -> Path:
    return saving.home_dir() / "drawings"


def _path(drawing_id: str) -> Path | None:
    return drawings_dir() / f"{drawing_id}.json" if _ID.fullmatch(drawing_id or "") else None


def save_drawing(drawing_id: str | None, strokes: dict, png: bytes | None = None) -> str | None:
    """Keep ``strokes`` (the canvas's ``{"strokes": [...]}``, see ui.images.sketch) and its rendered PNG under an id; returns the id
    (a new one when ``drawing_id`` is None or malformed), or None when the drawing is too big to keep."""
    import base64

    payload = json.dumps({"strokes": strokes, "png": base64.b64encode(png).decode() if png else None})
    if len(payload) > MAX_DRAWING_BYTES:
        return None
    if _path(drawing_id) is None:
        drawing_id = secrets.token_hex(8)
    folder = drawings_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{drawing_id}.{os.getpid()}.tmp"
    tmp.write_text(payload)
    os.replace(tmp, _path(drawing_id))  # a reader sees the old drawing or the new one, never half
    _prune(folder)
    return drawing_id


def _prune(folder: Path) -> None:
    files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    for old in files[: max(0, len(files) - MAX_DRAWINGS)]:
        old.unlink(missing_ok=True)


def load_drawing(drawing_id: str | None) -> tuple[dict, bytes | None] | None:
    """(strokes, png bytes or None) kept under ``drawing_id``, or None (unknown, malformed or damaged)."""
    import base64

    path = _path(drawing_id)
    if path is None or not path.is_file() or path.stat().st_size > MAX_DRAWING_BYTES:
        return None
    try:
        data = json.loads(path.read_text())
        strokes = data["strokes"]
        png = base64.b64decode(data["png"]) if data.get("png") else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(strokes, dict) or not isinstance(strokes.get("objects", []), list):
        return None
    return strokes, png


def forget_drawing(drawing_id: str | None) -> None:
    path = _path(drawing_id)
    if path is not None:
        path.unlink(missing_ok=True)
