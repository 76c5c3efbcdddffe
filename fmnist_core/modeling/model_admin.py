"""The saved models as a collection: listing them, and deleting or renaming one in the home.

Listing covers the user's folder first, then the shipped one; a model that fails its checks is
listed with its ``damaged: <reason>``. Deleting and renaming touch the home only, refuse shipped
models and other owners' models, and never leave a name half done (a delete is one unlink; a
rename links the new name into place before it unlinks the old one).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

from fmnist_core.modeling.model_files import _fault, home_dir, json_default, model_dirs
from fmnist_core.modeling.model_metadata import (
    META_ENTRY,
    DamagedModelError,
    ModelNotFoundError,
    _payload_sha256,
    find_model,
    read_metadata,
)
from fmnist_core.modeling.shipped import SHIPPED_DIR, refuse_shipped
from fmnist_core.schema.names import NAME_RE, check_name


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
