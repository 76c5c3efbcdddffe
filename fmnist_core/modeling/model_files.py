"""Where model files live, and how a file is written whole.

The user's folder (``home_dir``: $FMNIST_HOME, else ``saved_models/``) and the shipped one
(``model_dirs``); writes that readers never see half done (a temp file in the same folder, fsync,
``os.replace``); the JSON encoding every saved document shares; and the fault injection of a save
(``FMNIST_FAULT_AT=<step>`` SIGKILLs the process at that step, ``FAULT_STEPS``, for
tests/test_faults.py). Imported by ``saving``, ``model_metadata`` and ``model_admin``.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import tempfile
from pathlib import Path

from fmnist_core.modeling.shipped import SHIPPED_DIR
from fmnist_core.schema.settings import settings

FAULT_STEPS = ("keras_written", "staged", "published", "before_delete")


def home_dir() -> Path:
    """The folder for the user's models and the run store ($FMNIST_HOME or saved_models/)."""
    return Path(settings().home or SHIPPED_DIR).expanduser()


def model_dirs() -> list[Path]:
    dirs = [home_dir()]
    if SHIPPED_DIR.resolve() != dirs[0].resolve():
        dirs.append(SHIPPED_DIR)
    return dirs


def _fault(step: str) -> None:
    if settings().fault_at == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then os.replace: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=json_default).encode())


def json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"not JSON-serializable: {type(o).__name__}")


def library_versions() -> dict:
    import keras
    import numpy
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
    }
