"""Is a run's worker still alive? Timestamps, heartbeat ages and process checks.

Kept apart from the store because liveness is its own concept: the store asks it, and so do
the tests and the job queue.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from pathlib import Path


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def age_seconds(iso: str | None) -> float:
    if not iso:
        return math.inf
    return (_dt.datetime.now(_dt.UTC) - _dt.datetime.fromisoformat(iso)).total_seconds()


def pid_alive(pid: int | None) -> bool:
    """True if a process with this pid exists and is not a zombie (a killed, unreaped child)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True  # no /proc (macOS): os.kill said it exists
