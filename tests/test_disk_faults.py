"""A read-only home and a full disk, for real: a small tmpfs in a private mount namespace.

Needs root and ``unshare -m`` (skipped with the reason otherwise). The commands run as a user
runs them (``python -m fmnist_core ...``, see benchmarks/probes/disk.py). Each must answer in one
line that says what to do, with no traceback; nothing saved before may be lost or half-written;
and a run whose worker finds the disk full records that cause, not just "worker died".
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fmnist_core.data.tasks import get_task
from fmnist_core.modeling import saving
from fmnist_core.modeling.models import build_model, normalize_spec
from fmnist_core.runs.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
# A sample of benchmarks/probes/disk.py's commands (the probe harness runs them all), with no TensorFlow.
COMMANDS = "runs,train,models,rename-model,delete-run,export,add-user"
FULL_COMMANDS = "train,models,rename-model,export"
WRITERS = {"train", "rename-model", "delete-run", "export", "add-user"}


def _namespace_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root for a private mount namespace"
    if not (shutil.which("unshare") and shutil.which("mount")):
        return "unshare or mount is not installed"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True, text=True
    )
    return None if probe.returncode == 0 else f"cannot mount a tmpfs in a private namespace: {probe.stderr.strip()}"


pytestmark = pytest.mark.skipif(bool(_namespace_problem()), reason=_namespace_problem() or "")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A home holding model ``kept`` (saved by run 1) and run 1, completed."""
    home = tmp_path_factory.mktemp("disk_template")
    saving.save_model(
        build_model("linear", "shoes"),
        "kept",
        {
            "task": get_task("shoes").to_dict(),
            "spec": normalize_spec("linear"),
            "hparams": {},
            "run_id": 1,
            "source": "run",
        },
        home,
    )
    store = RunStore(home / "runs.sqlite")
    rid = store.create_run("done", get_task("shoes"), normalize_spec("linear"), {}, model_name="kept", overwrite=True)
    store.mark_running(rid, 1)
    store.finish(rid, "completed", val={"accuracy": 0.9})
    store.close()
    return home


def _in_namespace(template, *args) -> list[dict]:
    proc = subprocess.run(
        ["unshare", "-m", sys.executable, "-m", "benchmarks.probes.disk", "--template", str(template), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, FMNIST_PREWARM_S="0"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def _check_one_line(result: dict, says: tuple[str, ...]):
    lines = result["stderr"].splitlines()
    assert result["code"] in (1, 2), result
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result["stderr"], result
    assert any(s in lines[0] for s in says), result


@pytest.mark.slow
def test_a_read_only_home_gets_one_line_and_loses_nothing(template):
    results = {r["id"]: r for r in _in_namespace(template, "--scenario", "ro", "--commands", COMMANDS)}
    assert set(results) == set(COMMANDS.split(","))
    for cid, r in results.items():
        assert r["intact"], r  # the model's bytes and run 1, as before
        if cid != "models":  # even a listing writes: it reaps dead runs
            _check_one_line(r, ("not writable", "Read-only", "read-only"))
    assert results["models"]["code"] == 0 and "kept" in results["models"]["stdout"]


@pytest.mark.slow
def test_a_full_disk_gets_one_line_and_the_run_records_why(template):
    """A real worker trains; the disk fills under it; its run records 'the disk ... is full'."""
    out = _in_namespace(template, "--scenario", "full", "--worker", "--commands", FULL_COMMANDS)
    worker, results = out[0], {r["id"]: r for r in out[1:]}
    assert worker["id"] == "worker-fills-the-disk"
    ((rid, status, message),) = worker["record"]
    assert status == "failed" and "is full" in message, worker  # the real cause, from the worker's log
    for cid, r in results.items():
        assert r["intact"], r
        if cid in WRITERS:
            _check_one_line(r, ("is full", "No space left"))
        else:  # reading needs no space
            assert r["code"] in (0, 1) and "Traceback" not in r["stderr"], r
    assert results["models"]["code"] == 0 and "kept" in results["models"]["stdout"]
