"""What every probe shares: the case record, a template home, snapshots ("intact"), and the
in-process CLI runner.

A probe's ``run`` observes what happens and returns an ``Outcome``; its verdict is computed
from those observations by the case's own check, never written by hand. "Data lost" means a
model file or run row that existed before is missing or changed afterwards when the case
expected it untouched.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@dataclass
class Outcome:
    """What a probe saw. ``ok``: it matched the expectation; ``traceback``: a raw exception reached
    the user; ``data_lost``: something saved before was gone or changed when it should not be."""

    actual: str
    ok: bool
    traceback: bool = False
    data_lost: bool = False


@dataclass
class Case:
    id: str  # unique and stable: `--only` selects by it
    group: str  # the section of RELIABILITY.md
    what: str  # the input or fault, in words
    expected: str
    command: str  # how to repeat it by hand (besides `--only ID`)
    run: Callable[[], Outcome] = field(repr=False)


def short(text, n: int = 150) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


# ---------------------------------------------------------------- homes and snapshots


def tiny_model(home: Path, name: str, task: str = "shoes", preset: str = "linear", **extra) -> Path:
    """A real, healthy saved model (untrained) in ``home``."""
    from fmnist_core.data.tasks import get_task
    from fmnist_core.modeling import saving
    from fmnist_core.modeling.models import build_model, normalize_spec

    meta = {"task": get_task(task).to_dict(), "spec": normalize_spec(preset), "hparams": {}, **extra}
    return saving.save_model(build_model(preset, task), name, meta, home)


_TEMPLATE: Path | None = None
_MADE: list[Path] = []  # temp folders this process made, removed when it exits


def temp_dir(prefix: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=prefix))
    if not _MADE:
        atexit.register(lambda: [shutil.rmtree(p, ignore_errors=True) for p in _MADE])
    _MADE.append(d)
    return d


def template_home() -> Path:
    """Built once per harness run: model ``kept``, a damaged ``damaged.keras``, and run 1 (completed,
    it saved ``kept``) in the run store."""
    global _TEMPLATE
    if _TEMPLATE is None:
        from fmnist_core.data.tasks import get_task
        from fmnist_core.modeling.models import normalize_spec
        from fmnist_core.runs.store import RunStore

        home = temp_dir("probe_template_") / "home"
        home.mkdir()
        tiny_model(home, "kept", run_id=1, source="run")
        (home / "damaged.keras").write_bytes(b"PK\x03\x04 not really a zip")
        store = RunStore(home / "runs.sqlite")
        rid = store.create_run(
            "done", get_task("shoes"), normalize_spec("linear"), {}, model_name="kept", overwrite=True
        )
        store.mark_running(rid, 1)
        store.finish(rid, "completed", val={"accuracy": 0.9})
        store.close()
        _TEMPLATE = home
    return _TEMPLATE


def fresh_home(template: Path | None = None) -> Path:
    """A private copy of the template home (each case gets its own)."""
    dst = temp_dir("probe_") / "home"
    shutil.copytree(template or template_home(), dst)
    return dst


def run_rows(store: Path) -> list | None:
    """(id, name, status, model_name) of every run, read with plain sqlite3 (no upgrade, no writes);
    None if the store cannot be read."""
    if not store.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
            return conn.execute("SELECT id, name, status, model_name FROM runs ORDER BY id").fetchall()
    except sqlite3.Error:
        return None


def snapshot(home: Path) -> dict:
    """path -> sha256 of every file in the home (the run store by its rows when it is readable)."""
    out = {}
    for p in sorted(home.rglob("*")):
        rel = str(p.relative_to(home))
        if (
            not p.is_file()
            or rel.startswith(("logs", "histograms"))
            or ".lock" in rel
            or rel.endswith(("-wal", "-shm", ".predictions.npz"))
        ):  # logs, locks and caches are not data
            continue
        if p.name == "runs.sqlite" and run_rows(p) is not None:
            out[rel] = ("rows", tuple(run_rows(p)))
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def lost(before: dict, after: dict) -> list[str]:
    """What was there before and is missing or different now (new files and new runs are not losses)."""
    out = []
    for k, v in before.items():
        new = after.get(k)
        if isinstance(v, tuple) and isinstance(new, tuple):  # run rows: each old run still there, unchanged
            missing = set(v[1]) - set(new[1])
            out += [f"{k}: run {r[0]}" for r in sorted(missing)]
        elif new != v:
            out.append(k)
    return out


# ---------------------------------------------------------------- the CLI, in this process


class _Alarm(Exception):
    pass


class RecordingExecutor:
    """Stands in for the worker pool: a queued run is recorded, no worker is started (accepted
    boundary values are checked in the store, without training)."""

    def __init__(self):
        self.calls = 0

    def ensure_worker(self, store) -> bool:
        self.calls += 1
        return False

    def prewarm(self, store, idle_s) -> bool:
        return False

    def check(self, store) -> None:
        pass


@dataclass
class CliResult:
    code: object
    out: str
    err: str
    tb: str | None  # the traceback text when an exception escaped main()


def run_cli(argv: list[str], home: Path, env: dict | None = None, stdin: str = "", timeout: int = 120) -> CliResult:
    """``python -m fmnist_core ARGV`` with $FMNIST_HOME=home, run through ``cli.main`` in this process."""
    from fmnist_core import cli
    from fmnist_core.runs import jobs

    saved_env = dict(os.environ)
    os.environ.update({"FMNIST_HOME": str(home), "FMNIST_AUTH_FILE": str(home / "auth.yaml"), "FMNIST_PREWARM_S": "0"})
    for k, v in (env or {}).items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    jobs.set_executor(None if env and "FMNIST_EXECUTOR" in env else RecordingExecutor())
    out, err, tb, code = io.StringIO(), io.StringIO(), None, None
    old_stdin = sys.stdin

    def on_alarm(*_):
        raise _Alarm()

    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(timeout)
    try:
        sys.stdin = io.StringIO(stdin)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    except _Alarm:
        tb = f"hung: no answer within {timeout} s"
    except BaseException:  # noqa: BLE001 - a traceback is exactly what a probe looks for
        tb = traceback.format_exc()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old_handler)
        sys.stdin = old_stdin
        os.environ.clear()
        os.environ.update(saved_env)
        jobs.set_executor(None)
    return CliResult(code, out.getvalue(), err.getvalue(), tb)


def cli_command(argv: list[str], env: dict | None = None) -> str:
    import shlex

    pre = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items() if v is not None)
    text = "python -m fmnist_core " + " ".join(shlex.quote(a) for a in argv)
    return f"`{(pre + ' ' if pre else '') + text}`"  # the report escapes it for its table


def one_line_error(res: CliResult) -> bool:
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    return (
        res.tb is None
        and res.code in (1, 2)
        and len(lines) == 1
        and lines[0].startswith("error:")
        and "Traceback" not in res.err + res.out
    )


def describe(res: CliResult) -> str:
    if res.tb:
        last = [ln for ln in res.tb.strip().splitlines() if ln.strip()][-1]
        return "TRACEBACK " + short(last, 120)
    err = [ln for ln in res.err.splitlines() if ln.strip()]
    first = err[0] if err else ([ln for ln in res.out.splitlines() if ln.strip()] or [""])[0]
    more = f" (+{len(err) - 1} more stderr lines)" if len(err) > 1 else ""
    return f"exit {res.code}: {short(first, 110)}{more}"
