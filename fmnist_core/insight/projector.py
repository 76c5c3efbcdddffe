"""A learned-feature projector, like TensorBoard's: the penultimate-layer features of up to 5,000
images of a split, mapped to 2-D with PCA, t-SNE or UMAP.

The features are what the model's output layer reads (the input of its ``output`` Dense layer),
so images the model finds alike sit together. A projection is stored on disk under
``<home>/cache/projector/`` keyed by the model file's SHA-256, the split, n, the method and the
seed, so reopening it is instant (and survives a server restart).
"""

from __future__ import annotations

import hashlib
import io
import time

import numpy as np

from fmnist_core.modeling.inference import get_model, prepare, split_args, split_data
from fmnist_core.modeling.saving import atomic_write_bytes, find_model, home_dir

METHODS = ("pca", "tsne", "umap")
METHOD_LABELS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
MAX_POINTS = 5000
SIZES = (500, 1000, 2000, 5000)
CACHE_MAX_FILES = 64  # at most ~250 kB each


def method_labels() -> dict[str, str]:
    """METHOD_LABELS, with UMAP marked when umap-learn (an optional extra) is not even installed: a cheap
    look-up, because importing umap (numba) takes seconds; ``umap_available`` says why when it is chosen."""
    import importlib.util

    if importlib.util.find_spec("umap") is None:
        return {**METHOD_LABELS, "umap": "UMAP (optional install)"}
    return METHOD_LABELS


def umap_available() -> tuple[bool, str]:
    """(whether umap-learn imports, the reason when it does not)."""
    try:
        import umap  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure (missing, numba/llvmlite) means "not here"
        return False, (
            f"UMAP needs the optional umap-learn ({type(exc).__name__}: {exc}): install it with "
            "`pip install -r requirements-umap.txt` (or the `umap` extra), then restart the app"
        )
    return True, ""


def sample_indices(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """A stratified sample of ``n`` indices into a split (sorted); all of them when n >= len(y)."""
    from sklearn.model_selection import train_test_split

    y = np.asarray(y)
    if n >= len(y):
        return np.arange(len(y))
    idx, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    return np.sort(idx)


def penultimate_features(model, meta: dict, images: np.ndarray, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(features float32 (n, d), output probabilities (n, k)) for uint8 images (n, 28, 28).

    The features are the input of the layer named ``output`` (the last hidden representation).
    """
    import keras

    probe = keras.Model(model.inputs[0], [model.get_layer("output").input, model.get_layer("output").output])
    feats, outs = [], []
    for start in range(0, len(images), batch):
        f, o = probe(prepare(images[start : start + batch], meta), training=False)
        feats.append(np.asarray(f, np.float32))
        outs.append(np.asarray(o, np.float32))
    return np.concatenate(feats), np.concatenate(outs)


def embed(features: np.ndarray, method: str, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """2-D coordinates (n, 2) and, for PCA, the share of variance each axis explains."""
    from sklearn.decomposition import PCA

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    x = np.asarray(features, np.float64)
    if method == "pca":
        pca = PCA(2, random_state=seed).fit(x)
        return pca.transform(x).astype(np.float32), pca.explained_variance_ratio_.tolist()
    # t-SNE and UMAP on the first 50 principal components: the usual speed-up, same neighbourhoods.
    if x.shape[1] > 50:
        x = PCA(50, random_state=seed).fit_transform(x)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, max(5.0, (len(x) - 1) / 3.5))
        coords = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
        return coords.astype(np.float32), []
    ok, why = umap_available()
    if not ok:
        raise ValueError(why)
    import umap

    coords = umap.UMAP(n_components=2, n_neighbors=15, min_dist=0.1, random_state=seed).fit_transform(x)
    return np.asarray(coords, np.float32), []


def _cache_path(digest: str, split: str, n: int, method: str, seed: int):
    key = hashlib.sha256(f"{digest}|{split}|{n}|{method}|{seed}".encode()).hexdigest()[:24]
    return home_dir() / "cache" / "projector" / f"{key}.npz"


def _model_digest(name: str) -> str:
    """SHA-256 of the model file (the metadata's when present, else hashed now)."""
    from fmnist_core.modeling.saving import load_metadata

    digest = load_metadata(name).get("model_sha256")
    return digest or hashlib.sha256(find_model(name).read_bytes()).hexdigest()


def _prune(folder, keep: int = CACHE_MAX_FILES) -> None:
    """Bounded disk use: keep the ``keep`` most recently written projections."""
    files = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        old.unlink(missing_ok=True)


def projection(name: str, split: str = "test", n: int = 2000, method: str = "pca", seed: int = 0) -> dict:
    """The projection of ``n`` images of a saved model's split (cached on disk).

    Returns {"index": int (n,) into the split, "coords": float32 (n, 2), "probs": float32 (n, k),
    "explained": [..] (PCA), "seconds": time to compute, "cached": bool, "dims": feature size}.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not 10 <= int(n) <= MAX_POINTS:
        raise ValueError(f"n must be between 10 and {MAX_POINTS}, got {n}")
    path = _cache_path(_model_digest(name), split, int(n), method, seed)
    try:
        with np.load(path, allow_pickle=False) as d:
            return {
                "index": d["index"],
                "coords": d["coords"],
                "probs": d["probs"],
                "explained": d["explained"].tolist(),
                "seconds": float(d["seconds"]),
                "cached": True,
                "dims": int(d["dims"]),
            }
    except (OSError, ValueError, KeyError, EOFError):  # not there yet, or damaged: compute
        pass
    model, meta = get_model(name)
    x, y10 = split_data(split, *split_args(meta))
    t0 = time.perf_counter()
    index = sample_indices(y10, int(n), seed)
    feats, probs = penultimate_features(model, meta, x[index])
    coords, explained = embed(feats, method, seed)
    seconds = time.perf_counter() - t0
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        index=index,
        coords=coords,
        probs=probs,
        explained=np.asarray(explained),
        seconds=seconds,
        dims=feats.shape[1],
    )
    try:
        atomic_write_bytes(path, buf.getvalue())
        _prune(path.parent)
    except OSError:  # a read-only home: keep it for this call only
        pass
    return {
        "index": index,
        "coords": coords,
        "probs": probs,
        "explained": explained,
        "seconds": seconds,
        "cached": False,
        "dims": int(feats.shape[1]),
    }
