"""The metadata inside a model file: its schema, and reading it verified.

A ``.keras`` file carries our metadata as one more zip entry (``META_ENTRY``), with the sha256 of
Keras's own entries. Every read checks the hash and the schema (jsonschema); anything else is a
``DamagedModelError`` (``damaged: <reason>``), never used. Older homes hold a ``<name>.json``
sidecar with the whole file's hash instead: still read, with the same checks. A verified file is
hashed once per change (``_verified``, keyed by inode, size and mtime).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import jsonschema

from fmnist_core.modeling.model_files import model_dirs
from fmnist_core.schema.names import check_name

META_ENTRY = "fmnist/metadata.json"

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


def _payload_sha256(zf: zipfile.ZipFile) -> str:
    """sha256 over Keras's own entries (names and contents, in name order); reading them checks CRCs too."""
    h = hashlib.sha256()
    for name in sorted(n for n in zf.namelist() if n != META_ENTRY):
        h.update(name.encode() + b"\0")
        with zf.open(name) as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


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
