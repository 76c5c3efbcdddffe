"""Stored predictions: a saved model's probabilities on its test and validation splits, on disk.

A model's predictions on a fixed split never change, yet computing them costs TensorFlow's import,
loading the model and a pass over 10,000 images (~10 s on a 2-core CPU). They are computed once and
kept in ``<name>.predictions.npz`` beside ``<name>.keras`` (or in ``<home>/cache/`` when that folder is
read-only). The file records the sha256 of the model file and, per split, the exact split arguments
(seed, validation fraction, subset): a cache whose hash or arguments differ is stale and is
recomputed, never trusted. Everything built on predictions (confusion matrices, reports, the binary
study's tables) is a few milliseconds of numpy on top.

Layout of the .npz: ``sha256`` (str), and per split ``<split>`` float32 (n, k) probabilities plus
``<split>_args`` (str, "seed,val_fraction,subset").
"""

from __future__ import annotations

import functools
import io
import os
import threading
from pathlib import Path

import numpy as np

from fmnist_core.modeling.saving import atomic_write_bytes, find_model, home_dir

SUFFIX = ".predictions.npz"
_LOCK = threading.Lock()  # one writer at a time in this process: the file holds several splits


@functools.lru_cache(maxsize=64)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_sha256(name: str) -> str:
    """sha256 of the model's .keras file (memoized per file version: path, mtime and size)."""
    path = find_model(name)
    st = path.stat()
    return _sha256(str(path), st.st_mtime_ns, st.st_size)


def cache_paths(name: str) -> list[Path]:
    """Where a model's predictions may be stored: beside the model, then ``<home>/cache/`` (used
    when the model's folder is read-only, e.g. shipped models in a system-wide install)."""
    beside = find_model(name).with_name(name + SUFFIX)
    return [beside, home_dir() / "cache" / (name + SUFFIX)]


def cache_path(name: str) -> Path:
    """Where new predictions are written: beside the model when that folder is writable."""
    beside, fallback = cache_paths(name)
    return beside if os.access(beside.parent, os.W_OK) else fallback


def _args_key(args) -> str:
    seed, val_fraction, subset = args
    return f"{int(seed)},{float(val_fraction)!r},{'' if subset is None else int(subset)}"


def _read(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError):  # missing, truncated or not an npz: treat as absent
        return {}


def load(name: str, split: str, args) -> np.ndarray | None:
    """Stored probabilities (n, k) float32 of ``split`` computed with split ``args`` = (seed,
    val_fraction, subset), or None when absent or stale (another model file or other arguments)."""
    sha, key = model_sha256(name), _args_key(args)
    for path in cache_paths(name):
        data = _read(path)
        if str(data.get("sha256", "")) == sha and split in data and str(data.get(f"{split}_args", "")) == key:
            return data[split]
    return None


def store(name: str, split: str, args, probs: np.ndarray) -> Path:
    """Add (or replace) one split's probabilities in the model's cache file, atomically."""
    sha = model_sha256(name)
    path = cache_path(name)
    with _LOCK:
        data = _read(path)
        if str(data.get("sha256", "")) != sha:  # another model version: drop its splits
            data = {}
        data.update(
            {
                "sha256": np.array(sha),
                split: np.asarray(probs, dtype=np.float32),
                f"{split}_args": np.array(_args_key(args)),
            }
        )
        buf = io.BytesIO()
        np.savez_compressed(buf, **data)
        atomic_write_bytes(path, buf.getvalue())
    return path


def is_cached(name: str, split: str, args) -> bool:
    return load(name, split, args) is not None
