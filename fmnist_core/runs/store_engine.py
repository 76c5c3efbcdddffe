"""Opening the run store: where it is, its engines and timeouts, and its faults as StoreErrors.

``default_location`` is $FMNIST_STORE_URL (PostgreSQL) or ``runs.sqlite`` in the home. A SQLite
engine issues its own BEGIN (IMMEDIATE for a write, DEFERRED for a read: ``_BEGIN``) and keeps the
file in WAL mode; a PostgreSQL one gets connect, statement and lock timeouts. Every wait is bounded
by $FMNIST_DB_TIMEOUT_S (``_timeout_s``). A fault of the file (damaged, read-only, full disk, locked
too long) or an unreachable server becomes one ``StoreError`` that says what to do (``_classify``,
``_classify_server``); a damaged file is moved aside only on the user's request (``quarantine``).
Used by ``store.RunStore``.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc

from fmnist_core.runs.schema import StoreDamagedError, StoreError, StoreUnavailableError

RESET_HINT = "`python -m fmnist_core store-reset` (or the button on the Build & Train page)"


def default_path() -> Path:
    from fmnist_core.modeling.saving import home_dir

    return home_dir() / "runs.sqlite"


def default_location() -> str | Path:
    """$FMNIST_STORE_URL when set (a PostgreSQL store for a cluster), else the SQLite file in the home."""
    from fmnist_core.schema.settings import settings

    return settings().store_url or default_path()  # a bad URL is never taken for a file name


def _classify(exc, path: Path) -> StoreError | None:
    """Turn a SQLite or OS fault into one StoreError that says what to do; None for transient ones."""
    exc = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    text = str(exc).lower()
    if (
        isinstance(exc, OSError)
        and exc.errno == errno.ENOSPC
        or "full" in text
        or ("i/o error" in text and _nearly_full(path))
    ):
        return StoreUnavailableError(
            f"the disk holding {path.parent} is full: free some space (old models or worker logs there), then try again"
        )
    if (
        isinstance(exc, OSError)
        and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
        or "readonly" in text
        or "read-only" in text
        or "unable to open" in text
    ):
        return StoreUnavailableError(
            f"the run store folder {path.parent} is not writable (read-only disk or "
            "permissions): make it writable, or set FMNIST_HOME to a writable folder"
        )
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return StoreUnavailableError(
            f"the run store {path} stayed locked by another process (a training worker, "
            f"the app or another command) for {_timeout_s():g} s: wait for it to finish "
            "or stop it, then try again (FMNIST_DB_TIMEOUT_S sets how long to wait)"
        )
    if isinstance(exc, sqlite3.DatabaseError):
        return StoreDamagedError(
            f"the run store {path} is damaged ({exc}); it is left untouched. To keep using the "
            f"app, move it aside and start a fresh, empty store with {RESET_HINT}; "
            "or set FMNIST_HOME to another folder"
        )
    return None


def _timeout_s() -> float:
    """$FMNIST_DB_TIMEOUT_S: the longest a store call waits for a lock, a connection or a statement."""
    from fmnist_core.schema.settings import Settings, SettingsError, settings

    try:
        return settings().db_timeout_s
    except SettingsError:  # another bad setting: refused where it is used (submit, the CLI), not by every open
        return Settings.model_fields["db_timeout_s"].default


def _server_connect_args() -> dict:
    """psycopg's connect timeout (whole seconds), and server-side statement and lock timeouts, so an
    address that never answers or a stuck lock ends in a StoreError instead of a hang."""
    ms = int(_timeout_s() * 1000)
    return {
        "connect_timeout": max(1, round(_timeout_s())),
        "options": f"-c statement_timeout={ms} -c lock_timeout={ms}",
    }


def _classify_server(exc, where: str) -> StoreError | None:
    """A PostgreSQL store that cannot be reached (down, wrong address or password): one clear error."""
    if isinstance(exc, sa_exc.OperationalError):
        first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0][:200]
        return StoreUnavailableError(
            f"the run store {where} cannot be reached ({first}): start PostgreSQL, or fix "
            "FMNIST_STORE_URL (unset it to use the local runs.sqlite)"
        )
    return None


def _nearly_full(path: Path) -> bool:
    """SQLite reports a full disk as "disk I/O error" when its WAL cannot grow: look at the free space."""
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def quarantine(path=None) -> Path:
    """Move a damaged store (and its -wal/-shm files) aside as ``runs.sqlite.damaged-<time>``; returns
    the new name. Only on the user's explicit request: the next ``RunStore`` starts a fresh store."""
    path = Path(path) if path else default_path()
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, aside.with_name(aside.name + suffix))
    if path.exists():
        os.replace(path, aside)
    return aside


_BEGIN = threading.local()  # this thread's next BEGIN on SQLite: IMMEDIATE (a write) or DEFERRED (a read)


def _sqlite_engine(path: Path):
    # reset_on_return=None: every use is an explicit transaction that ends in COMMIT or ROLLBACK.
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"timeout": _timeout_s(), "check_same_thread": False},
        pool_reset_on_return=None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # We issue BEGIN ourselves (pysqlite's implicit one comes late), so a read-then-write
        # (claiming a run, marking a dead one) cannot interleave with another writer.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; a crash loses no committed run
        if cur.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            cur.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql(f"BEGIN {getattr(_BEGIN, 'mode', 'IMMEDIATE')}")

    return engine
