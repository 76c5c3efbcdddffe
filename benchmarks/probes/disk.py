"""A read-only home and a full disk, for real: run inside a private mount namespace (root), e.g.

    unshare -m .venv/bin/python -m benchmarks.probes.disk --template HOME --scenario ro
    unshare -m .venv/bin/python -m benchmarks.probes.disk --template HOME --scenario full [--worker]

A small tmpfs is mounted over a private folder and the template home (a model ``kept``, run 1)
copied onto it; then it is remounted read-only, or filled to the last byte. Every command runs
as a user would run it (``python -m fmnist_core ...``); one JSON object per command is printed:
{"id", "argv", "code", "stderr", "intact"} where intact means every file of the template is
still there with the same bytes. ``--worker`` also starts a real run, fills the disk while it
trains, frees the space and reports what the run recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

COMMANDS = {  # id -> argv; the same list for both faults
    "runs": ["runs"],
    "train": ["train", "--preset", "linear", "--detach", "-mn", "fresh", "--subset", "500", "--epochs", "1"],
    "models": ["models"],
    "test": ["test", "-mn", "kept", "--split", "validation"],
    "stop": ["stop", "1"],
    "rename-run": ["rename", "run", "1", "new name"],
    "rename-model": ["rename", "model", "kept", "kept2"],
    "delete-run": ["delete", "run", "1", "--keep-model"],
    "export": ["export", "-mn", "kept", "--format", "keras", "-o", "{home}/copy.keras"],
    "train-here": [
        "train-here",
        "--preset",
        "linear",
        "-mn",
        "kept",
        "--overwrite",
        "--subset",
        "200",
        "--epochs",
        "1",
    ],
    "store-reset": ["store-reset", "--yes"],
    "add-user": ["add-user", "ann", "--password-stdin"],
}


def digest(home: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in home.glob("*.keras")}


def runs_of(home: Path) -> list:
    """(id, status, message) of every run; read-only (``immutable`` where even the -shm cannot be made)."""
    for mode in ("mode=ro", "immutable=1"):
        try:
            with closing(sqlite3.connect(f"file:{home / 'runs.sqlite'}?{mode}", uri=True)) as conn:
                return conn.execute("SELECT id, status, message FROM runs ORDER BY id").fetchall()
        except sqlite3.Error as exc:
            error = str(exc)
    return [("unreadable", error)]


TF_NOISE = ("WARNING: All log messages before absl", "I0000 ", "W0000 ", "E0000 ")


def our_lines(stderr: str) -> list[str]:
    """stderr without TensorFlow's own start-up lines (they are not the app's messages)."""
    return [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(TF_NOISE)]


def fill(mount: Path) -> Path:
    """Write zeros until the disk refuses one more byte (appending: it tops up space freed meanwhile)."""
    filler = mount / "filler"
    with open(filler, "ab", buffering=0) as fh:
        for size in (1 << 20, 1 << 12, 1):
            while True:
                try:
                    fh.write(bytes(size))
                except OSError:
                    break
    return filler


def cli(home: Path, argv: list[str], env_extra=None, timeout=300) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        FMNIST_HOME=str(home),
        FMNIST_PREWARM_S="0",
        FMNIST_AUTH_FILE=str(home / "auth.yaml"),
        **(env_extra or {}),
    )
    return subprocess.run(
        [sys.executable, "-m", "fmnist_core", *[a.format(home=home) for a in argv]],
        cwd=REPO,
        env=env,
        input="correct horse battery\n",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_commands(home: Path, template: dict, only=None, before=None) -> list[dict]:
    out = []
    for cid, argv in COMMANDS.items():
        if only and cid not in only:
            continue
        if before:
            before()
        proc = cli(home, argv)
        out.append(
            {
                "id": cid,
                "argv": argv,
                "code": proc.returncode,
                "stderr": "\n".join(our_lines(proc.stderr)),
                "stdout": proc.stdout.strip()[-300:],
                "intact": digest(home) == template and [r[0] for r in runs_of(home)][:1] == [1],
            }
        )
    return out


def worker_on_full_disk(home: Path, mount: Path) -> dict:
    """A real run trains; the disk fills under it; once space is back, what does the run say?"""
    env = {"FMNIST_LEASE_TIMEOUT_S": "3"}
    proc = cli(
        home,
        [
            "train",
            "--preset",
            "linear",
            "--detach",
            "-mn",
            "victim",
            "--subset",
            "2000",
            "--epochs",
            "200",
            "--batch-size",
            "16",
        ],
        env,
    )
    rid = int(proc.stdout.strip() or 0)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with closing(sqlite3.connect(home / "runs.sqlite")) as conn:
            row = conn.execute("SELECT status, current_batch, pid FROM runs WHERE id = ?", (rid,)).fetchone()
        if row and row[0] == "running" and row[1]:
            break
        time.sleep(0.3)
    filler = fill(mount)
    pid = row[2] if row else None
    deadline = time.monotonic() + 30  # the worker notices at its next progress write or heartbeat
    while time.monotonic() < deadline and "is full" not in "".join(
        p.read_text(errors="replace") for p in (home / "logs").glob("*.log")
    ):
        time.sleep(0.3)
    time.sleep(4.5)  # the disk stays full past the 3 s lease: the worker cannot heartbeat
    alive = bool(pid and os.path.exists(f"/proc/{pid}"))
    filler.unlink()  # space is back; the next look at the runs reaps the silent worker
    listing = cli(home, ["runs"], env)
    status = [r for r in runs_of(home) if r[0] == rid]
    if alive:  # the worker we started: gone before the disk is filled again (its files free space as it dies)
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.1)
    return {
        "id": "worker-fills-the-disk",
        "run": rid,
        "worker_still_alive": alive,
        "record": status,
        "runs_code": listing.returncode,
        "runs_stderr": "\n".join(our_lines(listing.stderr)),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--template", required=True, help="a home to copy onto the small disk")
    ap.add_argument("--scenario", choices=["ro", "full"], required=True)
    ap.add_argument("--worker", action="store_true", help="full: also fill the disk under a training run")
    ap.add_argument("--size", default="8m")
    ap.add_argument("--commands", default=None, help="comma-separated ids of COMMANDS (default all)")
    args = ap.parse_args()
    mount = Path(tempfile.mkdtemp(prefix="fmnist_disk_"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.size}", "tmpfs", str(mount)], check=True)
    try:
        home = mount / "home"
        shutil.copytree(args.template, home)
        template = digest(home)
        results = []
        if args.scenario == "full" and args.worker:
            results.append(worker_on_full_disk(home, mount))
            template = digest(home)
        if args.scenario == "ro":
            subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        # full: topped up before each command (a dying worker's cleanup can free a few blocks)
        results += run_commands(
            home,
            template,
            args.commands.split(",") if args.commands else None,
            before=(lambda: fill(mount)) if args.scenario == "full" else None,
        )
        for r in results:
            print(json.dumps(r), flush=True)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        with contextlib.suppress(OSError):
            mount.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
