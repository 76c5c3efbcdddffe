"""Transductive few-shot: label spreading from the shots over thousands of unlabelled images.

With one image per class, any classifier of the shots alone is a guess about which of the
many ways two images differ is the one that matters. Unlabelled images of the same kind
settle it: they show how the images are spread in feature space, and the labels of the two
shots can flow along that spread to their neighbours and on (Zhou et al. 2004, "Learning with
Local and Global Consistency"; scikit-learn's ``LabelSpreading``).

Which unlabelled images: the Fashion-MNIST **training-split** images of the classes that the
10-class model ``fmnist_cnn`` assigns to the shots (two ankle boots -> the 6,000 training
ankle boots), plus the test images themselves (transductive: their labels are never used).
No labels of the unlabelled images are used, only the 10-class model's opinion of what
*kind* of garment the shots are, to pick the pool.

Features (every choice made on the study's validation set, flats_heels_val.csv; RESULTS.md
has the figures): a backbone layer's activations (fmnist_cnn's last full-resolution conv,
average-pooled to 7x7), PCA fitted on the unlabelled pool to 50 dimensions, each row
L2-normalised; a symmetric 20-nearest-neighbour graph; each shot also labels four copies of
itself shifted by one pixel; class mass normalisation after the spreading.
The pool's features are cached on disk (``FMNIST_HOME/cache``), keyed by the backbone file's
sha256, the layer and the pool's classes, so only the first run pays for them.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from fmnist_core.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist
from fmnist_core.modeling.inference import get_model, prepare

# Chosen on the validation set (RESULTS.md, B, and its history in docs/history/; layer, dims,
# whitening and neighbours chosen again for the pool-first fmnist_cnn, BENCHMARKS.md "Shipping recipe").
# conv2d_12 is fmnist_cnn's last full-resolution conv (block 2, conv 2: 14x14x64, before its pool,
# BatchNorm and ReLU), average-pooled here to 7x7x64 = 3,136; PCA to 50 without whitening.
SETTINGS = {
    "backbone": "fmnist_cnn",
    "layer": "conv2d_12",
    "dims": 50,
    "whiten": False,
    "n_neighbors": 20,
    "alpha": 0.99,
    "pool_model": "fmnist_cnn",
    "shift_shots": True,
}
SHIFTS = (
    (1, 0),
    (-1, 0),
    (0, 1),
    (0, -1),
)  # (dx, dy) in pixels: each shot also labels 4 copies of itself moved by 1 px
_LOCK = threading.Lock()
_MEMO: dict = {}


def _sha(images: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(images, dtype=np.uint8).tobytes()).hexdigest()


def layer_features(backbone: str, layer: str, images: np.ndarray) -> np.ndarray:
    """Activations of ``layer`` of the saved model ``backbone`` for uint8 images (n, 28, 28) -> float32 (n, d).
    Conv maps larger than 7x7 are average-pooled to 7x7 first (position kept, detail averaged)."""
    import keras

    model, meta = get_model(backbone)
    key = ("extractor", backbone, layer, id(model))
    with _LOCK:
        extractor = _MEMO.get(key)
    if extractor is None:
        extractor = keras.Model(model.input, model.get_layer(layer).output)
        with _LOCK:
            _MEMO[key] = extractor
    out = []
    for i in range(0, len(images), 1024):
        a = np.asarray(extractor(prepare(images[i : i + 1024], meta), training=False), dtype=np.float32)
        if a.ndim == 4 and a.shape[1] > 7 and a.shape[1] % 7 == 0:
            f = a.shape[1] // 7
            a = a.reshape(len(a), 7, f, 7, f, a.shape[-1]).mean(axis=(2, 4))
        out.append(a.reshape(len(a), -1))
    return np.concatenate(out) if out else np.zeros((0, 1), np.float32)


def pool_classes(x_shots: np.ndarray, y_shots=None, model: str = SETTINGS["pool_model"]) -> list[int]:
    """The Fashion-MNIST classes whose unlabelled images join the graph (sorted): per user class
    (``y_shots``; all shots as one class when None), the class with the most of the 10-class
    model's probability summed over its shots.

    Taking every shot's predicted class instead let one odd shot bring in a whole second class:
    a heeled boot read as a Sneaker added 6,000 sneakers, the flats spread over them, class mass
    normalisation then pushed the boots to heels, and 1 draw in 5 at 2-5 shots per class fell to
    55-76% on the validation set (RESULTS.md). A user class that spans two kinds of garment gets
    the pool of its main kind; its test images are in the graph either way.
    """
    from fmnist_core.modeling.inference import predict_images

    probs = predict_images(model, x_shots)
    groups = np.zeros(len(probs), np.int64) if y_shots is None else np.asarray(y_shots, dtype=np.int64)
    return sorted({int(probs[groups == g].sum(axis=0).argmax()) for g in np.unique(groups)})


def unlabelled_pool(classes: list[int]) -> tuple[np.ndarray, str]:
    """Training-split images of ``classes`` -> (uint8 (n, 28, 28), a sentence saying which)."""
    (x, y), _ = load_fashion_mnist()
    pick = np.isin(y, classes)
    names = ", ".join(CLASS_NAMES[c] for c in classes)
    return x[pick], f"{int(pick.sum()):,} unlabelled Fashion-MNIST training-split images ({names})"


class Embedding:
    """The fitted feature map: layer activations -> centred, PCA (whitened or not) -> L2-normalised rows.

    Held as plain arrays (mean (d,), components (dims, d), scale (dims,)) so that it, the pool's
    embedded features (n, dims) and the pool's image hashes can be stored in one .npz.
    """

    def __init__(self, backbone, layer, mean, components, scale, pool, pool_keys):
        self.backbone, self.layer = backbone, layer
        self.mean, self.components, self.scale = mean, components, scale
        self.pool, self.pool_keys = pool, pool_keys

    @classmethod
    def fit(cls, backbone, layer, dims, whiten, pool_images):
        from sklearn.decomposition import PCA

        raw = layer_features(backbone, layer, pool_images)
        pca = PCA(min(dims, raw.shape[1], len(raw) - 1), random_state=0).fit(raw)
        scale = np.sqrt(pca.explained_variance_) if whiten else np.ones(pca.n_components_)
        emb = cls(
            backbone,
            layer,
            pca.mean_.astype(np.float32),
            pca.components_.astype(np.float32),
            scale.astype(np.float32),
            None,
            np.array([_sha(im) for im in pool_images]),
        )
        emb.pool = emb.project(raw)
        return emb

    def project(self, raw: np.ndarray) -> np.ndarray:
        z = (raw - self.mean) @ self.components.T / self.scale
        return (z / np.linalg.norm(z, axis=1, keepdims=True).clip(1e-9)).astype(np.float32)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.project(layer_features(self.backbone, self.layer, images))

    def save(self, path) -> None:
        import io

        from fmnist_core.modeling.saving import atomic_write_bytes

        buf = io.BytesIO()
        np.savez(
            buf, mean=self.mean, components=self.components, scale=self.scale, pool=self.pool, pool_keys=self.pool_keys
        )
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path, backbone, layer):
        with np.load(path) as z:
            return cls(backbone, layer, z["mean"], z["components"], z["scale"], z["pool"], z["pool_keys"])


def cache_file(classes, settings: dict = SETTINGS):
    """Where the pool's embedding is stored: ``<home>/cache/fewshot_pool_<key>.npz``, the key hashing the
    backbone file's sha256, the layer, dims, whitening and the pool's classes (stale files are never read)."""
    from fmnist_core.modeling.prediction_cache import model_sha256
    from fmnist_core.modeling.saving import home_dir

    ident = repr(
        (
            model_sha256(settings["backbone"]),
            settings["layer"],
            int(settings["dims"]),
            bool(settings["whiten"]),
            [int(c) for c in classes],
            1,
        )
    )
    return home_dir() / "cache" / f"fewshot_pool_{hashlib.sha256(ident.encode()).hexdigest()[:20]}.npz"


def embedding(classes: list[int], settings: dict = SETTINGS) -> tuple[Embedding, str]:
    """The embedding fitted on the unlabelled pool of ``classes``: memoised in-process, stored on disk
    (``cache_file``), computed (one pass of the backbone over the pool, then PCA) only when neither has it."""
    path = cache_file(classes, settings)
    key = ("emb", str(path))
    with _LOCK:
        hit = _MEMO.get(key)
    if hit is None:
        images, text = unlabelled_pool(classes)
        emb = None
        if path.is_file():
            try:
                emb = Embedding.load(path, settings["backbone"], settings["layer"])
            except (OSError, ValueError, KeyError):
                emb = None  # damaged: recompute
            if emb is not None and len(emb.pool) != len(images):
                emb = None
        if emb is None:
            emb = Embedding.fit(settings["backbone"], settings["layer"], settings["dims"], settings["whiten"], images)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                emb.save(path)
            except OSError:
                pass  # a read-only home: keep it in memory only
        hit = (emb, text)
        with _LOCK:
            _MEMO[key] = hit
    return hit


class SymmetricKNN:
    """A kernel for ``LabelSpreading``: the symmetric k-nearest-neighbour graph (i ~ j when either is among
    the other's k nearest), unweighted, no self-loops. scikit-learn's own ``kernel="knn"`` graph is one-way
    (j among i's neighbours only), which on the validation set let one class flood the other
    (RESULTS.md). For new points (``kernel(X_train, X_new)``): each one's k nearest training points,
    as a (n_train, n_new) matrix, which is what ``predict_proba`` expects of a callable kernel."""

    def __init__(self, n_neighbors: int):
        self.n_neighbors = n_neighbors

    def __call__(self, X, Y):
        from sklearn.neighbors import NearestNeighbors, kneighbors_graph

        if Y is X:
            W = kneighbors_graph(X, self.n_neighbors, include_self=False)
            return ((W + W.T) > 0).astype(np.float64)
        return NearestNeighbors(n_neighbors=self.n_neighbors).fit(X).kneighbors_graph(Y, mode="connectivity").T


def spread_features(
    X: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    n_neighbors: int = SETTINGS["n_neighbors"],
    alpha: float = SETTINGS["alpha"],
):
    """LabelSpreading on features X (n, d) with labels (n,) (-1 = unlabelled), then class mass normalisation.

    Returns (fitted LabelSpreading, per-class masses (n_classes,), distributions (n, n_classes)).

    Spreading from one shot per class over an uneven pool hands the class whose shot sits in the
    denser region most of the graph; class mass normalisation (Zhu, Ghahramani & Lafferty 2003)
    divides each class's column by its total mass over the graph, so every class carries the same
    mass (the shots' own 1:1 ratio), then renormalises each row.
    """
    from sklearn.semi_supervised import LabelSpreading

    ls = LabelSpreading(kernel=SymmetricKNN(n_neighbors), alpha=alpha, max_iter=1000, tol=1e-4)
    ls.fit(X, labels)
    d = _fill(ls.label_distributions_, n_classes)
    mass = d.mean(axis=0).clip(1e-12)
    return ls, mass, _fill(d / mass, n_classes)


class Spread:
    """Fitted label spreading with class mass normalisation (see ``spread_features``): answers the images
    it was fitted with from the graph, new ones from their nearest graph points."""

    def __init__(self, ls, mass, emb, known: dict, n_classes: int):
        self.ls, self.mass, self.emb, self.n_classes, self.known = ls, mass, emb, n_classes, known

    def _cmn(self, p):
        return _fill(np.asarray(p, dtype=np.float64) / self.mass, self.n_classes)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """uint8 (n, 28, 28) -> (n, n_classes): from the graph for images it was fitted with, else
        from each image's nearest graph points."""
        images = np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28)
        keys = [_sha(im) for im in images]
        out = np.zeros((len(images), self.n_classes))
        new = [i for i, k in enumerate(keys) if k not in self.known]
        for i, k in enumerate(keys):
            if k in self.known:
                out[i] = self.known[k]
        if new:
            out[new] = self._cmn(_fill(self.ls.predict_proba(self.emb(images[new])), self.n_classes))
        return out


def shifted(images: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """uint8 (n, 28, 28) moved by (dx, dy) pixels, zero (background) where the image moved away. No flips:
    a mirrored boot would point its heel the other way."""
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def spread(x_shots, y_shots, x_extra, n_classes: int, settings: dict = SETTINGS) -> tuple[Spread, str]:
    """Fit LabelSpreading on shots + ``x_extra`` (e.g. the test images, unlabelled) + the unlabelled pool.

    Returns (a fitted ``Spread``, a sentence saying which unlabelled images it used).
    """
    x_shots = np.asarray(x_shots, dtype=np.uint8)
    x_extra = np.asarray(x_extra, dtype=np.uint8).reshape(-1, 28, 28)
    y_shots = np.asarray(y_shots, dtype=np.int64)
    classes = pool_classes(x_shots, y_shots, settings["pool_model"])
    emb, text = embedding(classes, settings)
    # A test image that is also a pool image joins the graph once (as a test image), as it would
    # if it came from elsewhere: so scores on training-split validation boots mean the same as on new ones.
    extra_keys = [_sha(im) for im in x_extra]
    keep = ~np.isin(emb.pool_keys, [_sha(im) for im in x_shots] + extra_keys)
    f_extra = emb(x_extra) if len(x_extra) else np.zeros((0, emb.pool.shape[1]), np.float32)
    if settings.get("shift_shots"):  # augmentation: every shot labels copies of itself moved by one pixel
        x_lab = np.concatenate([x_shots] + [shifted(x_shots, dx, dy) for dx, dy in SHIFTS])
        y_lab = np.tile(y_shots, 1 + len(SHIFTS))
    else:
        x_lab, y_lab = x_shots, y_shots
    X = np.concatenate([emb(x_lab), f_extra, emb.pool[keep]])
    labels = np.full(len(X), -1, dtype=np.int64)
    labels[: len(x_lab)] = y_lab
    ls, mass, dist = spread_features(X, labels, n_classes, settings["n_neighbors"], settings["alpha"])
    known = {k: dist[len(x_lab) + i] for i, k in enumerate(extra_keys)}
    return Spread(ls, mass, emb, known, n_classes), text


def _fill(p: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows with no mass (a point the spread never reached) -> uniform; all rows sum to 1."""
    p = np.asarray(p, dtype=np.float64)
    if p.shape[1] < n_classes:
        p = np.pad(p, ((0, 0), (0, n_classes - p.shape[1])))
    s = p.sum(axis=1, keepdims=True)
    return np.where(s > 0, p / np.where(s > 0, s, 1), 1.0 / n_classes)
