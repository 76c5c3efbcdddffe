"""Saved models: one file per model, ``<name>.keras``, with its metadata inside it.

A model is one unit. The ``.keras`` file is a zip written by Keras; we add our metadata to
it as one more entry (``fmnist/metadata.json``), holding the sha256 of Keras's own entries.
A save writes the whole file under a temp name, fsyncs it, then ``os.replace``s it over the
old one; a delete is one ``unlink``. So after SIGKILL at any instant a reader finds the
complete old model or the complete new one, never one model's weights with another's
metadata. Every read verifies the hash and the metadata's schema (jsonschema); anything
else is reported as ``damaged: <reason>`` (``DamagedModelError``), never used.

Older homes hold ``<name>.keras`` plus a ``<name>.json`` sidecar with ``model_sha256`` (the
whole file's hash): still read, with the same checks; a new save of that name drops the sidecar.

Where models live:
  * shipped models: ``saved_models/`` in the repository (made by ``make models``);
  * the user's models: ``$FMNIST_HOME`` when set, else the same ``saved_models/``.
Lookups search the user's folder first, then the shipped one.

Fault injection: ``FMNIST_FAULT_AT=<step>`` SIGKILLs the process at that step of a save or
delete (``FAULT_STEPS``), for tests/test_faults.py.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import signal
import tempfile
import warnings
import zipfile
from pathlib import Path

import jsonschema

from fmnist_core.modeling.shipped import REPO_ROOT, SHIPPED_DIR, refuse_shipped  # noqa: F401  (re-exported)
from fmnist_core.schema.names import NAME_RE, check_name  # noqa: F401  (saving.check_name is the API)
from fmnist_core.schema.settings import settings

META_ENTRY = "fmnist/metadata.json"
FAULT_STEPS = ("keras_written", "staged", "published", "before_delete")

_NUM = {"type": ["number", "null"]}
METADATA_SCHEMA = {
    "type": "object",
    "required": ["name", "task", "hparams", "n_params"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$"},
        "task": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
        "spec": {"type": "array", "items": {"type": "object", "required": ["type"]}},
        "hparams": {"type": "object"},
        "n_params": {"type": "integer", "minimum": 0},
        "val_metrics": {"type": "object", "properties": {"accuracy": _NUM, "loss": _NUM}},
        "test_metrics": {"type": "object", "properties": {"accuracy": _NUM, "loss": _NUM}},
        "history": {"type": "array", "items": {"type": "object"}},
        "run_id": {"type": ["integer", "null"]},
        "owner": {"type": ["string", "null"]},
        "seed": {"type": ["integer", "null"]},
        "payload_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "model_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(METADATA_SCHEMA)


class ModelNotFoundError(FileNotFoundError):
    pass


class DamagedModelError(ValueError):
    """A model file whose bytes, hash or metadata do not check out; its message starts with 'damaged:'."""

    def __init__(self, name: str, reason: str):
        super().__init__(
            f"model {name!r} is damaged: {reason}. Delete it and train it again (shipped models: `make models`)"
        )
        self.reason = f"damaged: {reason}"


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


# ---------------------------------------------------------------- writing


def _payload_sha256(zf: zipfile.ZipFile) -> str:
    """sha256 over Keras's own entries (names and contents, in name order); reading them checks CRCs too."""
    h = hashlib.sha256()
    for name in sorted(n for n in zf.namelist() if n != META_ENTRY):
        h.update(name.encode() + b"\0")
        with zf.open(name) as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


class StagedModel:
    """A complete model file under a temp name; ``publish`` moves it into place in one rename."""

    def __init__(self, tmp: Path, target: Path, meta: dict):
        self.tmp, self.target, self.meta = tmp, target, meta

    def publish(self) -> Path:
        refuse_shipped(self.target, "overwritten")
        os.replace(self.tmp, self.target)
        _fault("published")
        # A sidecar from the old two-file format would be stale now; the embedded metadata wins anyway.
        self.target.with_suffix(".json").unlink(missing_ok=True)
        _fsync_dir(self.target.parent)
        return self.target

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


def stage_model(model, name: str, metadata: dict, directory: Path | None = None) -> StagedModel:
    """Write ``model`` with ``metadata`` inside it to a temp file beside ``<directory>/<name>.keras``.

    The optimizer state is left out (it would triple the file for no use at inference).
    """
    check_name(name)
    directory = Path(directory) if directory else home_dir()
    directory.mkdir(parents=True, exist_ok=True)
    # Rebuild from the config: an uncompiled twin has no optimizer, so its variables are not saved
    # (clone_model keeps the compile state in Keras 3, which tripled the file).
    slim = model.__class__.from_config(model.get_config())
    slim.set_weights(model.get_weights())
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.{os.getpid()}.", suffix=".keras")
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; saved models are meant to be shared
    try:
        slim.save(tmp)
        _fault("keras_written")
        with zipfile.ZipFile(tmp, "a") as zf:
            meta = {
                **metadata,
                "name": name,
                "model_file": f"{name}.keras",
                "payload_sha256": _payload_sha256(zf),
                "n_params": int(model.count_params()),
                "saved_at": _dt.datetime.now(_dt.UTC).isoformat(),
                "versions": library_versions(),
            }
            meta.pop("model_sha256", None)
            _VALIDATOR.validate(json.loads(json.dumps(meta, default=json_default)))
            zf.writestr(META_ENTRY, json.dumps(meta, indent=2, sort_keys=True, default=json_default))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        _fault("staged")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return StagedModel(tmp, directory / f"{name}.keras", meta)


def clean_stale_temps(directory: Path | None = None, pid_alive=None) -> list[Path]:
    """Remove the temp files of saves whose process died (SIGKILL mid-save); returns them.
    A temp file's name carries its writer's pid: ``.<name>.<pid>.<random>.keras``.
    pid_alive : pid -> bool (``runs.liveness.pid_alive`` also counts zombies as dead)."""
    pid_alive = pid_alive or _pid_exists
    directory = Path(directory) if directory else home_dir()
    removed = []
    for tmp in directory.glob(".*.*.*.keras"):
        parts = tmp.name.split(".")
        pid = parts[2] if len(parts) >= 5 else ""
        if pid.isdigit() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def save_model(model, name: str, metadata: dict, directory: Path | None = None) -> Path:
    """Save ``model`` as ``<directory>/<name>.keras`` (metadata inside); returns the path. Atomic."""
    staged = stage_model(model, name, metadata, directory)
    try:
        return staged.publish()
    except BaseException:
        staged.discard()
        raise


# ---------------------------------------------------------------- reading, verified

_verified: dict = {}  # (path, inode, size, mtime_ns) -> metadata: a file is hashed once per change


def _identity(path: Path):
    """What changes when the file (or a legacy sidecar beside it) is replaced or rewritten."""
    st = path.stat()
    try:
        side = path.with_suffix(".json").stat()
        side = (side.st_ino, side.st_size, side.st_mtime_ns)
    except OSError:
        side = None
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns, side)


def read_metadata(path: Path) -> dict:
    """The verified metadata of the model file at ``path``; DamagedModelError if anything is off."""
    path = Path(path)
    name = path.stem
    try:
        key = _identity(path)
    except OSError as exc:
        raise DamagedModelError(name, f"unreadable ({exc.strerror or exc})") from None
    if key in _verified:
        return dict(_verified[key])
    try:
        with zipfile.ZipFile(path) as zf:
            if META_ENTRY in zf.namelist():
                meta = json.loads(zf.read(META_ENTRY))
                digest, field = _payload_sha256(zf), "payload_sha256"
            else:
                zf.testzip()
                meta, digest, field = _legacy_metadata(path), None, "model_sha256"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, DamagedModelError):
            raise
        raise DamagedModelError(name, f"not a complete .keras file ({exc})") from None
    except Exception as exc:  # zlib.error and friends from a corrupt member
        raise DamagedModelError(name, f"not a complete .keras file ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict):
        raise DamagedModelError(name, f"its metadata is a JSON {type(meta).__name__}, not an object")
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(meta))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "metadata"
        raise DamagedModelError(name, f"bad metadata at {where}: {error.message[:120]}")
    if digest is None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if meta.get(field) != digest:
        raise DamagedModelError(name, "the weights do not match their metadata (sha256 mismatch)")
    if meta["name"] != name:
        raise DamagedModelError(name, f"the file holds model {meta['name']!r}, not {name!r}")
    _verified[key] = dict(meta)
    return meta


def _legacy_metadata(path: Path):
    sidecar = path.with_suffix(".json")
    try:
        return json.loads(sidecar.read_text())
    except FileNotFoundError:
        raise DamagedModelError(path.stem, "it has no metadata (neither inside nor a .json beside it)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DamagedModelError(path.stem, f"unreadable metadata ({exc})") from None


def find_model(name: str) -> Path:
    check_name(name)
    for d in model_dirs():
        if (d / f"{name}.keras").is_file():
            return d / f"{name}.keras"
    raise ModelNotFoundError(f"no saved model named {name!r}; `python -m fmnist_core models` lists them")


def load_metadata(name: str) -> dict:
    """Verified metadata of a saved model; ModelNotFoundError, or DamagedModelError (a ValueError)."""
    return read_metadata(find_model(name))


def load_model(name: str):
    """(keras model, metadata dict), both from one verified file. Loads with safe_mode=True: no code runs.

    The file is checked (hash, schema, output size against its task) before use; if it is
    replaced while loading, the load is repeated, so weights and metadata always belong together.
    """
    import keras

    from fmnist_core.data.tasks import get_task

    for _ in range(3):
        path = find_model(name)
        before = _identity(path)
        meta = read_metadata(path)
        try:
            with warnings.catch_warnings(record=True) as caught:  # Keras's own lines never reach the user
                warnings.simplefilter("always")
                model = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:
            raise DamagedModelError(
                name, f"Keras cannot load it ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
            ) from None
        skipped = [str(w.message) for w in caught if "Skipping" in str(w.message)]
        if skipped:  # Keras loaded it but left some layers with fresh random weights: never use that
            raise DamagedModelError(
                name, f"some of its weights could not be loaded ({' '.join(skipped[0].split())[:120]})"
            )
        try:
            same = _identity(path) == before
        except OSError:
            same = False
        if same:
            break
    try:
        task = get_task(meta["task"])
    except Exception as exc:
        raise DamagedModelError(name, f"unknown task in its metadata ({exc})") from None
    outputs = model.output_shape[-1]
    if outputs != (1 if task.is_binary else task.n_classes):
        raise DamagedModelError(
            name, f"the model has {outputs} outputs but its task {task.name!r} has {task.n_classes} classes"
        )
    return model, meta


def list_models() -> list[dict]:
    """Metadata of every saved model (user's first, then shipped), sorted by name.

    A model that fails its checks is listed as ``{"name", "error": "damaged: <reason>"}``.
    """
    seen, out = set(), []
    for d in model_dirs():
        if not d.is_dir():
            continue
        for path in sorted(d.glob("*.keras")):
            name = path.stem
            if name in seen or not NAME_RE.fullmatch(name) or not path.is_file():
                continue
            seen.add(name)
            try:
                meta = read_metadata(path)
            except DamagedModelError as exc:
                meta = {"name": name, "error": exc.reason}
            meta["shipped"] = d.resolve() == SHIPPED_DIR.resolve()
            meta["path"] = str(path)
            out.append(meta)
    return sorted(out, key=lambda m: m["name"])


# ---------------------------------------------------------------- deleting and renaming (the home only)


def _own_file(name: str, directory: Path | None = None) -> Path:
    directory = Path(directory) if directory else home_dir()
    path = directory / f"{check_name(name)}.keras"
    if not path.is_file():
        raise ModelNotFoundError(f"no model named {name!r} in {directory}")
    return path


def _unlink_model(path: Path) -> None:
    refuse_shipped(path, "deleted or renamed")
    _fault("before_delete")
    path.unlink(missing_ok=True)  # one unlink removes the unit; a legacy sidecar alone is ignored
    path.with_suffix(".json").unlink(missing_ok=True)


def _check_model_owner(meta: dict, owner) -> None:
    if owner is not None and meta.get("owner") not in (None, owner):
        raise PermissionError(f"model {meta.get('name')!r} belongs to someone else; only its owner can change it")


def delete_model(name: str, owner=None) -> None:
    """Remove a user's model from $FMNIST_HOME. Shipped models, and other owners' models, are refused."""
    path = find_model(name)
    refuse_shipped(path, "deleted")
    if path.parent.resolve() != home_dir().resolve():
        raise PermissionError(f"{name!r} is a shipped model; it cannot be deleted from the app")
    try:
        _check_model_owner(read_metadata(path), owner)
    except DamagedModelError:
        pass  # a damaged file may always be removed
    _unlink_model(path)


def delete_run_model(home: Path, name: str, run_id: int) -> bool:
    """Delete ``<home>/<name>.keras`` if run ``run_id`` saved it (not a later overwrite); True if deleted.
    Only this home is looked at: no stored path is followed."""
    try:
        path = _own_file(name, home)
        meta = read_metadata(path)
    except (ModelNotFoundError, DamagedModelError, ValueError):
        return False
    if meta.get("run_id") != run_id or meta.get("source") != "run":
        return False
    _unlink_model(path)
    return True


def rename_model(old: str, new: str, owner=None) -> Path:
    """Rename a user's model in $FMNIST_HOME; the new name must be free. Returns the new path.

    The copy under the new name (metadata updated, same verified payload) is linked into place
    without ever replacing a file, then the old name is unlinked: a crash between the two
    leaves both names, never neither.
    """
    refuse_shipped(find_model(old), "renamed")  # whichever folder it is in: say why, not "not found"
    src = _own_file(old)
    check_name(new)
    dst = src.with_name(f"{new}.keras")
    refuse_shipped(dst, "overwritten")
    if dst.exists() or any((d / f"{new}.keras").exists() for d in model_dirs()):
        raise ValueError(f"a model named {new!r} already exists; choose another name")
    meta = read_metadata(src)
    _check_model_owner(meta, owner)
    meta.update(name=new, model_file=dst.name)
    fd, tmp = tempfile.mkstemp(dir=src.parent, prefix=f".{new}.", suffix=".keras")
    os.close(fd)
    tmp = Path(tmp)
    try:
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w") as zout:
            for info in zin.infolist():
                if info.filename != META_ENTRY:
                    zout.writestr(info, zin.read(info.filename))
            meta.pop("model_sha256", None)
            meta["payload_sha256"] = _payload_sha256(zin)
            zout.writestr(META_ENTRY, json.dumps(meta, indent=2, sort_keys=True, default=json_default))
        os.chmod(tmp, 0o644)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.link(tmp, dst)  # fails if the name was taken meanwhile: never overwrites
    except FileExistsError:
        raise ValueError(f"a model named {new!r} already exists; choose another name") from None
    finally:
        tmp.unlink(missing_ok=True)
    _unlink_model(src)
    return dst
