"""Probes of bad ``FMNIST_*`` settings, each in a fresh ``python -m fmnist_core``."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.probes.harness import (
    REPO,
    Case,
    Outcome,
    cli_command,
    fresh_home,
    lost,
    run_rows,
    snapshot,
)

# ---------------------------------------------------------------- the environment (a separate process each:
# some variables are read when a module is imported)

ENV_VALUES = {
    "FMNIST_MAX_WORKERS": ["0", "abc", "99", "²", "-1", " 1", "1.5"],
    "FMNIST_LEASE_TIMEOUT_S": ["abc", "0", "-5", "nan", "inf", "1e400"],
    "FMNIST_EXECUTOR": ["bogus", "RAY ", "local; rm"],
    "FMNIST_STORE_URL": ["sqlite:///tmp/x.db", "not a url", "postgresql://nobody@127.0.0.1:1/none"],
}


def env_case(name: str, value: str) -> Case:
    argv = ["train", "--preset", "linear", "--detach", "-mn", "fresh", "--subset", "500", "--epochs", "1"]

    def run() -> Outcome:
        home = fresh_home()
        before = snapshot(home)
        env = {
            "FMNIST_HOME": str(home),
            "FMNIST_AUTH_FILE": str(home / "auth.yaml"),
            name: value,
            "PATH": "/usr/bin:/bin",
            "FMNIST_PREWARM_S": "0",
        }
        proc = subprocess.run(
            [sys.executable, "-m", "fmnist_core", *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        after = snapshot(home)
        gone = lost(before, after)
        queued = [r for r in (run_rows(home / "runs.sqlite") or []) if r[0] != 1]
        err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        ok = (
            proc.returncode in (1, 2)
            and len(err) == 1
            and err[0].startswith("error:")
            and not queued
            and "Traceback" not in proc.stderr
        )
        if queued:  # a run slipped through: stop its worker's run so nothing trains on
            subprocess.run(
                [sys.executable, "-m", "fmnist_core", "stop", str(queued[0][0])],
                cwd=REPO,
                env={**env, name: ""},
                capture_output=True,
                timeout=120,
            )
        text = (
            f"exit {proc.returncode}: {err[0][:110] if err else ''}"
            + (f" (+{len(err) - 1} more stderr lines)" if len(err) > 1 else "")
            + (f"; QUEUED run {queued[0][0]}" if queued else "; nothing queued")
        )
        return Outcome(text, ok, traceback="Traceback" in proc.stderr, data_lost=bool(gone))

    return Case(
        f"env.{name}={value!r}",
        "Environment",
        f"{name}={value!r}, then train --detach",
        "exit 1/2, one line, nothing queued",
        cli_command(argv, {name: value}),
        run,
    )


def cases() -> list[Case]:
    return [env_case(n, v) for n, vals in ENV_VALUES.items() for v in vals]
