"""Saved models: ``<name>.keras`` plus ``<name>.json`` metadata, written atomically.

Where models live:
  * shipped models: ``saved_models/`` in the repository (made by ``make models``);
  * the user's models: ``$FMNIST_HOME`` when set, else the same ``saved_models/``.
Lookups search the user's folder first, then the shipped one.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import re
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # fmnist_core/modeling/saving.py -> the repository
SHIPPED_DIR = REPO_ROOT / "saved_models"
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ModelNotFoundError(FileNotFoundError):
    pass


def home_dir() -> Path:
    """The folder for the user's models and the run store ($FMNIST_HOME or saved_models/)."""
    return Path(os.environ.get("FMNIST_HOME") or SHIPPED_DIR).expanduser()


def model_dirs() -> list[Path]:
    dirs = [home_dir()]
    if SHIPPED_DIR.resolve() != dirs[0].resolve():
        dirs.append(SHIPPED_DIR)
    return dirs


def check_name(name: str) -> str:
    """Model names: 1-64 letters, digits, '-' or '_' (so '../x' or 'a/b' are refused)."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"invalid model name {name!r}: use 1-64 letters, digits, '-' or '_'")
    return name


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
    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": numpy.__version__}


def save_model(model, name: str, metadata: dict, directory: Path | None = None) -> Path:
    """Save ``model`` as ``<directory>/<name>.keras`` with ``<name>.json`` beside it; returns the .keras path.

    The optimizer state is left out (it would triple the file for no use at inference).
    Both files are replaced atomically, the model first, so a crash leaves the old pair or a
    new model with the old metadata, never a truncated file.
    """
    check_name(name)
    directory = Path(directory) if directory else home_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.keras"
    # Rebuild from the config: an uncompiled twin has no optimizer, so its variables are not saved
    # (clone_model keeps the compile state in Keras 3, which tripled the file).
    slim = model.__class__.from_config(model.get_config())
    slim.set_weights(model.get_weights())
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".keras")
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; saved models are meant to be shared
    try:
        slim.save(tmp)
        digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    meta = {**metadata, "name": name, "model_file": target.name, "model_sha256": digest,
            "n_params": int(model.count_params()), "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
            "versions": library_versions()}
    atomic_write_json(directory / f"{name}.json", meta)
    return target


def find_model(name: str) -> Path:
    check_name(name)
    for d in model_dirs():
        if (d / f"{name}.keras").is_file() and (d / f"{name}.json").is_file():
            return d / f"{name}.keras"
    raise ModelNotFoundError(f"no saved model named {name!r}; `python -m fmnist_core models` lists them")


def load_metadata(name: str) -> dict:
    path = find_model(name).with_suffix(".json")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"metadata {path} is unreadable ({exc}); retrain or re-run `make models`") from exc


def load_model(name: str):
    """(keras model, metadata dict). Loads with safe_mode=True: no arbitrary code runs."""
    import keras

    path = find_model(name)
    meta = load_metadata(name)
    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    return model, meta


def list_models() -> list[dict]:
    """Metadata of every saved model (user's first, then shipped), sorted by name; unreadable ones flagged."""
    seen, out = set(), []
    for d in model_dirs():
        if not d.is_dir():
            continue
        for meta_path in sorted(d.glob("*.json")):
            name = meta_path.stem
            if name in seen or not NAME_RE.match(name) or not (d / f"{name}.keras").is_file():
                continue
            seen.add(name)
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                meta = {"name": name, "error": f"unreadable metadata: {exc}"}
            meta["shipped"] = d.resolve() == SHIPPED_DIR.resolve()
            meta["path"] = str(d / f"{name}.keras")
            out.append(meta)
    return sorted(out, key=lambda m: m["name"])


def delete_model(name: str) -> None:
    """Remove a user's model (both files). Shipped models outside $FMNIST_HOME are refused."""
    path = find_model(name)
    if path.parent.resolve() != home_dir().resolve():
        raise PermissionError(f"{name!r} is a shipped model; it cannot be deleted from the app")
    path.unlink(missing_ok=True)
    path.with_suffix(".json").unlink(missing_ok=True)
