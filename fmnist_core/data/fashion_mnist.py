"""Fashion-MNIST: find, verify and load the four official IDX files.

No TensorFlow here: the app's home page and dataset browser import this module and must
start in a couple of seconds.

Search order (first complete set of four files wins):
  1. ``$FMNIST_DATA_DIR``
  2. the Keras cache ``~/.keras/datasets/fashion-mnist``
  3. ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``)
  4. only then Keras's own download (needs internet).
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
from pathlib import Path

import numpy as np

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
N_CLASSES = len(CLASS_NAMES)
IMAGE_SHAPE = (28, 28)

FILES = {
    "x_train": ("train-images-idx3-ubyte.gz", 2051, 60000),
    "y_train": ("train-labels-idx1-ubyte.gz", 2049, 60000),
    "x_test": ("t10k-images-idx3-ubyte.gz", 2051, 10000),
    "y_test": ("t10k-labels-idx1-ubyte.gz", 2049, 10000),
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FIX_COMMAND = "make data"

# Training statistics of the 0-1 scaled pixels, used for optional standardization.
PIXEL_MEAN = 0.2860
PIXEL_STD = 0.3530


class DatasetNotFoundError(FileNotFoundError):
    """No complete, valid set of the four IDX files was found anywhere."""


def candidate_dirs() -> list[Path]:
    """The folders searched for the IDX files, in order."""
    dirs = []
    from fmnist_core.schema.settings import settings

    if settings().data_dir:
        dirs.append(settings().data_dir.expanduser())
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    dirs.append(keras_home / "datasets" / "fashion-mnist")
    dirs.append(DEBIAN_DIR)
    return dirs


def _read_idx(path: Path, magic: int, count: int) -> np.ndarray:
    """Read one gzipped IDX file, checking its magic number and item count."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 8:
        raise ValueError(f"{path} is truncated ({len(raw)} bytes)")
    file_magic, file_count = struct.unpack(">II", raw[:8])
    if file_magic != magic:
        raise ValueError(f"{path} has magic number {file_magic}, expected {magic}")
    if file_count != count:
        raise ValueError(f"{path} holds {file_count} items, expected {count}")
    if magic == 2051:  # images: count, rows, cols
        rows, cols = struct.unpack(">II", raw[8:16])
        body = np.frombuffer(raw, dtype=np.uint8, offset=16)
        if body.size != count * rows * cols or (rows, cols) != IMAGE_SHAPE:
            raise ValueError(f"{path} is truncated or not 28x28 images")
        return body.reshape(count, rows, cols)
    body = np.frombuffer(raw, dtype=np.uint8, offset=8)
    if body.size != count or body.max() >= N_CLASSES:
        raise ValueError(f"{path} is truncated or holds labels outside 0-9")
    return body.copy()


def _load_from(folder: Path) -> dict[str, np.ndarray]:
    return {key: _read_idx(folder / name, magic, count) for key, (name, magic, count) in FILES.items()}


def find_dataset() -> tuple[Path | None, list[str]]:
    """Return (folder holding all four files or None, list of 'place: problem' notes)."""
    notes = []
    for folder in candidate_dirs():
        missing = [name for name, _, _ in FILES.values() if not (folder / name).is_file()]
        if missing:
            notes.append(f"{folder}: missing {', '.join(missing)}")
            continue
        return folder, notes
    return None, notes


def dataset_status() -> dict:
    """Cheap check for the UI: where the data is, or what to run. Does not parse the files."""
    folder, notes = find_dataset()
    return {
        "found": folder is not None,
        "folder": str(folder) if folder else None,
        "searched": [str(d) for d in candidate_dirs()],
        "notes": notes,
        "fix": FIX_COMMAND,
    }


def _download_with_keras() -> Path:
    """Last resort: Keras downloads into its cache, which is place 2 of the search."""
    from keras.datasets import fashion_mnist  # imports TF; only reached when nothing is local

    fashion_mnist.load_data()
    return candidate_dirs()[-2]


@functools.lru_cache(maxsize=1)
def _load_cached(allow_download: bool):
    problems = []
    for folder in candidate_dirs():
        if not all((folder / name).is_file() for name, _, _ in FILES.values()):
            problems.append(f"  {folder}: not all four files present")
            continue
        try:
            arrays = _load_from(folder)
            break
        except (OSError, ValueError, EOFError) as exc:
            problems.append(f"  {folder}: corrupt ({exc})")
    else:
        arrays = None
        if allow_download:
            try:
                arrays = _load_from(_download_with_keras())
            except Exception as exc:  # any network or import failure ends up in the message
                problems.append(f"  Keras download: failed ({type(exc).__name__}: {exc})")
        if arrays is None:
            raise DatasetNotFoundError(
                "Fashion-MNIST not found. Looked in:\n"
                + "\n".join(problems)
                + f"\nFix: run `{FIX_COMMAND}` (installs Debian's dataset-fashion-mnist, or downloads it),"
                " or set FMNIST_DATA_DIR to a folder holding the four IDX .gz files."
            )
    for arr in arrays.values():
        arr.setflags(write=False)  # shared cache: nobody may modify it in place
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_fashion_mnist(allow_download: bool = True):
    """Load Fashion-MNIST.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays of shape (60000, 28, 28), (60000,), (10000, 28, 28), (10000,).
        Labels are 0-9 (see ``CLASS_NAMES``). Arrays are read-only and cached in memory.
    """
    return _load_cached(bool(allow_download))


def train_val_split(val_fraction: float = 0.1, seed: int = 0, subset: int | None = None):
    """Seeded, stratified split of the 60k training images into train and validation.

    The test set is never touched here: it is for final reporting only.

    Parameters
    ----------
    val_fraction : float in (0, 1), share of the (sub)set held out for validation.
    seed : int, the split's seed.
    subset : int or None. If set, first draw a stratified subset of this many training
        images (for quick experiments), then split it.

    Returns
    -------
    (x_train, y_train), (x_val, y_val) : uint8 images (n, 28, 28) and uint8 labels (n,).
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    (x, y), _ = load_fashion_mnist()
    idx = np.arange(len(y))
    if subset is not None:
        subset = int(subset)
        if not 20 <= subset <= len(y):
            raise ValueError(f"subset must be between 20 and {len(y)}, got {subset}")
        if subset < len(y):
            idx, _ = train_test_split(idx, train_size=subset, stratify=y, random_state=seed)
    tr, va = train_test_split(idx, test_size=val_fraction, stratify=y[idx], random_state=seed)
    return (x[tr], y[tr]), (x[va], y[va])


def preprocess(images: np.ndarray, normalize: bool = True) -> np.ndarray:
    """uint8 (n, 28, 28) -> float32 (n, 28, 28, 1).

    ``normalize=True`` scales to [0, 1]. ``normalize=False`` keeps raw 0-255 values, which
    is how an earlier study dropped a small MLP from 80% to 34%: users can reproduce that.
    """
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"expected images of shape (n, 28, 28), got {images.shape}")
    out = images.astype(np.float32)
    if normalize:
        out /= 255.0
    return out[..., None]
