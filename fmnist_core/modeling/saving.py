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

This module saves and loads a model; the rest lives beside it and is re-exported here, so
``saving.<name>`` stays the one API: ``model_files`` (the folders, atomic writes),
``model_metadata`` (the schema, verified reads) and ``model_admin`` (listing, deleting, renaming).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

from fmnist_core.modeling.model_admin import (  # noqa: F401  (re-exported)
    delete_model,
    delete_run_model,
    list_models,
    rename_model,
)
from fmnist_core.modeling.model_files import (  # noqa: F401  (re-exported)
    FAULT_STEPS,
    _fault,
    _fsync_dir,
    atomic_write_bytes,
    atomic_write_json,
    home_dir,
    json_default,
    library_versions,
    model_dirs,
)
from fmnist_core.modeling.model_metadata import (  # noqa: F401  (re-exported)
    _VALIDATOR,
    META_ENTRY,
    METADATA_SCHEMA,
    DamagedModelError,
    ModelNotFoundError,
    _identity,
    _payload_sha256,
    find_model,
    load_metadata,
    read_metadata,
)
from fmnist_core.modeling.shipped import REPO_ROOT, SHIPPED_DIR, refuse_shipped  # noqa: F401  (re-exported)
from fmnist_core.schema.names import NAME_RE, check_name  # noqa: F401  (saving.check_name is the API)

# ---------------------------------------------------------------- writing


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
