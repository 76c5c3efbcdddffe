"""Probes over damaged run stores (``runs.sqlite``), each kind under every command."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np

from benchmarks.probes.harness import (
    Case,
    Outcome,
    cli_command,
    describe,
    fresh_home,
    lost,
    one_line_error,
    run_cli,
    snapshot,
)

# ---------------------------------------------------------------- damaged run stores, under every command


def _store_damage(kind: str):
    def damage(home: Path):
        p = home / "runs.sqlite"
        good = p.read_bytes()
        for side in ("runs.sqlite-wal", "runs.sqlite-shm"):
            (home / side).unlink(missing_ok=True)
        if kind == "garbage":
            p.write_bytes(np.random.default_rng(2).bytes(len(good)))
        elif kind == "truncated":
            p.write_bytes(good[: len(good) // 3])
        elif kind == "zero-bytes":
            p.write_bytes(b"")
        elif kind == "header-only":
            p.write_bytes(good[:100])
        elif kind == "header+garbage":
            p.write_bytes(good[:100] + b"\xee" * (len(good) - 100))
        elif kind in ("newer-schema", "no-runs-table"):
            with closing(sqlite3.connect(p, isolation_level=None)) as conn:  # closed: its WAL is checkpointed
                conn.execute("PRAGMA user_version = 99" if kind == "newer-schema" else "DROP TABLE runs")
        elif kind == "directory":
            p.unlink()
            p.mkdir()
        elif kind == "garbage-wal":
            (home / "runs.sqlite-wal").write_bytes(b"\x37\x7f\x06\x82" + b"\xee" * 4096)

    return damage


STORE_KINDS = [
    "garbage",
    "truncated",
    "zero-bytes",
    "header-only",
    "header+garbage",
    "newer-schema",
    "no-runs-table",
    "directory",
    "garbage-wal",
]
STORE_COMMANDS = {
    "runs": ["runs"],
    "train": ["train", "--preset", "linear", "--detach", "-mn", "x"],
    "stop": ["stop", "1"],
    "delete": ["delete", "run", "1"],
    "rename": ["rename", "run", "1", "x"],
    "models": ["models"],
    "store-reset": ["store-reset"],
    "store-reset--yes": ["store-reset", "--yes"],
}


def store_case(kind: str, cmd: str) -> Case:
    argv = STORE_COMMANDS[cmd]
    healthy = kind == "garbage-wal"  # SQLite ignores a WAL whose header does not check out

    def run() -> Outcome:
        home = fresh_home()
        _store_damage(kind)(home)
        store = home / "runs.sqlite"
        raw = store.read_bytes() if store.is_file() else None
        before = snapshot(home)
        res = run_cli(argv, home)
        after = snapshot(home)
        text = describe(res)
        if healthy:  # delete and rename are meant to change run 1
            ok = res.tb is None and res.code in (0, 1, 2) and (cmd in ("delete", "rename") or not lost(before, after))
        elif cmd == "models":
            ok = res.code == 0 and res.tb is None and after == before
        elif kind in ("newer-schema", "directory") and cmd.startswith("store-reset"):
            ok = one_line_error(res) and after == before  # never moved aside: update the app / not a file
        elif cmd == "store-reset--yes":
            asides = sorted(home.glob("runs.sqlite.damaged-*"))
            kept = bool(asides) and (raw is None or (asides[0].is_file() and asides[0].read_bytes() == raw))
            fresh = store.is_file() and store.stat().st_size > 0
            ok = res.code == 0 and res.tb is None and kept and fresh
            text += f"; damaged file kept aside {'byte for byte' if kept else 'NOT KEPT'}, fresh store {'made' if fresh else 'MISSING'}"
        elif cmd == "store-reset":
            ok = res.code == 1 and res.tb is None and after == before and "--yes" in res.err
        else:
            ok = one_line_error(res) and after == before
        if (cmd != "store-reset--yes" or kind in ("newer-schema", "directory")) and not healthy:
            text += "; store untouched" if after == before else "; STORE CHANGED"
        # run 1 gone after `delete run 1` (or renamed) on a healthy store is what was asked, not a loss
        gone = [] if cmd == "store-reset--yes" or (healthy and cmd in ("delete", "rename")) else lost(before, after)
        return Outcome(text, ok, traceback=res.tb is not None, data_lost=bool(gone))

    exp = (
        "no traceback, run 1 kept"
        if healthy
        else "exit 1, one line, store untouched"
        if kind in ("newer-schema", "directory") and cmd.startswith("store-reset")
        else "exit 0, models listed"
        if cmd == "models"
        else "exit 0, damaged file kept aside byte for byte, fresh store"
        if cmd == "store-reset--yes"
        else "exit 1, asks for --yes, nothing changed"
        if cmd == "store-reset"
        else "exit 1, one line, store untouched"
    )
    return Case(
        f"store.{kind}.{cmd}",
        "Damaged run stores",
        f"`runs.sqlite` {kind}; `{' '.join(argv)}`",
        exp,
        cli_command(argv),
        run,
    )


def cases() -> list[Case]:
    return [store_case(k, c) for k in STORE_KINDS for c in STORE_COMMANDS]
