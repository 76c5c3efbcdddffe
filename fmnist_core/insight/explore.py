"""Exploring the data set: browsing by class, class counts, mean/std images, pixel
histograms and 2-D embeddings (PCA, t-SNE).

numpy and scikit-learn only, never TensorFlow: the Dataset page imports this and must
render in a few seconds from a cold start.
"""

from __future__ import annotations

import functools
import io
import threading

import numpy as np

from fmnist_core.data import fashion_mnist as fdata

SPLITS = ("train", "validation", "test")
TSNE_MAX = 2000  # t-SNE is O(n log n) with a large constant: ~2k points keeps it to seconds on a CPU


def split_arrays(split: str, val_fraction: float = 0.1, seed: int = 42):
    """uint8 images (n, 28, 28) and 10-class labels (n,) of one split, read-only and cached.

    'train' and 'validation' are the seeded stratified split that training uses (defaults
    match ``training.HParams``); 'test' is the official 10k test set.
    """
    if split == "test":
        return _test_set()
    if split in ("train", "validation"):
        tr, va = _train_val(float(val_fraction), int(seed))
        return tr if split == "train" else va
    raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")


def _test_set():
    """The 10k test images alone: 0.2 s to read instead of the 1-2 s for all 70k, so the
    Dataset page opens fast. Uses the full in-memory copy when something already loaded it."""
    if fdata._load_cached.cache_info().currsize:
        return fdata.load_fashion_mnist()[1]
    return _read_test_files()


@functools.lru_cache(maxsize=1)
def _read_test_files():
    folder, _ = fdata.find_dataset()
    if folder is None:  # not installed: the full loader gives the clear message (or downloads)
        return fdata.load_fashion_mnist()[1]
    out = []
    for key in ("x_test", "y_test"):
        name, magic, count = fdata.FILES[key]
        arr = fdata._read_idx(folder / name, magic, count)
        arr.setflags(write=False)
        out.append(arr)
    return tuple(out)


_SPLIT_LOCK = threading.Lock()  # a page and its background warm-up must not split the 60k twice at once


def _train_val(val_fraction: float, seed: int):
    with _SPLIT_LOCK:
        return _train_val_cached(val_fraction, seed)


@functools.lru_cache(maxsize=2)
def _train_val_cached(val_fraction: float, seed: int):
    parts = fdata.train_val_split(val_fraction, seed)
    for arrays in parts:
        for arr in arrays:
            arr.setflags(write=False)  # shared by every caller
    return parts


def warm_up(val_fraction: float = 0.1, seed: int = 42) -> threading.Thread:
    """Split the training images and make sure the class statistics are stored, in a background
    thread: the page opens on the test split (fast) while this readies the others."""

    def work():
        _train_val(float(val_fraction), int(seed))
        dataset_stats(val_fraction, seed)

    thread = threading.Thread(target=work, daemon=True, name="dataset-warm-up")
    thread.start()
    return thread


# ---------------------------------------------------------------- class statistics, stored once


def _stats_key(val_fraction: float, seed: int) -> str:
    """Identifies the data files (path, size, mtime) and the split: another data set -> recompute."""
    folder, _ = fdata.find_dataset()
    parts = [f"{val_fraction!r}", str(seed)]
    if folder is not None:
        for name, _, _ in fdata.FILES.values():
            st = (folder / name).stat()
            parts.append(f"{folder / name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def _stats_path():
    from fmnist_core.modeling.saving import home_dir

    return home_dir() / "cache" / "dataset_stats.npz"


def _compute_stats(val_fraction: float, seed: int) -> dict:
    out = {}
    for split in SPLITS:
        x, y = split_arrays(split, val_fraction, seed)
        out[f"{split}_counts"] = np.bincount(y, minlength=fdata.N_CLASSES)
        out[f"{split}_mean"], out[f"{split}_std"] = mean_std_images(x, y)
        out[f"{split}_pixels"] = pixel_value_counts(x, y)
    return out


_STATS_LOCK = threading.Lock()


@functools.lru_cache(maxsize=2)
def _stats_cached(val_fraction: float, seed: int, key: str) -> dict:
    from fmnist_core.modeling.saving import atomic_write_bytes

    path = _stats_path()
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) == key:
                return {k: data[k] for k in data.files if k != "key"}
    except (OSError, ValueError, KeyError, EOFError):  # absent, damaged or another version: recompute
        pass
    stats = _compute_stats(val_fraction, seed)
    buf = io.BytesIO()
    np.savez_compressed(buf, key=np.array(key), **stats)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError:  # a read-only home: keep them in memory only
        pass
    return stats


def dataset_stats(val_fraction: float = 0.1, seed: int = 42) -> dict:
    """Per split: class counts (10,), mean and std images (10, 28, 28) and pixel-value counts
    (10, 256). They never change, so they are computed once and stored in
    ``<home>/cache/dataset_stats.npz`` (keyed by the data files and the split), then read in ms."""
    with _STATS_LOCK:
        return _stats_cached(float(val_fraction), int(seed), _stats_key(float(val_fraction), int(seed)))


def pixel_value_counts(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How many pixels of each class have each value 0-255: int64 (10, 256)."""
    out = np.zeros((fdata.N_CLASSES, 256), np.int64)
    for c in range(fdata.N_CLASSES):
        out[c] = np.bincount(np.asarray(x[y == c]).ravel(), minlength=256)
    return out


def histograms_from_counts(value_counts: np.ndarray, bins: int = 32, skip_background: bool = True) -> dict:
    """``intensity_histograms`` from pixel-value counts (10, 256), exactly as np.histogram bins them."""
    edges = np.linspace(1 if skip_background else 0, 256, bins + 1)
    values = np.arange(256)
    inside = values >= edges[0]
    which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    density = np.zeros((fdata.N_CLASSES, bins))
    for c in range(fdata.N_CLASSES):
        counts = np.bincount(which[inside], weights=value_counts[c][inside], minlength=bins)
        density[c] = counts / max(counts.sum(), 1)
    totals = value_counts.sum(axis=1)
    zeros = np.where(totals > 0, value_counts[:, 0] / np.maximum(totals, 1), 0.0)
    return {"edges": edges, "density": density, "background_share": zeros}


def class_counts(val_fraction: float = 0.1, seed: int = 42) -> dict[str, list[int]]:
    """{'train': [10 counts], 'validation': [...], 'test': [...]} images per class."""
    stats = dataset_stats(val_fraction, seed)
    return {split: stats[f"{split}_counts"].tolist() for split in SPLITS}


def class_indices(y: np.ndarray, cls: int) -> np.ndarray:
    """Indices (into the split) of every image of class ``cls``, in file order."""
    if not 0 <= int(cls) < fdata.N_CLASSES:
        raise ValueError(f"class must be 0-9, got {cls}")
    return np.flatnonzero(np.asarray(y) == int(cls))


def browse(y: np.ndarray, cls: int | None, n: int, mode: str = "random", start: int = 0, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` images to show: of class ``cls`` (or all classes when None).

    mode 'random': a seeded random sample; mode 'next': the ``n`` after position ``start``
    in file order, wrapping round at the end.
    """
    pool = np.arange(len(y)) if cls is None else class_indices(y, cls)
    n = int(min(max(n, 0), len(pool)))
    if mode == "random":
        return np.sort(np.random.default_rng(seed).choice(pool, size=n, replace=False))
    if mode == "next":
        return pool[(int(start) + np.arange(n)) % len(pool)]
    raise ValueError(f"mode must be 'random' or 'next', got {mode!r}")


def mean_std_images(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class mean and standard-deviation images, float32 (10, 28, 28) each, in 0-255."""
    means = np.zeros((fdata.N_CLASSES, 28, 28), np.float32)
    stds = np.zeros_like(means)
    for c in range(fdata.N_CLASSES):
        xc = x[y == c].astype(np.float32)
        if len(xc):
            means[c], stds[c] = xc.mean(axis=0), xc.std(axis=0)
    return means, stds


def intensity_histograms(x: np.ndarray, y: np.ndarray, bins: int = 32, skip_background: bool = True) -> dict:
    """Per-class pixel-intensity histograms.

    With ``skip_background`` the zero pixels (the black background, about half of every
    image) are left out, so the shape of the garment's own intensities is visible.

    Returns {'edges': (bins + 1,) floats, 'density': (10, bins) per-class shares summing to 1,
    'background_share': (10,) share of zero pixels per class}.
    """
    edges = np.linspace(1 if skip_background else 0, 256, bins + 1)
    density = np.zeros((fdata.N_CLASSES, bins))
    zeros = np.zeros(fdata.N_CLASSES)
    for c in range(fdata.N_CLASSES):
        px = x[y == c].ravel()
        if not px.size:
            continue
        zeros[c] = float(np.mean(px == 0))
        counts, _ = np.histogram(px, bins=edges)
        density[c] = counts / max(counts.sum(), 1)
    return {"edges": edges, "density": density, "background_share": zeros}


def stratified_sample(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded sample of ``n`` images with every class equally represented."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    if n >= len(y):
        return idx
    sample, _ = train_test_split(idx, train_size=int(n), stratify=y, random_state=seed)
    return np.sort(sample)


def embedding(
    x: np.ndarray, y: np.ndarray, method: str = "pca", n: int = 2000, seed: int = 0, perplexity: float = 30.0
) -> dict:
    """2-D embedding of a stratified sample of the images.

    method 'pca': principal components of the 0-1 pixels (fast on any n).
    method 'tsne': t-SNE on the first 50 principal components (the usual speed-up), on at
    most ``TSNE_MAX`` images.

    Returns {'coords': float32 (n, 2), 'index': int (n,) positions in ``x``, 'label': (n,),
    'explained': PCA's explained-variance ratio of the 2 axes (PCA only, else None)}.
    """
    from sklearn.decomposition import PCA

    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    n = int(min(n, TSNE_MAX if method == "tsne" else len(y)))
    if n < 10:
        raise ValueError("an embedding needs at least 10 images")
    idx = stratified_sample(y, n, seed)
    flat = x[idx].reshape(len(idx), -1).astype(np.float32) / 255.0
    if method == "pca":
        pca = PCA(n_components=2, random_state=seed)
        coords = pca.fit_transform(flat)
        explained = pca.explained_variance_ratio_.tolist()
    else:
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        reduced = PCA(n_components=min(50, n - 1), random_state=seed).fit_transform(flat)
        # One OpenMP thread: on a shared 2-core machine, t-SNE's spinning threads slowed it
        # ~10x under load (measured: 60 s vs 6 s for 300 points with the CPUs busy).
        with threadpool_limits(1, user_api="openmp"):
            coords = TSNE(
                n_components=2, perplexity=min(perplexity, (n - 1) / 3), init="pca", random_state=seed
            ).fit_transform(reduced)
        explained = None
    return {"coords": coords.astype(np.float32), "index": idx, "label": y[idx].astype(np.int64), "explained": explained}
