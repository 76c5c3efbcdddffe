"""Shipped models are read-only to every command, whether $FMNIST_HOME is set or not: a delete,
a rename, or a save whose target is a shipped file is refused in one line, and the file stays."""

import hashlib
import os
import shutil
import subprocess
import sys

import pytest

from fmnist_core.modeling.saving import REPO_ROOT, SHIPPED_DIR

SHIPPED = SHIPPED_DIR / "shoes_cnn.keras"


def _digest() -> str:
    return hashlib.sha256(SHIPPED.read_bytes()).hexdigest()


def _cli(*args, home=None):
    env = {k: v for k, v in os.environ.items() if k != "FMNIST_HOME"}
    env["FMNIST_PREWARM_S"] = "0"
    if home is not None:
        env["FMNIST_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "fmnist_core", *args],
        cwd=REPO_ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )


@pytest.fixture
def shipped_intact(tmp_path):
    before, kept = _digest(), tmp_path / "kept.keras"
    shutil.copy2(SHIPPED, kept)
    yield
    intact = SHIPPED.is_file() and _digest() == before
    renamed = SHIPPED_DIR / "renamed_shoes.keras"
    if not intact:  # put it back, so a failing run leaves the repository as it was
        shutil.copy2(kept, SHIPPED)
    stray = renamed.exists()
    renamed.unlink(missing_ok=True)
    assert intact and not stray, "a shipped model was changed"


@pytest.mark.parametrize("home", ["unset", "set"])
@pytest.mark.parametrize(
    "command", [["delete", "model", "shoes_cnn"], ["rename", "model", "shoes_cnn", "renamed_shoes"]]
)
def test_delete_and_rename_of_a_shipped_model_are_refused(shipped_intact, tmp_path, home, command):
    out = _cli(*command, home=None if home == "unset" else tmp_path)
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert out.returncode != 0 and len(errors) == 1 and "shipped" in errors[0], out.stderr[-500:]
    assert "Traceback" not in out.stderr


def test_training_over_a_shipped_model_is_refused_even_with_overwrite(shipped_intact):
    out = _cli(
        "train-here",
        "--preset",
        "linear",
        "--task",
        "shoes",
        "--subset",
        "600",
        "--epochs",
        "1",
        "-mn",
        "shoes_cnn",
        "--overwrite",
    )
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert out.returncode != 0 and len(errors) == 1 and "shipped" in errors[0], out.stderr[-500:]


def test_export_over_a_shipped_model_file_is_refused_even_with_overwrite(shipped_intact):
    out = _cli("export", "-mn", "fmnist_cnn", "--format", "keras", "-o", str(SHIPPED), "--overwrite")
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert out.returncode != 0 and len(errors) == 1 and "shipped" in errors[0], out.stderr[-500:]
